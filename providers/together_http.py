"""A small HTTP client for Together's REST API over aiohttp (already a dependency).

It adds the bearer key, retries 429 (after Retry-After), 408/409, 5xx, timeouts and
connection failures with `retry.retrying`, and turns what is left into errors:
`ProviderUnavailable` when retries run out, `TogetherAPIError` (status, code, message)
for any other 4xx, for the trainer to word.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from providers.retry import RetryPolicy, Sleep, Transient, retry_after, retrying
from tuning.training.trainers.errors import ProviderUnavailable, TrainerError, redact

DEFAULT_BASE_URL = "https://api.together.ai/v1"  # as Together's docs and SDK name it (2026)
RETRYABLE = frozenset({408, 409, 429})
Form = Callable[[], aiohttp.FormData]


class TogetherAPIError(Exception):
    """A 4xx answer that retrying will not fix. `message` is already redacted."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.code = code


class TogetherHTTP:
    def __init__(
        self,
        api_key: str,
        base_url: str = DEFAULT_BASE_URL,
        *,
        timeout: float = 60.0,
        retry: RetryPolicy = RetryPolicy(),
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not api_key:
            raise ValueError("a Together API key is required")
        self._key = api_key
        self._base_url = base_url.rstrip("/")
        # Per read, not in total: a large upload may take many minutes and is fine while bytes move.
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
        self._retry = retry
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        json_body: dict[str, Any] | None = None,
        form: Form | None = None,
        recover: Callable[[], Awaitable[Any | None]] | None = None,
    ) -> Any:
        """The decoded JSON answer. `form` builds a fresh multipart body for every attempt."""

        async def attempt() -> Any:
            return await self._once(method, path, json_body, form)

        try:
            return await retrying(attempt, self._retry, sleep=self._sleep, recover=recover)
        except Transient as failure:
            raise ProviderUnavailable(
                f"Together is not answering right now ({failure.reason}). Please try again in a few minutes.",
                "together",
            ) from failure

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- one attempt --------------------------------------------------------------

    async def _once(self, method: str, path: str, json_body: dict[str, Any] | None, form: Form | None) -> Any:
        session = self._ensure_session()
        data = form() if form is not None else None
        try:
            async with session.request(method, self._base_url + path, json=json_body, data=data) as response:
                body = await response.read()
                return self._decode(response.status, dict(response.headers), body)
        except (TimeoutError, aiohttp.ServerTimeoutError) as error:
            raise Transient("it timed out") from error
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as error:
            raise Transient("could not connect") from error

    def _decode(self, status: int, headers: dict[str, str], body: bytes) -> Any:
        if status < 400:
            try:
                return json.loads(body) if body else {}
            except json.JSONDecodeError:
                raise TrainerError("Together answered in a shape Tuneloop does not understand.", "together") from None
        message, code = self._error_text(body, status)
        if status == 429:
            raise Transient("HTTP 429, rate limited", retry_after(headers), rate_limited=True)
        if status in RETRYABLE or status >= 500:
            raise Transient(f"HTTP {status}")
        raise TogetherAPIError(status, message, code)

    def _error_text(self, body: bytes, status: int) -> tuple[str, str | None]:
        """Together answers `{"error": {"message", "type", "code"}}`, `{"error": "…"}` or `{"message": "…"}`."""
        try:
            parsed = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            parsed = None
        message, code = None, None
        if isinstance(parsed, dict):
            error = parsed.get("error")
            if isinstance(error, dict):
                message, code = error.get("message"), error.get("code")
            elif isinstance(error, str):
                message = error
            message = message or parsed.get("message")
        text = message if isinstance(message, str) and message else f"HTTP {status}"
        return redact(text, [self._key]), str(code) if code else None

    def _ensure_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout,
                headers={"Authorization": f"Bearer {self._key}", "User-Agent": "tuneloop"},
            )
        return self._session
