"""`tuneloop demo`: the whole loop offline, against the loopback fakes of Slack and OpenAI.

Alice asks twelve questions, Bob gives the answers 👍, an admin corrects one; a dataset is built, a
(fake) fine-tune runs and its model is evaluated against the base model. Everything happens in this
process over 127.0.0.1; the real app code serves the real Slack and OpenAI clients.

The fakes ship in bot/fakes/ (built from the providers' API references, importing nothing of Tuneloop), so
the demo runs wherever Tuneloop is installed: a checkout, a wheel, the Docker image.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp

from bot.fakes import FakeOpenAI, FakeSlack
from bot.runtime import Runtime
from bot.server import EVENTS_PATH, http_server
from bot.settings import Settings
from render.ids import CORRECTION_BLOCK, CORRECTION_INPUT, CORRECTION_VIEW, JOB_START
from tuning.capture.corrections import fingerprint
from tuning.catalogue.entries import packaged_catalogue
from tuning.training.datasets.specs import BuildRequest

CHANNEL, ALICE, BOB, ADMIN, BOT = "C0DEMO", "U0ALICE", "U0BOB", "U0ADMIN", "U0BOT"
SECRET = "demo-signing-secret"
QUESTIONS = [
    "how do I reset my VPN password?",
    "where is the on-call rota?",
    "how do I request a new laptop?",
    "what is the wifi network for guests?",
    "how do I book a meeting room?",
    "who approves expenses?",
    "how do I get access to the staging database?",
    "where are the brand logos?",
    "how do I rotate the API keys?",
    "what is the holiday policy?",
    "how do I join the incident channel?",
    "where is the deploy runbook?",
]
CORRECTION = "Use the self-service portal at id.example.com, then sign in to the VPN again."
WAIT_SECONDS = 120.0


async def run(workdir: Path, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the loop with its files in `workdir`, which must exist (the CLI makes it)."""
    async with FakeSlack() as slack, FakeOpenAI() as oai:
        for user, name in ((ALICE, "alice"), (BOB, "bob"), (ADMIN, "ada")):
            slack.add_user(user, name, real_name=name.title())
        slack.add_channel(CHANNEL, "general")
        settings = Settings(
            _env_file=None,
            SLACK_BOT_TOKEN="xoxb-demo-token",
            SLACK_SIGNING_SECRET=SECRET,
            OPENAI_API_KEY="sk-demo-0000",
            SLACK_API_URL=slack.api_url,
            OPENAI_BASE_URL=oai.base_url,
            TUNELOOP_DB=str(workdir / "tuneloop.db"),
            TUNELOOP_ADMINS=ADMIN,
            TUNELOOP_MODEL=packaged_catalogue().default_model("openai"),
            TUNELOOP_POLL_SECONDS="3600",
        )
        runtime = await Runtime.start(settings)
        try:
            async with http_server(runtime, "127.0.0.1", 0) as port, aiohttp.ClientSession() as session:
                client = _Slack(session, f"http://127.0.0.1:{port}{EVENTS_PATH}", slack, runtime)
                return await _loop(client, slack, oai, runtime, workdir, say)
        finally:
            await runtime.close()


async def _loop(
    client: _Slack, slack: FakeSlack, oai: FakeOpenAI, runtime: Runtime, workdir: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    say(f"1. Alice asks {len(QUESTIONS)} questions in #general; Tuneloop answers each in a thread.")
    answers = []
    for question in QUESTIONS:
        ts = slack.add_message(CHANNEL, ALICE, f"<@{BOT}> {question}")
        await client.event(
            {"type": "app_mention", "user": ALICE, "text": f"<@{BOT}> {question}", "ts": ts, "channel": CHANNEL}
        )
        await client.settled()
        answers.append(slack.thread(CHANNEL, ts)[1])
    say("2. Bob gives every answer a 👍; they become approved training examples.")
    for answer in answers:
        await client.event(
            {
                "type": "reaction_added",
                "user": BOB,
                "reaction": "+1",
                "item_user": BOT,
                "item": {"type": "message", "channel": CHANNEL, "ts": answer["ts"]},
            }
        )
    await client.settled()
    say("3. The admin corrects the first answer (Correct this answer).")
    await client.correct(answers[0], CORRECTION)
    await client.settled()
    summary = await runtime.services.datasets.build(BuildRequest(name="demo", val=0.2))
    say(f"4. Dataset {summary.ref}: {summary.train} train / {summary.validation} validation examples.")
    await client.command("train " + summary.ref)
    job = await runtime.db.fetchone("SELECT id FROM jobs ORDER BY created_at DESC LIMIT 1")
    assert job is not None
    await client.button(JOB_START, job["id"])
    provider_id = await runtime.db.fetchval("SELECT provider_job_id FROM jobs WHERE id = ?", (job["id"],))
    oai.run_to_end(provider_id)
    await runtime.monitor.tick()
    await client.settled()
    model = await runtime.db.fetchval("SELECT fine_tuned_model FROM jobs WHERE id = ?", (job["id"],))
    say(f"5. The fake fine-tune finished: {model}. It is evaluated against the base model…")
    await client.until(lambda: _evaluated(runtime))
    evaluation = await runtime.db.fetchone("SELECT id, state, candidate, baseline FROM evaluations")
    assert evaluation is not None  # _evaluated waited for it
    say(
        f"6. Evaluation {evaluation['id']}: {evaluation['state']} ({evaluation['candidate']} vs {evaluation['baseline']})."
    )
    (workdir / "slack-transcript.json").write_text(json.dumps(slack.history(CHANNEL), indent=2, ensure_ascii=False))
    say(
        f"Look in {workdir}: tuneloop.db (every table), datasets/ (the JSONL files), slack-transcript.json"
        f" (what the bot posted). `TUNELOOP_DB={workdir / 'tuneloop.db'} tuneloop stats` shows the examples."
    )
    return {"dataset": summary.ref, "job": job["id"], "model": model, "evaluation": evaluation["state"]}


async def _evaluated(runtime: Runtime) -> bool:
    state = await runtime.db.fetchval("SELECT state FROM evaluations ORDER BY id DESC LIMIT 1")
    return state in ("done", "failed")


class _Slack:
    """Sends what Slack would: signed events, a slash command, a button click, a modal submission."""

    def __init__(self, session: aiohttp.ClientSession, url: str, slack: FakeSlack, runtime: Runtime) -> None:
        self._session, self._url, self._slack, self._runtime = session, url, slack, runtime

    async def _post(self, body: str, content_type: str) -> None:
        headers = {"Content-Type": content_type, **self._slack.sign(body, SECRET)}
        async with self._session.post(self._url, data=body.encode(), headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(f"the app answered {response.status}: {await response.text()}")

    async def event(self, event: dict[str, Any]) -> None:
        envelope = self._slack.event_callback({"event_ts": f"{time.time():.6f}", **event})
        await self._post(json.dumps(envelope), "application/json")

    async def command(self, text: str) -> None:
        form = {
            "token": "x",
            "team_id": "T0001",
            "channel_id": CHANNEL,
            "channel_name": "general",
            "user_id": ADMIN,
            "user_name": "ada",
            "command": "/tune",
            "text": text,
            "api_app_id": "A0001",
            "response_url": self._slack.response_url("demo-command"),
            "trigger_id": "trigger-demo",
        }
        await self._post(urlencode(form), "application/x-www-form-urlencoded")
        await self.settled()

    async def button(self, action_id: str, value: str) -> None:
        await self._interact(
            {
                "type": "block_actions",
                "team": {"id": "T0001", "domain": "demo"},
                "api_app_id": "A0001",
                "user": {"id": ADMIN, "username": "ada", "team_id": "T0001"},
                "token": "x",
                "trigger_id": "trigger-demo",
                "response_url": self._slack.response_url("demo-button"),
                "channel": {"id": CHANNEL, "name": "general"},
                "container": {"type": "message", "message_ts": "1.0", "channel_id": CHANNEL},
                "actions": [
                    {"type": "button", "action_id": action_id, "block_id": "b", "value": value, "action_ts": "1.0"}
                ],
            }
        )

    async def correct(self, answer: dict[str, Any], text: str) -> None:
        target = {
            "channel": CHANNEL,
            "ts": answer["ts"],
            "thread": answer.get("thread_ts", ""),
            "fp": fingerprint(answer["text"]),
        }
        await self._interact(
            {
                "type": "view_submission",
                "team": {"id": "T0001", "domain": "demo"},
                "api_app_id": "A0001",
                "user": {"id": ADMIN, "username": "ada", "team_id": "T0001"},
                "token": "x",
                "trigger_id": "trigger-demo",
                "view": {
                    "type": "modal",
                    "id": "V0DEMO",
                    "callback_id": CORRECTION_VIEW,
                    "private_metadata": json.dumps(target),
                    "state": {
                        "values": {CORRECTION_BLOCK: {CORRECTION_INPUT: {"type": "plain_text_input", "value": text}}}
                    },
                },
            }
        )

    async def _interact(self, payload: dict[str, Any]) -> None:
        await self._post(urlencode({"payload": json.dumps(payload)}), "application/x-www-form-urlencoded")
        await self.settled()

    async def settled(self) -> None:
        async def idle() -> bool:
            pending = await self._runtime.db.fetchval("SELECT count(*) FROM inbox WHERE processed_at IS NULL")
            return pending == 0 and self._runtime.worker.idle and self._runtime.tasks.idle

        await self.until(idle)

    async def until(self, done: Callable[[], Any]) -> None:
        deadline = time.monotonic() + WAIT_SECONDS
        while not await done():
            if time.monotonic() > deadline:
                raise TimeoutError("the demo did not finish a step in time")
            await asyncio.sleep(0.05)
