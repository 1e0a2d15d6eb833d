"""The workflow tasks' inputs, one model per Task state of the rollout state machines (`action`)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator
from pydantic.alias_generators import to_camel

from functions.domain.rollout.gate_options import GateOptions
from functions.domain.rollout.plan import RolloutKind
from functions.domain.thresholds import APPROVAL_TIMEOUT_MAX_SECONDS, APPROVAL_TIMEOUT_SECONDS

_CAMEL = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class _Command(BaseModel):
    model_config = _CAMEL

    owner: str = Field(min_length=1, max_length=2048)  # the execution ARN ($$.Execution.Id)
    reason: str = Field(default="", max_length=500)


class ApprovalInput(BaseModel):
    """Manual approval between steps (after each passed gate but the last); off unless `required`."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")

    required: bool = False
    timeout_seconds: int = Field(default=APPROVAL_TIMEOUT_SECONDS, ge=1, le=APPROVAL_TIMEOUT_MAX_SECONDS)


class AcquireInput(_Command):
    action: Literal["acquire"]
    kind: RolloutKind
    source: list[str] = Field(min_length=1, max_length=8)
    target: str = Field(min_length=1, max_length=64)
    steps: list[int] | None = Field(default=None, max_length=20)
    bake_seconds: int | None = Field(default=None, ge=0, le=86_400)
    dry_run: bool = False
    approval: ApprovalInput = Field(default_factory=ApprovalInput)

    @field_validator("source", mode="before")
    @classmethod
    def _one_source(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("approval", mode="before")
    @classmethod
    def _approval_off_when_null(cls, value: Any) -> Any:
        return {} if value is None else value


class SetStepInput(_Command):
    action: Literal["set_step"]
    step: int = Field(ge=0)
    steps: list[int] = Field(min_length=1, max_length=20)
    dry_run: bool = False


class TallyInput(BaseModel):
    model_config = _CAMEL

    failures: int = Field(default=0, ge=0)
    consecutive_failures: int = Field(default=0, ge=0)
    consecutive_inconclusive: int = Field(default=0, ge=0)


class EvaluateGateInput(_Command, GateOptions):
    """The gate's call: the rollout's gate options (the runbook's where left out) and the tally so far."""

    model_config = _CAMEL

    action: Literal["evaluate_gate"]
    target: str = Field(min_length=1, max_length=64)
    tally: TallyInput = Field(default_factory=TallyInput)


class AwaitApprovalInput(_Command):
    action: Literal["await_approval"]
    token: str = Field(min_length=1, max_length=4096)  # $$.Task.Token
    step: int = Field(ge=0)


class ReleaseInput(_Command):
    action: Literal["release"]
    error: str = Field(default="", max_length=200)  # why it ends early (the caught error's name), if it does


class RollbackInput(_Command):
    action: Literal["rollback"]
    error: str = Field(default="", max_length=200)


class CleanupInput(_Command):
    action: Literal["cleanup"]
    status: str = ""


Command = Annotated[
    AcquireInput | SetStepInput | EvaluateGateInput | AwaitApprovalInput | ReleaseInput | RollbackInput | CleanupInput,
    Field(discriminator="action"),
]
COMMAND: TypeAdapter[Command] = TypeAdapter(Command)
