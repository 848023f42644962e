"""Building dataset versions from the examples table: every quality step, files, versions, splits."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest

from storage import Database
from tests.conftest import BOTH_DATABASES
from tests.dataset_helpers import (
    add_example,
    add_many,
    assert_file_passes_checks,
    conversation,
    members,
    new_db,
    read_lines,
)
from tuning.catalogue import tokens as reference
from tuning.errors import TuningError, UsageError
from tuning.training.datasets import BuildRequest, DatasetFilters, DatasetService
from tuning.training.datasets import build as build_module
from tuning.training.datasets import service as service_module
from tuning.training.datasets.files import sha256_of
from tuning.training.datasets.split import split_of, split_point

pytestmark = BOTH_DATABASES


@pytest.fixture
async def db(tmp_path: Path, database: str) -> Database:
    opened = await new_db(tmp_path, database)
    yield opened
    await opened.close()


def service(db: Database, **kwargs: object) -> DatasetService:
    return DatasetService(db, workers=1, **kwargs)


def only(channel: str) -> DatasetFilters:
    return DatasetFilters(channel_id=channel)


async def build(db: Database, name: str = "support", **fields: object) -> object:
    return await service(db).build(BuildRequest(name=name, **fields))


def train_answers(summary: object) -> list[str]:
    return [line["messages"][-1]["content"] for line in read_lines(summary.files[0].path)]


def all_answers(summary: object) -> set[str]:
    return {line["messages"][-1]["content"] for f in summary.files for line in read_lines(f.path)}


# --- what goes in -------------------------------------------------------------------------------


async def test_only_approved_examples_are_used(db: Database) -> None:
    await add_example(db, answer="approved one")
    await add_example(db, answer="a candidate", state="candidate")
    await add_example(db, answer="a rejected one", state="rejected")
    summary = await build(db)
    assert all_answers(summary) == {"approved one"}


async def test_a_correction_replaces_the_answer(db: Database) -> None:
    await add_example(db, answer="Turn it off.", corrected="Hold reset for five seconds.")
    summary = await build(db)
    assert all_answers(summary) == {"Hold reset for five seconds."}


async def test_since_and_channel_filters(db: Database) -> None:
    await add_example(db, question="old?", answer="old", created_at="2026-01-31T23:59:59.999Z")
    await add_example(db, question="new?", answer="new", created_at="2026-02-01T00:00:00.000Z")
    await add_example(
        db, question="elsewhere?", answer="elsewhere", channel="C2", created_at="2026-05-01T00:00:00.000Z"
    )
    summary = await build(db, filters=DatasetFilters(since=date(2026, 2, 1), channel_id="C1"))
    assert all_answers(summary) == {"new"}
    assert "since 2026-02-01" in summary.filters.describe() and summary.filters.channel_id == "C1"


async def test_a_channel_given_by_name_is_resolved(db: Database) -> None:
    await add_example(db, answer="in help", channel="C0HELP")
    await add_example(db, answer="in general", channel="C0GEN")

    async def resolve(name: str) -> str | None:
        return {"help": "C0HELP"}.get(name)

    request = BuildRequest(name="support", filters=DatasetFilters(channel_name="help"))
    summary = await service(db).build(request, resolve_channel=resolve)
    assert all_answers(summary) == {"in help"}
    assert summary.filters.channel_id == "C0HELP" and summary.filters.channel_name == "help"
    with pytest.raises(UsageError, match="#nowhere"):
        await service(db).build(
            BuildRequest(name="x", filters=DatasetFilters(channel_name="nowhere")), resolve_channel=resolve
        )


async def test_nothing_to_build_is_refused_and_creates_no_version(db: Database) -> None:
    await add_example(db, state="candidate")
    with pytest.raises(TuningError, match="No approved examples"):
        await build(db)
    assert await service(db).list() == []
    assert not any((db.home / "datasets" / "support").iterdir())


# --- quality steps ------------------------------------------------------------------------------


async def test_exact_duplicates_are_removed_and_counted(db: Database) -> None:
    await add_example(db, question="How do I reset it?", answer="Hold the button.", up=1)
    await add_example(db, question="how do I  reset IT?", answer="hold the   button.", up=3)
    await add_example(db, question="How do I reset it?", answer="Unplug it.", up=1)  # near, not exact
    summary = await build(db)
    assert summary.dropped["duplicate"] == 1
    assert summary.dropped["near_duplicate"] == 1
    assert summary.examples == 1
    assert all_answers(summary) == {"hold the   button."}  # the copy with more 👍 stayed


@pytest.mark.parametrize(
    ("rows", "kept"),
    [
        # (answer, corrected, up, created_at)
        ([("A", None, 9, "2026-01-01"), ("B", "B fixed", 1, "2026-01-02"), ("C", None, 9, "2026-01-03")], "B fixed"),
        ([("A", None, 5, "2026-01-01"), ("C", None, 5, "2026-01-03")], "C"),
        ([("A", None, 7, "2026-01-01"), ("C", None, 5, "2026-01-03")], "A"),
    ],
)
async def test_near_duplicates_keep_the_best_supported_answer(db: Database, rows: list, kept: str) -> None:
    questions = ["How do I reset it?", "how do i reset it", "How... do I reset it?!"]
    for question, (answer, corrected, up, created) in zip(questions, rows, strict=False):  # 2 or 3 rows
        await add_example(
            db, question=question, answer=answer, corrected=corrected, up=up, created_at=f"{created}T00:00:00.000Z"
        )
    summary = await build(db)
    assert all_answers(summary) == {kept}
    assert summary.dropped == {"near_duplicate": len(rows) - 1}


async def test_invalid_examples_are_dropped_under_their_reason(db: Database) -> None:
    await add_example(db, answer="fine")
    await add_example(db, messages="[{not json")
    await add_example(db, messages=[{"role": "wizard", "content": "hi"}])
    await add_example(db, messages=[{"role": "user", "content": "hi", "mood": "calm"}])
    await add_example(db, messages=[{"role": "user", "content": 42}])
    await add_example(db, messages=[{"role": "user"}])
    await add_example(db, question="Empty answer?", answer="   ")
    await add_example(db, messages='[{"role": "user", "content": "half a pair \\ud83d"}]')  # a JSON escape
    summary = await build(db)
    assert summary.dropped == {
        "unreadable_conversation": 1,
        "message_missing_key": 1,
        "message_unrecognized_key": 1,
        "unrecognized_role": 1,
        "missing_content": 2,
        "invalid_unicode": 1,
    }
    assert all_answers(summary) == {"fine"}


async def test_an_invalid_copy_never_knocks_out_a_valid_one(db: Database) -> None:
    await add_example(db, question="Q?", answer="A.", up=1)
    await add_example(db, messages=[*conversation("Q?"), {"role": "wizard", "content": "x"}], answer="A.", up=9)
    summary = await build(db)
    assert summary.dropped == {"unrecognized_role": 1}
    assert all_answers(summary) == {"A."}


async def test_examples_over_the_models_limit_are_dropped(db: Database) -> None:
    await add_example(db, answer="short")
    await add_example(db, question="Long?", answer="hello " * 16_400)  # over gpt-3.5-turbo's 16,385
    summary = await service(db, model="gpt-3.5-turbo-0125").build(BuildRequest(name="support"))
    assert summary.dropped == {"too_many_tokens": 1}
    assert summary.tokens.max < 16_385 and summary.encoding == "cl100k_base"
    summary = await service(db, model="gpt-4.1-mini").build(BuildRequest(name="support"))
    assert "too_many_tokens" not in summary.dropped  # 65,536 for the gpt-4.1 family


# --- tokens, files, members ---------------------------------------------------------------------


async def test_token_counts_are_exact_and_summarised(db: Database) -> None:
    for i in range(1, 12):
        await add_example(db, question=f"Question {i}?", answer="word " * i)
    # Counted when inspected, then dropped by dedupe: its tokens must leave the statistics again.
    await add_example(db, question="Question 11?", answer="long " * 500, up=0)
    summary = await build(db)
    assert summary.dropped == {"near_duplicate": 1}
    expected = sorted(
        reference.count_messages("gpt-4.1-mini", line["messages"]) for f in summary.files for line in read_lines(f.path)
    )
    assert summary.tokens.total == sum(expected)
    assert summary.tokens.median == expected[5]  # nearest rank: the 6th of 11
    assert summary.tokens.p90 == expected[9]  # ceil(0.9·11) = 10th
    assert summary.tokens.max == expected[-1]
    rows = await members(db, summary.id)
    assert sorted(row["tokens"] for row in rows) == expected


async def test_files_are_in_place_with_their_checksums_and_pass_the_checks(db: Database) -> None:
    await add_many(db, 40)
    summary = await build(db)
    directory = db.home / "datasets" / "support" / "1"
    assert [f.path for f in summary.files] == [directory / "train.jsonl", directory / "validation.jsonl"]
    for dataset_file in summary.files:
        assert sha256_of(dataset_file.path) == dataset_file.sha256
        assert assert_file_passes_checks(dataset_file.path, "sft") == dataset_file.lines
    assert summary.train + summary.validation == 40
    assert [p.name for p in (db.home / "datasets" / "support").iterdir()] == ["1"]  # no staging left


async def test_members_record_which_example_is_on_which_line(db: Database) -> None:
    ids = await add_many(db, 60)
    summary = await build(db)
    rows = await members(db, summary.id)
    assert sorted(row["example_id"] for row in rows) == ids
    for split, dataset_file in (("train", summary.files[0]), ("validation", summary.files[1])):
        lines = read_lines(dataset_file.path)
        mine = [row for row in rows if row["split"] == split]
        assert [row["line"] for row in mine] == list(range(1, len(lines) + 1))
        for row, line in zip(mine, lines, strict=True):
            assert line["messages"][-1]["content"] == f"Answer number {ids.index(row['example_id'])}."
            assert split_of(row["example_id"], 0.1) == split


async def test_rebuilding_makes_a_new_version_and_never_rewrites(db: Database) -> None:
    await add_many(db, 12)
    first = await build(db)
    before = {f.path: f.path.read_bytes() for f in first.files}
    await add_example(db, question="A new one?", answer="New.")
    second = await build(db)
    assert (first.version, second.version) == (1, 2)
    assert second.examples == first.examples + 1
    assert {path: path.read_bytes() for path in before} == before
    assert (await service(db).show("support")).version == 2
    assert (await service(db).show("support@1")).files == first.files


async def test_concurrent_builds_of_one_name_get_distinct_versions(db: Database) -> None:
    await add_many(db, 15)
    results = await asyncio.gather(build(db), build(db), build(db))
    assert sorted(summary.version for summary in results) == [1, 2, 3]
    assert len({summary.files[0].sha256 for summary in results}) == 1  # same input, same bytes


async def test_the_event_loop_keeps_running_during_a_build(db: Database) -> None:
    await add_many(db, 300)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await build(db)
    task.cancel()
    assert ticks > 1


async def test_worker_processes_write_the_same_bytes(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    await add_many(db, 120)
    await add_example(db, messages=[{"role": "wizard", "content": "x"}])
    await add_example(db, question="Question number 3?", answer="answer number 3.")
    inline = await service(db).build(BuildRequest(name="inline"))
    monkeypatch.setattr(build_module, "PARALLEL_MIN_EXAMPLES", 0)
    parallel = await DatasetService(db, workers=2).build(BuildRequest(name="parallel"))
    assert [f.sha256 for f in parallel.files] == [f.sha256 for f in inline.files]
    assert parallel.dropped == inline.dropped == {"unrecognized_role": 1, "duplicate": 1}


async def test_lines_spilled_batch_by_batch_land_where_their_offsets_say(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each batch's lines go to the spill as one block per split; with batches of 7, the copies dedupe drops
    sit in several blocks of both splits, and the files must still equal a one-batch build's."""
    ids = await add_many(db, 60)
    train = [i for i in ids if split_of(i, 0.1) == "train"]
    validation = [i for i in ids if split_of(i, 0.1) == "validation"]
    for example_id in (train[1], train[20], validation[0], validation[-1]):
        n = ids.index(example_id)  # a copy, newer by id, wins the tie; the original's line is dropped
        await add_example(db, question=f"question number {n}?", answer=f"answer number {n}.")
    whole = await build(db, name="whole")
    original = service_module.build_dataset
    monkeypatch.setattr(service_module, "build_dataset", lambda plan: original(replace(plan, batch_size=7)))
    small = await build(db, name="small")
    assert small.dropped == whole.dropped == {"duplicate": 4}
    assert [f.sha256 for f in small.files] == [f.sha256 for f in whole.files]
    assert [f.lines for f in small.files] == [f.lines for f in whole.files]


# --- split --------------------------------------------------------------------------------------


async def test_validation_gets_at_least_one_example_from_ten(db: Database) -> None:
    ids = await add_many(db, 10)
    assert all(split_point(i) >= 0.01 for i in ids)  # so none hashes into a 1% validation split
    summary = await build(db, val=0.01)
    assert (summary.train, summary.validation) == (9, 1)
    moved = min(ids, key=split_point)
    rows = await members(db, summary.id)
    assert [row["example_id"] for row in rows if row["split"] == "validation"] == [moved]
    assert [row["line"] for row in rows if row["split"] == "train"] == list(range(1, 10))
    assert read_lines(summary.files[1].path)[0]["messages"][-1]["content"] == f"Answer number {ids.index(moved)}."
    assert sha256_of(summary.files[0].path) == summary.files[0].sha256


async def test_the_forced_example_returns_to_train_once_one_hashes_into_validation(db: Database) -> None:
    """The documented exception to 'adding examples never moves an old one'."""
    ids = await add_many(db, 10)
    forced = min(ids, key=split_point)
    while not any(split_point(i) < 0.01 for i in ids):
        ids.append(await add_example(db, question=f"More {len(ids)}?", answer=f"More {len(ids)}."))
    summary = await build(db, val=0.01)
    rows = {row["example_id"]: row["split"] for row in await members(db, summary.id)}
    assert rows[forced] == "train"
    assert [i for i, split in rows.items() if split == "validation"] == [i for i in ids if split_point(i) < 0.01]


async def test_no_validation_when_asked_for_none(db: Database) -> None:
    await add_many(db, 12)
    summary = await build(db, val=0.0)
    assert (summary.train, summary.validation) == (12, 0)
    assert summary.files[1].path.read_bytes() == b""


# --- DPO ----------------------------------------------------------------------------------------


async def test_dpo_pairs_a_correction_with_its_original(db: Database) -> None:
    example = await add_example(db, question="Reset?", answer="Turn it off.", corrected="Hold reset 5 s.")
    summary = await build(db, format="dpo", val=0.0)
    (line,) = read_lines(summary.files[0].path)
    assert line == {
        "input": {"messages": conversation("Reset?")},
        "preferred_output": [{"role": "assistant", "content": "Hold reset 5 s."}],
        "non_preferred_output": [{"role": "assistant", "content": "Turn it off."}],
    }
    assert await members(db, summary.id) == [
        {
            "example_id": example,
            "split": "train",
            "line": 1,
            "rejected_id": None,
            "tokens": reference.count_messages(
                "gpt-4.1-mini", [*conversation("Reset?"), *line["preferred_output"], *line["non_preferred_output"]]
            ),
        },
    ]


async def test_dpo_pairs_a_thumbs_up_with_a_thumbs_down_in_the_same_thread(db: Database) -> None:
    earlier = ("Is the VPN down?", "No.")
    bad = await add_example(
        db, question="How do I reset it?", answer="No idea.", thread_ts="1.0", up=0, down=2, state="candidate"
    )
    good = await add_example(
        db,
        question="how do I reset it",
        answer="Hold the button.",
        thread_ts="1.0",
        up=3,
        messages=conversation("how do I reset it", earlier),
    )
    await add_example(db, question="How do I reset it?", answer="Elsewhere.", thread_ts="2.0", up=2)  # other thread
    await add_example(db, question="Other question?", answer="Unpaired.", thread_ts="1.0", up=2)
    summary = await build(db, format="dpo", val=0.0)
    assert summary.dropped == {"no_preference_pair": 2}
    (line,) = read_lines(summary.files[0].path)
    assert line["input"]["messages"] == conversation("How do I reset it?")  # the shorter conversation
    assert line["preferred_output"][0]["content"] == "Hold the button."
    assert line["non_preferred_output"][0]["content"] == "No idea."
    (row,) = await members(db, summary.id)
    assert (row["example_id"], row["rejected_id"]) == (good, bad)
    assert_file_passes_checks(summary.files[0].path, "dpo")


async def test_dpo_ignores_a_thumbs_down_in_another_channel_filter(db: Database) -> None:
    await add_example(db, question="Q?", answer="Bad.", thread_ts="1.0", up=0, down=1, channel="C2", state="candidate")
    await add_example(db, question="Q?", answer="Good.", thread_ts="1.0", up=1, channel="C1")
    with_pair = await build(db, format="dpo", filters=only("C1"))
    assert with_pair.dropped == {"no_preference_pair": 1}


async def test_dpo_files_round_trip_through_the_checks(db: Database) -> None:
    for i in range(30):
        await add_example(db, question=f"Q{i}?", answer=f"Original {i}.", corrected=f"Better {i}.")
    summary = await build(db, format="dpo")
    assert summary.format == "dpo" and summary.examples == 30
    for dataset_file in summary.files:
        assert assert_file_passes_checks(dataset_file.path, "dpo") == dataset_file.lines
    assert json.loads(summary.files[0].path.read_text().splitlines()[0])["preferred_output"][0]["content"].startswith(
        "Better"
    )


async def test_what_a_build_records_references_rows_that_exist(db: Database) -> None:
    """The build's connection skips per-row foreign-key checks (storage/datasets.connect); the rows it writes
    must pass them all the same: members of both formats, with a DPO vote pair's rejected answer."""
    await add_many(db, 15)
    await add_example(db, question="Reset?", answer="No idea.", thread_ts="1.0", up=0, down=2, state="candidate")
    await add_example(db, question="reset", answer="Hold the button.", thread_ts="1.0", up=3)
    await add_example(db, question="Why?", answer="Because.", corrected="Because of the cache.")
    for fmt in ("sft", "dpo"):
        await build(db, format=fmt)
    if db.dialect == "sqlite":
        assert await db.fetchall("PRAGMA foreign_key_check") == []
    # PostgreSQL checks every foreign key as it is written; the same question asked in SQL, for both:
    dangling = await db.fetchval(
        "SELECT count(*) FROM dataset_members m LEFT JOIN examples e ON e.id = m.example_id"
        " LEFT JOIN examples r ON r.id = m.rejected_id WHERE e.id IS NULL OR (m.rejected_id IS NOT NULL AND r.id IS NULL)"
    )
    assert dangling == 0
    rejected = await db.fetchval("SELECT count(*) FROM dataset_members WHERE rejected_id IS NOT NULL")
    assert rejected == 1
