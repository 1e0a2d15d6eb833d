"""The local stack's generated operator tokens are safe to paste after `hybridctl --token`."""

from __future__ import annotations

from cli.hybridctl.main import build_parser
from local.stack import operator_token


def test_generated_tokens_never_start_with_a_dash_and_are_distinct():
    tokens = {operator_token() for _ in range(2000)}
    assert len(tokens) == 2000
    assert not any(token.startswith("-") for token in tokens)
    assert all(len(token) >= 32 for token in tokens)


def test_a_generated_token_parses_as_the_value_of_token():
    token = operator_token()
    args = build_parser().parse_args(["--token", token, "status"])
    assert args.token == token
