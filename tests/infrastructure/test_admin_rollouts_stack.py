"""The admin function drives the rollout state machines: their ARNs in STATE_MACHINE_ARNS, and exactly the
Step Functions calls of the rollout routes, on those machines and their executions only."""

from __future__ import annotations

import json
from typing import Any

from stacks.constructs.admin_api import ADMIN_HANDLER, APPROVAL_ACTIONS, EXECUTION_ACTIONS, MACHINE_ACTIONS
from tests.infrastructure.conftest import Synthesized, function_with_handler, role_statements

KINDS = ("canary", "failback", "gradual_failover", "immediate_failover")


def _machines(synthesized: Synthesized) -> dict[str, str]:
    """Rollout kind -> the state machine's logical id (the stack names each after its ASL file)."""
    machines = synthesized.stack.workflows.state_machines
    by_name = {name: synthesized.logical_id(machine) for name, machine in machines.items()}
    return {kind: by_name["".join(part.capitalize() for part in kind.split("_"))] for kind in KINDS}


def _resolved_json(value: dict[str, Any]) -> Any:
    """An Fn::Join of literals and Refs, read with each Ref as the logical id it names."""
    parts = value["Fn::Join"][1]
    return json.loads("".join(p if isinstance(p, str) else p["Ref"] for p in parts))


def _states_statements(synthesized: Synthesized) -> list[dict[str, Any]]:
    admin = function_with_handler(synthesized, ADMIN_HANDLER)
    return [
        s
        for s in role_statements(synthesized, admin)
        if any(str(a).startswith("states:") for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]]))
    ]


def test_the_admin_function_gets_each_rollout_kinds_state_machine_arn(synthesized):
    admin = function_with_handler(synthesized, ADMIN_HANDLER)
    arns = admin["Properties"]["Environment"]["Variables"]["STATE_MACHINE_ARNS"]
    assert _resolved_json(arns) == _machines(synthesized)


def test_the_admin_role_may_only_start_and_list_executions_of_the_four_machines(synthesized):
    statements = _states_statements(synthesized)
    (start,) = [s for s in statements if set(s["Action"]) == set(MACHINE_ACTIONS)]
    assert sorted(r["Ref"] for r in start["Resource"]) == sorted(_machines(synthesized).values())


def test_the_admin_role_reads_and_stops_executions_of_those_machines_only(synthesized):
    (executions,) = [s for s in _states_statements(synthesized) if set(s["Action"]) == set(EXECUTION_ACTIONS)]
    named = []
    for resource in executions["Resource"]:
        parts = resource["Fn::Join"][1]
        assert parts[-1] == ":*" and ":execution:" in parts
        named.append(parts[-2]["Fn::GetAtt"])
    assert sorted(named) == sorted([logical_id, "Name"] for logical_id in _machines(synthesized).values())


def test_approval_answers_are_the_only_states_actions_on_every_resource(synthesized):
    statements = _states_statements(synthesized)
    (approvals,) = [s for s in statements if s["Resource"] == "*"]
    assert set(approvals["Action"]) == set(APPROVAL_ACTIONS)
    granted = {a for s in statements for a in s["Action"]}
    assert granted == {*MACHINE_ACTIONS, *EXECUTION_ACTIONS, *APPROVAL_ACTIONS}
