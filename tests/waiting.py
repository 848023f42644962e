"""How tests wait: for a condition to hold, never for a fixed time.

    await eventually(lambda: slack.messages, what="the bot's reply")
    await eventually(job_finished, timeout=300)        # an async check is awaited each round
    until(lambda: answers(url), timeout=120, give_up=lambda: process.poll() is not None)  # outside a loop

`give_up` ends the wait at once when the condition can no longer become true (the process it waits
on has died); `detail` adds what explains a timeout (a server's log) to the failure.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

Check = Callable[[], bool | Awaitable[bool]]
REAL_WAIT = 300.0  # for a real training program or model server on a shared CPU


async def eventually(
    check: Check,
    *,
    timeout: float = 10.0,
    interval: float = 0.02,
    what: str = "condition",
    give_up: Callable[[], bool] | None = None,
    detail: Callable[[], str] | None = None,
) -> None:
    deadline = time.monotonic() + timeout
    while not await _holds(check):
        _fail_if_over(deadline, timeout, what, give_up, detail)
        await asyncio.sleep(interval)


def until(
    check: Callable[[], bool],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    what: str = "condition",
    give_up: Callable[[], bool] | None = None,
    detail: Callable[[], str] | None = None,
) -> None:
    """`eventually` for a synchronous fixture, which has no event loop to wait in."""
    deadline = time.monotonic() + timeout
    while not check():
        _fail_if_over(deadline, timeout, what, give_up, detail)
        time.sleep(interval)


async def _holds(check: Check) -> bool:
    result = check()
    return bool(await result) if inspect.isawaitable(result) else bool(result)


def _fail_if_over(
    deadline: float, timeout: float, what: str, give_up: Callable[[], bool] | None, detail: Callable[[], str] | None
) -> None:
    gone = give_up is not None and give_up()
    if gone or time.monotonic() > deadline:
        why = "can no longer happen" if gone else f"not within {timeout:g} s"
        raise AssertionError(f"{what}: {why}" + (f"\n{detail()}" if detail else ""))


async def listening(port: int) -> bool:
    """A check for `eventually`: something accepts connections on 127.0.0.1:`port`."""
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True
