"""`tuneloop` for operators: the same operations as the slash command, on the same database."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO
from tests.dataset_helpers import add_many, new_db


def tuneloop(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`tuneloop ARGS` in tmp_path, on its SQLite file unless `env` says otherwise (conftest.database_settings)."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "TUNELOOP_DB": str(tmp_path / "tuneloop.db"),
        "PYTHONPATH": str(REPO),
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def seed(tmp_path: Path, n: int = 12) -> None:
    async def run() -> None:
        db = await new_db(tmp_path)
        await add_many(db, n, channel="C0GENERAL")
        await db.close()

    asyncio.run(run())


def test_migrate_then_nothing_to_do(tmp_path: Path) -> None:
    assert "applied: 0001_inbox" in tuneloop(tmp_path, "migrate").stdout
    assert tuneloop(tmp_path, "migrate").stdout.strip() == "database is up to date"


def test_dataset_build_show_export_and_stats(tmp_path: Path) -> None:
    seed(tmp_path)
    built = tuneloop(tmp_path, "dataset", "build", "support", "--val", "0.2")
    assert built.returncode == 0, built.stderr
    assert "support@1" in built.stdout
    assert "support@1" in tuneloop(tmp_path, "dataset", "show", "support").stdout
    exported = tuneloop(tmp_path, "dataset", "export", "support", "--out", str(tmp_path / "out"))
    files = sorted(Path(line).name for line in exported.stdout.split())
    assert files == ["support@1.train.jsonl", "support@1.validation.jsonl"]
    lines = (tmp_path / "out" / "support@1.train.jsonl").read_text().splitlines()
    assert lines and all(json.loads(line)["messages"][-1]["role"] == "assistant" for line in lines)
    stats = tuneloop(tmp_path, "stats").stdout
    assert "12 examples: 12 approved" in stats and "channel C0GENERAL" in stats


def test_unknown_dataset_is_a_clear_error(tmp_path: Path) -> None:
    assert tuneloop(tmp_path, "migrate").returncode == 0
    result = tuneloop(tmp_path, "dataset", "show", "nope")
    assert result.returncode == 1 and "no datasets yet" in result.stderr and "Traceback" not in result.stderr
