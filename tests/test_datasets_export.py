"""`tuneloop dataset export --format jsonl|parquet|hf`: the version's records and its card, in each format."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import datasets as hf
import pyarrow.parquet as pq
import pytest

from storage import Database
from tests.dataset_helpers import add_many, new_db
from tuning.errors import TuningError
from tuning.training.datasets import BuildRequest, DatasetService


@pytest.fixture
async def db(tmp_path: Path) -> Database:
    database = await new_db(tmp_path)
    yield database
    await database.close()


async def built(db: Database, fmt: str = "sft") -> DatasetService:
    service = DatasetService(db, workers=1)
    await add_many(db, 12)
    await service.build(BuildRequest(name="faq", format=fmt, created_by="U0ALICE"))
    return service


def jsonl_records(service_files: list[Path], split: str) -> list[dict]:
    (path,) = [p for p in service_files if p.name.endswith(f".{split}.jsonl")]
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_hf_round_trips_through_load_from_disk(db: Database, tmp_path: Path) -> None:
    service = await built(db)
    summary = await service.show("faq")
    jsonl = await service.export("faq", tmp_path / "jsonl")
    (folder,) = await service.export("faq@1", tmp_path / "hf", "hf")
    loaded = hf.load_from_disk(str(folder))
    assert set(loaded) == {"train", "validation"}
    assert len(loaded["train"]) == summary.train and len(loaded["validation"]) == summary.validation
    assert loaded["train"][0]["messages"] == jsonl_records(jsonl, "train")[0]["messages"]  # messages intact
    assert [row["messages"] for row in loaded["validation"]] == [
        r["messages"] for r in jsonl_records(jsonl, "validation")
    ]
    facts = json.loads(loaded["train"].info.description)
    assert facts["counts"] == {"train": summary.train, "validation": summary.validation}
    assert facts["tokens"]["total"] == summary.tokens.total and "scrubbed" in facts["scrubbing"]
    assert "faq@1" in (folder / "README.md").read_text()


async def test_parquet_keeps_the_records_and_the_card(db: Database, tmp_path: Path) -> None:
    service = await built(db, "dpo")
    summary = await service.show("faq")
    jsonl = await service.export("faq", tmp_path / "jsonl")
    written = await service.export("faq", tmp_path / "parquet", "parquet")
    assert sorted(p.name for p in written) == ["faq@1.train.parquet", "faq@1.validation.parquet"]
    table = pq.read_table(tmp_path / "parquet" / "faq@1.train.parquet")
    assert table.to_pylist() == jsonl_records(jsonl, "train")
    facts = json.loads(table.schema.metadata[b"tuneloop"])
    assert (facts["dataset"], facts["format"], facts["counts"]["train"]) == ("faq@1", "dpo", summary.train)


async def test_a_version_with_erased_data_is_refused(db: Database, tmp_path: Path) -> None:
    service = await built(db)
    summary = await service.show("faq")
    await db.execute(
        "INSERT INTO erased_from_datasets (dataset_id, reason) VALUES (?, ?)",
        (summary.id, "U0ALICE asked to be forgotten"),
    )
    for fmt in ("jsonl", "parquet", "hf"):
        with pytest.raises(TuningError, match="contains erased data"):
            await service.export("faq", tmp_path / fmt, fmt)  # type: ignore[arg-type]
        assert not any((tmp_path / fmt).glob("*"))


def test_the_cli_exports_hf(tmp_path: Path) -> None:
    async def prepare() -> None:
        db = await new_db(tmp_path)
        await add_many(db, 12)
        await db.close()

    import asyncio

    asyncio.run(prepare())
    env = {"TUNELOOP_DB": str(tmp_path / "tuneloop.db"), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path.cwd())}
    run = [sys.executable, "-m", "bot", "dataset"]
    subprocess.run([*run, "build", "faq"], check=True, env=env, capture_output=True, cwd=tmp_path)
    done = subprocess.run(
        [*run, "export", "faq", "--format", "hf", "--out", str(tmp_path / "out")],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "out" / "faq@1")
    assert len(hf.load_from_disk(done.stdout.strip())["train"]) > 0
