"""The stack with the non-default settings: customer-managed keys, destroy policy, an MCP server."""

from __future__ import annotations

import pytest
from cdk_nag import AwsSolutionsChecks

from tests.infrastructure.conftest import Synthesized, router_function, synthesize

MCP_URL = "https://mcp.example.com/mcp"


@pytest.fixture(scope="module")
def variant() -> Synthesized:
    return synthesize(
        table_encryption="customer_managed",
        removal_policy="destroy",
        deletion_protection=False,
        mcp_server_url=MCP_URL,
    )


def test_every_table_is_encrypted_with_the_one_rotating_customer_key(variant: Synthesized) -> None:
    # Given the customer-managed variant / When reading the key and the tables' SSE
    tables = variant.of_type("AWS::DynamoDB::Table").values()
    # (the alarm topics have a key of their own, which CloudWatch may use)
    (key_id,) = {t["Properties"]["SSESpecification"]["KMSMasterKeyId"]["Fn::GetAtt"][0] for t in tables}
    # Then each table uses that key, and the key rotates
    assert variant.resources[key_id]["Properties"]["EnableKeyRotation"] is True
    for table in tables:
        sse = table["Properties"]["SSESpecification"]
        assert sse["SSEType"] == "KMS"
        assert sse["KMSMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_tables_are_deletable_when_the_config_says_destroy(variant: Synthesized) -> None:
    # Given the destroy variant / When reading the tables' policies
    tables = variant.of_type("AWS::DynamoDB::Table").values()
    # Then CloudFormation may delete them and deletion protection is off
    assert all(table["DeletionPolicy"] == "Delete" for table in tables)
    assert all(table["Properties"]["DeletionProtectionEnabled"] is False for table in tables)


def test_the_router_is_told_the_mcp_server_url(variant: Synthesized) -> None:
    # Given a configured MCP server / When reading the router's environment / Then the URL is set
    function = router_function(variant)
    assert function["Properties"]["Environment"]["Variables"]["MCP_SERVER_URL"] == MCP_URL


def test_cdk_nag_finds_nothing_unacknowledged_with_a_customer_key(variant: Synthesized) -> None:
    # Given the variant / When the AWS Solutions pack checks it / Then nothing is left
    report = AwsSolutionsChecks().validate_scope(variant.stack)
    assert [v.rule_name for v in report.violations] == []
