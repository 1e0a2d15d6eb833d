"""What completions cost, and which operations the monthly budget still admits."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.domain.errors import BudgetExceeded, HybridRoutingError
from functions.domain.routing.cost import FALLBACK_PRICE, PRICES_PER_MILLION_TOKENS, BudgetPolicy, PriceTable
from functions.domain.routing.matrix import ROUTING_MATRIX, OperationType, Priority
from functions.domain.thresholds import BUDGET_REFUSE_PERCENT, BUDGET_WARN_PERCENT

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
PAUSABLE = [op for op in OperationType if ROUTING_MATRIX[op].priority in (Priority.MEDIUM, Priority.LOW)]
PROTECTED = [op for op in OperationType if op not in PAUSABLE]


def test_a_million_input_and_a_million_output_tokens_cost_the_two_list_prices():
    assert PriceTable().cost_usd(HAIKU, 1_000_000, 1_000_000) == pytest.approx(0.25 + 1.25)


def test_a_small_request_costs_its_share_of_the_per_million_price():
    # Given 2,000 input and 500 output tokens on Sonnet (3 / 15 USD per 1M)
    cost = PriceTable().cost_usd("anthropic.claude-3-5-sonnet-20240620-v1:0", 2_000, 500)
    assert cost == pytest.approx(0.006 + 0.0075)


def test_every_default_model_has_a_price():
    for model in (HAIKU, "gemini-2.0-flash", "Llama-4-Maverick-17B-128E-Instruct-FP8", "meta.llama3-70b-instruct-v1:0"):
        assert PriceTable().is_known(model)
        assert model in PRICES_PER_MILLION_TOKENS


def test_an_unknown_model_is_priced_at_the_conservative_fallback():
    assert PriceTable().price("some-new-model") == FALLBACK_PRICE
    assert not PriceTable().is_known("some-new-model")


def test_a_bedrock_cross_region_profile_is_priced_like_its_model():
    assert PriceTable().price("us." + HAIKU) == (0.25, 1.25)


def test_an_mcp_answer_of_any_model_name_costs_nothing():
    assert PriceTable().cost_usd("whatever-mcp-reports", 10_000, 10_000, provider="mcp") == 0.0


def test_overrides_replace_defaults_and_the_fallback():
    # Given a configuration that reprices one model and the fallback
    table = PriceTable.from_config({HAIKU: [1, 2], "*": [10, 30]})
    # Then both new prices apply and the other defaults are untouched
    assert table.price(HAIKU) == (1.0, 2.0)
    assert table.price("unknown") == (10.0, 30.0)
    assert table.price("gemini-2.0-flash") == (0.10, 0.40)


@pytest.mark.parametrize("bad", [[1], [1, -2], ["1", 2], [1, float("nan")], 3, [True, 1]])
def test_a_malformed_price_override_is_refused_at_start_up(bad):
    with pytest.raises(ValueError, match="USD per 1M tokens"):
        PriceTable.from_config({HAIKU: bad})


def test_an_override_that_is_not_an_object_is_refused():
    with pytest.raises(ValueError):
        PriceTable.from_config([["m", 1, 2]])  # type: ignore[arg-type]


def test_negative_token_counts_are_refused():
    with pytest.raises(ValueError):
        PriceTable().cost_usd(HAIKU, -1, 0)


def test_utilization_is_the_percent_of_the_budget_spent():
    assert BudgetPolicy(200.0).utilization(50.0) == pytest.approx(25.0)
    assert BudgetPolicy(200.0).utilization(300.0) == pytest.approx(150.0)


def test_without_a_budget_utilization_is_zero_and_everything_is_admitted():
    policy = BudgetPolicy(None)
    assert policy.utilization(1e9) == 0.0
    for op in OperationType:
        policy.admit(op, 1e9)


@pytest.mark.parametrize("budget", [0, -5, float("inf")])
def test_a_budget_must_be_a_positive_finite_amount(budget):
    with pytest.raises(ValueError):
        BudgetPolicy(budget)


def test_the_budget_level_warns_at_80_and_is_exhausted_at_95_percent():
    assert (BUDGET_WARN_PERCENT, BUDGET_REFUSE_PERCENT) == (80, 95)
    policy = BudgetPolicy(100.0)
    assert [policy.level(s) for s in (79.99, 80.0, 94.99, 95.0)] == ["ok", "warning", "warning", "exhausted"]


@pytest.mark.parametrize("operation", PAUSABLE)
def test_medium_and_low_priority_operations_are_paused_at_95_percent(operation):
    # Given 96.2 % of a 1,000 USD budget spent
    with pytest.raises(BudgetExceeded) as raised:
        BudgetPolicy(1000.0).admit(operation, 962.0)
    # Then the refusal is a 429 insufficient_quota that says how much is used and what still runs
    error = raised.value
    assert isinstance(error, HybridRoutingError)
    assert (error.status, error.error_type, error.code) == (429, "insufficient_quota", "budget_exhausted")
    assert "monthly AI budget 96.2 % used (>= 95 %)" in error.message
    assert f"{operation.value} operations are paused" in error.message
    assert "emergency, infrastructure and high-priority operations continue" in error.message


@pytest.mark.parametrize("operation", PAUSABLE)
def test_medium_and_low_priority_operations_run_just_below_95_percent(operation):
    assert BudgetPolicy(1000.0).admit(operation, 949.99) is None  # admitted: no BudgetExceeded


def test_the_pausable_operations_are_standard_kiro_communication_and_background():
    assert set(PAUSABLE) == {OperationType.STANDARD, OperationType.KIRO_COMMUNICATION, OperationType.BACKGROUND}


@given(
    operation=st.sampled_from(PROTECTED),
    budget=st.one_of(st.none(), st.floats(min_value=0.01, max_value=1e9)),
    spent=st.floats(min_value=0, max_value=1e15, allow_nan=False),
)
def test_critical_and_high_priority_operations_are_admitted_whatever_the_spend(operation, budget, spent):
    assert BudgetPolicy(budget).admit(operation, spent) is None  # admitted: no BudgetExceeded


@given(
    operation=st.sampled_from(PAUSABLE),
    budget=st.floats(min_value=0.01, max_value=1e9),
    share=st.floats(min_value=0.95, max_value=100),
)
def test_pausable_operations_are_refused_whenever_utilization_reaches_95_percent(operation, budget, share):
    with pytest.raises(BudgetExceeded):
        BudgetPolicy(budget).admit(operation, budget * share * 1.0000001)
