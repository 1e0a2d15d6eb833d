"""`python -m cli.keys create` stores a digest and prints a key the router then accepts."""

from __future__ import annotations

import os

import boto3
import pytest

from cli.keys import main
from functions.adapters.dynamodb.client_keys import ClientKeyStore, hash_key
from functions.domain.quotas import QuotaLimits
from functions.domain.thresholds import CLIENT_TOKENS_PER_MINUTE


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


def test_a_key_created_with_its_own_limits_carries_them_and_limits_changes_them(local_stack, capsys):
    table = os.environ["CLIENT_KEYS_TABLE"]
    # Given a key created with a quota of 5 requests per minute
    assert main(["create", "--client-id", "quota-team", "--table", table, "--requests-per-minute", "5"]) == 0
    key = capsys.readouterr().out.strip()
    limits = ClientKeyStore(table).authenticate(f"Bearer {key}").limits
    assert (limits.requests_per_minute, limits.tokens_per_minute) == (5, CLIENT_TOKENS_PER_MINUTE)
    # When its token quota is set by key, then its request quota by digest
    assert main(["limits", "--key", key, "--table", table, "--tokens-per-minute", "900"]) == 0
    assert main(["limits", "--key-hash", hash_key(key), "--table", table, "--requests-per-minute", "7"]) == 0
    # Then a router that looks the key up afresh sees both
    assert ClientKeyStore(table).authenticate(f"Bearer {key}").limits == QuotaLimits(7, 900)
    item = boto3.client("dynamodb").get_item(TableName=table, Key={"key_hash": {"S": hash_key(key)}})["Item"]
    assert (item["requests_per_minute"]["N"], item["tokens_per_minute"]["N"]) == ("7", "900")


def test_limits_refuses_an_unknown_key_no_limit_and_a_limit_that_is_not_a_positive_number(local_stack, capsys):
    table = os.environ["CLIENT_KEYS_TABLE"]
    assert main(["limits", "--key", "hr-unknown", "--table", table, "--requests-per-minute", "5"]) == 1
    assert "no client key" in capsys.readouterr().err
    assert main(["limits", "--key", "hr-unknown", "--table", table]) == 2
    assert "at least one limit" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["create", "--client-id", "x", "--table", table, "--requests-per-minute", "0"])
    assert "not a positive whole number" in capsys.readouterr().err
