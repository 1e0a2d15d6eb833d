"""Step Functions execution names and ARNs, built in one place: the automation, the admin API and the
local stack name executions with `execution_name` and find them with `execution_arn`."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

EXECUTION_NAME_MAX = 80  # Step Functions' limit
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")  # Step Functions allows more; CloudWatch Logs wants only these
MACHINE_MARK, EXECUTION_MARK = ":stateMachine:", ":execution:"


def execution_name(basis: str, when: datetime, nonce: str = "") -> str:
    """`<basis>-<UTC time to the millisecond>[-<nonce>]`, within Step Functions' name rules (letters,
    digits, `-` and `_`; at most 80 characters). The same basis and time give the same name, so every
    delivery of one event names one execution; a `nonce` makes names unique where that is not wanted.
    A basis too long keeps its start and gains a hash of the whole, so two long bases never collide."""
    stamp = when.astimezone(UTC).strftime("%Y%m%dT%H%M%S") + f"{when.microsecond // 1000:03d}Z"
    tail = f"{stamp}-{_NAME_UNSAFE.sub('-', nonce)}" if nonce else stamp
    safe = _NAME_UNSAFE.sub("-", basis).strip("-") or "event"
    room = EXECUTION_NAME_MAX - len(tail) - 1
    if len(safe) > room:
        digest = hashlib.sha256(basis.encode()).hexdigest()[:8]
        safe = f"{safe[: room - len(digest) - 1].rstrip('-')}-{digest}"
    return f"{safe}-{tail}"


def execution_arn(machine_arn: str, name: str) -> str:
    """The ARN an execution named `name` of the state machine `machine_arn` has (known before it
    starts: a rollout's lock owner). With an empty name, the prefix of every execution of that machine."""
    return machine_arn.replace(MACHINE_MARK, EXECUTION_MARK, 1) + f":{name}"


def name_of(execution: str) -> str:
    """The execution's name, given its ARN or its name."""
    return execution.rsplit(":", 1)[-1]


def is_machine_arn(value: str) -> bool:
    return value.startswith("arn:") and MACHINE_MARK in value
