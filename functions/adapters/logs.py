"""The audit trail's anchors: its head (seq and digest), one JSON line per anchor in a CloudWatch Logs
stream outside the table. The appenders may only put events there; only the verifier reads them; no
function may delete them."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.aws import REQUEST_PATH_CONFIG
from functions.adapters.aws import client as aws_client
from functions.domain.audit import Anchor
from functions.domain.errors import DependencyUnavailable
from functions.domain.names import AUDIT_ANCHOR_STREAM
from functions.shared.observability import logger


class AnchorLog:
    def __init__(self, log_group: str, stream: str = AUDIT_ANCHOR_STREAM) -> None:
        self.log_group, self.stream = log_group, stream

    def _logs(self) -> Any:
        return aws_client("logs", config=REQUEST_PATH_CONFIG)

    def put(self, anchor: Anchor) -> None:
        message = json.dumps(anchor.as_dict(), sort_keys=True, separators=(",", ":"))
        self._logs().put_log_events(
            logGroupName=self.log_group,
            logStreamName=self.stream,
            logEvents=[{"timestamp": int(anchor.anchored_at * 1000), "message": message}],
        )

    def read(self) -> list[Anchor]:
        """Every anchor in the stream, oldest first."""
        try:
            return [anchor for line in self._events() if (anchor := _parse(line)) is not None]
        except (ClientError, BotoCoreError) as exc:
            raise DependencyUnavailable("the audit trail's anchors cannot be read right now") from exc

    def _events(self) -> Iterator[str]:
        kwargs: dict[str, Any] = {"logGroupName": self.log_group, "logStreamName": self.stream, "startFromHead": True}
        while True:
            response = self._logs().get_log_events(**kwargs)
            yield from (event.get("message", "") for event in response.get("events") or [])
            token = response.get("nextForwardToken")
            if not response.get("events") or not token or token == kwargs.get("nextToken"):
                return
            kwargs["nextToken"] = token


def _parse(line: str) -> Anchor | None:
    """An anchor line; None for anything else (the stream holds only anchors, but a reader never fails on one)."""
    try:
        document = json.loads(line)
        return Anchor(int(document["seq"]), str(document["digest"]), float(document["anchoredAt"]))
    except (ValueError, TypeError, KeyError):
        return None


def best_effort(put: Callable[[Anchor], None], anchor: Anchor) -> bool:
    """Write an anchor after its record landed: a failure loses no record (the next anchor covers it),
    so it is logged, not raised."""
    try:
        put(anchor)
    except (ClientError, BotoCoreError) as exc:
        logger.warning("audit-anchor-failed", extra={"seq": anchor.seq, "error": type(exc).__name__})
        return False
    return True
