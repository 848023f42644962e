from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from handlers.grammar import Grammar
from providers.registry import known_specs
from tuning.errors import UsageError
from tuning.values import ChannelRef

grammar = Grammar([spec.name for spec in known_specs()])  # what bot/ builds


def test_empty_text_is_help() -> None:
    assert grammar.parse("").name == "help"


def test_positional_arguments_and_options_are_typed() -> None:
    command = grammar.parse("dataset build support since:2026-01-02 channel:<#C123|help-desk> format:DPO val:0.2")
    assert command.name == "dataset build"
    assert command.args == {"NAME": "support"}
    assert command.options == {
        "since": date(2026, 1, 2),
        "channel": ChannelRef("C123", "help-desk"),
        "format": "dpo",
        "val": 0.2,
    }


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("frobnicate", "no subcommand `frobnicate`"),
        ("dataset", "needs one more word"),
        ("dataset zap x", "no subcommand `zap`"),
        ("train", "needs DATASET"),
        ("status a b", "does not take `b`"),
        ("train support epochs:0", "`epochs:0` is not valid"),
        ("train support epochs:26", "from 1 to 25"),
        ("train support lr:-1", "`lr:-1` is not valid"),
        ("train support trainer:azure", "one of openai, together"),
        ("train support colour:red", "no option `colour:`"),
        ("train support epochs:2 epochs:3", "given twice"),
        ("harvest general", "`general` is not valid"),
        ("dataset build x since:2026-13-01", "YYYY-MM-DD"),
        ("dataset build x val:0.9", "`val:0.9` is not valid"),
        ("dataset show bad/name", "`bad/name` is not valid"),
    ],
)
def test_bad_input_names_the_problem_and_shows_usage(text: str, fragment: str) -> None:
    with pytest.raises(UsageError) as caught:
        grammar.parse(text)
    assert fragment in str(caught.value)
    assert "/tune" in caught.value.usage


def test_channel_forms() -> None:
    assert grammar.parse("harvest #general").args["#channel"] == ChannelRef(None, "general")
    assert grammar.parse("harvest <#C42>").args["#channel"] == ChannelRef("C42", None)
    assert grammar.parse("harvest <#C42|general> days:7").options == {"days": 7}


def test_fine_tuned_model_names_are_positional_not_options() -> None:
    command = grammar.parse("promote ft:gpt-4.1-mini-2025-04-14:acme:support:abc123")
    assert command.args["MODEL|JOB"] == "ft:gpt-4.1-mini-2025-04-14:acme:support:abc123"


def test_dataset_versions() -> None:
    assert grammar.parse("dataset show support@3").args["NAME"] == "support@3"


def test_help_lists_every_subcommand() -> None:
    text = grammar.help_text()
    for spec in grammar.subcommands:
        assert spec.usage in text


@given(st.text(max_size=300))
def test_parser_never_raises_anything_but_usage_errors(text: str) -> None:
    try:
        command = grammar.parse(text)
    except UsageError as error:
        assert str(error)
    else:
        assert command.spec is not None
