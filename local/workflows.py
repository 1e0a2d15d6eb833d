"""The rollout workflows on the local stack: the four state machines of statemachines/ created in the
local moto (which executes their ASL), the workflow Lambda bound in-process over the stack's tables,
and STATE_MACHINE_ARNS set for the admin function, as the stack's Workflows construct and admin
environment do on AWS.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

STATEMACHINES = Path(__file__).resolve().parent.parent / "statemachines"
ASL_SUFFIX = ".asl.json"
NAME_PREFIX = "hybrid-routing-local"
FUNCTION_NAME = f"{NAME_PREFIX}-workflow"
FUNCTION_ARN_PLACEHOLDER = "${WorkflowFunctionArn}"
INTERRUPTED = "the local stack stopped while this execution ran"


@dataclass
class LocalWorkflows:
    machines: dict[str, str]  # rollout kind -> state machine ARN
    function_arn: str
    watcher: Any = None
    deps: Any = None  # the workflow Lambda's dependencies

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()

    def end_interrupted(self, executions: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """End the rollouts a previous run left running (recorded RUNNING, or holding the route's lock):
        moto lost them with the process, so each is cleaned up as a stopped execution is (lock released,
        a canary's or failback's starting weights restored, audited as rollout.cleanup), or, if it held
        no lock, audited as rollout.interrupted; each comes back as its record, marked ABORTED."""
        from functions.handlers import workflow

        lock = self.deps.rollouts.get().lock
        owners = [arn for arn, e in executions.items() if e.get("status") == "RUNNING"]
        if lock is not None and lock.owner not in owners:
            owners.append(lock.owner)
        ended = []
        for arn in owners:
            cleanup = {"action": "cleanup", "owner": arn, "status": "ABORTED", "reason": INTERRUPTED}
            if not workflow.handle(cleanup, self.deps)["released"]:
                self.deps.rollouts.record(arn, "rollout.interrupted", INTERRUPTED, {"executionArn": arn})
            record = executions.get(arn) or {"executionArn": arn, "name": arn.rsplit(":", 1)[-1]}
            stopped = datetime.now(UTC).isoformat()
            ended.append({**record, "status": "ABORTED", "stopDate": stopped, "cause": INTERRUPTED})
        return ended


def machine_name(kind: str) -> str:
    """Stable names: `hybrid-routing-local-gradual-failover`, as the stack names them after itself."""
    from functions.domain.rollout.plan import RolloutKind

    return f"{NAME_PREFIX}-{RolloutKind(kind).slug}"


def start_workflows(moto_url: str) -> LocalWorkflows:
    import boto3

    from functions.app.admin import settings as admin_settings
    from functions.app.admin import wiring as admin_deps
    from functions.app.workflow.settings import WorkflowSettings
    from functions.app.workflow.wiring import build_dependencies
    from functions.handlers import workflow
    from local.lambda_binding import ROLE_NAME, bind, configure_moto, create_function

    configure_moto(moto_url)
    # Dependencies of their own over the stack's tables, not the module's cached ones (which tests
    # re-point at tables of their own).
    deps = build_dependencies(WorkflowSettings.model_validate(dict(os.environ)))

    def handler(event: dict[str, Any], _context: Any) -> dict[str, Any]:
        return workflow.handle(event, deps)

    bind({FUNCTION_NAME: handler})
    iam = boto3.client("iam")
    function_arn = create_function(boto3.client("lambda"), FUNCTION_NAME, iam)
    role_arn = iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"]
    sfn = boto3.client("stepfunctions")
    machines = {}
    for path in sorted(STATEMACHINES.glob(f"*{ASL_SUFFIX}")):
        kind = path.name.removesuffix(ASL_SUFFIX)
        definition = path.read_text().replace(FUNCTION_ARN_PLACEHOLDER, function_arn)
        created = sfn.create_state_machine(name=machine_name(kind), definition=definition, roleArn=role_arn)
        machines[kind] = created["stateMachineArn"]
    os.environ["STATE_MACHINE_ARNS"] = json.dumps(machines, separators=(",", ":"))
    admin_settings.get_settings.cache_clear()
    admin_deps.get_admin_dependencies.cache_clear()
    return LocalWorkflows(machines, function_arn, _watcher(sfn, list(machines.values()), handler), deps)


def _watcher(sfn: Any, machine_arns: list[str], handler: Any) -> Any:
    """EventBridge's part: the execution-status events that have the workflow Lambda clean up after
    an execution that failed, timed out or was aborted (local/execution_watcher.py)."""
    from local.execution_watcher import ExecutionWatcher
    from local.gateway import LocalLambdaContext

    on_event = lambda event: handler(event, LocalLambdaContext(FUNCTION_NAME))  # noqa: E731
    return ExecutionWatcher(sfn, machine_arns, on_event).start()
