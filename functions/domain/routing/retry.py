"""The attempt policy of one request: which target next, after how long, with what timeout, and when
to stop. It spends the latency budget, not the providers.

Pure: the clock reading, the randomness and the retry budget's lock come in as arguments. The rules
are failoverbench's catalogue (a 500 once: once more on the same target; a Retry-After is a floor when
it fits the budget; a silent target is not tried again; a prompt too long goes only to a larger
window; a content filter ends the request) and Envoy's retry budget (re-attempts bounded per
instance), in that order:
- the plan's targets in order (healthy first, then the breakers' last chance);
- a target the breaker refuses when its turn comes moves to the end, as a last chance;
- then further rounds over the targets still eligible, after a full-jitter backoff, up to
  `max_rounds`, while the budget lasts. A first attempt on a target is a fail-over, never refused by
  the retry budget; every re-attempt takes one from it."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum

from functions.domain import thresholds
from functions.domain.routing.decision import Target


class Failure(StrEnum):
    """How an attempt failed, as far as the policy cares."""

    RETRYABLE = "retryable"  # a 5xx, a reset, an answer outside the protocol: once more here, then on
    THROTTLED = "throttled"  # a 429: its Retry-After as a floor when it fits, else back off, then on
    SILENT = "silent"  # no answer inside the attempt's timeout: this target is not tried again
    CONTEXT_LENGTH = "context_length"  # only a target with a larger context window can serve it
    CONTENT_FILTER = "content_filter"  # ends the request, unless the operator fails over around it
    REJECTED = "rejected"  # the provider refused the request itself: nothing else will help


@dataclass(frozen=True, slots=True)
class RetryRules:
    same_target_retries: int = thresholds.RETRY_SAME_TARGET_MAX
    max_rounds: int = thresholds.RETRY_MAX_ROUNDS
    base_delay_s: float = thresholds.RETRY_BASE_DELAY_SECONDS
    max_delay_s: float = thresholds.RETRY_MAX_DELAY_SECONDS
    retry_after_max_wait_s: float = thresholds.RETRY_AFTER_MAX_WAIT_SECONDS
    attempt_timeout_share: float = thresholds.ATTEMPT_TIMEOUT_SHARE
    attempt_timeout_min_s: float = thresholds.ATTEMPT_TIMEOUT_MIN_SECONDS
    min_attempt_s: float = thresholds.ATTEMPT_MIN_SECONDS
    attempt_timeout_cap_s: float | None = None  # the operator's cap on one attempt
    failover_on_content_filter: bool = False  # the operator's setting; off: a content filter ends it

    def backoff(self, n: int, rand: float) -> float:
        """Full jitter: uniform in [0, min(max, base * 2^(n-1))) for the n-th re-attempt."""
        return rand * min(self.max_delay_s, self.base_delay_s * 2.0 ** (n - 1))


class RetryBudget:
    """Re-attempts at most `ratio` of the requests seen in the last `window_s` seconds plus
    `floor_per_s` a second: one instance's share of a fleet's retries (Envoy's retry budget)."""

    def __init__(
        self,
        lock: AbstractContextManager[object],
        ratio: float = thresholds.RETRY_BUDGET_RATIO,
        floor_per_s: float = thresholds.RETRY_BUDGET_MIN_PER_SECOND,
        window_s: float = thresholds.RETRY_BUDGET_WINDOW_SECONDS,
    ) -> None:
        self.ratio, self.floor, self.window_s = ratio, floor_per_s * window_s, window_s
        self._lock = lock
        self._requests: deque[float] = deque()
        self._retries: deque[float] = deque()

    def request(self, now: float) -> None:
        with self._lock:
            self._requests.append(now)
            self._prune(now)

    def try_retry(self, now: float) -> bool:
        """Take one re-attempt from the budget; False when it is spent."""
        with self._lock:
            self._prune(now)
            if len(self._retries) >= self.ratio * len(self._requests) + self.floor:
                return False
            self._retries.append(now)
            return True

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._retries.clear()

    def _prune(self, now: float) -> None:
        for times in (self._requests, self._retries):
            while times and times[0] <= now - self.window_s:
                times.popleft()


@dataclass(frozen=True, slots=True)
class Attempt:
    target: Target
    delay_s: float  # sleep this long first
    timeout_s: float  # give the provider this long
    forced: bool  # skips the breaker's admission: a last chance, or panic mode
    retry: bool  # a re-attempt (taken from the retry budget), not a first try of this target


@dataclass(slots=True)
class _Candidate:
    target: Target
    forced: bool
    tried_in_round: int = 0  # the last round that tried it


class AttemptPlanner:
    """The attempts of one request, one at a time: `next` gives the next attempt (None: stop), the
    caller reports each with `refused` (its breaker said no) or `failed`."""

    def __init__(
        self,
        plan: Sequence[Target],
        last_chance: Sequence[Target],
        rules: RetryRules,
        budget: RetryBudget,
        windows: Mapping[str, int | None],
        *,
        force_all: bool = False,
    ) -> None:
        self.rules, self.budget, self.windows = rules, budget, windows
        self._order = [_Candidate(t, force_all) for t in plan]
        self._order += [_Candidate(t, True) for t in last_chance if t not in plan]
        self._round, self._cursor = 1, 0
        self._tried: set[Target] = set()
        self._excluded: set[Target] = set()
        self._same: dict[Target, int] = {}
        self._not_before: dict[Target, float] = {}
        self._pending: tuple[_Candidate, float] | None = None  # a same-target retry and its delay
        self.ended = False  # a failure no other attempt can help
        self.retries = 0

    def next(self, remaining_s: float, now: float, rand: float) -> Attempt | None:
        if self.ended:
            return None
        if self._pending is not None:
            candidate, delay = self._pending
            self._pending = None
            if self._fits(delay, remaining_s) and self._take_retry(now):
                return self._attempt(candidate, delay, remaining_s, retry=True)
        while True:
            for candidate in self._order[self._cursor :]:
                self._cursor += 1
                if (attempt := self._try(candidate, remaining_s, now, rand)) is not None:
                    return attempt
            if self._round >= self.rules.max_rounds or not self._eligible():
                return None
            self._round, self._cursor = self._round + 1, 0

    def refused(self, target: Target) -> None:
        """The breaker refused `target` now: it gets a last chance at the end of the order."""
        for i, candidate in enumerate(self._order):
            if candidate.target == target and not candidate.forced:
                del self._order[i]
                self._cursor -= i < self._cursor
                self._order.append(_Candidate(target, True))
                return

    def failed(
        self,
        target: Target,
        failure: Failure,
        retry_after_s: float | None,
        *,
        remaining_s: float,
        now: float,
        rand: float,
        may_retry_here: bool = True,
    ) -> None:
        """Record a failed attempt. `may_retry_here` False: no same-target retry (a breaker's probe)."""
        self._tried.add(target)
        if failure is Failure.REJECTED or (
            failure is Failure.CONTENT_FILTER and not self.rules.failover_on_content_filter
        ):
            self.ended = True
        elif failure in (Failure.SILENT, Failure.CONTENT_FILTER):
            self._excluded.add(target)
        elif failure is Failure.CONTEXT_LENGTH:
            self._exclude_windows_up_to(target)
        elif failure is Failure.THROTTLED and retry_after_s is not None:
            self._not_before[target] = now + retry_after_s
            fits = retry_after_s <= min(
                self.rules.retry_after_max_wait_s, remaining_s * self.rules.attempt_timeout_share
            )
            if fits and may_retry_here:
                self._retry_here(target, retry_after_s)
        elif may_retry_here:
            self._retry_here(target, self.rules.backoff(1, rand))

    def _retry_here(self, target: Target, delay: float) -> None:
        if self._same.get(target, 0) >= self.rules.same_target_retries:
            return
        self._same[target] = self._same.get(target, 0) + 1
        candidate = next(c for c in self._order if c.target == target)
        self._pending = (candidate, delay)

    def _try(self, candidate: _Candidate, remaining_s: float, now: float, rand: float) -> Attempt | None:
        target = candidate.target
        if target in self._excluded or candidate.tried_in_round >= self._round:
            return None
        retry = target in self._tried
        delay = self.rules.backoff(self._round - 1, rand) if retry else 0.0
        delay = max(delay, self._not_before.get(target, now) - now)
        if not self._fits(delay, remaining_s) or (retry and not self._take_retry(now)):
            return None
        return self._attempt(candidate, delay, remaining_s, retry=retry)

    def _attempt(self, candidate: _Candidate, delay: float, remaining_s: float, *, retry: bool) -> Attempt:
        candidate.tried_in_round = self._round
        left = remaining_s - delay
        others = any(c.target != candidate.target and c.target not in self._excluded for c in self._order)
        rules = self.rules
        timeout = min(left, max(rules.attempt_timeout_min_s, left * rules.attempt_timeout_share)) if others else left
        if rules.attempt_timeout_cap_s is not None:
            timeout = min(timeout, rules.attempt_timeout_cap_s)
        return Attempt(candidate.target, delay, timeout, candidate.forced, retry)

    def _fits(self, delay: float, remaining_s: float) -> bool:
        return delay + self.rules.min_attempt_s <= remaining_s

    def _take_retry(self, now: float) -> bool:
        if not self.budget.try_retry(now):
            return False
        self.retries += 1
        return True

    def _eligible(self) -> bool:
        return any(c.target not in self._excluded for c in self._order)

    def _exclude_windows_up_to(self, failed: Target) -> None:
        """A prompt too long for `failed` goes only to a target with a known, larger context window."""
        limit = self.windows.get(failed.provider)
        for candidate in self._order:
            window = self.windows.get(candidate.target.provider)
            if candidate.target == failed or window is None or (limit is not None and window <= limit):
                self._excluded.add(candidate.target)
