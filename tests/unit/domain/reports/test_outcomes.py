"""Providers' own outcomes judged against the gate, the recovery thresholds and the SLO: pure functions."""

from __future__ import annotations

from functions.domain.health_check import HealthRecord
from functions.domain.reports import outcomes
from functions.domain.reports.metrics import AttemptCounts, Cell, Counts, Latency, MetricsSnapshot
from functions.domain.thresholds import (
    PERFORMANCE_DEGRADATION_PERCENT,
    RECOVERY_SUCCESS_PERCENT,
    SLO_DEFAULT_ERROR_RATE_PERCENT,
    SLO_DEFAULT_P95_LATENCY_MS,
    SLO_MIN_REQUESTS,
)


def window(requests: float, errors: float, p95: float | None, attempts: dict[str, AttemptCounts] | None = None):
    cells = (Cell("direct", "bedrock", "standard", Counts(requests=requests, errors=errors)),) if requests else ()
    latency = {"all": {"all": Latency(p95_ms=p95)}} if p95 is not None else {}
    return MetricsSnapshot(window_s=300, cells=cells, latency=latency, attempts=attempts or {})


def checks(report: dict, subject: str = outcomes.ALL) -> dict[str, str]:
    return {c["check"]: c["result"] for c in report["subjects"][subject]["checks"]}


def test_a_providers_own_failures_judge_it_even_when_the_chain_served_every_request():
    hidden = {"google": AttemptCounts(attempts=40, server_errors=40, p95_ms=20.0)}
    found = outcomes.provider_outcomes(window(40, 0, 20.0, hidden), ["google", "meta"])["providers"]
    assert found["google"]["successPercent"] == 0.0 and found["google"]["gate"]["verdict"] == "FAIL"
    assert found["meta"]["attempts"] == 0 and found["meta"]["gate"]["verdict"] == "INCONCLUSIVE"


def test_the_slo_passes_fails_or_has_no_data_never_a_pass_on_too_few_requests():
    slo = outcomes.Slo()
    assert checks(outcomes.slo_report(window(SLO_MIN_REQUESTS, 0, 50.0), None, slo, [outcomes.ALL])) == {
        "error rate": "pass",
        "p95 latency": "pass",
    }
    failing = window(100, 100 * SLO_DEFAULT_ERROR_RATE_PERCENT / 100 + 1, SLO_DEFAULT_P95_LATENCY_MS + 1)
    report = outcomes.slo_report(failing, None, slo, [outcomes.ALL])
    assert checks(report) == {"error rate": "FAIL", "p95 latency": "FAIL"} and report["valid"] is False
    few = outcomes.slo_report(window(SLO_MIN_REQUESTS - 1, 5, 9000.0), None, slo, [outcomes.ALL])
    assert set(checks(few).values()) == {"no-data"} and few["valid"] is True


def test_stored_slo_thresholds_replace_the_runbooks():
    slo = outcomes.Slo.from_stored({"p95_latency_ms": 200, "error_rate_percent": 5})
    assert (slo.p95_latency_ms, slo.error_rate_percent) == (200.0, 5.0)
    assert outcomes.Slo.from_stored({}) == outcomes.Slo()
    report = outcomes.slo_report(window(50, 0, 300.0), None, slo, [outcomes.ALL])
    assert checks(report)["p95 latency"] == "FAIL"


def test_the_p95_against_the_baseline_fails_past_the_degradation_limit_above_the_noise_floor():
    slo = outcomes.Slo()
    base = window(100, 0, 500.0)
    limit = 500.0 * (1 + PERFORMANCE_DEGRADATION_PERCENT / 100)
    assert checks(outcomes.slo_report(window(50, 0, limit + 1), base, slo, ["all"]))["p95 against baseline"] == "FAIL"
    assert checks(outcomes.slo_report(window(50, 0, limit - 1), base, slo, ["all"]))["p95 against baseline"] == "pass"
    tiny = outcomes.slo_report(window(50, 0, 9.0), window(100, 0, 3.0), slo, ["all"])  # 3 ms to 9 ms: noise
    assert checks(tiny)["p95 against baseline"] == "pass"


def test_recovery_needs_healthy_probes_and_traffic_within_the_stricter_thresholds():
    healthy = HealthRecord("bedrock", "healthy", consecutive_successes=2, last_latency_ms=80)
    good = {"bedrock": AttemptCounts(attempts=50, server_errors=0, p95_ms=100.0)}
    assert outcomes.recovery("bedrock", healthy, window(0, 0, None, good))["recovered"] is True
    errors = int(50 * (100 - RECOVERY_SUCCESS_PERCENT) / 100) + 1
    bad = {"bedrock": AttemptCounts(attempts=50, server_errors=errors, p95_ms=100.0)}
    judged = outcomes.recovery("bedrock", healthy, window(0, 0, None, bad))
    assert judged["recovered"] is False and "success rate" in judged["reasons"][0]
    down = outcomes.recovery("bedrock", HealthRecord("bedrock", "unhealthy"), window(0, 0, None))
    assert down["recovered"] is False and down["probes"]["status"] == "unhealthy"
    assert outcomes.recovery("bedrock", None, window(0, 0, None))["recovered"] is False
