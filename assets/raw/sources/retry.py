"""One retry rule for every remote source (ccxt venues, Yahoo), built on tenacity.

- A source classifies each failure: `Transient(reason, retry_after)` is asked again, anything else is
  a `Refused` at once. Which failures are transient is venue knowledge and lives with each source.
- Waits double from `backoff_seconds` up to `max_backoff_seconds`; a `Retry-After` the venue sent is
  honoured (Binance bans an IP with 418 when a 429's Retry-After is ignored).
- Each venue has a time budget per run (`VenueBudget`): the time spent in failed requests and in waits
  counts against it, and every request's timeout is cut to what is left. When a wait no longer fits,
  the venue is given up for the rest of the run, so a venue that is down or hangs costs at most its
  budget, not minutes per request. Successful requests cost nothing, so a long backfill is not cut.
- After giving up, one message: what was asked (venue, endpoint, symbol, dates), how many attempts,
  what was retried and the last error, with secrets scrubbed.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass
from typing import Callable, TypeVar

import tenacity

from .base import GaveUp, Refused, SourceError

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 5
    backoff_seconds: float = 1.0
    max_backoff_seconds: float = 60.0
    timeout_seconds: float = 10.0
    venue_budget_seconds: float = 40.0


@dataclass(frozen=True)
class Transient:
    """Why a failure is worth asking again (e.g. 'HTTP 503', 'timeout'), and the wait the venue asked for."""

    reason: str
    retry_after: float | None = None


class VenueBudget:
    """Seconds one venue may spend on failed requests and waits in one run."""

    def __init__(self, venue: str, seconds: float, clock: Callable[[], float] = time.monotonic):
        self.venue = venue
        self.seconds = seconds
        self.clock = clock
        self.spent = 0.0
        self.given_up: str | None = None  # the message of the call that exhausted the budget

    def remaining(self) -> float:
        return self.seconds - self.spent

    def charge(self, seconds: float) -> None:
        self.spent += seconds


def parse_retry_after(value: str | None) -> float | None:
    """A Retry-After header in seconds (the HTTP-date form is not used by these venues)."""
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def call_with_retries(
    request: Callable[[float], T],
    *,
    what: str,
    policy: RetryPolicy,
    budget: VenueBudget,
    classify: Callable[[BaseException], Transient | None],
    describe: Callable[[BaseException], str],
    sleep: Callable[[float], None] = time.sleep,
    before_retry: Callable[[BaseException, Transient], None] | None = None,
) -> T:
    """`request(timeout_seconds)` until it succeeds, a failure is not transient, the retries are used up
    or the venue's budget is spent. `what` names venue, endpoint, symbol and dates for messages;
    `describe` turns an exception into text without secrets."""
    if budget.given_up:
        raise GaveUp(f"{what}: not asked, {budget.venue} was given up earlier in this run "
                     f"({budget.given_up})", venue=budget.venue, attempts=0, last_error=None)
    verdicts: list[Transient] = []
    clock = budget.clock
    spent_before = budget.spent
    last: dict[str, Transient | None] = {"verdict": None}

    def attempt() -> T:
        begun = clock()
        last["verdict"] = None
        try:
            return request(max(min(policy.timeout_seconds, budget.remaining()), 0.001))
        except Exception as exc:
            budget.charge(clock() - begun)
            verdict = last["verdict"] = classify(exc)
            if verdict is None:
                raise
            verdicts.append(verdict)
            if before_retry is not None:
                before_retry(exc, verdict)
            raise

    def wait(state: tenacity.RetryCallState) -> float:
        backoff = min(policy.backoff_seconds * 2 ** (state.attempt_number - 1), policy.max_backoff_seconds)
        return max(backoff, verdicts[-1].retry_after or 0.0)

    def out_of_budget(state: tenacity.RetryCallState) -> bool:
        return state.upcoming_sleep >= budget.remaining()

    def charged_sleep(seconds: float) -> None:
        budget.charge(seconds)
        sleep(seconds)

    def log_retry(state: tenacity.RetryCallState) -> None:
        log.warning("%s: %s (%s); retry %d/%d in %.2f s", what, verdicts[-1].reason,
                    describe(state.outcome.exception()), state.attempt_number, policy.retries,
                    state.upcoming_sleep)

    retrying = tenacity.Retrying(
        retry=tenacity.retry_if_exception(lambda exc: last["verdict"] is not None),
        wait=wait,
        stop=tenacity.stop_after_attempt(policy.retries + 1) | out_of_budget,
        sleep=charged_sleep,
        before_sleep=log_retry,
        reraise=True,
    )
    try:
        return retrying(attempt)
    except Exception as exc:
        attempts = retrying.statistics.get("attempt_number", 1)
        if last["verdict"] is None:
            if isinstance(exc, SourceError):
                raise
            raise Refused(f"{what} was refused: {describe(exc)}") from None
        retried = ", ".join(f"{n}x {reason}" for reason, n in Counter(v.reason for v in verdicts).items())
        asked = verdicts[-1].retry_after
        why = ""
        if attempts <= policy.retries:  # stopped by the budget, not the count
            why = (f"; the venue asked to wait {asked:g} s (Retry-After), beyond " if asked and
                   asked >= budget.remaining() else "; ") + \
                f"{budget.venue}'s budget of {budget.seconds:g} s is spent, so {budget.venue} is given up for this run"
            budget.given_up = f"{what} failed: {verdicts[-1].reason}"
        raise GaveUp(
            f"{what} failed after {attempts} attempts in {budget.spent - spent_before:.1f} s (failures: {retried}){why}; "
            f"last error: {describe(exc)}", venue=budget.venue, attempts=attempts, last_error=exc,
        ) from None
