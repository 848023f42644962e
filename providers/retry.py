"""Retries with exponential backoff that honour a server's Retry-After.

No retry library is installed (tenacity and backoff are not dependencies), and the
rules are few, so this is a small helper:

- an operation signals a failure worth retrying by raising `Transient`;
- the wait is the server's `Retry-After` when it gave one, else exponential backoff
  with jitter; a `Retry-After` longer than `max_retry_after` is not waited for;
- after a failure that may have reached the server (a 5xx or a timeout, not a 429),
  an optional `recover` callback runs before the next attempt: a non-idempotent call
  (creating a job) uses it to find the job the lost answer would have named;
- when attempts run out, the last `Transient` is raised, its cause chained.
"""

from __future__ import annotations

import asyncio
import email.utils
import math
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 4
    """Total tries, the first included."""
    base_delay: float = 0.5
    max_delay: float = 8.0
    max_retry_after: float = 120.0
    jitter: float = 0.25

    def backoff(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Wait before retry number `retry` (1 for the first retry) when the server said nothing."""
        delay = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return delay * (1 - self.jitter * rand())


class Transient(Exception):
    """A failure worth retrying. `retry_after` is the server's wait in seconds, if it said one."""

    def __init__(self, reason: str, retry_after: float | None = None, *, rate_limited: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.rate_limited = rate_limited


async def retrying(
    operation: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    sleep: Sleep = asyncio.sleep,
    recover: Callable[[], Awaitable[T | None]] | None = None,
) -> T:
    attempt = 1
    while True:
        try:
            return await operation()
        except Transient as failure:
            wait = _wait(policy, attempt, failure)
            if attempt >= policy.attempts or wait is None:
                raise
            await sleep(wait)
            if recover is not None and not failure.rate_limited:
                found = await recover()
                if found is not None:
                    return found
            attempt += 1


def _wait(policy: RetryPolicy, attempt: int, failure: Transient) -> float | None:
    if failure.retry_after is None:
        return policy.backoff(attempt)
    if failure.retry_after > policy.max_retry_after:
        return None
    return max(0.0, failure.retry_after)


def retry_after(headers: Mapping[str, str], now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from `Retry-After-Ms` or `Retry-After` (seconds or an HTTP date)."""
    lowered = {name.lower(): value for name, value in headers.items()}
    for name, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        seconds = _number(lowered.get(name))
        if seconds is not None:
            return max(0.0, seconds / divisor)
    return _http_date(lowered.get("retry-after"), now)


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _http_date(value: str | None, now: Callable[[], float]) -> float | None:
    if not value:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, moment.timestamp() - now())
