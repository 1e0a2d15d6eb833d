"""Which requests the response cache may answer, and the key it stores them under."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from functions.domain.errors import InvalidRequest
from functions.domain.models import ChatCompletionRequest, ChatCompletionResponse
from functions.domain.routing.cache import CachedResponse, CacheTtls, cache_decision, cache_key


def _request(**fields) -> ChatCompletionRequest:
    body = {"model": "any", "messages": [{"role": "user", "content": "Summarise the incident."}], **fields}
    return ChatCompletionRequest.model_validate(body)


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40).filter(
    lambda t: t.strip() == t and t
)
padding = st.text(alphabet=" \t\n\r", max_size=4)


@given(text=texts, before=padding, after=padding)
def test_whitespace_at_the_ends_of_a_message_does_not_change_the_key(text, before, after):
    # Given the same question with and without surrounding whitespace
    plain = _request(messages=[{"role": "user", "content": text}], temperature=0)
    padded = _request(messages=[{"role": "user", "content": before + text + after}], temperature=0)
    # Then both have one key
    assert cache_key(plain, "standard") == cache_key(padded, "standard")


@given(first=texts, second=texts)
def test_different_messages_have_different_keys(first, second):
    # Given two questions that differ after normalization
    if first == second:
        return
    one = _request(messages=[{"role": "user", "content": first}])
    other = _request(messages=[{"role": "user", "content": second}])
    # Then their keys differ
    assert cache_key(one, "standard") != cache_key(other, "standard")


@given(
    params=st.fixed_dictionaries(
        {},
        optional={
            "temperature": st.sampled_from([0, 0.5, 1.0, 2]),
            "top_p": st.sampled_from([0.1, 0.9, 1]),
            "max_tokens": st.integers(1, 200_000),
            "stop": st.lists(st.sampled_from(["\n", "END", "###"]), min_size=1, max_size=3, unique=True),
        },
    ),
    other=st.sampled_from([{"temperature": 1.5}, {"top_p": 0.01}, {"max_tokens": 7}, {"stop": ["@@"]}]),
)
def test_a_changed_sampling_parameter_changes_the_key(params, other):
    # Given a request, and the same request with one parameter set to another value
    changed = {**params, **other}
    assume(changed != params)
    # Then the keys differ
    assert cache_key(_request(**params), "standard") != cache_key(_request(**changed), "standard")


def test_the_key_is_a_sha256_hex_digest():
    key = cache_key(_request(), "standard")
    assert len(key) == 64
    assert re.fullmatch(r"[0-9a-f]{64}", key), key


def test_an_integer_and_a_float_temperature_of_zero_share_a_key():
    assert cache_key(_request(temperature=0), "standard") == cache_key(_request(temperature=0.0), "standard")


def test_the_caller_identity_and_metadata_do_not_change_the_key():
    # Given the same question from two callers with different metadata
    one = _request(user="alice", metadata={"ticket": "INC-1"})
    other = _request(user="bob", metadata={"ticket": "INC-2"})
    # Then they share a key
    assert cache_key(one, "standard") == cache_key(other, "standard")


def test_the_operation_type_is_part_of_the_key():
    # Because the operation picks the route and so the provider that answers
    assert cache_key(_request(), "emergency") != cache_key(_request(), "background")


def test_the_order_of_stop_sequences_is_kept_in_the_key():
    assert cache_key(_request(stop=["a", "b"]), "standard") != cache_key(_request(stop=["b", "a"]), "standard")


def test_a_single_stop_string_and_a_one_element_list_share_a_key():
    assert cache_key(_request(stop="END"), "standard") == cache_key(_request(stop=["END"]), "standard")


def test_max_completion_tokens_and_max_tokens_mean_the_same_limit():
    assert cache_key(_request(max_tokens=64), "x") == cache_key(_request(max_completion_tokens=64), "x")


def test_message_roles_are_part_of_the_key():
    user = _request(messages=[{"role": "user", "content": "hi"}])
    assistant = _request(messages=[{"role": "assistant", "content": "hi"}])
    assert cache_key(user, "standard") != cache_key(assistant, "standard")


def test_text_parts_and_a_plain_string_with_the_same_text_share_a_key():
    parts = _request(
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "Summarise "}, {"type": "text", "text": "it."}]}
        ]
    )
    plain = _request(messages=[{"role": "user", "content": "Summarise it."}])
    assert cache_key(parts, "standard") == cache_key(plain, "standard")


def test_a_request_with_temperature_zero_uses_the_cache():
    assert cache_decision(_request(temperature=0), None) == "use"


@pytest.mark.parametrize("fields", [{}, {"temperature": 0.7}, {"top_p": 0}])
def test_a_request_that_may_sample_bypasses_the_cache(fields):
    # Given no explicit temperature of 0 (the provider's default temperature is not 0)
    assert cache_decision(_request(**fields), None) == "bypass"


def test_the_use_header_opts_a_sampling_request_into_the_cache():
    assert cache_decision(_request(temperature=1), "use") == "use"


@pytest.mark.parametrize("header", ["bypass", "no-store", " No-Store ", "BYPASS"])
def test_bypass_and_no_store_headers_skip_the_cache_even_at_temperature_zero(header):
    assert cache_decision(_request(temperature=0), header) == "bypass"


def test_an_empty_header_counts_as_absent():
    assert cache_decision(_request(temperature=0), "  ") == "use"


def test_an_unknown_header_value_is_a_400_naming_the_valid_values():
    # When the header carries a value we do not know
    with pytest.raises(InvalidRequest) as raised:
        cache_decision(_request(temperature=0), "always")
    # Then the error is a client error that tells the caller what to send
    assert raised.value.status == 400
    assert "'use'" in raised.value.message
    assert "'bypass'" in raised.value.message
    assert "'always'" in raised.value.message


def _response() -> ChatCompletionResponse:
    return ChatCompletionResponse.model_validate(
        {
            "id": "chatcmpl-1",
            "created": 1_700_000_000,
            "model": "m",
            "choices": [{"message": {"content": "ok"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1, "total_tokens": 4},
        }
    )


def test_a_cached_response_is_fresh_until_its_fresh_until_time_only():
    # Given an entry stored at t=1000 and fresh for 60 s
    entry = CachedResponse.of(_response(), provider="bedrock", route="direct", now=1000.0, fresh_for_s=60)
    # Then it is fresh before t=1060 and not from then on
    assert entry.is_fresh(1059.9)
    assert not entry.is_fresh(1060.0)


def test_a_cached_response_gives_back_the_response_it_was_made_from():
    entry = CachedResponse.of(_response(), provider="mcp", route="mcp", now=0.0, fresh_for_s=1)
    assert entry.response() == _response()
    assert (entry.provider, entry.route, entry.model) == ("mcp", "mcp", "m")


def test_a_shorter_fresh_ttl_applies_to_entries_stored_before_it_a_longer_one_only_after():
    entry = CachedResponse.of(_response(), provider="bedrock", route="direct", now=1000.0, fresh_for_s=60)
    assert entry.fresh_until_under(CacheTtls(fresh_s=1, stale_s=0)) == 1001.0
    assert entry.fresh_until_under(CacheTtls(fresh_s=600, stale_s=0)) == 1060.0


def test_the_stale_window_starts_when_the_entry_stops_being_fresh():
    entry = CachedResponse.of(_response(), provider="mcp", route="mcp", now=1000.0, fresh_for_s=60)
    assert entry.stale_until_under(CacheTtls(fresh_s=10, stale_s=100)) == 1110.0
