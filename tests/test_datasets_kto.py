"""KTO from every vote: every approved 👍 and every voted-down or rejected answer becomes one labelled example."""

from __future__ import annotations

from pathlib import Path

import pytest

from render.datasets import summary_card, summary_text
from selfhost.data import read_rows
from storage import Database
from tests.dataset_helpers import add_example, new_db, read_lines
from tuning.release.evaluation.service import read_items
from tuning.training.datasets import BuildRequest, DatasetService
from tuning.training.datasets.specs import KtoLabels


@pytest.fixture
async def db(tmp_path: Path) -> Database:
    database = await new_db(tmp_path)
    yield database
    await database.close()


def lines_of(summary: object) -> list[dict]:
    return [line for file in summary.files for line in read_lines(file.path)]


async def test_each_answer_is_one_example_labelled_by_its_votes(db: Database) -> None:
    await add_example(db, question="Q approved?", answer="Approved answer.", up=3)
    await add_example(db, question="Q corrected?", answer="Wrong answer.", corrected="Corrected answer.", up=1)
    await add_example(db, question="Q rejected?", answer="Rejected answer.", state="rejected", up=0, down=0)
    await add_example(db, question="Q voted down?", answer="Voted-down answer.", state="candidate", up=1, down=3)
    await add_example(db, question="Q barely down?", answer="Barely down.", state="candidate", up=2, down=3)
    await add_example(db, question="Q undecided?", answer="Undecided answer.", state="candidate", up=1, down=0)
    summary = await DatasetService(db, workers=1, min_votes=2).build(BuildRequest(name="votes", format="kto", val=0))
    lines = lines_of(summary)
    labels = {line["completion"][0]["content"]: line["label"] for line in lines}
    assert labels == {
        "Approved answer.": True,
        "Corrected answer.": True,
        "Rejected answer.": False,
        "Voted-down answer.": False,
    }  # down − up = 1 < 2 and an undecided candidate: not examples
    voted_down = next(
        line for line in lines if line["label"] is False and "Voted-down" in line["completion"][0]["content"]
    )
    assert voted_down["prompt"][-1] == {"role": "user", "content": "Q voted down?"}
    assert summary.format == "kto" and summary.kto == KtoLabels.weighed(2, 2)
    # The training program reads the file as it is (TRL's conversational unpaired preference form).
    assert [row["label"] for row in read_rows(summary.files[0].path, "kto")] == [line["label"] for line in lines]


async def test_the_card_shows_both_counts_and_the_weights_for_the_rarer_kind(db: Database) -> None:
    for index in range(2):
        await add_example(db, question=f"Good {index}?", answer=f"Good answer {index}.")
    for index in range(6):
        await add_example(db, question=f"Bad {index}?", answer=f"Bad answer {index}.", state="rejected", up=0)
    summary = await DatasetService(db, workers=1).build(BuildRequest(name="votes", format="kto", val=0))
    assert summary.kto == KtoLabels(desirable=2, undesirable=6, desirable_weight=3.0, undesirable_weight=1.0)
    blocks, text = summary_card(summary)
    shown = str([block.to_dict() for block in blocks])
    assert "2 desirable" in shown and "6 undesirable" in shown and "desirable_weight 3" in shown
    assert "undesirable_weight 1" in text and "2 desirable" in text
    assert "KTO trains only with `trainer:local` or `trainer:ray`: the cost shown is openai's" in text


@pytest.mark.parametrize(
    ("desirable", "undesirable", "weights"),
    [
        (10, 10, (1.0, 1.0)),
        (13, 10, (1.0, 1.0)),
        (20, 10, (1.0, 2.0)),
        (5, 20, (4.0, 1.0)),
        (7, 0, (1.0, 1.0)),
    ],
)
def test_class_weights_bring_the_weighted_ratio_between_1_and_four_thirds(
    desirable: int, undesirable: int, weights: tuple[float, float]
) -> None:
    labels = KtoLabels.weighed(desirable, undesirable)
    assert (labels.desirable_weight, labels.undesirable_weight) == weights
    if desirable and undesirable:
        ratio = labels.desirable_weight * desirable / (labels.undesirable_weight * undesirable)
        assert 1 - 1e-3 <= ratio <= 4 / 3 + 1e-3


async def test_sft_and_dpo_builds_carry_no_labels(db: Database) -> None:
    await add_example(db, answer="Approved.")
    summary = await DatasetService(db, workers=1).build(BuildRequest(name="plain", val=0))
    assert summary.kto is None and "KTO" not in summary_text(summary)


def test_evaluation_uses_desirable_answers_only_as_references(tmp_path: Path) -> None:
    import json

    path = tmp_path / "validation.jsonl"
    thread = [{"role": "user", "content": "Where?"}]
    path.write_text(
        "".join(
            json.dumps({"prompt": thread, "completion": [{"role": "assistant", "content": text}], "label": label})
            + "\n"
            for text, label in (("Bad.", False), ("Good.", True))
        )
    )
    items = read_items(path)
    assert [(item.messages, item.reference) for item in items] == [(thread, "Good.")]


async def test_a_good_and_a_bad_answer_to_one_thread_are_both_kept(db: Database) -> None:
    """The contrast KTO learns from: near-duplicates are dropped only among answers with the same label."""
    await add_example(db, question="How do I reset the router?", answer="Hold the reset button.", up=2)
    await add_example(
        db, question="How do I reset the router?", answer="Unplug everything forever.", state="candidate", up=0, down=2
    )
    await add_example(db, question="How do I reset the router!", answer="Press and hold reset.", up=1)
    summary = await DatasetService(db, workers=1).build(BuildRequest(name="votes", format="kto", val=0))
    kept = {(line["completion"][0]["content"], line["label"]) for line in lines_of(summary)}
    assert kept == {("Hold the reset button.", True), ("Unplug everything forever.", False)}
    assert summary.dropped == {"near_duplicate": 1}
