"""Workflow Lambda: every Task state of the rollout state machines, dispatched on `event["action"]`
(functions/app/workflow/tasks.py); an EventBridge execution-status event is a cleanup. Typed errors
escape on purpose: their class names are the ASL's ErrorEquals (functions.domain.rollout.errors)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from functions.app.workflow import tasks
from functions.app.workflow.commands import COMMAND
from functions.app.workflow.wiring import WorkflowDependencies, get_dependencies
from functions.domain.errors import InvalidRequest
from functions.shared.event_patterns import EXECUTION_STATUS_CHANGE
from functions.shared.observability import log_function_context, logger

__all__ = ["EXECUTION_STATUS_CHANGE", "handle", "lambda_handler", "parse"]


@log_function_context
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handle(event, get_dependencies())


def handle(event: dict[str, Any], deps: WorkflowDependencies) -> dict[str, Any]:
    cmd = parse(event)
    # Per thread: on the local stack the workflow Lambda runs in the process that serves the router,
    # and keys appended for every thread would label the router's log lines with this task's action.
    logger.thread_safe_append_keys(action=cmd.action, owner=cmd.owner)
    try:
        answer = tasks.run(cmd, deps)
        logger.info("workflow-task", extra={"answer": answer})
        return answer
    finally:
        logger.thread_safe_remove_keys(["action", "owner"])


def parse(event: dict[str, Any]) -> Any:
    """The command in `event`; an EventBridge execution-status event is a cleanup of its execution."""
    if "action" not in event and event.get("detail-type") == EXECUTION_STATUS_CHANGE:
        detail = event.get("detail") or {}
        event = {
            "action": "cleanup",
            "owner": detail.get("executionArn", ""),
            "status": detail.get("status", ""),
            "reason": f"execution {str(detail.get('status', '')).lower()}",
        }
    try:
        command: BaseModel = COMMAND.validate_python(event)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:5])
        raise InvalidRequest(f"invalid workflow input: {problems}") from exc
    return command
