"""EventBridge: health transitions as `Provider Health Changed` events."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from functions.adapters.aws import client
from functions.domain.health_check import Transition
from functions.shared.event_patterns import HEALTH_EVENT_DETAIL_TYPE, HEALTH_EVENT_SOURCE
from functions.shared.observability import logger

__all__ = ["HEALTH_EVENT_DETAIL_TYPE", "HEALTH_EVENT_SOURCE", "HealthEventPublisher", "events_client"]

_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"max_attempts": 3, "mode": "standard"})


@lru_cache(maxsize=1)
def events_client() -> Any:
    return client("events", config=_CONFIG)


def transition_detail(transition: Transition) -> dict[str, Any]:
    return {
        "provider": transition.target,
        "status": transition.current,
        "previousStatus": transition.previous,
        "consecutiveFailures": transition.consecutive_failures,
        "checkedAt": transition.checked_at,
        "reason": transition.reason,
    }


class HealthEventPublisher:
    """Publishes one event per transition. A failed publish is logged: the record stays written."""

    def __init__(self, event_bus_name: str) -> None:
        self._bus = event_bus_name

    def publish(self, transition: Transition) -> None:
        entry = {
            "Source": HEALTH_EVENT_SOURCE,
            "DetailType": HEALTH_EVENT_DETAIL_TYPE,
            "Detail": json.dumps(transition_detail(transition)),
            "EventBusName": self._bus,
        }
        try:
            response = events_client().put_events(Entries=[entry])
        except (ClientError, BotoCoreError) as exc:
            logger.error("health-event-failed", extra={"provider": transition.target, "error": type(exc).__name__})
            return
        if response.get("FailedEntryCount"):
            code = (response.get("Entries") or [{}])[0].get("ErrorCode")
            logger.error("health-event-failed", extra={"provider": transition.target, "error": code})
            return
        logger.info("health-event", extra=transition_detail(transition))
