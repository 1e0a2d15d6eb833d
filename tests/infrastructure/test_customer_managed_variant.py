"""The stack with the non-default settings: customer-managed keys, destroy policy, an MCP server."""

from __future__ import annotations

from functions.adapters.dynamodb.schema import ALL_TABLES
from tests.infrastructure.conftest import MCP_URL, Synthesized, router_function


def test_every_table_is_encrypted_with_the_one_rotating_customer_key(customer_managed: Synthesized) -> None:
    # Given the customer-managed variant / When reading the key and the tables' SSE
    tables = customer_managed.of_type("AWS::DynamoDB::Table").values()
    # (the alarm topics have a key of their own, which CloudWatch may use)
    (key_id,) = {t["Properties"]["SSESpecification"]["KMSMasterKeyId"]["Fn::GetAtt"][0] for t in tables}
    # Then each table uses that key, and the key rotates
    assert customer_managed.resources[key_id]["Properties"]["EnableKeyRotation"] is True
    for table in tables:
        sse = table["Properties"]["SSESpecification"]
        assert sse["SSEType"] == "KMS"
        assert sse["KMSMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}


def test_tables_are_deletable_when_the_config_says_destroy(customer_managed: Synthesized) -> None:
    # Given the destroy variant / When reading the tables' policies
    tables = customer_managed.of_type("AWS::DynamoDB::Table").values()
    # Then CloudFormation may delete them and deletion protection is off
    assert len(tables) == len(ALL_TABLES)
    assert all(table["DeletionPolicy"] == "Delete" for table in tables)
    assert all(table["Properties"]["DeletionProtectionEnabled"] is False for table in tables)


def test_the_router_is_told_the_mcp_server_url(customer_managed: Synthesized) -> None:
    # Given a configured MCP server / When reading the router's environment / Then the URL is set
    function = router_function(customer_managed)
    assert function["Properties"]["Environment"]["Variables"]["MCP_SERVER_URL"] == MCP_URL


def test_cdk_nag_finds_nothing_unacknowledged_with_a_customer_key(customer_managed: Synthesized) -> None:
    # Given the variant / When the AWS Solutions pack checks it / Then nothing is left
    assert [rule for rule, _ in customer_managed.nag_violations] == []
