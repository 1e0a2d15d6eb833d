"""Metric lines reach stdout one writer at a time: concurrent writes into one TextIOWrapper from several
threads crashed CPython once in a test run (the local gateway serves overlapping requests in threads)."""

from __future__ import annotations

import threading
import time

from aws_lambda_powertools.metrics import MetricUnit

from functions.shared.observability import emit_metrics


class OverlapDetectingStream:
    """Records whether two threads were ever inside write() at once (each write lingers a moment)."""

    def __init__(self) -> None:
        self.inside, self.overlapped, self.text = 0, False, []
        self._guard = threading.Lock()

    def write(self, text: str) -> int:
        with self._guard:
            self.inside += 1
            self.overlapped |= self.inside > 1
        time.sleep(0.001)
        self.text.append(text)
        with self._guard:
            self.inside -= 1
        return len(text)

    def flush(self) -> None:
        pass


def test_concurrent_metric_lines_never_overlap_and_each_line_stays_whole():
    stream = OverlapDetectingStream()
    start = threading.Barrier(8)

    def emit(n: int) -> None:
        start.wait()
        for _ in range(5):
            emit_metrics({"Provider": f"p{n}"}, {"ProviderAttempts": (MetricUnit.Count, 1)}, stream)

    threads = [threading.Thread(target=emit, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not stream.overlapped
    lines = "".join(stream.text).splitlines()
    assert len(lines) == 40 and all(line.startswith('{"_aws"') and line.endswith("}") for line in lines)
