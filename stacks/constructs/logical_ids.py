"""Logical IDs that stay put when a construct moves in the tree, so CloudFormation updates its resources in place."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

from aws_cdk import CfnElement, Stack
from constructs import Construct

# aws-cdk-lib core/lib/private/uniqueid.ts: how a path below the stack becomes a logical ID.
_HIDDEN = "Default"
_HIDDEN_FROM_HUMAN = "Resource"
_HASH_LENGTH = 8
_MAX_HUMAN_LENGTH = 240
_MAX_ID_LENGTH = 255


def keep_logical_ids(scope: Construct, former_paths: Mapping[str, str]) -> None:
    """Every CloudFormation element under each named child of `scope` keeps the logical ID it has at the child's
    former path (relative to the stack, e.g. `{"Function": "Router"}`). Replacing a function or a role orphans
    what refers to it by ID, and a retained log group would block its replacement."""
    stack = Stack.of(scope)
    for child_id, former in former_paths.items():
        child = scope.node.find_child(child_id)
        depth = len(child.node.scopes)
        for element in child.node.find_all():
            if isinstance(element, CfnElement):
                below = [node.node.id for node in element.node.scopes[depth:]]
                stack.rename_logical_id(stack.get_logical_id(element), unique_id([*former.split("/"), *below]))


def unique_id(components: Sequence[str]) -> str:
    """The logical ID CDK allocates to the element at `components` below its stack."""
    path = [component for component in components if component != _HIDDEN]
    if len(path) == 1 and len(_alphanumeric(path[0])) <= _MAX_ID_LENGTH:
        return _alphanumeric(path[0])
    digest = hashlib.md5("/".join(path).encode(), usedforsecurity=False).hexdigest()
    human = "".join(_alphanumeric(c) for c in _without_repeats(path) if c != _HIDDEN_FROM_HUMAN)
    return human[:_MAX_HUMAN_LENGTH] + digest[:_HASH_LENGTH].upper()


def _alphanumeric(component: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "", component)


def _without_repeats(path: Sequence[str]) -> list[str]:
    """A component its predecessor ends with adds nothing to the readable part (`Api/Api` reads `Api`)."""
    kept: list[str] = []
    for component in path:
        if not kept or not kept[-1].endswith(component):
            kept.append(component)
    return kept
