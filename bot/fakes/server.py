"""What every loopback fake shares: lifecycle, call recording and fault injection.

A fake is an aiohttp application bound to 127.0.0.1 on an ephemeral port.
Each request passes through one middleware that records it as a `Call`, then
consumes the first fault queued for its method (if any) before the real
handler runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from aiohttp import web

HOST = "127.0.0.1"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ARGS = web.RequestKey("args", dict)


@dataclass
class Call:
    """One request as the fake saw it. Header names are lower-case."""

    method: str
    args: dict[str, Any]
    headers: dict[str, str]

    @property
    def token(self) -> str | None:
        """The bearer token of the request (or a `token` argument, as Slack allows)."""
        auth = self.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[len("bearer ") :]
        token = self.args.get("token")
        return token if isinstance(token, str) else None


@dataclass(frozen=True)
class Fault:
    """An injected failure: wait `delay` seconds, then answer `status`/`error` if set."""

    status: int | None = None
    error: str | None = None
    retry_after: int | None = None
    delay: float = 0.0

    @property
    def answers(self) -> bool:
        """False for a pure delay, after which the request is served normally."""
        return self.status is not None or self.error is not None


def method_matches(pattern: str, method: str) -> bool:
    """Exact match, where a `{name}` path segment in `pattern` matches any one segment."""
    regex = "".join(
        "[^/]+" if re.fullmatch(r"\{\w+\}", part) else re.escape(part)
        for part in re.split(r"(\{\w+\})", pattern)
        if part
    )
    return re.fullmatch(regex, method) is not None


class ApiFailure(Exception):
    """A model provider's API error, answered as `{"error": {"message", "type", "param", "code"}}`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = {"message": message, "type": type, "param": param, "code": code}

    def body(self) -> dict[str, Any]:
        return {"error": self.error}


class FaultPlan:
    """Faults queued per method pattern, consumed first in, first out."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = {}

    def add(self, pattern: str, fault: Fault, times: int) -> None:
        self._queues.setdefault(pattern, deque()).extend([fault] * times)

    def take(self, method: str) -> Fault | None:
        for pattern, queue in self._queues.items():
            if queue and method_matches(pattern, method):
                return queue.popleft()
        return None

    def pending(self) -> int:
        return sum(len(queue) for queue in self._queues.values())


class FakeServer(ABC):
    """Base class. Subclasses add routes and say how a request maps to a method."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._faults = FaultPlan()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._closing = asyncio.Event()

    # -- lifecycle -------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(middlewares=self._middlewares(), client_max_size=64 * 1024**2)
        self._add_routes(app)
        self._closing = asyncio.Event()
        self._runner = web.AppRunner(app, handle_signals=False, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, HOST, 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is None:
            return
        self._closing.set()
        await self._before_stop()
        await self._runner.cleanup()
        self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._port

    def url(self, path: str, scheme: str = "http") -> str:
        return f"{scheme}://{HOST}:{self.port}{path}"

    # -- recording and faults -------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls whose method matches (`{id}` segments match anything)."""
        return [call for call in self.calls if method_matches(method, call.method)]

    def fail(
        self,
        method: str,
        *,
        status: int | None = None,
        error: str | None = None,
        retry_after: int | None = None,
        delay: float = 0.0,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls to `method` fail.

        `status` answers with that HTTP status (429 carries `Retry-After`, default 1 s);
        `error` names the provider's error code; `delay` waits first (to provoke client
        timeouts) and, alone, then serves the request normally.
        """
        if status is None and error is None and delay <= 0:
            raise ValueError("fail() needs status, error or delay")
        if status == 429 and retry_after is None:
            retry_after = 1
        self._faults.add(method, Fault(status, error, retry_after, delay), times)

    @property
    def pending_faults(self) -> int:
        return self._faults.pending()

    async def sleep(self, seconds: float) -> None:
        """Sleep that ends early when the fake stops, so shutdown never waits on it."""
        if seconds <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), seconds)

    # -- hooks for subclasses -------------------------------------------

    @abstractmethod
    def _add_routes(self, app: web.Application) -> None:
        """Register the fake's handlers."""

    @abstractmethod
    def _method_of(self, request: web.Request) -> str | None:
        """The method name to record, or None for requests that are not API calls."""

    @abstractmethod
    async def _parse_args(self, request: web.Request) -> dict[str, Any]:
        """The call's arguments, from its query string and body."""

    @abstractmethod
    def _fault_response(self, fault: Fault) -> web.StreamResponse:
        """The provider's answer for an injected status or error."""

    async def _before_stop(self) -> None:  # noqa: B027 - an optional hook, empty by default
        """Close long-lived connections (websockets) before the runner shuts down."""

    def _middlewares(self) -> list[Any]:
        return [self._record_and_inject]

    # -- the shared middleware ------------------------------------------

    @web.middleware
    async def _record_and_inject(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        method = self._method_of(request)
        if method is None:
            return await handler(request)
        args = await self._parse_args(request)
        request[ARGS] = args
        self.calls.append(Call(method, args, _lower_headers(request.headers)))
        fault = self._faults.take(method)
        if fault is not None:
            await self.sleep(fault.delay)
            if fault.answers:
                return self._fault_response(fault)
        return await handler(request)


def _lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def retry_after_headers(fault: Fault) -> dict[str, str]:
    return {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
