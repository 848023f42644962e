"""A pairwise judge model, asked twice with the answers swapped so position bias cancels out."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence

from tuning.release.evaluation.clients import ChatLike
from tuning.release.evaluation.metrics import wilson_interval
from tuning.release.evaluation.results import EvalItem, JudgeOutcome, JudgeSummary, Pick, Verdict

INSTRUCTIONS = (
    "You are an impartial judge. You compare two answers (A and B) to the last user message of a "
    "conversation. A reference answer approved by the team is given: prefer the answer that agrees "
    "with it in substance and is correct, complete and concise. Ignore the order the answers appear "
    "in and their length as such. Reply with exactly one token: A, B or TIE. No explanation."
)

# Decoration a model may wrap its one token in: **A**, [[B]], "TIE", `A`.
_DECORATION = re.compile(r"[*_`\"'\[\]()]")
# "A", "B.", "tie", "Verdict: A", "Final answer - B", "Answer A", "Winner: TIE".
_VERDICT = re.compile(
    r"^\s*(?:(?:final\s+)?(?:verdict|answer|winner|choice)\s*(?:is)?\s*[:\-]?\s*)?(A|B|TIE)\s*[.!]?\s*$",
    re.IGNORECASE,
)


def judge_messages(item: EvalItem, answer_a: str, answer_b: str) -> list[dict[str, str]]:
    """The judge's prompt. The item's system prompt is left out: it is the same for both answers."""
    turns = "\n".join(f"[{m['role']}] {m['content']}" for m in item.messages if m.get("role") != "system")
    prompt = (
        f"<conversation>\n{turns}\n</conversation>\n\n"
        f"<reference>\n{item.reference}\n</reference>\n\n"
        f"<answer_a>\n{answer_a}\n</answer_a>\n\n"
        f"<answer_b>\n{answer_b}\n</answer_b>\n\n"
        "Which answer is better? Reply with exactly one token: A, B or TIE."
    )
    return [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": prompt}]


def parse_pick(reply: str) -> Pick | None:
    """The judge's pick from its first line, tolerating decoration; None when it is anything else."""
    lines = reply.strip().splitlines()
    match = _VERDICT.match(_DECORATION.sub("", lines[0])) if lines else None
    return match.group(1).upper() if match else None  # type: ignore[return-value]


def _for_candidate(pick: Pick, candidate_is: Pick) -> Verdict:
    if pick == "TIE":
        return "tie"
    return "win" if pick == candidate_is else "loss"


def combine(first: Pick | None, second: Pick | None) -> tuple[Verdict, bool, bool]:
    """(verdict, disagreed, unsure). `first` saw the candidate as A, `second` as B.

    A win or a loss needs both orders to agree; anything else is a tie.
    """
    if first is None or second is None:
        return "tie", False, True
    one, two = _for_candidate(first, "A"), _for_candidate(second, "B")
    return (one, False, False) if one == two else ("tie", True, False)


class PairwiseJudge:
    def __init__(self, model: str, client: ChatLike) -> None:
        self.model = model
        self._client = client

    async def compare(self, item: EvalItem, candidate: str, baseline: str) -> JudgeOutcome:
        """Both orders at once; a failed call raises (the runner records it on the item)."""
        replies = await asyncio.gather(
            self._client.complete(self.model, judge_messages(item, candidate, baseline)),
            self._client.complete(self.model, judge_messages(item, baseline, candidate)),
            return_exceptions=True,  # so a failure in one order never leaves the other un-awaited
        )
        for reply in replies:
            if isinstance(reply, BaseException):
                raise reply
        first, second = (reply.text for reply in replies)  # type: ignore[union-attr]
        verdict, disagreed, unsure = combine(parse_pick(first), parse_pick(second))
        return JudgeOutcome(
            first_reply=first,
            second_reply=second,
            first=parse_pick(first),
            second=parse_pick(second),
            verdict=verdict,
            disagreed=disagreed,
            unsure=unsure,
        )


def summarise_judgements(model: str, outcomes: Sequence[JudgeOutcome | None]) -> JudgeSummary:
    """Win/tie/loss counts; the win rate counts a tie as half a win (as AlpacaEval does)."""
    judged = [outcome for outcome in outcomes if outcome is not None]
    wins = sum(outcome.verdict == "win" for outcome in judged)
    losses = sum(outcome.verdict == "loss" for outcome in judged)
    ties = len(judged) - wins - losses
    interval = wilson_interval(wins + ties / 2, len(judged))
    return JudgeSummary(
        model=model,
        wins=wins,
        ties=ties,
        losses=losses,
        disagreed=sum(outcome.disagreed for outcome in judged),
        unsure=sum(outcome.unsure for outcome in judged),
        not_judged=len(outcomes) - len(judged),
        win_rate=(wins + ties / 2) / len(judged) if judged else None,
        win_rate_low=interval[0] if interval else None,
        win_rate_high=interval[1] if interval else None,
    )
