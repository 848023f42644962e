import re
from typing import Any

import pytest

from bot.fakes import FakeOpenAI
from providers.chat import ChatClient, eval_openai_client
from tuning.release.evaluation import EvalItem, EvalResult, evaluate
from tuning.release.evaluation.judge import combine, judge_messages, parse_pick, summarise_judgements
from tuning.release.evaluation.results import JudgeOutcome

CANDIDATE, BASELINE, JUDGE = "gpt-4.1-mini", "gpt-4o-mini", "gpt-4.1"
CANDIDATE_TEXT, BASELINE_TEXT = "Hold the reset button for ten seconds.", "Try turning it off and on."


@pytest.mark.parametrize(
    ("reply", "pick"),
    [
        ("A", "A"),
        (" b. ", "B"),
        ("tie", "TIE"),
        ("**TIE**", "TIE"),
        ("[[A]]", "A"),
        ('"B"', "B"),
        ("Verdict: B", "B"),
        ("Final answer - A", "A"),
        ("Winner: TIE", "TIE"),
        ("A\nA is closer to the reference.", "A"),
    ],
)
def test_a_one_token_verdict_is_read_through_decoration(reply: str, pick: str) -> None:
    assert parse_pick(reply) == pick


@pytest.mark.parametrize(
    "reply", ["", "A is better", "Both are fine.", "The answer is B", "C", "AB", "I cannot decide"]
)
def test_anything_else_is_unparseable(reply: str) -> None:
    assert parse_pick(reply) is None


def test_a_verdict_counts_only_when_both_orders_agree() -> None:
    # First order shows the candidate as A, the second as B.
    assert combine("A", "B") == ("win", False, False)
    assert combine("B", "A") == ("loss", False, False)
    assert combine("TIE", "TIE") == ("tie", False, False)
    assert combine("A", "A") == ("tie", True, False)  # position bias: the judge always picks A
    assert combine("A", "TIE") == ("tie", True, False)
    assert combine(None, "B") == ("tie", False, True)
    assert combine("A", None) == ("tie", False, True)


def outcome(verdict: str, *, disagreed: bool = False, unsure: bool = False) -> JudgeOutcome:
    return JudgeOutcome(
        first_reply="",
        second_reply="",
        first=None,
        second=None,
        verdict=verdict,
        disagreed=disagreed,
        unsure=unsure,  # type: ignore[arg-type]
    )


def test_ties_count_half_in_the_win_rate() -> None:
    outcomes = [outcome("win")] * 6 + [outcome("tie", disagreed=True), outcome("tie", unsure=True)]
    outcomes += [outcome("loss")] * 2 + [None]
    summary = summarise_judgements(JUDGE, outcomes)
    assert (summary.wins, summary.ties, summary.losses) == (6, 2, 2)
    assert (summary.disagreed, summary.unsure, summary.not_judged, summary.judged) == (1, 1, 1, 10)
    assert summary.win_rate == pytest.approx(0.7)  # (6 + 2/2) / 10
    assert (summary.win_rate_low, summary.win_rate_high) == (
        pytest.approx(0.397, abs=5e-4),
        pytest.approx(0.892, abs=5e-4),
    )


def test_all_ties_is_an_even_win_rate_and_no_judgements_is_none() -> None:
    assert summarise_judgements(JUDGE, [outcome("tie")] * 4).win_rate == 0.5
    nothing = summarise_judgements(JUDGE, [None, None])
    assert (nothing.win_rate, nothing.win_rate_low, nothing.not_judged) == (None, None, 2)


def test_the_prompt_holds_the_conversation_reference_and_both_answers_but_not_the_system_prompt() -> None:
    item = EvalItem(
        id="1",
        messages=[{"role": "system", "content": "SECRET PERSONA"}, {"role": "user", "content": "How?"}],
        reference="Like so.",
    )
    messages = judge_messages(item, "first", "second")
    prompt = messages[-1]["content"]
    assert "[user] How?" in prompt and "<reference>\nLike so.\n</reference>" in prompt
    assert "<answer_a>\nfirst\n</answer_a>" in prompt and "<answer_b>\nsecond\n</answer_b>" in prompt
    assert "SECRET PERSONA" not in str(messages)


# -- against the fake API: the judge sees both orders -------------------------------------------


def answer_in(slot: str, prompt: str) -> str:
    match = re.search(rf"<answer_{slot}>\n(.*?)\n</answer_{slot}>", prompt, re.DOTALL)
    assert match is not None
    return match.group(1)


def scripted(judge: Any) -> Any:
    """Candidate and baseline answer fixed texts; the judge model answers with `judge(prompt)`."""

    def reply(request: dict[str, Any]) -> str:
        if request["model"] == CANDIDATE:
            return CANDIDATE_TEXT
        if request["model"] == BASELINE:
            return BASELINE_TEXT
        return judge(request["messages"][-1]["content"])

    return reply


def prefers_candidate(prompt: str) -> str:
    return "A" if answer_in("a", prompt) == CANDIDATE_TEXT else "B"


ITEMS = [
    EvalItem(
        id=str(n),
        messages=[{"role": "system", "content": "S"}, {"role": "user", "content": f"Question {n}, long form?"}],
        reference=f"Hold the reset button for ten seconds, case {n}.",
    )
    for n in range(4)
]


async def run(oai: FakeOpenAI) -> EvalResult:
    async with eval_openai_client(
        api_key="sk-test", base_url=oai.base_url, max_retries=0, _strict_response_validation=True
    ) as llm:
        client = ChatClient(llm)
        return await evaluate(
            ITEMS,
            candidate=CANDIDATE,
            baseline=BASELINE,
            judge_model=JUDGE,
            clients={CANDIDATE: client, BASELINE: client, JUDGE: client},
        )


def judge_prompts(oai: FakeOpenAI) -> list[str]:
    return [
        c.args["messages"][-1]["content"] for c in oai.calls_to("POST /v1/chat/completions") if c.args["model"] == JUDGE
    ]


async def test_the_judge_is_asked_twice_with_the_answers_swapped(oai: FakeOpenAI) -> None:
    oai.reply_with(scripted(prefers_candidate))
    result = await run(oai)
    prompts = judge_prompts(oai)
    assert len(prompts) == 2 * len(ITEMS)
    orders = sorted((answer_in("a", p), answer_in("b", p)) for p in prompts)
    assert orders == sorted([(CANDIDATE_TEXT, BASELINE_TEXT), (BASELINE_TEXT, CANDIDATE_TEXT)] * len(ITEMS))
    judge = result.summary.judge
    assert (judge.wins, judge.ties, judge.losses) == (4, 0, 0)
    assert all(item.judge.first == "A" and item.judge.second == "B" for item in result.items)


async def test_a_judge_that_always_picks_the_first_answer_gives_ties(oai: FakeOpenAI) -> None:
    oai.reply_with(scripted(lambda prompt: "A"))
    judge = (await run(oai)).summary.judge
    assert (judge.wins, judge.ties, judge.losses, judge.disagreed, judge.unsure) == (0, 4, 0, 4, 0)
    assert judge.win_rate == 0.5


async def test_a_judge_preferring_the_baseline_in_both_orders_is_a_loss(oai: FakeOpenAI) -> None:
    oai.reply_with(scripted(lambda prompt: "B" if answer_in("a", prompt) == CANDIDATE_TEXT else "A"))
    judge = (await run(oai)).summary.judge
    assert (judge.wins, judge.ties, judge.losses, judge.win_rate) == (0, 0, 4, 0.0)


async def test_an_unparseable_judge_is_unsure_and_a_tie(oai: FakeOpenAI) -> None:
    oai.reply_with(scripted(lambda prompt: "Both answers have merit."))
    result = await run(oai)
    judge = result.summary.judge
    assert (judge.ties, judge.unsure, judge.disagreed) == (4, 4, 0)
    assert result.items[0].judge.first_reply == "Both answers have merit."
