"""How a drill sizes the rollout gates (local/drill/scenarios.py): the request minimum, window and
re-checks from the traffic rate, and the latency allowance from the warm-up P95."""

from __future__ import annotations

from dataclasses import replace

from functions.domain.thresholds import FAILBACK_STEPS, GATE_MIN_REQUESTS, GATE_P95_LATENCY_MS, RECOVERY_P95_LATENCY_MS
from local.drill.scenarios import (
    FIRST_STEP_GATE_S,
    RECHECK_SLACK,
    SCENARIOS,
    Compression,
    direct_rps,
    gate_sizing,
    latency_allowance,
)


def test_the_first_failback_step_can_collect_the_gate_minimum_within_its_re_checks():
    direct = direct_rps(28.0)
    gates = gate_sizing(Compression(240.0), direct)
    first_rps = FAILBACK_STEPS[0] / 100.0 * direct
    assert gates.first_step_rps == first_rps
    assert gates.min_requests == int(first_rps * FIRST_STEP_GATE_S) <= GATE_MIN_REQUESTS
    needed_s = gates.min_requests / first_rps
    # the bake plus every held re-check covers the slack, and the window holds that much traffic
    assert gates.bake_s + gates.max_inconclusive * gates.recheck_s >= needed_s * RECHECK_SLACK
    assert gates.window_s * first_rps >= gates.min_requests
    assert gates.hysteresis_s >= gates.recovery_window_s  # recovery is judged on traffic after the fault


def test_plenty_of_traffic_keeps_the_runbook_minimum():
    assert gate_sizing(Compression(30.0), direct_rps(1000.0)).min_requests == GATE_MIN_REQUESTS


def test_the_allowance_is_the_warm_up_p95_rounded_up_and_goes_on_both_gate_limits():
    allowance, basis = latency_allowance(412.0, SCENARIOS["bedrock-outage"].faults)
    assert allowance == 500.0 and "412 ms" in basis
    sized = replace(gate_sizing(Compression(240.0), direct_rps(28.0)), latency_allowance_ms=allowance)
    assert sized.automation()["recovery_p95_latency_ms"] == RECOVERY_P95_LATENCY_MS + 500.0
    assert sized.automation()["gate_p95_latency_ms"] == GATE_P95_LATENCY_MS + 500.0


def test_a_latency_fault_stays_above_every_gate_limit_whatever_the_warm_up_showed():
    spike = SCENARIOS["latency-spike"].faults
    added = max(f.latency_ms for f in spike)
    allowance, basis = latency_allowance(2400.0, spike)
    assert GATE_P95_LATENCY_MS + allowance < added and "capped" in basis
    assert latency_allowance(None, spike)[0] == 0.0
