"""`python -m cli.keys create` stores a digest and prints a key the router then accepts."""

from __future__ import annotations

import os

import boto3

from cli.keys import main
from functions.adapters.dynamodb.client_keys import ClientKeyStore, hash_key


def test_a_created_key_is_printed_once_stored_as_a_digest_and_accepted(local_stack, capsys):
    table = os.environ["CLIENT_KEYS_TABLE"]
    assert main(["create", "--client-id", "payments-team", "--table", table]) == 0
    key = capsys.readouterr().out.strip()
    item = boto3.client("dynamodb").get_item(TableName=table, Key={"key_hash": {"S": hash_key(key)}})["Item"]
    assert item["client_id"]["S"] == "payments-team"
    assert key not in str(item)
    assert ClientKeyStore(table).authenticate(f"Bearer {key}").client_id == "payments-team"


def test_a_missing_table_is_reported_with_exit_code_1(local_stack, capsys):
    assert main(["create", "--client-id", "x", "--table", "no-such-table"]) == 1
    assert "could not store the key" in capsys.readouterr().err
