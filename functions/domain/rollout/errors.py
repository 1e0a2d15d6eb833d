"""The errors the workflow Lambda lets escape: their class names are the state machines' ErrorEquals.

Defined with the domain they belong to (functions.domain.rollout.plan, functions.domain.rollout.gates); listed here so
the ASL files and their tests have one place to look.
"""

from __future__ import annotations

from functions.domain.errors import DependencyUnavailable, InvalidRequest, VersionConflict
from functions.domain.rollout.gates import GateFailed, GateInconclusive
from functions.domain.rollout.plan import ApprovalRejected, NotLockOwner, RolloutAborted, RolloutLocked

__all__ = [
    "ApprovalRejected",
    "DependencyUnavailable",
    "GateFailed",
    "GateInconclusive",
    "InvalidRequest",
    "NotLockOwner",
    "RolloutAborted",
    "RolloutLocked",
    "VersionConflict",
]

# Worth a Task `Retry`: transient, the same input may succeed.
RETRYABLE: tuple[str, ...] = (DependencyUnavailable.__name__, VersionConflict.__name__)
# Caught by name to roll back, stop or end quietly. ApprovalRejected and RolloutAborted also reach a waiting
# approval through SendTaskFailure (the admin API's reject and abort).
CAUGHT: tuple[str, ...] = tuple(
    e.__name__
    for e in (
        RolloutLocked,
        NotLockOwner,
        RolloutAborted,
        GateFailed,
        GateInconclusive,
        InvalidRequest,
        ApprovalRejected,
    )
)
# Step Functions' own error for a Task that outlived its TimeoutSeconds(Path): an unanswered approval.
TASK_TIMEOUT = "States.Timeout"
