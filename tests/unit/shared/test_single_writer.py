"""Log records and EMF lines share one writer: each line whole, each record naming its own function."""

from __future__ import annotations

import io
import json
import threading
from types import SimpleNamespace

from aws_lambda_powertools.metrics import MetricUnit

from functions.shared.observability import emit_metrics, log_function_context, log_request_metrics, logger, metrics


def _tap(monkeypatch) -> io.StringIO:
    buffer = io.StringIO()
    monkeypatch.setattr(logger.logger_handler, "stream", buffer)
    monkeypatch.setattr("sys.stdout", buffer)
    return buffer


def test_log_and_emf_lines_written_from_many_threads_never_interleave(monkeypatch):
    buffer = _tap(monkeypatch)

    @log_request_metrics
    def serve(i: int) -> None:
        metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
        logger.info("served", extra={"i": i, "text": "x" * 500})

    def work(n: int) -> None:
        for i in range(200):
            serve(i)
            emit_metrics({"Provider": "bedrock"}, {"Latency": (MetricUnit.Milliseconds, float(i))})
            logger.warning("line", extra={"n": n})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = buffer.getvalue().splitlines()
    assert len(lines) == 8 * 200 * 4
    documents = [json.loads(line) for line in lines]
    assert sum("_aws" in d for d in documents) == 8 * 200 * 2


def test_each_function_names_itself_in_its_records_whatever_ran_before(monkeypatch):
    buffer = _tap(monkeypatch)

    def handler(_event, _context):
        logger.error("failed")

    for name in ("health-check", "router", "admin", "health-check", "router"):
        log_function_context(handler)({}, SimpleNamespace(function_name=name, aws_request_id="r"))
    logger.info("outside any invocation")
    names = [json.loads(line).get("function_name") for line in buffer.getvalue().splitlines()]
    assert names == ["health-check", "router", "admin", "health-check", "router", None]


def test_a_lone_surrogate_in_a_log_record_is_written_escaped(monkeypatch):
    buffer = _tap(monkeypatch)
    logger.info("bad input", extra={"value": "\udfff"})
    assert json.loads(buffer.getvalue())["value"] == "\udfff"
