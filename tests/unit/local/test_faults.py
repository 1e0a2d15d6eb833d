"""The fault registry: which requests a fault strikes, for how long, and the log of what each provider saw."""

from __future__ import annotations

import asyncio
import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from local.fault_responses import split_point
from local.faults import BODY_BYTES_PER_TOKEN, FaultRegistry, FaultSpec
from tests.clock import FakeClock


def outcomes(registry: FaultRegistry, provider: str, requests: int) -> list[str]:
    for _ in range(requests):
        asyncio.run(registry.apply(provider))
    return [attempt.outcome for attempt in registry.attempts(provider)]


def test_first_n_strikes_the_first_n_attempts_then_the_provider_behaves():
    registry = FaultRegistry()
    registry.set(FaultSpec(provider="google", status=429, first_n=2))

    assert outcomes(registry, "google", 4) == ["429", "429", "ok", "ok"]


def test_first_n_counts_attempts_not_failures():
    registry = FaultRegistry(rng=random.Random(7))
    registry.set(FaultSpec(provider="meta", error_rate=0.5, first_n=10))

    seen = outcomes(registry, "meta", 30)

    assert "ok" in seen[:10] and "503" in seen[:10]
    assert set(seen[10:]) == {"ok"}


def test_duration_s_strikes_until_that_long_after_the_fault_was_set():
    clock = FakeClock()
    registry = FaultRegistry(clock=clock)
    registry.set(FaultSpec(provider="bedrock", mode="reset", duration_s=2.0))

    outcomes(registry, "bedrock", 1)
    clock.advance(1.9)
    outcomes(registry, "bedrock", 1)
    clock.advance(0.1)

    assert outcomes(registry, "bedrock", 1) == ["reset", "reset", "ok"]


def test_setting_a_fault_again_starts_its_window_and_count_afresh():
    clock = FakeClock()
    registry = FaultRegistry(clock=clock)
    spec = FaultSpec(provider="mcp", first_n=1, duration_s=1.0)
    registry.set(spec)
    outcomes(registry, "mcp", 2)
    clock.advance(5)

    registry.set(spec)

    assert outcomes(registry, "mcp", 2) == ["503", "ok", "503", "ok"]


def test_rejects_prefill_strikes_only_requests_ending_with_an_assistant_turn():
    registry = FaultRegistry()
    registry.set(FaultSpec(provider="google", mode="rejects_prefill"))

    struck = [asyncio.run(registry.apply("google", prefill)) for prefill in (False, True, False)]

    assert [fault is not None for fault in struck] == [False, True, False]
    assert [a.outcome for a in registry.attempts("google")] == ["ok", "prefill_rejected", "ok"]


def test_latency_is_waited_only_while_the_fault_is_in_force():
    registry = FaultRegistry()
    registry.set(FaultSpec(provider="meta", error_rate=0.0, latency_ms=30_000, first_n=1))

    asyncio.run(_the_first_waits_and_the_second_does_not(registry))

    assert outcomes(registry, "meta", 0) == ["ok", "ok"]


async def _the_first_waits_and_the_second_does_not(registry: FaultRegistry) -> None:
    first = asyncio.ensure_future(registry.apply("meta"))
    await asyncio.sleep(0.05)
    assert not first.done()
    first.cancel()
    assert await asyncio.wait_for(registry.apply("meta"), timeout=1) is None


@pytest.mark.parametrize(
    ("spec", "outcome"),
    [
        (FaultSpec(provider="bedrock", status=500), "500"),
        (FaultSpec(provider="bedrock", error_code="content_filter"), "content_filter"),
        (FaultSpec(provider="bedrock", error_code="context_length_exceeded"), "context_length_exceeded"),
        *[(FaultSpec(provider="bedrock", mode=mode), mode) for mode in ("reset", "hang", "cut", "stall")],
        *[(FaultSpec(provider="bedrock", mode=mode), mode) for mode in ("slow_first_token", "malformed_chunk")],
        (FaultSpec(provider="bedrock", mode="no_done"), "no_done"),
    ],
)
def test_each_struck_attempt_is_logged_by_what_struck_it(spec, outcome):
    registry = FaultRegistry()
    registry.set(spec)

    assert outcomes(registry, "bedrock", 1) == [outcome]


def test_the_log_is_oldest_first_across_providers_with_the_clock_s_time():
    clock = FakeClock(start=1_700_000_000.0)
    registry = FaultRegistry(clock=clock)
    registry.set(FaultSpec(provider="google", status=503))
    for provider in ("google", "meta", "google"):
        asyncio.run(registry.apply(provider))
        clock.advance(0.5)

    log = [(a.provider, a.at, a.outcome) for a in registry.attempts()]

    assert log == [
        ("google", 1_700_000_000.0, "503"),
        ("meta", 1_700_000_000.5, "ok"),
        ("google", 1_700_000_001.0, "503"),
    ]


def test_clearing_one_provider_drops_its_fault_and_attempts_only():
    registry = FaultRegistry()
    registry.set(FaultSpec(provider="google"))
    registry.set(FaultSpec(provider="meta"))
    outcomes(registry, "google", 1)
    outcomes(registry, "meta", 1)

    registry.clear("google")

    assert set(registry.snapshot()) == {"meta"}
    assert [a.provider for a in registry.attempts()] == ["meta"]


def test_the_log_keeps_the_newest_attempts_up_to_its_bound():
    registry = FaultRegistry(attempts_kept=3)

    for provider in ("bedrock", "google", "meta", "mcp", "bedrock"):
        asyncio.run(registry.apply(provider))

    assert [a.provider for a in registry.attempts()] == ["meta", "mcp", "bedrock"]
    assert registry.requests("bedrock") == 2


def test_the_old_fields_alone_still_make_a_fault():
    spec = FaultSpec.model_validate({"provider": "bedrock", "error_rate": 1.0, "status": 503, "latency_ms": 0})

    assert (spec.mode, spec.outcome, spec.first_n, spec.duration_s) == ("error", "503", None, None)


def test_an_error_code_is_refused_outside_mode_error():
    with pytest.raises(ValidationError) as caught:
        FaultSpec.model_validate({"provider": "meta", "mode": "cut", "error_code": "content_filter"})

    assert [e["loc"] for e in caught.value.errors()] == [("error_code",)]


NUMBER_FIELDS = ["latency_ms", "first_token_delay_ms", "after_tokens", "stall_ms", "retry_after_s", "duration_s"]


@given(field=st.sampled_from([*NUMBER_FIELDS, "first_n", "error_rate"]), value=st.integers(max_value=-1))
def test_a_negative_number_is_refused_naming_its_field(field, value):
    with pytest.raises(ValidationError) as caught:
        FaultSpec.model_validate_json(f'{{"provider": "google", "{field}": {value}}}')

    assert [e["loc"] for e in caught.value.errors()] == [(field,)]


@given(value=st.one_of(st.text(), st.booleans(), st.lists(st.integers())))
def test_a_number_field_given_anything_but_a_number_is_refused_naming_it(value):
    for field in [*NUMBER_FIELDS, "status", "error_rate", "first_n"]:
        with pytest.raises(ValidationError) as caught:
            FaultSpec.model_validate_json(json.dumps({"provider": "google", field: value}))
        assert [e["loc"] for e in caught.value.errors()] == [(field,)]


@given(length=st.integers(min_value=1, max_value=10_000), tokens=st.none() | st.integers(min_value=0))
def test_a_cut_always_keeps_part_of_the_body_and_drops_its_end(length, tokens):
    keep = split_point(length, tokens)

    assert 0 <= keep < length
    if tokens is not None and tokens * BODY_BYTES_PER_TOKEN < length:
        assert keep == tokens * BODY_BYTES_PER_TOKEN
