"""Faults: Slack and the model providers failing (429 with Retry-After, 5xx, timeouts), and Tuneloop holding.

- Slack: a 429 or 5xx on chat.postMessage, chat.update, views.open, each file-upload step and a reply through
  a response_url is retried,
  and what was being posted arrives exactly once.
- OpenAI while answering: the placeholder becomes a clear :warning:, the cause is logged, the answer is
  recorded as failed; a single failure is retried and the answer arrives once.
- OpenAI and Together while training: the job monitor backs off when polling fails and the job finishes
  later; a Start against a provider that keeps failing is refused in words, and no job is left starting.
- OpenAI while evaluating: an item whose calls fail is counted as failed and the evaluation finishes.

Nothing here may end in an unhandled error (nothing logged at ERROR). The waits are real but short: Slack's
Retry-After is 0, the model client used here times out after one second and retries once.
"""

from __future__ import annotations

import functools
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from slack_sdk.webhook import WebhookResponse

from bot.fakes import FakeOpenAI, FakeSlack, FakeTogether
from bot.fakes.openai_state import OpenAIFailure
from bot.settings import Settings
from handlers import respond
from render.answers import THINKING
from tests.capture_helpers import answered_question, button, shortcut
from tests.conftest import ADMIN, ALICE, BOT, GENERAL, OPENAI_KEY, Harness, make_settings, served
from tests.dataset_helpers import add_example, add_many
from tuning.training.datasets.specs import BuildRequest
from tuning.training.jobs import monitor

MODEL_TIMEOUT = 1.0


def serving(settings: Settings, slack: FakeSlack) -> served:
    """conftest's `served`, with a model client that gives up quickly (one retry, a 1 s timeout)."""
    llm = openai.AsyncOpenAI(
        api_key=OPENAI_KEY,
        base_url=settings.openai_base_url,
        max_retries=1,
        timeout=MODEL_TIMEOUT,
        _strict_response_validation=True,
    )
    return served(settings, slack, llm=llm)


@pytest.fixture
async def app(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI, together: FakeTogether) -> AsyncIterator[Harness]:
    settings = make_settings(tmp_path, slack, oai, together=together, TUNELOOP_POLL_SECONDS="3600")
    async with serving(settings, slack) as harness:
        yield harness


class _Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture(autouse=True)
def no_unhandled_errors() -> Iterator[None]:
    """Every test here ends with nothing logged at ERROR: each fault was handled."""
    handler = _Errors()
    logging.getLogger().addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)
    assert [f"{r.name}: {r.getMessage()}" for r in handler.records] == []


@pytest.fixture(autouse=True)
def fast_cards(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(monitor, "CARD_INTERVAL_SECONDS", 0.0)


def mention(slack: FakeSlack, text: str = "how do I reset it?") -> dict[str, Any]:
    ts = slack.add_message(GENERAL, ALICE, f"<@{BOT}> {text}")
    return {"type": "app_mention", "user": ALICE, "text": f"<@{BOT}> {text}", "ts": ts, "channel": GENERAL}


def bot_replies(slack: FakeSlack, ts: str) -> list[str]:
    return [m["text"] for m in slack.thread(GENERAL, ts)[1:] if m["user"] == BOT]


async def dataset(app: Harness, n: int = 12, name: str = "support") -> str:
    await add_many(app.db, n, channel=GENERAL)
    return (await app.runtime.services.datasets.build(BuildRequest(name=name, val=0.2))).ref


# -- Slack ------------------------------------------------------------------------------------------------------


async def answer_once(app: Harness, slack: FakeSlack) -> None:
    event = mention(slack)
    assert await app.event(event) == 200
    await app.settle(timeout=20)
    assert bot_replies(slack, event["ts"]) == ["Echo: how do I reset it?"]
    assert await app.db.fetchval("SELECT status FROM answers") == "answered"


async def answer_by_placeholder_once(app: Harness, slack: FakeSlack) -> None:
    """Where Slack refuses to stream, the answer is a placeholder edited into the answer."""
    slack.refuse_streaming(GENERAL)
    await answer_once(app, slack)


async def attach_files_once(app: Harness, slack: FakeSlack) -> None:
    await add_many(app.db, 12, channel=GENERAL)
    status, _ = await app.command("dataset build support val:0.2", user=ALICE)
    assert status == 200
    await app.settle(timeout=30)
    assert sorted(f.filename for f in slack.files) == ["support@1.train.jsonl", "support@1.validation.jsonl"]
    cards = [m for m in slack.history(GENERAL) if "Dataset support@1" in str(m.get("blocks"))]
    assert len(cards) == 1
    assert len([m for m in slack.thread(GENERAL, cards[0]["ts"])[1:] if m.get("files")]) == 1


async def open_modal_once(app: Harness, slack: FakeSlack, *, answer_ts: str = "") -> None:
    status, _ = await app.interact(shortcut(slack, user=ALICE, channel=GENERAL, ts=answer_ts))
    assert status == 200
    await app.settle(timeout=20)
    assert len(slack.views) == 1


async def reply_once(app: Harness, slack: FakeSlack) -> None:
    status, _ = await app.command("jobs", user=ALICE)  # answered through the command's response_url
    assert status == 200
    await app.settle()
    assert len(slack.responses) == 1 and slack.responses[0]["response_type"] == "ephemeral"


SLACK_FLOWS = {
    "response_url": reply_once,  # every ephemeral reply to a command or a button
    "chat.startStream": answer_once,  # the streamed answer
    "chat.stopStream": answer_once,
    "chat.postMessage": answer_by_placeholder_once,  # the placeholder (re-sent only once not found in the thread)
    "chat.update": answer_by_placeholder_once,  # the placeholder edited into the answer
    "views.open": open_modal_once,  # "Correct this answer"
    "files.getUploadURLExternal": attach_files_once,
    "upload_url": attach_files_once,  # the bytes themselves
    "files.completeUploadExternal": attach_files_once,
}


@pytest.mark.parametrize("method", list(SLACK_FLOWS))
async def test_slack_429_then_500_is_retried_and_arrives_exactly_once(
    app: Harness, slack: FakeSlack, method: str
) -> None:
    flow = SLACK_FLOWS[method]
    if method == "views.open":  # the answer to correct is there before the faults are queued
        flow = functools.partial(open_modal_once, answer_ts=await answered_question(app, slack))
    slack.fail(method, status=429, retry_after=0)
    slack.fail(method, status=500)
    await flow(app, slack)
    assert slack.pending_faults == 0  # both faults were met, and retried past
    assert len(slack.calls_to(method)) >= 3


async def test_a_reply_slack_keeps_refusing_is_logged_and_tried_three_times(
    app: Harness, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fail("response_url", status=502, times=10)
    status, _ = await app.command("jobs", user=ALICE)
    await app.settle(timeout=20)
    assert status == 200 and slack.responses == []
    assert len(slack.calls_to("response_url")) == 3
    assert any("response_url failed after retries: HTTP 502" in r.getMessage() for r in caplog.records)


async def test_a_reply_slack_keeps_rate_limiting_is_sent_three_times_honouring_retry_after(
    app: Harness, slack: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    slack.fail("response_url", status=429, retry_after=0, times=10)
    status, _ = await app.command("jobs", user=ALICE)
    await app.settle(timeout=20)
    assert status == 200 and slack.responses == []
    assert len(slack.calls_to("response_url")) == 3
    assert any("response_url failed after retries: HTTP 429" in r.getMessage() for r in caplog.records)


async def test_a_reply_refused_twice_arrives_once_on_the_third_send(app: Harness, slack: FakeSlack) -> None:
    slack.fail("response_url", status=429, retry_after=0)
    slack.fail("response_url", status=503)
    await app.command("jobs", user=ALICE)
    await app.settle(timeout=20)
    assert len(slack.calls_to("response_url")) == 3 and len(slack.responses) == 1


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        (429, {"Retry-After": "7"}, 7.0),
        (429, {"retry-after": "120"}, respond.MAX_RETRY_AFTER_SECONDS),
        (429, {}, 1.0),
        (502, {}, respond.BACKOFF_SECONDS * 4),
        (400, {}, None),
        (200, {}, None),
    ],
)
def test_a_reply_waits_what_slack_asks_before_sending_again(
    status: int, headers: dict[str, str], wait: float | None
) -> None:
    response = WebhookResponse(url="https://hooks.example/x", status_code=status, body="", headers=headers)
    assert respond.wait_before_next(response, attempt=2) == wait


@pytest.mark.parametrize("status", [502, 503, 504])
async def test_other_slack_5xx_are_retried_too(app: Harness, slack: FakeSlack, status: int) -> None:
    slack.fail("chat.update", status=status)
    await answer_by_placeholder_once(app, slack)
    assert slack.pending_faults == 0


@pytest.mark.parametrize(("way", "click_again"), [("shortcut", "Correct this answer"), ("review Edit", "Edit")])
async def test_a_modal_slack_will_not_open_is_explained_to_the_person(
    app: Harness, slack: FakeSlack, way: str, click_again: str
) -> None:
    """A trigger lives three seconds; when Slack was slow, views.open fails and the person is told so."""
    answer_ts = await answered_question(app, slack)
    slack.fail("views.open", error="expired_trigger_id")
    if way == "shortcut":
        await app.interact(shortcut(slack, user=ALICE, channel=GENERAL, ts=answer_ts))
        said = [e["text"] for e in slack.ephemerals]
    else:
        example = await add_example(app.db, state="candidate", channel=GENERAL)
        await app.interact(button(slack, "review_edit", str(example), user=ADMIN))
        said = [r["text"] for r in slack.responses]
    await app.settle()
    assert slack.pending_faults == 0 and slack.views == {}
    assert len(said) == 1 and "expired_trigger_id" in said[0] and f"Click “{click_again}” again" in said[0]


# -- OpenAI while answering -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "says", "cause"),
    [
        ({"status": 429, "retry_after": 0}, "rate-limited", openai.RateLimitError),
        ({"status": 500}, "HTTP 500", openai.InternalServerError),
        ({"status": 503}, "HTTP 503", openai.InternalServerError),
        ({"delay": MODEL_TIMEOUT * 3}, "took too long", openai.APITimeoutError),
    ],
    ids=["429", "500", "503", "timeout"],
)
async def test_a_model_that_keeps_failing_turns_the_placeholder_into_a_warning(
    app: Harness,
    slack: FakeSlack,
    oai: FakeOpenAI,
    caplog: pytest.LogCaptureFixture,
    fault: dict,
    says: str,
    cause: type[Exception],
) -> None:
    oai.fail("POST /v1/chat/completions", times=2, **fault)  # the first try and the one retry
    event = mention(slack)
    await app.event(event)
    await app.settle(timeout=20)
    (reply,) = bot_replies(slack, event["ts"])
    assert reply.startswith(":warning:") and says in reply
    assert THINKING not in [m["text"] for m in slack.bot_messages()]
    row = await app.db.fetchone("SELECT status, error FROM answers")
    assert row["status"] == "failed" and row["error"]
    logged = [r for r in caplog.records if r.name == "tuning.answering.service" and r.exc_info]
    assert logged and isinstance(logged[-1].exc_info[1], cause)


@pytest.mark.parametrize(
    "fault",
    [{"status": 429, "retry_after": 0}, {"status": 500}, {"delay": MODEL_TIMEOUT * 3}],
    ids=["429", "500", "timeout"],
)
async def test_a_single_model_failure_is_retried_and_the_answer_arrives_once(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI, fault: dict
) -> None:
    oai.fail("POST /v1/chat/completions", **fault)
    await answer_once(app, slack)
    assert len(oai.calls_to("POST /v1/chat/completions")) == 2


# -- training ------------------------------------------------------------------------------------------------------


class _Clock:
    """The job monitor's clock, moved on by hand, so a backoff can pass without waiting for it."""

    def __init__(self) -> None:
        self.offset = 0.0

    def monotonic(self) -> float:
        return time.monotonic() + self.offset


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> _Clock:
    fake = _Clock()
    monkeypatch.setattr(monitor, "time", fake)
    return fake


async def started_job(app: Harness, trainer: str = "openai") -> dict:
    ref = await dataset(app)
    status, _ = await app.command(f"train {ref} trainer:{trainer}", user=ADMIN)
    assert status == 200
    await app.settle()
    job = dict(await app.db.fetchone("SELECT * FROM jobs"))
    await app.interact(button(app.slack, "job_start", job["id"], user=ADMIN))
    await app.settle()
    return dict(await app.db.fetchone("SELECT * FROM jobs WHERE id = ?", (job["id"],)))


async def job_state(app: Harness, job_id: str) -> str:
    return await app.db.fetchval("SELECT state FROM jobs WHERE id = ?", (job_id,))


async def backs_off_then_finishes(
    app: Harness, job: dict, fail, run_to_end, retrieve_calls, clock: _Clock, caplog: pytest.LogCaptureFixture
) -> None:
    """Polling fails: the job stays active and is not polled again at once; later it finishes."""
    fail()
    await app.runtime.monitor.tick()
    assert await job_state(app, job["id"]) in ("pending", "running")
    assert any("polling job" in r.getMessage() and job["id"] in r.getMessage() for r in caplog.records)
    run_to_end()
    polled = len(retrieve_calls())
    await app.runtime.monitor.tick()  # still inside the backoff: not polled
    assert len(retrieve_calls()) == polled and await job_state(app, job["id"]) in ("pending", "running")
    clock.offset += monitor.MAX_BACKOFF_SECONDS + 1
    await app.runtime.monitor.tick()
    await app.settle(timeout=30)
    assert await job_state(app, job["id"]) == "succeeded"
    card = str(app.slack.message(GENERAL, job["card_ts"])["blocks"])
    assert "Succeeded" in card or "succeeded" in card


@pytest.mark.parametrize(
    "fault",
    [{"status": 429, "retry_after": 0}, {"status": 500}, {"delay": MODEL_TIMEOUT * 3}],
    ids=["429", "500", "timeout"],
)
async def test_openai_failing_while_a_job_runs_makes_the_monitor_back_off_and_the_job_finishes_later(
    app: Harness, oai: FakeOpenAI, clock: _Clock, caplog: pytest.LogCaptureFixture, fault: dict
) -> None:
    job = await started_job(app)
    retrieve = "GET /v1/fine_tuning/jobs/{id}"
    await backs_off_then_finishes(
        app,
        job,
        lambda: oai.fail(retrieve, times=2, **fault),
        lambda: oai.run_to_end(job["provider_job_id"]),
        lambda: oai.calls_to(retrieve),
        clock,
        caplog,
    )


@pytest.mark.parametrize("fault", [{"status": 429, "retry_after": 0}, {"status": 500}], ids=["429", "500"])
async def test_together_failing_while_a_job_runs_makes_the_monitor_back_off_and_the_job_finishes_later(
    app: Harness, together: FakeTogether, clock: _Clock, caplog: pytest.LogCaptureFixture, fault: dict
) -> None:
    job = await started_job(app, "together")
    assert job["provider_job_id"]
    retrieve = "GET /v1/fine-tunes/{id}"
    await backs_off_then_finishes(
        app,
        job,
        lambda: together.fail(retrieve, times=4, **fault),
        lambda: together.run_to_end(job["provider_job_id"]),
        lambda: together.calls_to(retrieve),
        clock,
        caplog,
    )


@pytest.mark.parametrize("trainer", ["openai", "together"])
async def test_a_start_that_meets_a_429_and_a_500_creates_exactly_one_job(
    app: Harness, oai: FakeOpenAI, together: FakeTogether, trainer: str
) -> None:
    fake, create = (oai, "POST /v1/fine_tuning/jobs") if trainer == "openai" else (together, "POST /v1/fine-tunes")
    fake.fail(create, status=429, retry_after=0)
    fake.fail(create, status=500)
    job = await started_job(app, trainer)
    assert fake.pending_faults == 0
    assert job["state"] in ("pending", "running") and job["provider_job_id"]
    created = oai.fine_tuning.jobs if trainer == "openai" else together.jobs()
    assert len(created) == 1


@pytest.mark.parametrize("trainer", ["openai", "together"])
async def test_start_against_a_provider_that_keeps_failing_says_so_and_leaves_nothing_starting(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI, together: FakeTogether, trainer: str
) -> None:
    fake, create = (oai, "POST /v1/fine_tuning/jobs") if trainer == "openai" else (together, "POST /v1/fine-tunes")
    fake.fail(create, status=500, times=20)
    job = await started_job(app, trainer)
    told = slack.responses[-1]
    assert told["response_type"] == "ephemeral" and told["text"].startswith(":warning:")
    assert "not answering" in told["text"] and "HTTP 500" in told["text"] and "try again" in told["text"]
    assert job["state"] not in ("starting", "pending", "running")  # not left for the monitor to find half-done
    assert job["provider_job_id"] is None
    assert job["error_code"] == "unavailable"  # an outage, not a refusal: the same Start may work later


# -- evaluation --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("failure", ["500", "429", "timeout"])
async def test_an_item_whose_calls_fail_is_counted_and_the_evaluation_finishes(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI, failure: str
) -> None:
    ref = await dataset(app, n=20)
    plan = await app.runtime.services.evaluations.plan("base", dataset=ref)
    doomed = plan.items[0].messages[-1]["content"]

    async def reply(request: dict) -> str:
        question = request["messages"][-1]["content"]
        if question == doomed:
            if failure == "timeout":
                await oai.sleep(MODEL_TIMEOUT * 3)
            else:
                raise OpenAIFailure(int(failure), "Injected failure.", type="server_error")
        return "Echo: " + question

    oai.reply_with(reply)
    status, _ = await app.command(f"eval base dataset:{ref}", user=ALICE)
    assert status == 200
    await app.settle(timeout=60)
    evaluation = await app.db.fetchone("SELECT * FROM evaluations")
    assert evaluation["state"] == "done"
    summary = json.loads(evaluation["summary"])
    assert summary["failed_items"] == 1 and summary["candidate"]["failed"] == 1
    assert summary["candidate"]["answered"] == len(plan.items) - 1
    results = [m for m in slack.history(GENERAL) if "Evaluation results" in str(m.get("blocks"))]
    assert len(results) == 1 and "1 call failed" in str(results[0]["blocks"])
    (per_item,) = [f for f in slack.files if f.filename.endswith(".jsonl")]
    lines = [json.loads(line) for line in per_item.content.decode().splitlines()]
    assert [line["candidate"]["error"] is not None for line in lines].count(True) == 1
