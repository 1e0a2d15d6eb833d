"""The router's snapshot refresh interval: the runbook's by default, overridable from the environment
(SNAPSHOT_MAX_AGE_SECONDS) so that drills compress it like every other timer."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from functions.app.chat import wiring
from functions.app.chat.settings import RouterSettings
from functions.domain.thresholds import SNAPSHOT_MAX_AGE_SECONDS

TABLES = {"FLAGS_TABLE": "flags", "HEALTH_TABLE": "health", "CLIENT_KEYS_TABLE": "keys", "SPEND_TABLE": "spend"}


def test_the_snapshot_max_age_defaults_to_the_thresholds_module():
    assert RouterSettings.model_validate(TABLES).snapshot_max_age_seconds == SNAPSHOT_MAX_AGE_SECONDS


def test_the_snapshot_max_age_is_read_from_the_environment_and_must_be_positive():
    assert RouterSettings.model_validate(TABLES | {"SNAPSHOT_MAX_AGE_SECONDS": "0.25"}).snapshot_max_age_seconds == 0.25
    with pytest.raises(ValidationError, match="SNAPSHOT_MAX_AGE_SECONDS"):
        RouterSettings.model_validate(TABLES | {"SNAPSHOT_MAX_AGE_SECONDS": "0"})


def test_the_router_s_snapshot_store_refreshes_at_the_configured_age(monkeypatch):
    settings = RouterSettings.model_validate(TABLES | {"SNAPSHOT_MAX_AGE_SECONDS": "0.25"})
    monkeypatch.setattr(wiring, "get_settings", lambda: settings)

    deps = wiring.get_dependencies.__wrapped__()

    assert deps.snapshots._max_age_s == 0.25
