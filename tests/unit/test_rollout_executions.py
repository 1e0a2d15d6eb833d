"""Execution names and ARNs, gate options resolved against the runbook, and the step's gate window."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from functions.domain.rollout.executions import EXECUTION_NAME_MAX, execution_arn, execution_name, name_of
from functions.domain.rollout.gate_options import GateOptions
from functions.domain.rollout.gates import GateLimits, GateThresholds, step_window

MACHINE = "arn:aws:states:eu-central-1:123456789012:stateMachine:hybrid-routing-canary"
WHEN = datetime(2025, 1, 14, 10, 0, 0, 123_000, tzinfo=UTC)


def test_an_operators_rollout_name_carries_its_kind_time_and_nonce() -> None:
    assert execution_name("canary", WHEN, "a1b2c3") == "canary-20250114T100000123Z-a1b2c3"


def test_a_long_basis_with_a_nonce_still_fits_step_functions_limit() -> None:
    name = execution_name("x" * 200, WHEN, "a1b2c3")
    assert len(name) <= EXECUTION_NAME_MAX and name.endswith("-20250114T100000123Z-a1b2c3")


def test_the_execution_arn_is_the_machines_with_execution_and_the_name() -> None:
    arn = execution_arn(MACHINE, "canary-1")
    assert arn == "arn:aws:states:eu-central-1:123456789012:execution:hybrid-routing-canary:canary-1"
    assert name_of(arn) == "canary-1" and name_of("canary-1") == "canary-1"


def test_gate_options_left_out_are_the_runbooks() -> None:
    options = GateOptions.model_validate({"minRequests": 3, "consecutiveFailures": 4})
    assert options.thresholds() == GateThresholds(min_requests=3)
    assert options.limits() == GateLimits(consecutive_failures=4)
    assert options.wire() == {"minRequests": 3, "consecutiveFailures": 4}


def test_gate_options_refuse_an_unknown_option() -> None:
    with pytest.raises(ValueError):
        GateOptions.model_validate({"minRequest": 3})


def test_a_gate_reads_only_the_traffic_since_its_step_started() -> None:
    assert step_window(120, 1000.0, 1012.37) == pytest.approx(12.3)
    assert step_window(120, 1000.0, 1000.2) == 1.0
    assert step_window(120, 1000.0, 2000.0) == 120.0
    assert step_window(120, None, 2000.0) == 120
