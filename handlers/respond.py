"""Replies through a request's response_url, retried like every other call to Slack.

Bolt's respond() sends once and, on a 429 or a 5xx, returns the failed response without raising: the
person's reply would be lost without a trace. A middleware swaps in RetryingRespond wherever Bolt put its
own, so every listener's `respond` retries (429 and dropped connections as slack_retries.py says; a 5xx
twice more) and logs what still failed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.webhook import WebhookResponse
from slack_sdk.webhook.async_client import AsyncWebhookClient

from handlers.slack_retries import slack_retry_handlers

log = logging.getLogger(__name__)
SERVER_ERROR_RETRIES = 2
SERVER_ERROR_BACKOFF_SECONDS = 0.25


class RetryingRespond(AsyncRespond):
    async def __call__(  # type: ignore[override]  # the message arguments Tuneloop uses, as keywords
        self, text: str = "", blocks: Sequence[Any] | None = None, *, response_type: str | None = None,
        replace_original: bool | None = None, delete_original: bool | None = None,
    ) -> WebhookResponse:
        if self.response_url is None:
            raise ValueError("respond is unsupported here as there is no response_url")
        client = AsyncWebhookClient(self.response_url, proxy=self.proxy, ssl=self.ssl,
                                    retry_handlers=slack_retry_handlers())
        for attempt in range(SERVER_ERROR_RETRIES + 1):
            # The webhook client retries 429s and dropped connections itself, but never a 5xx.
            response = await client.send(text=text, blocks=blocks, response_type=response_type,
                                         replace_original=replace_original, delete_original=delete_original)
            if response.status_code < 500 or attempt == SERVER_ERROR_RETRIES:
                break
            await asyncio.sleep(SERVER_ERROR_BACKOFF_SECONDS * 2**attempt)
        if response.status_code != 200:
            log.warning("a reply through response_url failed after retries: HTTP %s %s",
                        response.status_code, response.body[:200])
        return response


class RetryResponds(AsyncMiddleware):
    async def async_process(
        self, *, req: AsyncBoltRequest, resp: BoltResponse, next: Callable[[], Awaitable[BoltResponse]]
    ) -> BoltResponse | None:
        context = req.context
        if context.response_url and not isinstance(context.get("respond"), RetryingRespond):
            # Bolt builds its respond() lazily, from the same three values.
            client = context.client
            context["respond"] = RetryingRespond(response_url=context.response_url,
                                                 proxy=client.proxy if client else None,
                                                 ssl=client.ssl if client else None)
        return await next()
