"""Counting the retries openai-python makes on its own, for OpenAI and Together's OpenAI-compatible API.

The SDK retries 408, 409, 429 and 5xx answers itself (openai-python README, "Retries") and has no retry
callback. Of the public ways in, an httpx event hook on the client's `http_client` (`DefaultAsyncHttpxClient`,
passed through `with_options`) sees every answer: one the SDK will retry is one it would retry by status (or
`x-should-retry: true`, unless `x-should-retry: false`) with retries left, which the `x-stainless-retry-count`
header the SDK puts on each attempt tells. Failures with no answer (timeouts, dropped connections) reach no
response hook and are not counted. A call made with `max_retries=0` and retried by providers/retry.py instead
(creating a fine-tuning job) is counted at the client's budget: it is retried too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import openai

OnRetry = Callable[[str], None]


def retry_reason(status: int) -> str | None:
    """Why the SDK would retry an answer with this status, in the words of the Slack retry counter."""
    if status == 429:
        return "rate_limited"
    if status >= 500:
        return "server_error"
    if status in (408, 409):
        return "timeout" if status == 408 else "conflict"
    return None


def counting_retries(client: openai.AsyncOpenAI, on_retry: OnRetry) -> openai.AsyncOpenAI:
    """The same client (key, base URL, timeout, retries) over an HTTP client that reports each retry coming."""
    hooks = {"response": [_response_hook(client.max_retries, on_retry)]}
    return client.with_options(http_client=openai.DefaultAsyncHttpxClient(event_hooks=hooks))


def _response_hook(max_retries: int, on_retry: OnRetry) -> Callable[[Any], Awaitable[None]]:
    async def hook(response: Any) -> None:
        should = response.headers.get("x-should-retry")
        if response.status_code < 400 or should == "false":
            return
        reason = retry_reason(response.status_code) or ("server_asked" if should == "true" else None)
        if reason is None:
            return
        taken = response.request.headers.get("x-stainless-retry-count", "0")
        if taken.isdigit() and int(taken) < max_retries:
            on_retry(reason)

    return hook
