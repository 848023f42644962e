"""How Tuneloop retries Slack: 429 after Retry-After, any 5xx, dropped connections.

A chat.postMessage is the exception: after a 5xx or a dropped connection it may already be posted, so
it is not re-sent blindly; handlers/posting.py looks for it in the thread first.
"""

from __future__ import annotations

from collections.abc import Callable

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

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code >= 500 and not _posts(request)


class ConnectionErrorRetryHandler(AsyncConnectionErrorRetryHandler):
    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return not _posts(request) and await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


class Counted(AsyncRetryHandler):
    """Another handler, reporting each retry it makes (for the retries metric)."""

    def __init__(self, inner: AsyncRetryHandler, reason: str, on_retry: Callable[[str], None]) -> None:
        super().__init__(max_retry_count=inner.max_retry_count)
        self._inner = inner
        self._reason = reason
        self._on_retry = on_retry

    async def can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return await self._inner.can_retry_async(state=state, request=request, response=response, error=error)

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        self._on_retry(self._reason)
        await self._inner.prepare_for_next_attempt_async(state=state, request=request, response=response, error=error)


def slack_retry_handlers(on_retry: Callable[[str], None] | None = None) -> list[AsyncRetryHandler]:
    """A fresh list per client: the handlers count their own retries. `on_retry(reason)` hears of each."""
    handlers: dict[str, AsyncRetryHandler] = {
        "rate_limited": AsyncRateLimitErrorRetryHandler(max_retry_count=3),
        "server_error": AnyServerErrorRetryHandler(max_retry_count=2),
        "connection_error": ConnectionErrorRetryHandler(max_retry_count=2),
    }
    if on_retry is None:
        return list(handlers.values())
    return [Counted(handler, reason, on_retry) for reason, handler in handlers.items()]
