"""`tuneloop demo` runs the whole loop offline: answers, votes, a correction, a dataset, a fine-tune, an evaluation."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.test_cli import tuneloop


def test_the_demo_runs_the_loop_and_says_where_to_look(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = tuneloop(tmp_path, "demo", "--dir", str(out))
    assert result.returncode == 0, result.stderr
    assert "Dataset demo@1: 10 train / 2 validation" in result.stdout
    assert "Evaluation 1: done" in result.stdout and f"Look in {out}" in result.stdout
    with sqlite3.connect(out / "tuneloop.db") as db:
        assert db.execute("SELECT state, count(*) FROM examples GROUP BY state").fetchall() == [("approved", 12)]
        assert db.execute("SELECT count(*) FROM examples WHERE corrected IS NOT NULL").fetchone() == (1,)
        assert db.execute("SELECT state FROM jobs").fetchall() == [("succeeded",)]
    posted = json.loads((out / "slack-transcript.json").read_text())
    assert len(posted) == 12 + 1  # the questions, and the job's card
    assert list((out / "datasets").rglob("*.jsonl"))
    again = tuneloop(tmp_path, "demo", "--dir", str(out))
    assert again.returncode == 1 and "already holds a demo" in again.stderr
