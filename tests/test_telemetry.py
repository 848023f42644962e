"""OpenTelemetry export, end to end: a real OTLP/HTTP receiver decodes what the SDK sends."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from opentelemetry import trace

from bot import telemetry as setup
from bot.fakes import FakeOpenAI, FakeSlack
from bot.settings import Settings
from providers.chat import ChatClient, eval_openai_client
from tests.capture_helpers import answered_question, shortcut, submission, vote
from tests.conftest import ADMIN, BOB, GENERAL, served
from tests.otlp_receiver import Receiver, otlp_receiver
from tuning import telemetry
from tuning.release.evaluation import EvalItem, evaluate

FEEDBACK = "gen_ai.evaluation.result"


@pytest.fixture
async def receiver(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Receiver]:
    async with otlp_receiver() as received:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{received.port}")
        try:
            yield received
        finally:
            telemetry.disable()  # a failed test must not leave tracing on for the next


async def question_vote_correction(settings: Settings, slack: FakeSlack) -> None:
    """What the issue's check does in Slack: a question, a 👍 and an admin's correction."""
    async with served(settings, slack) as app:
        answer_ts = await answered_question(app, slack, "how do I reset my VPN password?")
        await vote(app, user=BOB, ts=answer_ts)
        await app.interact(shortcut(slack, user=ADMIN, channel=GENERAL, ts=answer_ts))
        await app.settle()
        view = slack.calls_to("views.update")[-1].args["view"]
        await app.interact(submission(view, user=ADMIN, text="Use the portal at id.example.com."))
        await app.settle()


async def exported(configured: setup.Telemetry) -> None:
    await asyncio.to_thread(configured.shutdown)  # flushes: the exporter thread posts to our loop's receiver


async def test_an_answer_is_one_trace_with_genai_attributes_and_its_feedback(
    receiver: Receiver, settings: Settings, slack: FakeSlack
) -> None:
    configured = setup.configure()
    assert configured is not None
    await question_vote_correction(settings, slack)
    await exported(configured)

    (answer,) = receiver.named("invoke_agent tuneloop")
    (chat,) = receiver.named("chat ")
    assert chat.trace_id == answer.trace_id and chat.parent_span_id == answer.span_id
    assert chat.kind == 3  # SPAN_KIND_CLIENT
    assert chat.attributes["gen_ai.operation.name"] == "chat"
    assert chat.attributes["gen_ai.provider.name"] == "openai"
    assert chat.attributes["gen_ai.request.model"] == settings.model
    assert chat.attributes["gen_ai.response.model"]
    assert chat.attributes["gen_ai.usage.input_tokens"] > 0 and chat.attributes["gen_ai.usage.output_tokens"] > 0
    assert chat.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert "gen_ai.input.messages" not in chat.attributes  # team text stays out unless the operator opts in

    events = [record for record in receiver.logs if record.event_name == FEEDBACK]
    assert sorted(e.attributes["gen_ai.evaluation.name"] for e in events) == ["correction", "thumbs"]
    assert {e.trace_id for e in events} == {answer.trace_id}
    thumbs = next(e for e in events if e.attributes["gen_ai.evaluation.name"] == "thumbs")
    assert thumbs.attributes["gen_ai.evaluation.score.value"] == 1.0
    assert thumbs.attributes["gen_ai.evaluation.score.label"] == "thumbs_up"
    assert all("gen_ai.evaluation.explanation" not in e.attributes for e in events)
    # The same feedback as short spans inside the answer's trace, for tools that read traces only.
    feedback_spans = receiver.named(FEEDBACK)
    assert len(feedback_spans) == 2 and {s.parent_span_id for s in feedback_spans} == {answer.span_id}


async def test_content_is_exported_only_when_the_operator_opts_in(
    receiver: Receiver, settings: Settings, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(setup.CONTENT_VARIABLE, "true")
    configured = setup.configure()
    assert configured is not None
    await question_vote_correction(settings, slack)
    await exported(configured)
    (chat,) = receiver.named("chat ")
    assert "how do I reset my VPN password?" in chat.attributes["gen_ai.input.messages"]
    assert "Echo:" in chat.attributes["gen_ai.output.messages"]
    correction = next(e for e in receiver.logs if e.attributes.get("gen_ai.evaluation.name") == "correction")
    assert correction.attributes["gen_ai.evaluation.explanation"] == "Use the portal at id.example.com."


def free_default_port() -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", 4318)) != 0


async def test_unset_nothing_is_created_and_nothing_reaches_the_default_port(
    settings: Settings, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in setup.ENDPOINT_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    assert free_default_port(), "something else listens on 4318"
    async with otlp_receiver(4318) as default_port:
        assert setup.configure() is None
        assert not telemetry.enabled()
        assert isinstance(telemetry._tracer, trace.NoOpTracer)
        await question_vote_correction(settings, slack)
        await asyncio.sleep(0)
    assert default_port.requests == 0
    row = await _answer_trace(settings)
    assert row == (None, None)  # no trace id stored when nothing is traced


async def _answer_trace(settings: Settings) -> tuple[str | None, str | None]:
    from storage import opened

    async with opened(settings.db_path) as db:
        row = await db.fetchone("SELECT trace_id, span_id FROM answers")
        assert row is not None
        return row["trace_id"], row["span_id"]


async def test_a_finished_job_is_one_span_from_its_creation(receiver: Receiver) -> None:
    configured = setup.configure()
    assert configured is not None
    telemetry.training_job_span(
        job_id="job-1",
        trainer="local",
        base_model="base-model",
        method="sft",
        state="succeeded",
        created_at="2026-12-01T10:00:00.000Z",
        finished_at="2026-12-01T12:30:00.000Z",
        fine_tuned_model="tuned-model",
        trained_tokens=1234,
        error=None,
    )
    await exported(configured)
    (job,) = receiver.named("fine_tuning ")
    assert job.attributes["gen_ai.request.model"] == "base-model"
    assert job.attributes["gen_ai.response.model"] == "tuned-model"
    assert job.attributes["tuneloop.job.state"] == "succeeded"


async def test_each_evaluation_item_is_a_span_over_its_model_calls(receiver: Receiver, oai: FakeOpenAI) -> None:
    configured = setup.configure()
    assert configured is not None
    llm = eval_openai_client(api_key="sk-test", base_url=oai.base_url, max_retries=0)
    client = ChatClient(llm)
    questions = [
        EvalItem(id=f"q{i}", messages=[{"role": "user", "content": f"question {i}?"}], reference="A") for i in range(3)
    ]
    await evaluate(
        questions,
        candidate="gpt-4.1-mini",
        baseline="gpt-4o-mini",
        clients={"gpt-4.1-mini": client, "gpt-4o-mini": client},
    )
    await llm.close()
    await exported(configured)
    item_spans = receiver.named("evaluate item")
    assert sorted(s.attributes["tuneloop.evaluation.item"] for s in item_spans) == ["q0", "q1", "q2"]
    for item in item_spans:
        calls = [s for s in receiver.named("chat ") if s.parent_span_id == item.span_id]
        assert sorted(c.attributes["gen_ai.request.model"] for c in calls) == ["gpt-4.1-mini", "gpt-4o-mini"]


async def test_a_retrieval_from_team_memory_is_a_span_of_the_answer(
    receiver: Receiver, settings: Settings, slack: FakeSlack
) -> None:
    from tests.test_e2e_memory import ask, corrected

    configured = setup.configure()
    assert configured is not None
    async with served(settings, slack) as app:
        await corrected(app, slack, "how do I reset the flaky office router?", "Hold the pinhole button.")
        await ask(app, slack, "what's the trick to reboot our router when wifi dies?")
    await exported(configured)
    retrievals = receiver.named("retrieval team_memory")
    assert [r.attributes["tuneloop.memory.hits"] for r in retrievals] == [0, 1]  # nothing yet, then the correction
    second_answer = next(a for a in receiver.named("invoke_agent") if a.span_id == retrievals[1].parent_span_id)
    assert second_answer.trace_id == retrievals[1].trace_id


async def test_a_thumbs_down_and_its_reason_are_feedback_on_the_answers_trace(
    receiver: Receiver, settings: Settings, slack: FakeSlack
) -> None:
    from tests.capture_helpers import button
    from tests.test_e2e_feedback import click

    configured = setup.configure()
    assert configured is not None
    async with served(settings, slack) as app:
        answer_ts = await answered_question(app, slack, "where is the deploy runbook?")
        await app.interact(click(slack, answer_ts, "down", user=BOB, at="1900000000.000100"))
        await app.settle()
        offer = next(e for e in slack.ephemerals if e["user"] == BOB and "What was wrong" in e["text"])
        await app.interact(
            button(slack, "feedback_reason:outdated", offer["blocks"][1]["elements"][1]["value"], user=BOB)
        )
        await app.settle()
    await exported(configured)
    (answer,) = receiver.named("invoke_agent tuneloop")
    events = {e.attributes["gen_ai.evaluation.name"]: e for e in receiver.logs if e.event_name == FEEDBACK}
    assert events["thumbs"].attributes["gen_ai.evaluation.score.label"] == "thumbs_down"
    assert events["thumbs_down_reason"].attributes["gen_ai.evaluation.score.label"] == "outdated"
    assert {e.trace_id for e in events.values()} == {answer.trace_id}
