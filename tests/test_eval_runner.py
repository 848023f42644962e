import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import anyio
import openai
import pytest

from bot.fakes import FakeOpenAI
from providers.chat import ChatClient, eval_openai_client
from tuning.errors import ModelError, TuningError
from tuning.release.evaluation import EvalItem, ModelPrice, evaluate, results_jsonl
from tuning.values import ChatReply

CANDIDATE, BASELINE, JUDGE = "gpt-4.1-mini", "gpt-4o-mini", "gpt-4.1"
TOGETHER_MODEL = "acme/Meta-Llama-3.1-8B-Instruct-Reference:tuneloop:ft-123"
CHAT = "POST /v1/chat/completions"


def items(n: int, reference: str = "Hold the reset button for ten seconds and wait.") -> list[EvalItem]:
    return [
        EvalItem(
            id=f"q{i}",
            messages=[{"role": "system", "content": "S"}, {"role": "user", "content": f"How do I reset box {i}?"}],
            reference=reference,
        )
        for i in range(n)
    ]


MakeClient = Callable[..., ChatClient]
SameClient = Callable[..., dict[str, ChatClient]]


@pytest.fixture
async def client() -> AsyncIterator[MakeClient]:
    """`client(fake, max_retries=0)`: a ChatClient on a strict SDK client, closed after the test."""
    made: list[openai.AsyncOpenAI] = []

    def make(fake: FakeOpenAI, max_retries: int = 0) -> ChatClient:
        made.append(
            eval_openai_client(
                api_key="sk-test", base_url=fake.base_url, max_retries=max_retries, _strict_response_validation=True
            )
        )
        return ChatClient(made[-1])

    yield make
    for llm in made:
        await llm.close()


@pytest.fixture
def same_client(client: MakeClient) -> SameClient:
    """`same_client(fake)`: one client answering for the candidate, the baseline and the judge."""

    def make(fake: FakeOpenAI, **options: Any) -> dict[str, ChatClient]:
        shared = client(fake, **options)
        return {CANDIDATE: shared, BASELINE: shared, JUDGE: shared}

    return make


def by_model(reply: dict[str, str]) -> Any:
    return lambda request: reply.get(request["model"], "A")


def chat_calls(oai: FakeOpenAI, model: str | None = None) -> list[Any]:
    return [c for c in oai.calls_to(CHAT) if model is None or c.args["model"] == model]


def test_an_item_must_end_with_a_question() -> None:
    with pytest.raises(ValueError, match="user turn"):
        EvalItem(
            id="x", messages=[{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}], reference="A"
        )


# -- concurrency ---------------------------------------------------------------------------


async def test_calls_in_flight_never_exceed_the_limit_and_reach_it(oai: FakeOpenAI, same_client: SameClient) -> None:
    oai.latency = 0.03
    result = await evaluate(
        items(12), candidate=CANDIDATE, baseline=BASELINE, judge_model=JUDGE, clients=same_client(oai), concurrency=3
    )
    assert len(chat_calls(oai)) == 12 * 4  # candidate, baseline, and the judge twice
    assert oai.max_concurrent_chat == 3  # the limit holds across models and the judge, and is used
    assert result.summary.failed_items == 0


async def test_the_default_limit_is_eight(oai: FakeOpenAI, same_client: SameClient) -> None:
    oai.latency = 0.03
    await evaluate(items(24), candidate=CANDIDATE, baseline=BASELINE, clients=same_client(oai))
    assert oai.max_concurrent_chat == 8


async def test_concurrency_below_one_is_refused(oai: FakeOpenAI, same_client: SameClient) -> None:
    with pytest.raises(ValueError):
        await evaluate(items(1), candidate=CANDIDATE, clients=same_client(oai), concurrency=0)


# -- failures ----------------------------------------------------------------------------------


class FailsOn:
    """A ChatClient-like stub: answers the reference, except for one item where it raises."""

    def __init__(self, inner: ChatClient, item_text: str) -> None:
        self.inner, self.item_text = inner, item_text

    async def complete(self, model: str, messages: list[dict[str, str]], *, max_tokens: int | None = None) -> ChatReply:
        if self.item_text in messages[-1]["content"]:
            raise ModelError("The model's API failed (HTTP 503). Please try again later.")
        return await self.inner.complete(model, messages, max_tokens=max_tokens)


async def test_a_failed_item_is_recorded_and_the_run_goes_on(oai: FakeOpenAI, client: MakeClient) -> None:
    oai.reply_with(by_model({CANDIDATE: "Hold the reset button for ten seconds and wait.", BASELINE: "No idea."}))
    shared = client(oai)
    clients = {CANDIDATE: FailsOn(shared, "box 3?"), BASELINE: shared, JUDGE: shared}
    result = await evaluate(items(6), candidate=CANDIDATE, baseline=BASELINE, judge_model=JUDGE, clients=clients)
    failed = [item for item in result.items if item.failed]
    assert [item.item_id for item in failed] == ["q3"]
    assert failed[0].candidate.error == "The model's API failed (HTTP 503). Please try again later."
    assert failed[0].candidate.token_f1 is None and failed[0].judge is None
    assert failed[0].baseline is not None and failed[0].baseline.ok
    summary = result.summary
    assert (summary.items, summary.failed_items) == (6, 1)
    assert (summary.candidate.answered, summary.candidate.failed) == (5, 1)
    assert (summary.baseline.answered, summary.baseline.failed) == (6, 0)
    assert summary.candidate.exact_match == 1.0  # the failure is not scored as a wrong answer
    assert summary.judge is not None and summary.judge.not_judged == 1
    assert "1 of 6 items failed" in summary.headline().text


async def test_a_server_error_fails_only_its_item(oai: FakeOpenAI, same_client: SameClient) -> None:
    oai.fail(CHAT, status=500)
    result = await evaluate(items(3), candidate=CANDIDATE, clients=same_client(oai), concurrency=1)
    assert result.items[0].candidate.error == "The model's API failed (HTTP 500). Please try again later."
    assert [item.candidate.ok for item in result.items] == [False, True, True]
    assert result.summary.failed_items == 1


async def test_a_judge_failure_leaves_the_item_unjudged(oai: FakeOpenAI, client: MakeClient) -> None:
    oai.reply_with(by_model({CANDIDATE: "one", BASELINE: "two"}))
    # The fake does not know this model: every judge call gets 404 model_not_found.
    shared = client(oai)
    clients = {CANDIDATE: shared, BASELINE: shared, "judge-that-is-gone": shared}
    result = await evaluate(
        items(2), candidate=CANDIDATE, baseline=BASELINE, judge_model="judge-that-is-gone", clients=clients
    )
    assert all(item.judge is None and item.judge_error for item in result.items)
    assert result.summary.failed_items == 0
    assert result.summary.judge.not_judged == 2


async def test_a_429_is_retried_after_retry_after(
    oai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, same_client: SameClient
) -> None:
    waits: list[float] = []
    real_sleep = anyio.sleep

    async def record(seconds: float) -> None:  # the SDK sleeps through anyio; record, don't wait
        waits.append(seconds)
        await real_sleep(0)

    monkeypatch.setattr(anyio, "sleep", record)
    oai.fail(CHAT, status=429, retry_after=7)
    result = await evaluate(items(3), candidate=CANDIDATE, clients=same_client(oai, max_retries=2), concurrency=1)
    assert result.summary.failed_items == 0
    assert waits == [7.0]
    calls = chat_calls(oai)
    assert len(calls) == 4
    assert calls[1].headers["x-stainless-retry-count"] == "1"


async def test_eval_clients_retry_rate_limits_by_default() -> None:
    async with eval_openai_client(api_key="sk-test", base_url="http://127.0.0.1:9/v1") as llm:
        assert llm.max_retries == 6


# -- progress, routing, modes ---------------------------------------------------------------------


async def test_progress_reports_every_item_in_order(oai: FakeOpenAI, same_client: SameClient) -> None:
    seen: list[tuple[int, int]] = []

    async def progress(done: int, total: int) -> None:
        seen.append((done, total))

    await evaluate(items(5), candidate=CANDIDATE, baseline=BASELINE, clients=same_client(oai), on_progress=progress)
    assert seen == [(n, 5) for n in range(1, 6)]


async def test_a_failing_progress_callback_does_not_stop_the_run(oai: FakeOpenAI, same_client: SameClient) -> None:
    async def broken(done: int, total: int) -> None:
        raise RuntimeError("chat.update failed")

    result = await evaluate(items(3), candidate=CANDIDATE, clients=same_client(oai), on_progress=broken)
    assert [item.candidate.ok for item in result.items] == [True, True, True]


async def test_each_model_answers_through_its_own_endpoint(oai: FakeOpenAI, client: MakeClient) -> None:
    async with FakeOpenAI(models=[TOGETHER_MODEL]) as together:
        openai_client, together_client = client(oai), client(together)

        def client_for(model: str) -> ChatClient:
            return together_client if model == TOGETHER_MODEL else openai_client

        result = await evaluate(items(3), candidate=TOGETHER_MODEL, baseline=CANDIDATE, clients=client_for)
        assert {c.args["model"] for c in chat_calls(together)} == {TOGETHER_MODEL}
    assert {c.args["model"] for c in chat_calls(oai)} == {CANDIDATE}
    assert result.summary.failed_items == 0


async def test_a_model_without_a_client_fails_before_any_call(oai: FakeOpenAI, client: MakeClient) -> None:
    with pytest.raises(TuningError, match="gpt-4o-mini"):
        await evaluate(items(2), candidate=CANDIDATE, baseline=BASELINE, clients={CANDIDATE: client(oai)})
    assert chat_calls(oai) == []


async def test_base_mode_scores_one_model_against_the_references(oai: FakeOpenAI, same_client: SameClient) -> None:
    oai.reply_with("Hold the reset button for ten seconds.")
    result = await evaluate(items(4), candidate=CANDIDATE, judge_model=JUDGE, clients=same_client(oai))
    summary = result.summary
    assert summary.baseline is None and summary.judge is None
    assert chat_calls(oai, JUDGE) == []  # nothing to compare, so no judge
    assert summary.task == "free_text"
    assert summary.candidate.token_f1 == pytest.approx(2 * 6 / (6 + 8))  # 6 of 6 answer tokens match 6 of 8
    assert summary.headline().text == f"token F1 {summary.candidate.token_f1:.2f}"


async def test_a_label_task_scores_accuracy_and_skips_the_judge(oai: FakeOpenAI, same_client: SameClient) -> None:
    labels = ["positive", "negative"] * 3
    questions = [
        EvalItem(id=str(i), messages=[{"role": "user", "content": f"Review {i}: sentiment?"}], reference=label)
        for i, label in enumerate(labels)
    ]
    oai.reply_with(by_model({CANDIDATE: "Positive.", BASELINE: "I am not sure"}))

    def prices(model: str) -> ModelPrice | None:
        return ModelPrice(0.4, 1.6) if model == CANDIDATE else None

    result = await evaluate(
        questions, candidate=CANDIDATE, baseline=BASELINE, judge_model=JUDGE, clients=same_client(oai), prices=prices
    )
    summary = result.summary
    assert (summary.task, summary.labels) == ("labels", ["negative", "positive"])
    assert chat_calls(oai, JUDGE) == []
    assert summary.candidate.accuracy == 0.5
    assert summary.candidate.macro_f1 == pytest.approx((0 + 2 / 3) / 2)  # positive: P 1/2, R 1
    assert summary.baseline.accuracy == 0.0 and summary.baseline.macro_f1 == 0.0
    assert [item.candidate.label_correct for item in result.items] == [True, False] * 3
    assert summary.candidate.cost_per_1k_usd is not None and summary.baseline.cost_text == "n/a"
    headline = summary.headline()
    assert [m.name for m in headline.metrics] == ["accuracy", "macro-F1"]
    assert headline.text == "accuracy 0.50 vs 0.00 · macro-F1 0.33 vs 0.00"


async def test_free_text_headline_has_token_f1_and_the_win_rate(oai: FakeOpenAI, same_client: SameClient) -> None:
    oai.reply_with(by_model({CANDIDATE: "Hold the reset button.", BASELINE: "Unplug it.", JUDGE: "TIE"}))
    summary = (
        await evaluate(items(4), candidate=CANDIDATE, baseline=BASELINE, judge_model=JUDGE, clients=same_client(oai))
    ).summary
    headline = summary.headline()
    assert [(m.name, m.candidate, m.baseline) for m in headline.metrics][1] == ("win rate", 0.5, 0.5)
    # 3 of 8 reference tokens, all 3 answer tokens: F1 = 6/11; 4 ties = 2 of 4 → Wilson [0.150, 0.850].
    assert headline.text == "token F1 0.55 vs 0.00 · win rate 50% vs 50% (95% CI 15%–85%)"


async def test_results_export_as_one_json_line_per_item(oai: FakeOpenAI, same_client: SameClient) -> None:
    result = await evaluate(items(3), candidate=CANDIDATE, baseline=BASELINE, clients=same_client(oai))
    data = results_jsonl(result.items)
    lines = data.decode().splitlines()
    assert data.endswith(b"\n") and len(lines) == 3
    rows = [json.loads(line) for line in lines]
    assert [row["item_id"] for row in rows] == ["q0", "q1", "q2"]
    assert rows[0]["candidate"]["model"] == CANDIDATE and rows[0]["baseline"]["text"].startswith("Echo:")
    assert results_jsonl([]) == b""


async def test_evaluated_answers_are_bounded_and_a_rambling_one_is_cut(
    oai: FakeOpenAI, same_client: SameClient
) -> None:
    from tuning.release.evaluation.runner import ANSWER_MAX_TOKENS

    oai.reply_with(by_model({CANDIDATE: "word " * (ANSWER_MAX_TOKENS + 50), BASELINE: "Hold it."}))
    result = await evaluate(
        items(2), candidate=CANDIDATE, baseline=BASELINE, judge_model=JUDGE, clients=same_client(oai)
    )
    answered = chat_calls(oai, CANDIDATE) + chat_calls(oai, BASELINE)
    assert answered and {c.args.get("max_completion_tokens") for c in answered} == {ANSWER_MAX_TOKENS}
    assert all(len((item.candidate.text or "").split()) == ANSWER_MAX_TOKENS for item in result.items)
