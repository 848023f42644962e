"""How Tuneloop retries Slack: 429 after Retry-After, any 5xx, dropped connections.

A chat.postMessage is the exception: after a 5xx or a dropped connection it may already be posted, so
it is not re-sent blindly; handlers/posting.py looks for it in the thread first.
"""

from __future__ import annotations

from slack_sdk.http_retry import HttpRequest, HttpResponse, RetryState
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)

NOT_BLINDLY_RETRIED = ("chat.postMessage",)


def _posts(request: HttpRequest) -> bool:
    return request.url.rstrip("/").endswith(NOT_BLINDLY_RETRIED)


class AnyServerErrorRetryHandler(AsyncServerErrorRetryHandler):
    """slack_sdk's handler retries only 500 and 503; Slack's 502 and 504 are just as passing."""

    async def _can_retry_async(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                               error: Exception | None = None) -> bool:
        return response is not None and response.status_code >= 500 and not _posts(request)


class ConnectionErrorRetryHandler(AsyncConnectionErrorRetryHandler):
    async def _can_retry_async(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                               error: Exception | None = None) -> bool:
        return not _posts(request) and await super()._can_retry_async(
            state=state, request=request, response=response, error=error)


def slack_retry_handlers() -> list[AsyncRetryHandler]:
    """A fresh list per client: the handlers count their own retries."""
    return [
        AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        AnyServerErrorRetryHandler(max_retry_count=2),
        ConnectionErrorRetryHandler(max_retry_count=2),
    ]
