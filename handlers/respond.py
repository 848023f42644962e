"""Replies through a request's response_url: at most three sends, whatever the SDK version.

Bolt's respond() sends once and, on a 429 or a 5xx, returns the failed response without raising: the
person's reply would be lost without a trace. A middleware swaps in RetryingRespond wherever Bolt put its
own. The webhook client's own retrying changed within our range (before 3.48 it consulted its retry
handlers only for some failures; from 3.48 for every status >= 400, so our loop on top of it made nine
sends), so the client gets no handlers at all and this loop is the one policy: a 429 waits its
Retry-After, a 5xx or a dropped connection backs off, and the third failed send is logged and given up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aiohttp
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.webhook import WebhookResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

log = logging.getLogger(__name__)
MAX_SENDS = 3
BACKOFF_SECONDS = 0.25
MAX_RETRY_AFTER_SECONDS = 30  # a reply later than this is worth less than the log line saying it failed


def wait_before_next(response: WebhookResponse | None, attempt: int) -> float | None:
    """Seconds to wait before sending again, or None when this outcome is final."""
    if response is None or response.status_code >= 500:
        return BACKOFF_SECONDS * 2**attempt
    if response.status_code == 429:
        retry_after = response.headers.get("Retry-After") or response.headers.get("retry-after")
        try:
            return min(float(retry_after), MAX_RETRY_AFTER_SECONDS) if retry_after else 1.0
        except ValueError:
            return 1.0
    return None


class RetryingRespond(AsyncRespond):
    async def __call__(  # type: ignore[override]  # the message arguments Tuneloop uses, as keywords
        self,
        text: str = "",
        blocks: Sequence[Any] | None = None,
        *,
        response_type: str | None = None,
        replace_original: bool | None = None,
        delete_original: bool | None = None,
    ) -> WebhookResponse | None:
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        client = AsyncWebhookClient(self.response_url, proxy=self.proxy, ssl=self.ssl, retry_handlers=[])
        response: WebhookResponse | None = None
        for attempt in range(MAX_SENDS):
            try:
                response = await client.send(
                    text=text,
                    blocks=blocks,
                    response_type=response_type,
                    replace_original=replace_original,
                    delete_original=delete_original,
                )
                failure = None
            except (aiohttp.ClientConnectionError, asyncio.TimeoutError) as error:
                response, failure = None, error
            wait = wait_before_next(response, attempt)
            if wait is None or attempt == MAX_SENDS - 1:
                break
            await asyncio.sleep(wait)
        if response is None:
            log.warning("a reply through response_url failed after %d sends: %r", MAX_SENDS, failure)
        elif response.status_code != 200:
            log.warning(
                "a reply through response_url failed after retries: HTTP %s %s",
                response.status_code,
                response.body[:200],
            )
        return response


class RetryResponds(AsyncMiddleware):
    async def async_process(
        self, *, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse | None:
        context = req.context
        if context.response_url and not isinstance(context.get("respond"), RetryingRespond):
            # Bolt builds its respond() lazily, from the same three values.
            client = context.client
            context["respond"] = RetryingRespond(
                response_url=context.response_url,
                proxy=client.proxy if client else None,
                ssl=client.ssl if client else None,
            )
        return await next()
