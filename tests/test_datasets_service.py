"""list, show, unknown names and versions, export, prices an operator overrides, and the CLI functions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from render.words import slack_words
from storage import Database
from tests.dataset_helpers import add_many, assert_file_passes_checks, new_db
from tuning.catalogue.entries import load_catalogue
from tuning.errors import NotFound, TuningError, UsageError
from tuning.training.datasets import BuildRequest, DatasetService, cli, parse_ref


@pytest.fixture
async def db(tmp_path: Path) -> Database:
    database = await new_db(tmp_path)
    yield database
    await database.close()


async def built(db: Database, *names: str) -> DatasetService:
    datasets = DatasetService(db, workers=1)
    await add_many(db, 12)
    for name in names:
        await datasets.build(BuildRequest(name=name, created_by="U0ALICE"))
    return datasets


async def test_list_shows_every_version_newest_first(db: Database) -> None:
    datasets = await built(db, "faq", "support", "faq")
    listed = [(item.name, item.version) for item in await datasets.list()]
    assert listed == [("faq", 2), ("faq", 1), ("support", 1)]
    assert all(item.train + item.validation == 12 for item in await datasets.list())


async def test_show_newest_or_a_given_version(db: Database) -> None:
    datasets = await built(db, "faq", "faq")
    assert (await datasets.show("faq")).ref == "faq@2"
    first = await datasets.show("faq@1")
    assert (
        first.ref == "faq@1" and first.created_by == "U0ALICE" and first.filters.describe() == "all approved examples"
    )


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("nope", "There is no dataset `nope`. Known datasets: `faq`, `support`."),
        ("faq@9", "`faq` has no version 9; its versions are @1, @2."),
    ],
)
async def test_unknown_dataset_or_version_is_a_helpful_not_found(db: Database, ref: str, message: str) -> None:
    datasets = await built(db, "faq", "support", "faq")
    with pytest.raises(NotFound) as caught:
        await datasets.show(ref)
    assert str(caught.value) == message


async def test_before_any_dataset_the_message_says_how_to_build_one(db: Database) -> None:
    with pytest.raises(NotFound) as missing:
        await DatasetService(db).show("faq")
    assert "Build one with `/tune dataset build NAME`." in slack_words(str(missing.value))
    assert await DatasetService(db).list() == []


def test_refs() -> None:
    assert parse_ref("faq") == ("faq", None)
    assert parse_ref("faq@12") == ("faq", 12)
    for bad in ("faq@0", "../etc", "faq@x", ""):
        with pytest.raises(UsageError):
            parse_ref(bad)


async def test_members_of_the_validation_split_for_evaluation(db: Database) -> None:
    datasets = await built(db, "faq")
    summary = await datasets.show("faq")
    validation = await datasets.members("faq")
    assert len(validation) == summary.validation >= 1
    assert all(rejected is None for _, rejected in validation)
    assert len(await datasets.members("faq@1", "train")) == summary.train


async def test_export_copies_checked_files(db: Database, tmp_path: Path) -> None:
    datasets = await built(db, "faq")
    copied = await datasets.export("faq", tmp_path / "out")
    assert [path.name for path in copied] == ["faq@1.train.jsonl", "faq@1.validation.jsonl"]
    assert assert_file_passes_checks(copied[0], "sft") + assert_file_passes_checks(copied[1], "sft") == 12
    (await datasets.show("faq")).files[0].path.write_text("tampered\n")
    with pytest.raises(TuningError, match="changed since faq@1 was built"):
        await datasets.export("faq", tmp_path / "again")


async def test_prices_beside_the_database_override_the_packaged_ones(db: Database) -> None:
    (db.path.parent / "prices.toml").write_text(
        'checked = "2027-01-05"\n[models."gpt-4.1-mini"]\nusd_per_million = 2.5\n'
        '[trainers.openai]\ndefault_model = "gpt-4.1-mini-2025-04-14"\n'
    )
    datasets = await built(db, "faq")
    cost = (await datasets.show("faq")).cost
    assert (cost.usd_per_million, cost.prices_checked, cost.model) == (2.5, "2027-01-05", "gpt-4.1-mini-2025-04-14")
    packaged = load_catalogue(None)
    assert packaged.training_price("gpt-4.1-2025-04-14").usd_per_million == 25.0  # longest prefix wins over -mini
    assert packaged.training_price("gpt-4.1-mini-2025-04-14").usd_per_million == 5.0
    assert packaged.default_model("together") == "Qwen/Qwen2.5-7B-Instruct"  # one Together can deploy


async def test_a_malformed_price_table_is_reported(db: Database) -> None:
    (db.path.parent / "prices.toml").write_text('[models."gpt-4.1"]\nprice = 3\n')
    await add_many(db, 3)
    with pytest.raises(TuningError, match="usd_per_million"):
        await DatasetService(db).build(BuildRequest(name="faq"))


async def test_the_default_trainer_decides_the_model_priced(db: Database) -> None:
    await add_many(db, 12)
    summary = await DatasetService(db, trainer="together", workers=1).build(BuildRequest(name="faq"))
    assert summary.cost.trainer == "together"
    assert summary.cost.model == "Qwen/Qwen2.5-7B-Instruct"
    assert summary.cost.usd is not None


async def test_cli_build_show_and_export(tmp_path: Path) -> None:
    db = await new_db(tmp_path)
    await add_many(db, 12, channel="C0HELP")
    await db.close()
    summary = await cli.build(
        tmp_path / "tuneloop.db", "faq", since="2026-01-01", channel="<#C0HELP|help>", format="sft", val=0.2
    )
    assert (summary.ref, summary.filters.channel_id, summary.val, summary.created_by) == ("faq@1", "C0HELP", 0.2, "cli")
    assert (await cli.show(tmp_path / "tuneloop.db", "faq@1")).id == summary.id
    paths = await cli.export(tmp_path / "tuneloop.db", "faq", tmp_path / "out")
    assert sum(len(path.read_text().splitlines()) for path in paths) == 12
    with pytest.raises(UsageError, match="channel id"):
        await cli.build(tmp_path / "tuneloop.db", "faq", channel="#help")
    with pytest.raises(UsageError, match="YYYY-MM-DD"):
        await cli.build(tmp_path / "tuneloop.db", "faq", since="yesterday")
    with pytest.raises(UsageError, match="`name` is not valid"):
        await cli.build(tmp_path / "tuneloop.db", "../escape")
    with pytest.raises(UsageError, match="`val` is not valid"):
        await cli.build(tmp_path / "tuneloop.db", "faq", val=0.9)


async def test_filters_are_stored_as_json(db: Database) -> None:
    await built(db, "faq")
    stored = await db.fetchval("SELECT filters FROM dataset_versions")
    assert json.loads(stored) == {"since": None, "channel_id": None, "channel_name": None}
