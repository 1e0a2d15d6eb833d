"""Every `tsx quality-gates-cli.ts` line of the runbooks, replayed as `hybridctl` with the same arguments
against the local stack: its exit code and its effect asserted, in the runbook's situation (a canary
running, a provider failing, traffic flowing).

The lines are read from ../shared/runbooks at test time (as the curl replay reads its calls), and bash
itself expands each one (quotes, `$(date ...)`, `$((100-percentage))`, trailing comments), with the
runbook loop's variables set, into the argv hybridctl receives. Durations are shortened through the
CLI's own environment (HYBRIDCTL_TIME_SCALE, HYBRIDCTL_REFRESH_COUNT), never by editing a line. A line
without an asserted effect below fails its test: a new runbook line needs its case here."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest

from functions.app.chat.wiring import get_dependencies
from functions.domain.thresholds import HEALTH_FAILURE_THRESHOLD
from functions.handlers.health_check import lambda_handler as health_check
from local import metrics_sink
from local.faults import FaultSpec
from local.gateway import LocalLambdaContext
from tests.e2e.test_runbook_curls import RUNBOOKS
from tests.paths import REPO_ROOT
from tests.polling import eventually

TSX = "tsx quality-gates-cli.ts"
# The runbook loops these lines run in (provider-failover.md): their variables and values.
LOOP_VALUES = {"provider": ("bedrock", "google", "meta"), "percentage": ("10", "25", "50", "75", "100")}
TIME_SCALE = "0.0005"  # monitor --duration 30 (minutes) waits 0.9 s
NOT_AVAILABLE = 7
DIRECT = {"X-Operation-Type": "emergency"}  # the Direct route's operation: the Direct weights pick the provider

pytestmark = pytest.mark.usefixtures("clean_control_plane", "rollouts")


# --- reading the runbooks ----------------------------------------------------------------------------
def _command_of(text: str) -> str:
    """The hybridctl command inside a joined shell line: from `tsx quality-gates-cli.ts` to the first
    `)`, `;` or `'` outside double quotes (`$(tsx ...)`, `if ! tsx ...; then`, `watch -n 10 'tsx ...'`)."""
    rest = text[text.index(TSX) :]
    quoted, depth = False, 0
    for i, char in enumerate(rest):
        if char == '"':
            quoted = not quoted
        elif quoted and rest.startswith("$(", i):
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif not quoted and char in ");'":
            return rest[:i].strip()
    return rest.strip()


def runbook_lines() -> list[tuple[str, str]]:
    assert RUNBOOKS.is_dir(), f"the runbooks are missing at {RUNBOOKS} (set HYBRID_RUNBOOKS_DIR)"
    found = []
    for path in sorted(RUNBOOKS.glob("*.md")):
        buffer, start = "", 0
        for number, line in enumerate(path.read_text().splitlines(), 1):
            stripped = line.strip()
            if not buffer:
                start = number
            buffer += " " + stripped.rstrip("\\")
            if stripped.endswith("\\"):
                continue
            if TSX in buffer:
                found.append((f"{path.name}:{start}", _command_of(buffer)))
            buffer = ""
    return found


def expand(command: str) -> list[tuple[str, list[str]]]:
    """The argv bash gives hybridctl for the line, once per value of the runbook loop it sits in."""
    used = [name for name in LOOP_VALUES if re.search(rf"\$\{{?{name}\b|\b{name}\)\)", command)]
    runs: list[dict[str, str]] = [{}]
    for name in used:
        runs = [run | {name: value} for run in runs for value in LOOP_VALUES[name]]
    expanded = []
    for run in runs:
        script = "".join(f"{k}={v}; " for k, v in run.items())
        script += 'hybridctl() { printf "%s\\0" "$@"; }; ' + command.replace(TSX, "hybridctl", 1)
        out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
        label = ",".join(f"{k}={v}" for k, v in run.items())
        expanded.append((label, out.split("\0")[:-1]))
    return expanded


LINES = runbook_lines()
RUNS = [(source, label, argv) for source, command in LINES for label, argv in expand(command)]


def signature(argv: list[str]) -> str:
    """The verb (and action) with the line's flags in their order: what picks the line's case."""
    words = [argv[0]] + [a for a in argv[1:2] if not a.startswith("-") and argv[0] in ("config", "dashboard")]
    return " ".join(words + [a for a in argv if a.startswith("--")])


# --- the situations ----------------------------------------------------------------------------------
@dataclass
class World:
    """What a case sets up and checks with: the admin API in-process, traffic, faults."""

    http: Any
    admin: dict[str, str]
    client: Any
    local_stack: Any
    tmp_path: Path
    started: list[str] = field(default_factory=list)

    def get(self, path: str, **params: str) -> Any:
        response = self.http.get(path, headers=self.admin, params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def weights(self) -> dict[str, int]:
        return dict(self.get("/admin/rollouts")["route"]["weights"])

    def set_weights(self, weights: dict[str, int]) -> None:
        answer = self.http.put("/admin/routing/traffic-distribution", json={"weights": weights}, headers=self.admin)
        assert answer.status_code == 200, answer.text
        get_dependencies().snapshots.invalidate()

    def lock(self) -> dict[str, Any] | None:
        lock: dict[str, Any] | None = self.get("/admin/rollouts")["route"]["lock"]
        return lock

    def start_canary(self, steps: list[int], **options: Any) -> str:
        """A canary bedrock -> google at `steps` (by default baking an hour: it holds its first step)."""
        body = {"kind": "canary", "source": "bedrock", "target": "google", "steps": steps, "bakeSeconds": 3600}
        answer = self.http.post("/admin/rollouts", json=body | options, headers=self.admin)
        assert answer.status_code == 202, answer.text
        eventually(self.lock, what="the canary holds the route")
        eventually(self.weights, lambda w: w.get("google") == steps[0], what="the canary's first step")
        get_dependencies().snapshots.invalidate()
        return str(answer.json()["name"])

    def traffic(self, n: int) -> list[int]:
        """`n` requests on the Direct route (the weights decide the provider), their statuses."""
        metrics_sink.install()  # pytest swaps sys.stdout between phases: tap the EMF lines again
        get_dependencies().snapshots.invalidate()
        body = {"model": "m", "messages": [{"role": "user", "content": "ping"}]}
        return [self.client.post("/v1/chat/completions", json=body, headers=DIRECT).status_code for _ in range(n)]

    def probe(self, times: int = 1) -> None:
        """The health checker's scheduled run, `times` over (as the stack's timer runs it)."""
        for _ in range(times):
            health_check({}, cast(Any, LocalLambdaContext("health-check")))
        get_dependencies().snapshots.invalidate()

    def fault(self, provider: str, **spec: Any) -> None:
        self.local_stack.faults.set(FaultSpec(provider=provider, **spec))

    def failover_ran(self) -> None:
        body = {"kind": "immediate_failover", "failedProvider": "bedrock", "targetProvider": "google"}
        answer = self.http.post("/admin/rollouts", json=body, headers=self.admin)
        assert answer.status_code == 202, answer.text
        name = answer.json()["name"]
        eventually(lambda: self.get(f"/admin/rollouts/{name}")["status"], lambda s: s != "RUNNING", timeout=20)


Check = Callable[[World, list[str], int, str, str], None]


@dataclass(frozen=True)
class Scenario:
    what: str
    code: int
    check: Check
    setup: Callable[[World], None] = lambda world: None


def _given(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def _weights_of(text: str) -> dict[str, int]:
    return {p: int(w) for p, w in (part.split(":") for part in text.split(","))}


def _row(out: str, name: str) -> list[str]:
    rows = [line.split() for line in out.splitlines() if line.split()[:1] == [name]]
    assert rows, f"no row {name!r} in:\n{out}"
    return rows[-1]


def _healthy_traffic(world: World) -> None:
    assert set(world.traffic(25)) == {200}


def _canary_failing(world: World) -> None:
    world.start_canary([50])
    world.fault("google", status=503)
    world.traffic(40)


def _canary_healthy(world: World) -> None:
    world.start_canary([50])
    assert set(world.traffic(80)) == {200}  # about 40 to google: enough for a gate (20)


def _canary_at_its_gate(world: World) -> None:
    """A canary holding its first step at an inconclusive gate, re-checked every second."""
    world.start_canary([50], bakeSeconds=0, recheckSeconds=1, gate={"minRequests": 1_000_000, "maxInconclusive": 1000})


def _every_target_failing(world: World) -> None:
    for provider in ("bedrock", "google", "meta", "mcp"):
        world.fault(provider, status=503)
    statuses = world.traffic(10)
    assert all(s >= 500 for s in statuses), statuses


def _slow_bedrock(world: World) -> None:
    _slow(world, "bedrock")


def _slow(world: World, *providers: str) -> None:
    """The SLO's p95 at 200 ms, the providers answering in 400 ms, traffic over them."""
    answer = world.http.put(
        "/admin/config/slo-thresholds",
        json={"p95_latency_ms": 200, "error_rate_percent": 1, "reason": "replay"},
        headers=world.admin,
    )
    assert answer.status_code == 200, answer.text
    for provider in providers:
        world.fault(provider, error_rate=0.0, latency_ms=400)
    assert set(world.traffic(22)) == {200}


# --- the checks ------------------------------------------------------------------------------------------
def health_only(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert out == f"{_given(argv, '--provider')}: HEALTHY\n"


def health_only_down(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert out == f"{_given(argv, '--provider')}: UNHEALTHY\n"  # what the runbook's script greps for


def _provider_down(world: World, argv: list[str]) -> None:
    world.fault(_given(argv, "--provider"), status=503)
    world.probe(HEALTH_FAILURE_THRESHOLD)


def _everything_down(world: World) -> None:
    for provider in ("bedrock", "google", "meta", "mcp"):
        world.fault(provider, status=503)
    world.probe(HEALTH_FAILURE_THRESHOLD)


def compact_critical(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert out.count("\n") == 1 and out.startswith("critical  bedrock=unhealthy/")


def moved_off(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    provider = _given(argv, "--provider")
    weights = world.weights()
    assert weights.get(provider, 0) == 0 and sum(weights.values()) == 100 and "SUCCEEDED" in out, (weights, out)
    if "--target-provider" in argv:
        assert weights[_given(argv, "--target-provider")] == 100


def distribution_applied(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    wanted = _weights_of(_given(argv, "--traffic-distribution"))
    assert {p: w for p, w in world.weights().items() if w} == {p: w for p, w in wanted.items() if w}
    if "--transition-duration" in argv:  # a gated transition over the duration is issue 15's Deliver 4
        assert "took effect at once" in out


def failed_over(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    failed = _given(argv, "--failed-provider" if "--failed-provider" in argv else "--from")
    weights = world.weights()
    assert weights.get(failed, 0) == 0 and sum(weights.values()) == 100 and "SUCCEEDED: completed" in out
    for flag in ("--target-provider", "--to"):
        if flag in argv:
            assert weights[_given(argv, flag)] == 100


def failover_status(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert "routing mode:" in out and "rollout: none running; last immediate_failover" in out


def provider_table(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    for target in ("bedrock", "google", "meta", "mcp"):
        assert _row(out, target)[1] == "healthy"


def validation_passed(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert "PASSED" in out
    assert re.search(r"client-facing: error rate +pass +0 % \(SLO <= 1 %\)", out), out
    assert re.search(r"client-facing: p95 latency +pass +[\d.]+ ms \(SLO <= 1500 ms\)", out), out
    every = "--check-all-providers" in argv or "--comprehensive" in argv
    assert ("bedrock: error rate" in out) == every and ("google: p95 latency" in out) == every
    if "--performance-baseline" in argv or "--comprehensive" in argv or "--performance-check" in argv:
        assert re.search(r"client-facing: p95 against baseline +pass", out), out


def performance_failed(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert "FAILED" in out and re.search(r"client-facing: p95 latency +FAIL +[\d.]+ ms \(SLO <= 200 ms\)", out), out


def metrics_shown(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    for name in _given(argv, "--metrics").split(","):
        value = _row(out, name)[1]
        assert value != "-" and float(value) >= 0, out
    assert float(_row(out, "error_rate")[1]) == 0.0


def canary_started(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    lock = world.lock()
    assert lock is not None and lock["kind"] == "canary"
    first = int(_given(argv, "--traffic-percentage"))
    eventually(world.weights, lambda w: w.get("google") == first, what="the canary's first step")
    assert f"plan {first}," in out and f"bake {_given(argv, '--duration')} s" in out


def canary_below(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert "google: success rate 0% BELOW 98%" in out


def canary_above(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert "google: success rate 100% at or above 98%" in out


def not_available(issue: int) -> Check:
    def check(world: World, argv: list[str], code: int, out: str, err: str) -> None:
        assert "not available yet" in err and f"issue {issue}" in err and "nothing was changed" in err

    return check


def update_refused(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert f"moving a running canary to {_given(argv, '--update-traffic')}%" in err
    assert world.weights() == {"bedrock": 50, "google": 50}  # nothing moved


def canary_unhealthy(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    verdict = out.splitlines()[0]
    assert verdict.startswith("validation (canary-health): FAILED:") and "canary target" in verdict, out
    assert "target google" in out and "succeed 0% of the time" in out


def canary_healthy(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert "PASSED" in out and "canary target" in out and ": PASS (within thresholds)" in out


def canary_rolled_back(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    name = re.search(r"abort requested for (\S+):", out)
    assert name, out
    ended = eventually(
        lambda: world.get(f"/admin/rollouts/{name.group(1)}"), lambda v: v["status"] != "RUNNING", timeout=20
    )
    assert ended["error"] == "RolloutAborted" and world.weights() == {"bedrock": 100}


def rollout_followed(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert "rollout: canary" in out and "bedrock -> google, step 1/1 of 50 %" in out
    assert "step 1: 50%  weights bedrock:50,google:50" in out and "gate: none evaluated yet" in out
    metrics_shown(world, argv, code, out, err)
    assert float(_row(out, "success_rate")[1]) == 100.0 and float(_row(out, "throughput")[1]) > 0


def compact_line(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert out.count("\n") == 1 and out.startswith("healthy  bedrock=healthy/closed/100%")


def impact_alert(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert "ALERT error_rate>2%" in out and float(_row(out, "all")[3]) == 100.0


def impact_quiet(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert "no alert (error_rate>2% holds nowhere)" in out and float(_row(out, "all")[3]) == 0.0


def dry_run_started(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert "(dry run: weights untouched)" in out and world.weights() == {"bedrock": 100}


def recovered(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert f"{_given(argv, '--provider')}: recovered" in out and "probes:     healthy" in out
    assert "success >= 99%, p95 <= 1500 ms" in out and "healthy for 600 s" in out


def not_recovered(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert f"{_given(argv, '--provider')}: NOT recovered (health probes do not hold it healthy)" in out
    assert "probes:     unhealthy" in out


def _bedrock_down(world: World) -> None:
    world.fault("bedrock", status=503)
    world.probe(HEALTH_FAILURE_THRESHOLD)


def failback_started(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    lock = world.lock()
    assert lock is not None and lock["kind"] == "failback" and "started failback" in out


def comprehensive(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert "components:" in out and "breaker policy:" in out and "audit trail: valid" in out


def cache_emergency(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    settings = world.get("/admin/config/cache-settings")
    assert settings["serveStale"] is True and settings["freshTtlSeconds"] == int(_given(argv, "--cache-ttl"))


def breakers_unchanged(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    not_available(17)(world, argv, code, out, err)
    assert world.get("/admin/health/circuit-breakers")["enabled"] is True


def dashboard_named(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert "failover" in out


def dashboard_frame(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert out.count("hybridctl failover dashboard") == 1 and "weights:" in out


def incident_report(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    path = world.tmp_path / _given(argv, "--output")
    assert re.fullmatch(r"failover-incident-\d{8}-\d{6}\.md", path.name) and path.is_file()
    text = path.read_text()
    assert text.startswith("# Incident report") and "**Event:** failover" in text and "rollout.start" in text


def baseline_report(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert out.startswith("# Performance impact report") and "**Period:** failover-window" in out
    assert "## Baseline comparison" in out and "| all | p95 against baseline |" in out


def root_cause(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert "## Timeline (last day)" in out and "immediate_failover SUCCEEDED" in out and "rollout.start" in out
    assert "## Failing providers (last 24 h)" in out
    assert "not available yet: log excerpts (--include-logs)" in err


def effectiveness(world: World, argv: list[str], code: int, out: str, err: str) -> None:
    assert "## Rollouts" in out and "| immediate_failover |" in out and "## Failover KPIs" in out
    for kpi in _given(argv, "--metrics").split(","):
        assert f"| {kpi} |" in out
    assert re.search(r"\| execution_time \| [\d.]+ \| < 60 s \| ok \|", out), out


CASES: dict[str, list[Scenario]] = {
    "status --provider --health-only": [
        Scenario("healthy", 0, health_only),
        Scenario("provider down", 1, health_only_down),  # its setup needs the line's provider: see _scenarios
    ],
    "rollback --provider --reason": [
        Scenario("carrying traffic", 0, moved_off, lambda w: w.set_weights({"bedrock": 50, "google": 30, "meta": 20}))
    ],
    "rollback --provider --target-provider --reason": [Scenario("default weights", 0, moved_off)],
    "config set --traffic-distribution --transition-duration": [Scenario("applied", 0, distribution_applied)],
    "config set --traffic-distribution": [Scenario("applied", 0, distribution_applied)],
    "failover --failed-provider --auto-select-target --emergency-mode": [Scenario("default weights", 0, failed_over)],
    "failover --failed-provider --target-provider --mode": [Scenario("default weights", 0, failed_over)],
    "failover --from --to --reason": [
        Scenario("from carries all", 0, failed_over, lambda w: None),  # replaced per line below
    ],
    "status --failover-status": [Scenario("after a failover", 0, failover_status, World.failover_ran)],
    "status --provider-health": [Scenario("healthy", 0, provider_table)],
    "status --provider-health --compact": [
        Scenario("healthy", 0, compact_line),
        Scenario("every target down", 1, compact_critical, _everything_down),
    ],
    "validate --post-failover": [Scenario("healthy traffic", 0, validation_passed, _healthy_traffic)],
    "validate --post-failover --check-all-providers --performance-baseline": [
        Scenario("healthy traffic", 0, validation_passed, _healthy_traffic)
    ],
    "validate --post-failover --comprehensive": [Scenario("healthy traffic", 0, validation_passed, _healthy_traffic)],
    "validate --performance-check": [
        Scenario("healthy traffic", 0, validation_passed, _healthy_traffic),
        Scenario("bedrock slower than the SLO", 1, performance_failed, _slow_bedrock),
    ],
    "validate --canary-health": [
        Scenario("canary target failing", 1, canary_unhealthy, _canary_failing),
        Scenario("canary target healthy", 0, canary_healthy, _canary_healthy),
    ],
    "validate --provider --test-suite": [Scenario("quality suite", NOT_AVAILABLE, not_available(16))],
    "monitor --duration --metrics": [Scenario("after traffic", 0, metrics_shown, _healthy_traffic)],
    "monitor --canary-mode --duration --success-threshold": [
        Scenario("canary target failing", 1, canary_below, _canary_failing),
        Scenario("canary target healthy", 0, canary_above, _canary_healthy),
    ],
    "monitor --failover-mode --duration --metrics": [Scenario("canary running", 0, rollout_followed, _canary_healthy)],
    "monitor --user-impact --duration --alert-threshold": [
        Scenario("every target failing", 1, impact_alert, _every_target_failing),
        Scenario("healthy traffic", 0, impact_quiet, _healthy_traffic),
    ],
    "monitor --provider --recovery-mode --duration": [
        Scenario("probes healthy", 0, recovered, World.probe),
        Scenario("probes failing", 1, not_recovered, _bedrock_down),
    ],
    "canary --source-provider --target-provider --traffic-percentage --duration": [
        Scenario("start", 0, canary_started)
    ],
    "canary --update-traffic": [
        Scenario("canary running", NOT_AVAILABLE, update_refused, lambda w: w.start_canary([50]) and None)
    ],
    "canary --rollback": [Scenario("canary at its gate", 0, canary_rolled_back, _canary_at_its_gate)],
    "canary --validation-mode --sample-size --success-threshold": [Scenario("dry run", 0, dry_run_started)],
    "failback --original-provider --current-provider --auto-trigger --health-threshold": [
        Scenario("bedrock recovered", 0, failback_started, lambda w: w.set_weights({"google": 100}))
    ],
    "status --provider --comprehensive": [Scenario("healthy", 0, comprehensive)],
    "offline --model-id --quick-validation": [Scenario("quality gates", NOT_AVAILABLE, not_available(16))],
    "emergency --mode --enable-degraded-service": [Scenario("degraded service", NOT_AVAILABLE, breakers_unchanged)],
    "config set --cache-mode --cache-ttl --serve-stale": [Scenario("applied", 0, cache_emergency)],
    "config set --request-queuing --queue-size --queue-timeout": [
        Scenario("request queuing", NOT_AVAILABLE, not_available(17))
    ],
    "dashboard create --name --metrics --alerts": [Scenario("named", 0, dashboard_named)],
    "status --dashboard --refresh": [Scenario("one refresh", 0, dashboard_frame)],
    "report --type --event --output": [Scenario("after a failover", 0, incident_report, World.failover_ran)],
    "report --type --period --compare": [Scenario("healthy traffic", 0, baseline_report, _healthy_traffic)],
    "analyze --event --root-cause-analysis --include-logs": [
        Scenario("after a failover", NOT_AVAILABLE, root_cause, World.failover_ran)
    ],
    "report --type --metrics": [Scenario("after a failover", 0, effectiveness, World.failover_ran)],
}


def _scenarios(argv: list[str]) -> list[Scenario]:
    found = CASES.get(signature(argv))
    assert found, f"no asserted effect for `hybridctl {' '.join(argv)}` ({signature(argv)}): add its case"
    if signature(argv) == "failover --from --to --reason":  # the provider failing carries the traffic
        source = _given(argv, "--from")
        return [Scenario(f"{source} carries all", 0, failed_over, lambda w: w.set_weights({source: 100}))]
    if signature(argv) == "status --provider --health-only":
        return [found[0], Scenario(found[1].what, 1, found[1].check, lambda w: _provider_down(w, argv))]
    return found


PARAMS = [
    pytest.param(argv, scenario, id=f"{source}{'[' + label + ']' if label else ''}-{scenario.what}")
    for source, label, argv in RUNS
    for scenario in _scenarios(argv)
]


def test_the_runbooks_have_their_forty_odd_hybridctl_lines():
    assert len(LINES) >= 40, LINES
    assert len({signature(argv) for _, _, argv in RUNS}) >= 35


@pytest.mark.parametrize(("argv", "scenario"), PARAMS)
def test_each_runbook_line_runs_as_written_and_does_what_it_says(
    argv, scenario, ctl, http, admin, client, local_stack, tmp_path, monkeypatch
):
    monkeypatch.setenv("HYBRIDCTL_TIME_SCALE", TIME_SCALE)
    monkeypatch.setenv("HYBRIDCTL_REFRESH_COUNT", "1")
    monkeypatch.chdir(tmp_path)  # --output files land here
    metrics_sink.install()
    metrics_sink.STORE.clear()
    world = World(http, admin, client, local_stack, tmp_path)
    scenario.setup(world)
    code, out, err = ctl(*argv)
    out = "\n".join(line for line in out.splitlines() if not line.startswith('{"')) + ("\n" if out else "")
    assert code != 2, err
    assert code == scenario.code, f"exit {code}, wanted {scenario.code}\nstdout:\n{out}\nstderr:\n{err}"
    scenario.check(world, argv, code, out, err)


def test_a_bad_alert_expression_is_a_usage_error_naming_the_problem(ctl):
    for expression, problem in (
        ("error_rate=>2%", "is not METRIC<op>NUMBER%"),
        ("latency>2%", "'latency' cannot be alerted on"),
        ("error_rate>200%", "200% is not a percentage"),
    ):
        code, _, err = ctl("monitor", "--user-impact", "--duration", "1", "--alert-threshold", expression)
        assert code == 2 and problem in err, err


def test_an_unknown_metric_name_is_a_usage_error_listing_the_known_ones(ctl):
    code, _, err = ctl("monitor", "--duration", "1", "--metrics", "error_rate,latncy")
    assert code == 2 and "unknown metric(s) latncy" in err and "throughput" in err


def test_monitor_json_shows_numbers_after_traffic(ctl, client, monkeypatch):
    import json

    monkeypatch.setenv("HYBRIDCTL_TIME_SCALE", TIME_SCALE)
    metrics_sink.install()
    metrics_sink.STORE.clear()
    body = {"model": "m", "messages": [{"role": "user", "content": "ping"}]}
    assert {client.post("/v1/chat/completions", json=body).status_code for _ in range(5)} == {200}
    code, out, _ = ctl("monitor", "--duration", "1", "--metrics", "error_rate,latency", "--json")
    lines = (json.loads(line) for line in out.splitlines() if line.startswith("{"))
    samples = [s for s in lines if s.get("mode") == "health"]
    assert code == 0 and samples
    assert samples[-1]["metrics"]["error_rate"] == 0.0 and samples[-1]["metrics"]["latency"] > 0


# --- the manual failback loop, run literally ---------------------------------------------------------------
def _failback_loop() -> str:
    text = (RUNBOOKS / "provider-failover.md").read_text()
    match = re.search(
        r"for percentage in 10 25 50 75 100; do\n(?:.*\n)*?done\n", text[text.index("### Manual Failback") :]
    )
    assert match, "the manual failback loop is missing from provider-failover.md"
    return match.group(0)


def _failback_loop_from_google(world: World, gateway: Any, situation: Callable[[World], None]):
    """With google carrying all Direct traffic and `situation` set up, bash runs the loop as written:
    `tsx quality-gates-cli.ts` is hybridctl in a process of its own, and `sleep` (the runbook's 3 minutes
    between steps) returns at once. Answers the finished process and the Direct weights it left."""
    world.set_weights({"google": 100})
    metrics_sink.install()
    metrics_sink.STORE.clear()
    situation(world)
    # the interpreter running the tests (make test does not activate the venv; a bare `python` may lack httpx)
    script = f'hybridctl() {{ {shlex.quote(sys.executable)} -m cli.hybridctl.main "$@"; }}; sleep() {{ :; }}; '
    script += _failback_loop().replace(TSX, "hybridctl")
    token = world.local_stack.admin_token
    env = os.environ | {"HYBRID_ENDPOINT": gateway.url, "HYBRID_ADMIN_TOKEN": token, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, env=env, cwd=REPO_ROOT, timeout=300)
    return done, {p: w for p, w in world.weights().items() if w}


def test_the_manual_failback_loop_restores_bedrock_to_100_percent_with_healthy_providers(
    gateway, local_stack, http, admin, client, tmp_path
):
    world = World(http, admin, client, local_stack, tmp_path)
    done, weights = _failback_loop_from_google(world, gateway, _healthy_traffic)
    assert done.returncode == 0, done.stderr
    assert "Performance validation failed" not in done.stdout
    assert done.stdout.count("traffic to bedrock") == 5 and weights == {"bedrock": 100}


def test_the_manual_failback_loop_stops_at_10_percent_when_a_performance_check_fails_under_a_latency_fault(
    gateway, local_stack, http, admin, client, tmp_path
):
    world = World(http, admin, client, local_stack, tmp_path)

    def slow(world: World) -> None:  # the window's traffic went to google; bedrock, back, is as slow
        _slow(world, "bedrock", "google")

    done, weights = _failback_loop_from_google(world, gateway, slow)
    assert "Performance validation failed, stopping failback" in done.stdout, done.stdout + done.stderr
    assert done.stdout.count("traffic to bedrock") == 1 and weights == {"bedrock": 10, "google": 90}
