"""--auto-select-target: the healthiest other Direct provider takes over from a failed one."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from functions.domain.errors import InvalidRequest
from functions.domain.rollout.target import Candidate, candidates_from, pick_target

DIRECT = ("bedrock", "google", "meta")


def test_the_provider_already_carrying_most_traffic_takes_over():
    candidates = candidates_from(DIRECT, {}, {}, {"bedrock": 60, "google": 10, "meta": 30})
    assert pick_target("bedrock", candidates) == "meta"


def test_with_no_traffic_elsewhere_the_configured_order_decides():
    assert pick_target("bedrock", candidates_from(DIRECT, {}, {}, {"bedrock": 100})) == "google"


def test_an_unhealthy_or_open_breaker_provider_is_never_chosen():
    up = {"google": False}
    assert pick_target("bedrock", candidates_from(DIRECT, up, {}, {"google": 50, "bedrock": 50})) == "meta"
    assert pick_target("bedrock", candidates_from(DIRECT, {}, {"google": "open"}, {"google": 50})) == "meta"


def test_a_closed_breaker_wins_over_a_half_open_one_with_more_traffic():
    candidates = candidates_from(DIRECT, {}, {"google": "half_open"}, {"google": 40, "meta": 10})
    assert pick_target("bedrock", candidates) == "meta"


def test_no_usable_provider_is_a_400_naming_the_others():
    with pytest.raises(InvalidRequest, match="google, meta"):
        pick_target("bedrock", candidates_from(DIRECT, {"google": False}, {"meta": "open"}, {}))


@given(
    failed=st.sampled_from(DIRECT),
    up=st.fixed_dictionaries({p: st.booleans() for p in DIRECT}),
    breakers=st.fixed_dictionaries({p: st.sampled_from(["closed", "half_open", "open"]) for p in DIRECT}),
    weights=st.fixed_dictionaries({p: st.integers(0, 100) for p in DIRECT}),
)
def test_the_choice_is_always_another_usable_provider(failed, up, breakers, weights):
    candidates = candidates_from(DIRECT, up, breakers, weights)
    usable = [c for c in candidates if c.provider != failed and c.up and c.breaker != "open"]
    if not usable:
        with pytest.raises(InvalidRequest):
            pick_target(failed, candidates)
        return
    chosen = pick_target(failed, candidates)
    assert chosen in {c.provider for c in usable}
    best: Candidate = next(c for c in candidates if c.provider == chosen)
    assert all((best.breaker == "closed") >= (c.breaker == "closed") for c in usable)
