"""The promotion gate: no promotion of a candidate that is not shown to be at least as good as the current model."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.fakes import FakeOpenAI, FakeSlack
from tests.conftest import ADMIN, Harness, make_settings, served
from tests.lifecycle_helpers import (
    CURRENT,
    JUDGE,
    TUNED,
    announcements,
    dataset,
    run,
    scripted,
)
from tuning.release.evaluation.results import EvalSummary, ItemResult, ModelAnswer, ModelMetrics
from tuning.release.gate import differences, paired_difference


@pytest.fixture
async def app(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> AsyncIterator[Harness]:
    async with served(make_settings(tmp_path, slack, oai, TUNELOOP_JUDGE_MODEL=JUDGE), slack) as harness:
        oai.add_model(TUNED)
        yield harness


async def test_no_evaluation_against_the_current_model_refuses_and_says_which_to_run(app: Harness) -> None:
    ref = await dataset(app)
    reply = await run(app, f"promote {TUNED}")
    assert "Not promoting" in reply and "no evaluation" in reply
    assert f"/tune eval {TUNED} against:{CURRENT} dataset:{ref}" in reply
    assert await app.db.fetchval("SELECT count(*) FROM model_changes") == 0


async def test_an_evaluation_against_another_model_does_not_count(app: Harness, oai: FakeOpenAI) -> None:
    await dataset(app)
    await run(app, f"eval {TUNED} against:gpt-4o-mini")
    assert "no evaluation" in await run(app, f"promote {TUNED}")
    assert await app.db.fetchval("SELECT count(*) FROM model_changes") == 0


async def test_a_worse_candidate_is_refused_with_its_numbers(app: Harness, oai: FakeOpenAI) -> None:
    ref = await dataset(app)
    oai.reply_with(scripted({TUNED: "I have no idea."}))
    await run(app, f"eval {TUNED} against:{CURRENT} dataset:{ref}")
    reply = await run(app, f"promote {TUNED}")
    assert "Not promoting" in reply
    assert "entirely below 50%" in reply and "judge win rate 0%" in reply
    assert "token F1 is lower" in reply and "token F1 0.000 vs 1.000" in reply
    assert "force:yes" in reply
    assert await app.db.fetchval("SELECT count(*) FROM model_changes") == 0


async def test_force_promotes_past_the_gate_and_records_who_and_why(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    ref = await dataset(app)
    oai.reply_with(scripted({TUNED: "I have no idea."}))
    await run(app, f"eval {TUNED} against:{CURRENT} dataset:{ref}")
    await run(app, f"promote {TUNED} force:yes reason:judge-is-miscalibrated")
    change = await app.db.fetchone("SELECT * FROM model_changes")
    assert (change["model"], change["changed_by"], change["forced"]) == (TUNED, ADMIN, 1)
    assert change["reason"].startswith("judge-is-miscalibrated") and "judge win rate 0%" in change["reason"]
    assert "Forced past the promotion gate: judge-is-miscalibrated" in announcements(slack)[0]
    assert "forced past the gate: judge-is-miscalibrated" in await run(app, "model")


async def test_an_equal_or_better_candidate_passes_without_force(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    ref = await dataset(app)
    oai.reply_with(scripted({CURRENT: "Maybe.", TUNED: "right"}))
    await run(app, f"eval {TUNED} against:{CURRENT} dataset:{ref}")
    await run(app, f"promote {TUNED}")
    change = await app.db.fetchone("SELECT * FROM model_changes")
    assert (change["model"], change["forced"], change["reason"]) == (TUNED, 0, None)
    assert f"promoted `{TUNED}`" in announcements(slack)[0]


# -- the task metric's noise -----------------------------------------------------------------------


def test_a_drop_inside_the_noise_passes_and_a_consistent_drop_does_not() -> None:
    noisy = paired_difference("token F1", [(1.0, 0.0), (0.0, 1.0), (0.9, 1.0), (0.0, 0.1)])
    assert noisy is not None and noisy.mean < 0 and not noisy.worse_beyond_noise
    consistent = paired_difference("token F1", [(0.8, 0.9), (0.7, 0.8), (0.85, 0.9), (0.6, 0.72)])
    assert consistent is not None and consistent.worse_beyond_noise
    assert consistent.half_width is not None and consistent.mean + consistent.half_width < 0


def test_one_item_gives_no_noise_estimate_and_never_refuses() -> None:
    single = paired_difference("accuracy", [(0.0, 1.0)])
    assert single is not None and single.half_width is None and not single.worse_beyond_noise


def _item(number: int, candidate: bool, baseline: bool) -> ItemResult:
    def answer(model: str, right: bool) -> ModelAnswer:
        return ModelAnswer(model=model, text="yes" if right else "no", label_correct=right)

    return ItemResult(
        item_id=f"{number:05d}", reference="yes", candidate=answer("c", candidate), baseline=answer("b", baseline)
    )


def test_labels_are_gated_on_accuracy_paired_by_item() -> None:
    summary = EvalSummary(
        candidate_model="c",
        baseline_model="b",
        items=30,
        task="labels",
        labels=["no", "yes"],
        candidate=ModelMetrics(model="c"),
        baseline=ModelMetrics(model="b"),
    )
    worse = [_item(i, candidate=i % 3 == 0, baseline=True) for i in range(30)]
    (accuracy,) = differences(summary, worse)
    assert accuracy.metric == "accuracy" and round(accuracy.candidate, 3) == 0.333 and accuracy.current == 1.0
    assert accuracy.worse_beyond_noise
    same = [_item(i, candidate=True, baseline=i % 2 == 0) for i in range(30)]
    assert not differences(summary, same)[0].worse_beyond_noise
