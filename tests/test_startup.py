"""`tuneloop serve` checks before it takes a request, exits with one clear line when it cannot start, and
stops on SIGTERM whatever it is doing. The server is a child process; the fakes run in the test process.
Every wait is a bounded poll for a condition."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sqlite3
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from bot.fakes import FakeOpenAI, FakeSlack
from bot.preflight import REQUIRED_BOT_SCOPES
from bot.settings import missing_settings_message
from storage import DatabaseUnavailable, open_database
from tests.conftest import ADMIN, SIGNING_SECRET
from tests.test_cli import tuneloop
from tests.waiting import eventually, listening

REPO = Path(__file__).resolve().parents[1]
TIMEOUT = 60.0  # a bound for every wait; only reached when something is broken


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Serve:
    """`python -m bot serve` as a child process whose output goes to a file."""

    def __init__(self, tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, *, name: str = "server", **env: str) -> None:
        self.log_path = tmp_path / f"{name}.log"
        self.db_path = tmp_path / "tuneloop.db"
        self.port = free_port()
        self.env = {
            "PATH": os.environ["PATH"],
            "HOME": str(tmp_path),
            "PYTHONPATH": str(REPO),
            "SLACK_BOT_TOKEN": "xoxb-test-start",
            "OPENAI_API_KEY": "sk-test-0000",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "OPENAI_BASE_URL": oai.base_url,
            "TUNELOOP_DB": str(self.db_path),
            "TUNELOOP_ADMINS": ADMIN,
            **env,
        }
        self.cwd = tmp_path
        self.process: asyncio.subprocess.Process | None = None

    async def start(self, *args: str) -> None:
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "serve", *args, cwd=self.cwd, env=self.env, stdout=log, stderr=log
            )

    async def start_http(self) -> None:
        await self.start("--http", "--port", str(self.port))

    async def exit_code(self) -> int:
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), TIMEOUT)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def wait_listening(self) -> None:
        await eventually(
            lambda: listening(self.port),
            timeout=TIMEOUT,
            interval=0.05,
            what="listening",
            give_up=self.exited,
            detail=self.output,
        )

    async def wait_for_log(self, text: str) -> None:
        await eventually(
            lambda: text in self.output(),
            timeout=TIMEOUT,
            interval=0.05,
            what=f"{text!r} logged",
            give_up=self.exited,
            detail=self.output,
        )

    def exited(self) -> bool:
        return self.process is None or self.process.returncode is not None

    async def stop(self) -> int:
        """SIGTERM; the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return await self.exit_code()

    def kill(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.kill()


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, **env: str) -> AsyncIterator[Serve]:
    server = Serve(tmp_path, slack, oai, **env)
    try:
        yield server
    finally:
        server.kill()


def one_line_reason(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("tuneloop cannot start:")]
    assert len(lines) == 1 and "Traceback" not in output, output
    return lines[0]


@pytest.mark.parametrize("code", ["token_revoked", "invalid_auth", "account_inactive"])
async def test_a_refused_bot_token_stops_start_up_with_the_fix(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, code: str
) -> None:
    slack.fail("auth.test", error=code)
    async with serving(tmp_path, slack, oai) as server:
        await server.start_http()
        assert await server.exit_code() == 1
    line = one_line_reason(server.output())
    assert f"SLACK_BOT_TOKEN ({code})" in line
    assert ("reinstall" in line) == (code != "invalid_auth")
    assert not slack.calls_to("conversations.*") and not slack.calls_to("chat.*")


async def test_missing_scopes_are_named(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> None:
    slack.scopes = "chat:write,commands,channels:history"
    async with serving(tmp_path, slack, oai) as server:
        await server.start_http()
        assert await server.exit_code() == 1
    line = one_line_reason(server.output())
    assert "lacks the scopes" in line and "reactions:read" in line and "chat:write," not in line


def test_the_required_scopes_are_the_manifests() -> None:
    manifest = yaml.safe_load((REPO / "manifest.yml").read_text())
    assert frozenset(manifest["oauth_config"]["scopes"]["bot"]) == REQUIRED_BOT_SCOPES


@pytest.mark.parametrize("kind", ["not a database", "a directory", "under a file"])
async def test_an_unusable_database_stops_start_up(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, kind: str
) -> None:
    path = tmp_path / "bad.db"
    if kind == "not a database":
        path.write_bytes(b"this is not SQLite" * 100)
    elif kind == "a directory":
        path.mkdir()
    else:
        (tmp_path / "plain-file").write_text("x")
        path = tmp_path / "plain-file" / "tuneloop.db"
    async with serving(tmp_path, slack, oai, TUNELOOP_DB=str(path)) as server:
        await server.start_http()
        assert await server.exit_code() == 1
    assert f"cannot use the database {path}" in one_line_reason(server.output())


async def test_a_busy_port_is_one_line(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> None:
    async with serving(tmp_path, slack, oai) as server:
        with socket.socket() as taken:
            taken.bind(("0.0.0.0", server.port))
            taken.listen()
            await server.start_http()
            assert await server.exit_code() == 1
    assert f"port {server.port} is already in use" in one_line_reason(server.output())


async def test_a_second_server_on_the_same_database_is_refused_naming_the_first(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    first = Serve(tmp_path, slack, oai, name="first")
    second = Serve(tmp_path, slack, oai, name="second")
    try:
        await first.start_http()
        await first.wait_listening()
        await second.start_http()
        assert await second.exit_code() == 1
        line = one_line_reason(second.output())
        assert first.process is not None and f"pid {first.process.pid} on {socket.gethostname()}" in line
        assert "another Tuneloop is serving" in line
        assert await first.stop() == 0
        assert "will be unused" not in first.output()  # Bolt's warning about the token it is also given
        third = Serve(tmp_path, slack, oai, name="third")  # the lease was released at a clean stop
        await third.start_http()
        await third.wait_listening()
        assert await third.stop() == 0
    finally:
        first.kill()
        second.kill()


async def test_sigterm_during_start_up_ends_it(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> None:
    slack.fail("auth.test", delay=3600)  # Slack never answers
    async with serving(tmp_path, slack, oai) as server:
        await server.start_http()
        await eventually(
            lambda: slack.calls_to("auth.test"),
            timeout=TIMEOUT,
            interval=0.05,
            what="auth.test asked",
            give_up=server.exited,
            detail=server.output,
        )
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        assert await server.exit_code() == 0
    assert "stopped before it finished starting" in server.output()


async def test_sigterm_ends_socket_mode_while_slack_is_unreachable(tmp_path: Path, oai: FakeOpenAI) -> None:
    slack = FakeSlack()
    await slack.start()
    try:
        async with serving(tmp_path, slack, oai, SLACK_APP_TOKEN="xapp-test-start") as server:
            await server.start()
            await slack.wait_socket_connected(TIMEOUT)
            await server.wait_for_log("connected to Slack in Socket Mode")
            await slack.stop()  # Slack goes away: the client starts reconnecting
            await server.wait_for_log("reconnect")
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            assert await server.exit_code() == 0
    finally:
        await slack.stop()


def test_read_commands_refuse_a_database_that_does_not_exist(tmp_path: Path) -> None:
    result = tuneloop(tmp_path, "stats")
    assert result.returncode == 1 and "no database file" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "tuneloop.db").exists()


def test_export_to_a_file_is_a_clear_error(tmp_path: Path) -> None:
    from tests.test_cli import seed

    seed(tmp_path)
    assert tuneloop(tmp_path, "dataset", "build", "support").returncode == 0
    (tmp_path / "taken").write_text("x")
    result = tuneloop(tmp_path, "dataset", "export", "support", "--out", str(tmp_path / "taken"))
    assert result.returncode == 1 and "is a file" in result.stderr and "Traceback" not in result.stderr


async def test_a_failed_open_leaves_no_thread_behind(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"not a database at all" * 100)

    def sqlite_threads() -> list[threading.Thread]:
        return [t for t in threading.enumerate() if "_connection_worker_thread" in t.name and t.is_alive()]

    assert not sqlite_threads()
    with pytest.raises(DatabaseUnavailable, match="garbage.db"):
        await open_database(path)
    for thread in sqlite_threads():  # stopped, or stopping: it must end (a hang fails here)
        thread.join(TIMEOUT)
    assert not sqlite_threads()
    with pytest.raises(sqlite3.DatabaseError):  # the file is untouched: still not a database
        sqlite3.connect(path).execute("SELECT 1 FROM sqlite_master")


def test_the_missing_settings_message_offers_socket_mode() -> None:
    text = missing_settings_message(["SLACK_SIGNING_SECRET"])
    assert "SLACK_APP_TOKEN" in text and "Socket Mode" in text
    assert "SLACK_APP_TOKEN" not in missing_settings_message(["OPENAI_API_KEY"])
