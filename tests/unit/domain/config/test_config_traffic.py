"""Direct weights, Bedrock's share and isolation: what an operator may set."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.domain.config.traffic import (
    COMPONENTS,
    bedrock_share,
    check_weights,
    component_target,
    isolated_after,
    split,
    stored_weights,
)
from functions.domain.errors import InvalidRequest
from functions.domain.names import DIRECT_PROVIDERS, MCP, default_weights

weights = st.dictionaries(st.sampled_from(DIRECT_PROVIDERS), st.integers(min_value=-50, max_value=150), min_size=1)


@given(weights)
def test_weights_are_accepted_exactly_when_non_negative_and_summing_to_100(w):
    ok = all(v >= 0 for v in w.values()) and sum(w.values()) == 100
    if ok:
        check_weights(w, DIRECT_PROVIDERS)
    else:
        with pytest.raises(InvalidRequest, match="non-negative and sum to 100"):
            check_weights(w, DIRECT_PROVIDERS)


def test_weights_for_an_unconfigured_provider_are_refused_naming_it():
    with pytest.raises(InvalidRequest, match="unknown provider\\(s\\) nope; configured: bedrock"):
        check_weights({"bedrock": 50, "nope": 50}, ("bedrock",))


@given(st.integers(min_value=0, max_value=100), st.dictionaries(st.sampled_from(DIRECT_PROVIDERS), st.integers(0, 100)))
def test_bedrock_share_always_sums_to_100_with_bedrock_at_its_percentage(percentage, current):
    shares = bedrock_share(percentage, DIRECT_PROVIDERS, current)
    assert shares["bedrock"] == percentage and sum(shares.values()) == 100
    assert set(shares) == set(DIRECT_PROVIDERS) and all(v >= 0 for v in shares.values())


def test_bedrock_below_100_needs_another_direct_provider():
    with pytest.raises(InvalidRequest, match="no other Direct provider"):
        bedrock_share(70, ("bedrock",), {})
    assert bedrock_share(100, ("bedrock",), {}) == {"bedrock": 100}


def test_a_split_follows_the_current_weights_and_is_equal_when_they_are_zero():
    assert split(30, {"google": 1, "meta": 2}) == {"google": 10, "meta": 20}
    assert split(31, {"google": 0, "meta": 0}) == {"google": 16, "meta": 15}
    assert split(10, {}) == {}


def test_stored_weights_default_to_everything_on_bedrock():
    assert stored_weights({}) == default_weights() == {"bedrock": 100}
    assert stored_weights({"weights": {"google": 100}}) == {"google": 100}


def test_components_name_their_targets_and_unknown_ones_are_refused():
    assert component_target("mcp-router") == MCP and set(COMPONENTS.values()) == {*DIRECT_PROVIDERS, MCP}
    with pytest.raises(InvalidRequest, match="unknown component 'nope'"):
        component_target("nope")


def test_isolate_and_restore_are_set_operations_in_sorted_order():
    assert isolated_after(["meta"], "google", "isolate") == ["google", "meta"]
    assert isolated_after(["google", "meta"], "google", "restore") == ["meta"]
    assert isolated_after([], "google", "restore") == []
