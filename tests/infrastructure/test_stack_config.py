"""StackConfig: the cdk.json context is validated before anything is synthesized."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from stacks.config import StackConfig


def test_a_model_id_with_a_wildcard_is_refused() -> None:
    # Given a context whose model list would widen the IAM grant
    context = {"bedrock_model_ids": ["anthropic.*"]}
    # When validating it / Then the configuration is refused
    with pytest.raises(ValidationError):
        StackConfig.model_validate(context)


def test_a_retention_cloudwatch_does_not_offer_is_refused() -> None:
    # Given a retention CloudWatch Logs cannot store / When validating / Then it is refused
    with pytest.raises(ValidationError):
        StackConfig.model_validate({"log_retention_days": 31})


def test_an_unknown_setting_is_refused() -> None:
    # Given a misspelt key / When validating / Then it is refused rather than silently ignored
    with pytest.raises(ValidationError):
        StackConfig.model_validate({"log_retention": 30})


def test_an_empty_context_gives_a_deployable_default() -> None:
    # Given no context / When validating / Then the defaults keep data and use one Bedrock model
    config = StackConfig.model_validate({})
    assert config.removal_policy == "retain"
    assert config.deletion_protection is True
    assert len(config.bedrock_model_ids) == 1
