"""Least privilege on the tables and on the audit trail's MAC key and anchors: each function's role may do
exactly what the function needs, table by table, and nothing more. The table below is written out by hand
from the adapters' DynamoDB, KMS and CloudWatch Logs calls; a DynamoDB, MAC or log-reading action the
template grants beyond it, on any table or any other resource, fails the test."""

from __future__ import annotations

import json
from typing import Any

import pytest

from functions.adapters.dynamodb.schema import ALL_TABLES, BREAKER_KEY_PREFIX
from stacks.constructs.admin_api import ADMIN_HANDLER, AUTHORIZER_HANDLER
from stacks.constructs.automation import AUTOMATION_HANDLER
from stacks.constructs.health_checker import HEALTH_CHECK_HANDLER
from stacks.constructs.router import ROUTER_HANDLER
from stacks.constructs.workflows import WORKFLOW_HANDLER
from tests.infrastructure.conftest import Synthesized, function_with_handler, role_statements, synthesize

# CDK's `grant_read_data`: what every function that reads a table gets.
READ = frozenset(
    {
        "dynamodb:BatchGetItem",
        "dynamodb:ConditionCheckItem",
        "dynamodb:DescribeTable",
        "dynamodb:GetItem",
        "dynamodb:GetRecords",
        "dynamodb:GetShardIterator",
        "dynamodb:Query",
        "dynamodb:Scan",
    }
)
PUT, UPDATE = "dynamodb:PutItem", "dynamodb:UpdateItem"
# Every admin, workflow and automation change is one TransactWriteItems: a Put of the item conditional on the
# version read (PutItem), or a ConditionCheck on it (ConditionCheckItem, part of READ), plus the audit append.
# The audit trail: appended to (a Put in a transaction) and read, never updated or deleted.
AUDIT_APPEND = frozenset({PUT, "dynamodb:Query", "dynamodb:GetItem"})
# The router and the admin API may write the health table's breaker items only (`[prefix*]`: a
# dynamodb:LeadingKeys condition).
BREAKERS_ONLY = f"[{BREAKER_KEY_PREFIX}*]"

# The audit trail's protection (stacks/constructs/audit_trail.py): its MAC key and its anchor log group.
# The appenders MAC records and put the head's anchor; the verifier (the admin API's trail-integrity) also
# checks MACs and reads the anchors; no other function may do either.
APPEND_TRAIL = {"AuditKey": frozenset({"kms:GenerateMac"}), "AuditAnchors": frozenset({"logs:PutLogEvents"})}
VERIFY_TRAIL = {
    "AuditKey": frozenset({"kms:GenerateMac", "kms:VerifyMac"}),
    "AuditAnchors": frozenset({"logs:PutLogEvents", "logs:GetLogEvents"}),
}
# Actions on the key or the anchors that would let a role forge, hide or erase evidence; no role holds them.
TRAIL_TAMPERING = ("kms:*", "logs:*", "logs:DeleteLogStream", "logs:DeleteLogGroup", "logs:PutRetentionPolicy")
TRAIL_READS = ("logs:GetLogEvents", "logs:FilterLogEvents")

# function -> table (or the trail's key or anchors) -> the actions its role allows there. No Delete and no
# BatchWrite anywhere.
NEEDS: dict[str, dict[str, frozenset[str]]] = {
    ROUTER_HANDLER: {
        "Flags": READ,  # the routing snapshot; the router writes no flag, weight or rollout lock
        "ClientKeys": READ,
        "Health": READ | {PUT + BREAKERS_ONLY, UPDATE + BREAKERS_ONLY},
        "Cache": READ | {PUT},
        "Spend": READ | {UPDATE},  # ADDs to the month's counter
        "Quotas": READ | {UPDATE},  # ADDs to the client keys' window counters
        # nothing on Audit
    },
    HEALTH_CHECK_HANDLER: {"Health": READ | {PUT}},  # a conditional put of each health record
    AUTHORIZER_HANDLER: {},
    ADMIN_HANDLER: {
        "Flags": READ | {PUT},
        "Health": READ | {PUT + BREAKERS_ONLY},  # a breaker reset: the breaker's Put, in its audit transaction
        "Cache": READ,
        "Audit": AUDIT_APPEND | {"dynamodb:DescribeTable"},
        # gdpr-status reports every table's encryption
        "ClientKeys": frozenset({"dynamodb:DescribeTable"}),
        "Spend": frozenset({"dynamodb:DescribeTable"}),
        "Quotas": frozenset({"dynamodb:DescribeTable"}),
        **VERIFY_TRAIL,
    },
    WORKFLOW_HANDLER: {"Flags": READ | {PUT}, "Health": READ, "Audit": AUDIT_APPEND, **APPEND_TRAIL},
    # ... and the automation's one-minute schedule anchors the head
    AUTOMATION_HANDLER: {"Flags": READ | {PUT}, "Health": READ, "Audit": AUDIT_APPEND, **APPEND_TRAIL},
}


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _condition(statement: dict[str, Any]) -> str:
    """`[prefix*]` for a leading-keys condition; any other condition spelled out, so it cannot pass unseen."""
    condition = statement.get("Condition")
    if not condition:
        return ""
    if list(condition) == ["ForAllValues:StringLike"] and list(condition["ForAllValues:StringLike"]) == [
        "dynamodb:LeadingKeys"
    ]:
        return "[" + ",".join(_as_list(condition["ForAllValues:StringLike"]["dynamodb:LeadingKeys"])) + "]"
    return json.dumps(condition, sort_keys=True)


def _watched(action: str, on_trail: bool) -> bool:
    """The actions the table above accounts for: DynamoDB's anywhere, every action on the audit trail's key
    and anchors, and MAC or log-reading actions anywhere."""
    return on_trail or action.startswith("dynamodb:") or action.endswith("Mac") or action in TRAIL_READS


def granted(synthesized: Synthesized, handler: str) -> dict[str, set[str]]:
    """Table logical name, "AuditKey" or "AuditAnchors" (or the resource itself, if it is none of ours)
    -> the actions `_watched` accounts for."""
    trail = synthesized.stack.tables.audit_trail
    ours = {synthesized.logical_id(synthesized.stack.tables.table(s)): s.logical_name for s in ALL_TABLES}
    ours |= {synthesized.logical_id(trail.key): "AuditKey", synthesized.logical_id(trail.anchors): "AuditAnchors"}
    actions: dict[str, set[str]] = {}
    for statement in role_statements(synthesized, function_with_handler(synthesized, handler)):
        assert statement["Effect"] == "Allow"
        for resource in _as_list(statement["Resource"]):
            attribute = resource.get("Fn::GetAtt") if isinstance(resource, dict) else None
            name = ours.get(attribute[0]) if attribute is not None and attribute[1] == "Arn" else None
            watched = [a for a in _as_list(statement["Action"]) if _watched(a, name in ("AuditKey", "AuditAnchors"))]
            if watched:
                key = name or json.dumps(resource)
                actions.setdefault(key, set()).update(a + _condition(statement) for a in watched)
    return actions


@pytest.mark.parametrize("variant", ["default", "customer_managed"])
@pytest.mark.parametrize("handler", list(NEEDS), ids=lambda h: h.split(".")[2])
def test_each_function_may_do_on_each_table_exactly_what_it_needs(variant: str, handler: str) -> None:
    # Given the synthesized stack (AWS-managed and customer-managed table keys)
    synthesized = synthesize(variant)
    # When collecting the DynamoDB actions of the function's role, table by table
    actions = granted(synthesized, handler)
    # Then they are exactly the table above: nothing missing, nothing extra, no other resource; and no
    # role may administer the trail's key or delete, re-time or re-read its anchors otherwise
    assert actions == {table: set(needed) for table, needed in NEEDS[handler].items()}
    assert not set().union(*actions.values(), set()) & set(TRAIL_TAMPERING)


def test_the_table_covers_every_function_and_table() -> None:
    # Given the stack's functions and tables / When comparing them with the permission table
    synthesized = synthesize("default")
    handlers = {f["Properties"]["Handler"] for f in synthesized.of_type("AWS::Lambda::Function").values()}
    named = {table for needs in NEEDS.values() for table in needs}
    # Then every function has a row, and every table the rows name exists (and the trail's key and anchors)
    assert handlers == set(NEEDS)
    assert named == {schema.logical_name for schema in ALL_TABLES} | {"AuditKey", "AuditAnchors"}


def test_no_function_but_its_writers_writes_the_flags_or_the_audit_trail() -> None:
    # Given the permission table / When listing who writes the control plane's tables
    writes = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
    synthesized = synthesize("default")
    flag_writers = {h for h in NEEDS if granted(synthesized, h).get("Flags", set()) & writes}
    audit_writers = {h for h in NEEDS if granted(synthesized, h).get("Audit", set()) & writes}
    # Then the router is not among them: only the admin API, the workflows and automation change them
    assert flag_writers == {ADMIN_HANDLER, WORKFLOW_HANDLER, AUTOMATION_HANDLER}
    assert audit_writers == flag_writers
    assert not any(
        {"dynamodb:DeleteItem", "dynamodb:BatchWriteItem"} & set(actions)
        for h in NEEDS
        for actions in granted(synthesized, h).values()
    )


def test_the_trail_key_is_an_hmac_key_and_the_anchors_never_expire() -> None:
    # Given the synthesized stack / When reading the trail's key and anchor log group
    synthesized = synthesize("default")
    trail = synthesized.stack.tables.audit_trail
    key = synthesized.resources[synthesized.logical_id(trail.key)]["Properties"]
    anchors = synthesized.resources[synthesized.logical_id(trail.anchors)]["Properties"]
    # Then the key MACs (HMAC-SHA-256) and the anchors are kept as long as the trail
    assert (key["KeySpec"], key["KeyUsage"]) == ("HMAC_256", "GENERATE_VERIFY_MAC")
    assert "RetentionInDays" not in anchors
    assert anchors["LogGroupName"].endswith("/audit-anchors")


def test_the_key_policy_denies_each_mac_operation_to_every_role_but_those_granted_it() -> None:
    # Given the synthesized stack / When reading the trail key's policy
    synthesized = synthesize("default")
    key = synthesized.resources[synthesized.logical_id(synthesized.stack.tables.audit_trail.key)]
    denials = {
        s["Action"]: s["Condition"]["StringNotEquals"]["aws:PrincipalArn"]
        for s in key["Properties"]["KeyPolicy"]["Statement"]
        if s["Effect"] == "Deny"
    }
    role_of = {h: function_with_handler(synthesized, h)["Properties"]["Role"] for h in NEEDS}
    # Then GenerateMac is denied to all but the appenders' roles, VerifyMac to all but the verifier's
    expected = {
        action: sorted((role_of[h] for h in NEEDS if action in NEEDS[h].get("AuditKey", ())), key=json.dumps)
        for action in ("kms:GenerateMac", "kms:VerifyMac")
    }
    assert {action: sorted(roles, key=json.dumps) for action, roles in denials.items()} == expected
    assert len(expected["kms:GenerateMac"]) == 3 and len(expected["kms:VerifyMac"]) == 1
