"""Test harness: the real app served on 127.0.0.1 against loopback fakes of Slack and OpenAI."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import openai
import pytest
from hypothesis import settings as hypothesis_settings

from bot.fakes import FakeOpenAI, FakeSlack, FakeTogether, netguard
from bot.runtime import Runtime
from bot.server import EVENTS_PATH, http_server
from bot.settings import Settings
from tests.pg_server import PostgresServer, postgres_server
from tests.selfhost_helpers import fast_cards_offline, sft_run, tiny_model  # noqa: F401 - fixtures shared by modules
from tests.waiting import eventually

REPO = Path(__file__).resolve().parents[1]  # subprocesses run this tree's code, whatever is installed

# Property tests are derandomised: the same examples every run, so a green suite never depends on luck.
# `HYPOTHESIS_PROFILE=explore make test` searches afresh with more examples; what it finds becomes a regression test.
hypothesis_settings.register_profile("default", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("explore", derandomize=False, max_examples=500, print_blob=True)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

SIGNING_SECRET = "test-signing-secret"
BOT_TOKEN = "xoxb-test-token"
OPENAI_KEY = "sk-test-key-0000"
TOGETHER_KEY = "tg-test-key"
ADMIN = "U0ADMIN"
ALICE = "U0ALICE"
BOB = "U0BOB"
BOT = "U0BOT"
GENERAL = "C0GENERAL"
DM = "D0ALICE"


@pytest.fixture(autouse=True, scope="session")
def loopback_only() -> None:
    """Any connection that is not to 127.0.0.1 fails the test that made it."""
    netguard.install()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One real PostgreSQL server for the session, started by the first test that needs it."""
    with postgres_server() as server:
        yield server


# A module runs its tests on both databases with `pytestmark = BOTH_DATABASES`; others run on SQLite only.
BOTH_DATABASES = pytest.mark.parametrize("database_kind", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(autouse=True)  # autouse: BOTH_DATABASES may mark a module whose tests do not all use a database
def database_kind(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
def database(request: pytest.FixtureRequest, database_kind: str, tmp_path: Path) -> Iterator[str]:
    """What open_database takes for this test: an SQLite file in tmp_path, or a fresh PostgreSQL database."""
    if database_kind == "sqlite":
        yield str(tmp_path / "tuneloop.db")
        return
    server: PostgresServer = request.getfixturevalue("postgres")
    url = server.create_database()
    yield url
    server.drop_database(url)


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        fake.add_user(ALICE, "alice", real_name="Alice Liddell", display_name="alice")
        fake.add_user(BOB, "bob", real_name="Robert Paulson", display_name="bobby")
        fake.add_user(ADMIN, "admin", real_name="Ada Admin", display_name="ada")
        fake.add_channel(GENERAL, "general")
        fake.add_channel(DM, "", is_im=True, user=ALICE)
        yield fake


@pytest.fixture
async def oai() -> AsyncIterator[FakeOpenAI]:
    async with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
async def together() -> AsyncIterator[FakeTogether]:
    async with FakeTogether() as fake:
        yield fake


@pytest.fixture
def settings(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, database: str) -> Settings:
    return make_settings(tmp_path, slack, oai, **database_settings(database, tmp_path))


def database_settings(database: str, tmp_path: Path) -> dict[str, str]:
    """The settings that put Tuneloop on `database` (see the `database` fixture)."""
    if database.startswith("postgresql://"):
        return {"TUNELOOP_DATABASE_URL": database, "TUNELOOP_DATA_DIR": str(tmp_path)}
    return {"TUNELOOP_DB": database}


def make_settings(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, *, together: FakeTogether | None = None, **extra: Any
) -> Settings:
    """Settings pointing at the fakes; with `together`, the Together trainer is configured too."""
    values = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "OPENAI_API_KEY": OPENAI_KEY,
        "SLACK_API_URL": slack.api_url,
        "OPENAI_BASE_URL": oai.base_url,
        "TUNELOOP_DB": str(tmp_path / "tuneloop.db"),
        "TUNELOOP_ADMINS": ADMIN,
        "TUNELOOP_MODEL": "gpt-4.1-mini",
        **({"TOGETHER_API_KEY": TOGETHER_KEY, "TOGETHER_BASE_URL": together.base_url} if together else {}),
        **extra,
    }
    return Settings(_env_file=None, **values)


def strict_openai(settings: Settings) -> openai.AsyncOpenAI:
    """The OpenAI client tests use: a fake that drifts from the real API's shapes fails loudly."""
    return openai.AsyncOpenAI(
        api_key=OPENAI_KEY,
        base_url=settings.openai_base_url,
        max_retries=2,
        timeout=5.0,
        _strict_response_validation=True,
    )


class Harness:
    """Talks to the served app the way Slack does: signed HTTP requests."""

    def __init__(self, runtime: Runtime, port: int, slack: FakeSlack) -> None:
        self.runtime = runtime
        self.db = runtime.db
        self.url = f"http://127.0.0.1:{port}{EVENTS_PATH}"
        self.slack = slack
        self.session = aiohttp.ClientSession()

    async def post(
        self, body: str, content_type: str, headers: dict[str, str] | None = None, signed: bool = True
    ) -> tuple[int, str]:
        all_headers = {"Content-Type": content_type, **(FakeSlack.sign(body, SIGNING_SECRET) if signed else {})}
        all_headers.update(headers or {})
        async with self.session.post(self.url, data=body.encode(), headers=all_headers) as response:
            return response.status, await response.text()

    async def event(self, event: dict[str, Any], *, event_id: str | None = None, retry: int | None = None) -> int:
        envelope = self.slack.event_callback({"event_ts": f"{time.time():.6f}", **event}, event_id=event_id)
        headers = {"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"} if retry else {}
        status, _ = await self.post(json.dumps(envelope), "application/json", headers)
        return status

    async def command(self, text: str, *, user: str = ALICE, channel: str = GENERAL) -> tuple[int, dict[str, Any]]:
        form = {
            "token": "x",
            "team_id": "T0001",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/tune",
            "text": text,
            "api_app_id": "A0001",
            "response_url": self.slack.response_url(f"cmd-{time.monotonic_ns()}"),
            "trigger_id": "trigger-1",
        }
        status, body = await self.post(urlencode(form), "application/x-www-form-urlencoded")
        return status, json.loads(body) if body.strip().startswith("{") else {}

    async def interact(self, payload: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        status, body = await self.post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
        return status, json.loads(body) if body.strip().startswith("{") else {}

    async def settle(self, timeout: float = 10.0) -> None:
        """Wait until every stored event is processed and background work is done."""

        async def settled() -> bool:
            pending = await self.db.fetchval("SELECT count(*) FROM inbox WHERE processed_at IS NULL")
            return bool(pending == 0 and self.runtime.worker.idle and self.runtime.tasks.idle)

        await eventually(settled, timeout=timeout, what="the app settling")

    async def close(self) -> None:
        await self.session.close()


@pytest.fixture
async def app(settings: Settings, slack: FakeSlack) -> AsyncIterator[Harness]:
    async with served(settings, slack) as harness:
        yield harness


class served:
    """`async with served(settings, slack) as harness`: start the runtime and HTTP server, stop both after.

    `llm` replaces the strict OpenAI client (fault tests want one that gives up quickly); `harness` the
    class that talks to the app.
    """

    def __init__(
        self,
        settings: Settings,
        slack: FakeSlack,
        *,
        llm: openai.AsyncOpenAI | None = None,
        harness: type[Harness] | None = None,
    ) -> None:
        self._settings = settings
        self._slack = slack
        self._llm = llm
        self._harness_class = harness or Harness

    async def __aenter__(self) -> Harness:
        self._runtime = await Runtime.start(self._settings, llm=self._llm or strict_openai(self._settings))
        self._server = http_server(self._runtime, "127.0.0.1", 0)
        port = await self._server.__aenter__()
        self._harness = self._harness_class(self._runtime, port, self._slack)
        return self._harness

    async def __aexit__(self, *exc: object) -> None:
        await self._harness.close()
        await self._server.__aexit__(None, None, None)
        await self._runtime.close()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """A test that failed before closing its database leaves aiosqlite's worker thread (not a daemon) running,
    and the run would then never exit: stop every connection still open, so a red run ends red, not hung."""
    import gc

    import aiosqlite

    for connection in [obj for obj in gc.get_objects() if type(obj) is aiosqlite.Connection]:  # type(): no proxies
        connection.stop()
