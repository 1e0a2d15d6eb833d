"""The judged views of providers' outcomes: the canary's and failover's gates, recovery, the SLO report."""

from __future__ import annotations

from typing import Any

from functions.adapters.dynamodb.health import HealthStore
from functions.adapters.dynamodb.schema import SLO_THRESHOLDS_KEY
from functions.app.admin.wiring import AdminDependencies
from functions.domain.errors import NotFound, quoted
from functions.domain.reports import outcomes
from functions.domain.reports.metrics import parse_window
from functions.domain.thresholds import PERFORMANCE_BASELINE_WINDOW, PERFORMANCE_WINDOW, RECOVERY_WINDOW_SECONDS


def _known(deps: AdminDependencies, provider: str) -> str:
    direct = deps.settings.direct()
    if provider not in direct:
        raise NotFound(f"unknown Direct provider {quoted(provider)}; configured: {', '.join(direct)}")
    return provider


def provider_outcomes(deps: AdminDependencies, window: str | None) -> dict[str, Any]:
    text, seconds = parse_window(window, PERFORMANCE_WINDOW)
    return {"window": text, **outcomes.provider_outcomes(deps.metrics.query(seconds), deps.settings.direct())}


def recovery(deps: AdminDependencies, provider: str, window: str | None) -> dict[str, Any]:
    text, seconds = parse_window(window, f"{RECOVERY_WINDOW_SECONDS}s")
    record = HealthStore(deps.settings.health_table).read(_known(deps, provider))
    return {"window": text, **outcomes.recovery(provider, record, deps.metrics.query(seconds))}


def slo_report(
    deps: AdminDependencies, window: str | None, baseline: str | None, providers: str | None
) -> dict[str, Any]:
    """`baseline`: a window ("24h", the default), "none" for no comparison; `providers`: "all" (every Direct
    provider, the default), "none", or a comma-separated list; the client-facing subject always comes first."""
    text, seconds = parse_window(window, PERFORMANCE_WINDOW)
    base_text, base_snapshot = None, None
    if (baseline or "").strip().lower() != "none":
        base_text, base_seconds = parse_window(baseline, PERFORMANCE_BASELINE_WINDOW)
        base_snapshot = deps.metrics.query(base_seconds)
    chosen = (providers or "all").strip().lower()
    if chosen in ("all", "none"):
        names = deps.settings.direct() if chosen == "all" else ()
    else:
        names = tuple(p.strip() for p in chosen.split(",") if p.strip())
    for name in names:
        _known(deps, name)
    slo = outcomes.Slo.from_stored(deps.config.get(SLO_THRESHOLDS_KEY).value)
    report = outcomes.slo_report(deps.metrics.query(seconds), base_snapshot, slo, (outcomes.ALL, *names))
    return {"window": text, "baselineWindow": base_text, **report}
