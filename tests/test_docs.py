"""The README states what the code does: its command list is `/tune help`'s, its settings table is the settings
model's, and the package count is the layers'. Each side is read from the code, so a new command, option
choice, setting or package fails here until the README says so."""

from __future__ import annotations

import re
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml
from pydantic import AliasChoices

from bot.fakes import FakeOpenAI, FakeSlack
from bot.settings import Settings
from tests.conftest import ALICE, Harness, make_settings, served

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
NUMBERS = ("zero one two three four five six seven eight nine ten eleven twelve").split()


@pytest.fixture
async def app(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> AsyncIterator[Harness]:
    async with served(make_settings(tmp_path, slack, oai), slack) as harness:
        yield harness


def section(text: str, heading: str) -> str:
    """The body of a `##`/`###` section, up to the next heading of any level."""
    match = re.search(rf"^#+ {re.escape(heading)}\n(.*?)(?=^#)", text, re.M | re.S)
    assert match, f"no section `{heading}`"
    return match[1]


def readme_commands() -> list[str]:
    block = re.search(r"```\n(.*?)```", section(README, "Commands"), re.S)
    assert block
    return [line.strip() for line in block[1].splitlines() if line.strip()]


def readme_settings() -> set[str]:
    rows = [line for line in section(README, "Settings").splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split(" | ")[0])}


def model_settings() -> set[str]:
    names: set[str] = set()
    for field in Settings.model_fields.values():
        if field.alias:
            names.add(field.alias)
        elif isinstance(field.validation_alias, AliasChoices):
            names.update(str(choice) for choice in field.validation_alias.choices)
        elif isinstance(field.validation_alias, str):
            names.add(field.validation_alias)
    return names


async def test_the_readmes_command_list_is_tune_help(app: Harness) -> None:
    status, body = await app.command("help", user=ALICE)
    assert status == 200
    helped = re.findall(r"^`(/tune [^`]*)` — ", body["text"], re.M)
    assert helped and readme_commands() == helped


def test_the_readmes_settings_table_is_the_settings_model() -> None:
    documented, read = readme_settings(), model_settings()
    assert read and documented == read, {"undocumented": read - documented, "read by nothing": documented - read}


def test_the_package_count_in_the_docs_is_the_layers() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    count = NUMBERS[len(config["tool"]["importlinter"]["root_packages"])]
    assert f"{count.capitalize()} packages in layers" in README
    assert f"The code is in {count} packages" in (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def test_pre_commit_runs_what_make_lint_runs() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^lint:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe
    lint = [line.strip().replace("$(BIN)/", ".venv/bin/") for line in recipe[1].splitlines()]
    hooks = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8"))["repos"][0]["hooks"]
    assert lint and [hook["entry"] for hook in hooks] == lint
    assert all(hook["language"] == "system" and hook["pass_filenames"] is False for hook in hooks)
