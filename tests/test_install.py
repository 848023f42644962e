"""Tuneloop installs, and its demo runs, the ways the README says: `make demo` and `make run` in a fresh clone, and
the Docker image's install steps (deploy/install.sh, as the Dockerfile runs them) into a clean virtualenv, with
`tuneloop demo` run from outside the checkout. Each builds a virtualenv from requirements/base.txt (a minute)."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from packaging.utils import canonicalize_name

from tests.test_deploy import instructions

REPO = Path(__file__).resolve().parents[1]
TRAINING = {"torch", "transformers", "trl", "peft", "ray"}
MISSING_SETTINGS = "Tuneloop cannot start: these settings are missing."


def machine_env() -> dict[str, str]:
    """This machine's environment (its pip settings included) without any Tuneloop, Slack or OpenAI setting, and
    without the variables of a `make` this runs under (`make test VENV=...` must not reach the clone's make)."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            (
                "TUNELOOP_",
                "SLACK_",
                "OPENAI_",
                "TOGETHER_",
                "VIRTUAL_ENV",
                "PYTHONPATH",
                "MAKEFLAGS",
                "MFLAGS",
                "MAKELEVEL",
            )
        )
    }


def fresh_clone(target: Path) -> Path:
    """The files a clone of this tree holds: tracked, and new ones git does not ignore."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        if (REPO / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, target / name)
    return target


def distributions(venv: Path) -> set[str]:
    listing = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format=json"], capture_output=True, text=True, check=True
    ).stdout
    return {canonicalize_name(item["name"]) for item in json.loads(listing)}


def assert_the_demo_ran(out: Path, printed: str) -> None:
    assert "Dataset demo@1: 10 train / 2 validation" in printed and "Evaluation 1: done" in printed
    with sqlite3.connect(out / "tuneloop.db") as db:
        assert db.execute("SELECT state, count(*) FROM examples GROUP BY state").fetchall() == [("approved", 12)]
        assert db.execute("SELECT state FROM evaluations").fetchall() == [("done",)]
    files = {path.name: path.read_text().splitlines() for path in (out / "datasets").rglob("*.jsonl")}
    assert sorted(files) == ["train.jsonl", "validation.jsonl"]
    assert len(files["train.jsonl"]) == 10 and all(json.loads(line)["messages"] for line in files["train.jsonl"])
    assert len(json.loads((out / "slack-transcript.json").read_text())) == 12 + 1


def test_make_demo_runs_in_a_fresh_clone_and_make_run_installs_no_training_library(tmp_path: Path) -> None:
    clone = fresh_clone(tmp_path / "clone")
    demo = subprocess.run(
        ["make", "demo"], cwd=clone, env=machine_env(), capture_output=True, text=True, timeout=1200, check=False
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert_the_demo_ran(clone / "tuneloop-demo", demo.stdout)
    run = subprocess.run(
        ["make", "run"], cwd=clone, env=machine_env(), capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 2 and MISSING_SETTINGS in run.stderr
    installed = distributions(clone / ".venv")
    assert {"slack-bolt", "openai", "tuneloop"} <= installed and not installed & TRAINING


def docker_context(target: Path) -> Path:
    """What the Dockerfile's build stage copies into /src."""
    for args in instructions("COPY"):
        if args.startswith("--from"):
            continue
        *sources, dest = args.split()
        for source in sources:
            into = target / dest / Path(source).name if dest.endswith("/") else target / dest
            into.parent.mkdir(parents=True, exist_ok=True)
            if (REPO / source).is_dir():
                shutil.copytree(REPO / source, into, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(REPO / source, into)
    return target


def test_the_images_install_steps_install_the_bot_whose_demo_runs_outside_the_checkout(tmp_path: Path) -> None:
    context, venv, elsewhere = docker_context(tmp_path / "src"), tmp_path / "venv", tmp_path / "elsewhere"
    steps = [args for args in instructions("RUN") if "deploy/install.sh" in args]
    assert steps == ["sh deploy/install.sh /venv --deps-only", "sh deploy/install.sh /venv"]
    for step in steps:
        done = subprocess.run(
            step.replace("/venv", str(venv)),
            shell=True,
            cwd=context,
            env=machine_env(),
            capture_output=True,
            text=True,
            timeout=1200,
            check=False,
        )
        assert done.returncode == 0, done.stderr[-3000:]
    installed = distributions(venv)
    assert "tuneloop" in installed and not installed & TRAINING
    elsewhere.mkdir()
    demo = subprocess.run(
        [str(venv / "bin" / "tuneloop"), "demo", "--dir", "out"],
        cwd=elsewhere,
        env=machine_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert_the_demo_ran(elsewhere / "out", demo.stdout)


def test_building_tuneloop_prints_no_deprecation_warning(tmp_path: Path) -> None:
    """setuptools warns, during every install, about metadata written the old way (a license table, ...)."""
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-cache-dir",
            "-v",
            "-w",
            str(tmp_path),
            str(fresh_clone(tmp_path / "clone")),
        ],
        env=machine_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    assert "Running setup.py" not in build.stdout and list(tmp_path.glob("tuneloop-*.whl"))
    assert not re.findall(r".*deprecat.*", build.stdout + build.stderr, re.IGNORECASE)
