"""No token, signing secret or API key in the logs (even at DEBUG) or in anything posted to Slack.

Logging is set up the way `tuneloop serve` does it (`bot.logs.configure(level, secrets)`: one handler on the
root logger, with the redacting filter on the handler), at DEBUG, so slack_sdk, openai, aiohttp and the
rest log everything they log. The handler's output is captured as text: what an operator would read.
Then a few flows run: a mention answered, a model error, slash commands, a job started on OpenAI, and a
Start refused by Together with an error message that echoes the key it was given (as Together's does).
Every secret carries the marker SeCrEt, so even a part of one would be found.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from bot import logs
from bot.fakes import FakeOpenAI, FakeSlack, FakeTogether
from bot.settings import Settings
from tests.capture_helpers import answered_question, button
from tests.conftest import ADMIN, ALICE, BOT, GENERAL, Harness, make_settings, served
from tests.dataset_helpers import add_many
from tuning.training.datasets.specs import BuildRequest
from tuning.training.jobs import monitor

MARKER = "SeCrEt"
SECRETS = {
    "SLACK_BOT_TOKEN": f"xoxb-1234567890-0987654321-{MARKER}BotToken",
    "SLACK_SIGNING_SECRET": f"8f14e45fceea167a5a36dedd4bea2543{MARKER}",
    "SLACK_APP_TOKEN": f"xapp-1-A0001-111222333-{MARKER}AppToken",
    "OPENAI_API_KEY": f"sk-proj-{MARKER}OpenAiKey0123456789",
    "TOGETHER_API_KEY": f"tgp_v1_{MARKER}TogetherKey0123456789abcdef",
}


class SignedWithOurSecret(Harness):
    """The conftest harness signs with the shared test secret; this app has its own."""

    async def post(
        self, body: str, content_type: str, headers: dict[str, str] | None = None, signed: bool = True
    ) -> tuple[int, str]:
        signature = FakeSlack.sign(body, SECRETS["SLACK_SIGNING_SECRET"]) if signed else {}
        return await super().post(body, content_type, {**signature, **(headers or {})}, signed=False)


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """`tuneloop serve --log-level DEBUG`'s logging, its handler writing into a buffer; restored afterwards."""
    root = logging.getLogger()
    saved_handlers, saved_level = root.handlers[:], root.level
    logs.configure("DEBUG", SECRETS.values())  # exactly what bot.cli._serve does, with every secret set
    (handler,) = root.handlers
    buffer = io.StringIO()
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)


@pytest.fixture
async def together() -> AsyncIterator[FakeTogether]:
    async with FakeTogether(api_key="tgp_v1_the-key-together-expects") as fake:  # ours is refused, and echoed
        yield fake


@pytest.fixture
async def app(
    tmp_path: Path,
    slack: FakeSlack,
    oai: FakeOpenAI,
    together: FakeTogether,
    log_output: io.StringIO,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[Harness]:
    monkeypatch.setattr(monitor, "CARD_INTERVAL_SECONDS", 0.0)
    settings: Settings = make_settings(
        tmp_path, slack, oai, TOGETHER_BASE_URL=together.base_url, TUNELOOP_POLL_SECONDS="3600", **SECRETS
    )
    llm = openai.AsyncOpenAI(
        api_key=SECRETS["OPENAI_API_KEY"],
        base_url=settings.openai_base_url,
        max_retries=1,
        timeout=5.0,
        _strict_response_validation=True,
    )
    async with served(settings, slack, llm=llm, harness=SignedWithOurSecret) as harness:
        yield harness


def what_slack_received(slack: FakeSlack) -> str:
    """Every argument of every call, every response_url post, every file and view: all but the auth header."""
    parts: list[Any] = [
        [
            (call.method, call.args, {k: v for k, v in call.headers.items() if k != "authorization"})
            for call in slack.calls
        ],
        slack.responses,
        slack.views,
        slack.ephemerals,
    ]
    text = json.dumps(parts, default=repr, ensure_ascii=False)
    return text + "".join(f.content.decode("utf-8", "replace") for f in slack.files)


def leaks(text: str) -> list[str]:
    found = [name for name, value in SECRETS.items() if value in text]
    return found + ([f"a part of a secret ({MARKER}…)"] if MARKER in text and not found else [])


async def test_no_secret_reaches_the_logs_or_slack(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI, together: FakeTogether, log_output: io.StringIO
) -> None:
    # A mention, answered.
    answer_ts = await answered_question(app, slack, "what is the VPN address?")
    assert slack.message(GENERAL, answer_ts)["text"].startswith("Echo:")
    # A model error.
    oai.fail("POST /v1/chat/completions", status=500, times=2)
    ts = slack.add_message(GENERAL, ALICE, f"<@{BOT}> and now?")
    await app.event({"type": "app_mention", "user": ALICE, "text": f"<@{BOT}> and now?", "ts": ts, "channel": GENERAL})
    await app.settle()
    assert slack.thread(GENERAL, ts)[1]["text"].startswith(":warning:")
    # Slash commands, and a job started on OpenAI.
    await add_many(app.db, 12, channel=GENERAL)
    ref = (await app.runtime.services.datasets.build(BuildRequest(name="support", val=0.2))).ref
    for text in ("help", "stats", "nonsense words", f"train {ref}"):
        status, _ = await app.command(text, user=ADMIN)
        assert status == 200
        await app.settle()
    job = await app.db.fetchone("SELECT * FROM jobs")
    await app.interact(button(slack, "job_start", job["id"], user=ADMIN))
    await app.settle()
    provider_job = await app.db.fetchval("SELECT provider_job_id FROM jobs WHERE id = ?", (job["id"],))
    assert provider_job
    oai.advance(provider_job, steps=2)
    await app.runtime.monitor.tick()
    # A Start refused by Together, whose error message repeats the key it was sent.
    await app.command(f"train {ref} trainer:together", user=ADMIN)
    await app.settle()
    refused = await app.db.fetchone("SELECT * FROM jobs WHERE trainer = 'together'")
    await app.interact(button(slack, "job_start", refused["id"], user=ADMIN))
    await app.settle()
    assert together.calls and all(
        call.headers["authorization"].endswith(SECRETS["TOGETHER_API_KEY"]) for call in together.calls
    )
    assert slack.responses[-1]["text"].startswith(":warning:")

    written = log_output.getvalue()
    assert leaks(written) == []
    assert leaks(what_slack_received(slack)) == []
    # The capture is real: DEBUG lines from the libraries are there, and a secret logged on purpose is masked.
    assert "DEBUG slack_sdk" in written and "DEBUG openai" in written
    logging.getLogger("tests.canary").debug("canary %s", SECRETS["TOGETHER_API_KEY"])
    assert log_output.getvalue().endswith("canary [redacted]\n")
