"""`/tune` itself: help, bad input, and a runner for every subcommand of the grammar."""

from __future__ import annotations

from pathlib import Path

import handlers
from bot.fakes import FakeOpenAI, FakeSlack
from handlers.grammar import Grammar
from providers.registry import known_specs
from tests.conftest import Harness
from tests.test_manifest import registered_services

grammar = Grammar([spec.name for spec in known_specs()])  # what bot/ builds

from tests.conftest import BOTH_DATABASES

pytestmark = BOTH_DATABASES


async def test_help_answers_with_the_full_grammar_at_once(app: Harness) -> None:
    status, body = await app.command("help")
    assert status == 200 and body["response_type"] == "ephemeral"
    for spec in grammar.subcommands:
        assert spec.usage in body["text"]


async def test_an_unknown_subcommand_gets_an_error_and_the_usage(app: Harness) -> None:
    status, body = await app.command("frobnicate now")
    assert status == 200 and body["response_type"] == "ephemeral"
    assert "no subcommand `frobnicate`" in body["text"] and "/tune dataset build NAME" in body["text"]


async def test_a_bad_option_names_the_problem_and_changes_nothing(app: Harness) -> None:
    status, body = await app.command("train support epochs:99")
    assert "`epochs:99` is not valid" in body["text"] and "/tune train DATASET" in body["text"]
    assert await app.db.fetchval("SELECT count(*) FROM jobs") == 0


async def test_every_subcommand_has_a_runner(tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI) -> None:
    services = await registered_services(tmp_path, slack, oai)
    names = {spec.name for spec in grammar.subcommands} - {"help"}
    assert set(handlers.slash_runners(services)) == names
