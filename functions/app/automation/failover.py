"""A failover alarm or an unhealthy event: decide (cooldown, duplicate, target) and claim-and-start,
deciding again after a version conflict (another event claimed the provider meanwhile)."""

from __future__ import annotations

from typing import Any

from functions.app.automation.claims import claim_and_start, duplicate
from functions.app.automation.decisions import report
from functions.app.automation.wiring import AutomationDependencies
from functions.domain.automation.rules import FailoverRequest, Outcome, decide_failover
from functions.domain.errors import VersionConflict
from functions.domain.thresholds import ROLLOUT_WRITE_RETRIES


def failover(request: FailoverRequest, deps: AutomationDependencies) -> dict[str, Any]:
    conflict: VersionConflict | None = None
    for _ in range(ROLLOUT_WRITE_RETRIES):
        try:
            return _attempt(request, deps)
        except VersionConflict as exc:
            conflict = exc
    assert conflict is not None
    raise conflict


def _attempt(request: FailoverRequest, deps: AutomationDependencies) -> dict[str, Any]:
    """One read-decide-write round; VersionConflict when the claim lost a race."""
    settings, provider = deps.settings, request.provider
    direct = settings.direct()
    now = deps.clock()
    records = deps.store.get_many(direct if provider in direct else (*direct, provider))
    record = records[provider]
    failed_over = [p for p, r in records.items() if r.failed_over is not None and p != provider]
    health = {target: r.status == "healthy" for target, r in deps.health.read_all(direct).items()}
    decision = decide_failover(
        request,
        record,
        deps.rollouts.get(),
        health,
        direct,
        failed_over,
        now,
        settings.cooldown_s,
        settings.extras(),
    )
    context = {"trigger": request.trigger.value, "execution": request.execution_name}
    if decision.outcome is Outcome.DUPLICATE:
        return duplicate(record, decision, deps, now, context)
    if decision.outcome is not Outcome.STARTED:
        return report(provider, decision, deps, context)
    return claim_and_start(record, decision, deps, context)
