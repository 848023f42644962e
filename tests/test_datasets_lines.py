"""The SFT and DPO line formats and OpenAI's data-preparation checks."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.dataset_helpers import conversation
from tuning.training.datasets.checks import check_dpo, check_sft
from tuning.training.datasets.lines import (
    answer_to_train_on,
    dpo_line,
    encode,
    parse_conversation,
    sft_line,
    sft_line_bytes,
    shorter,
)


def test_sft_line_appends_the_answer_as_the_assistant_turn() -> None:
    line = sft_line(conversation("Why?"), "Because.")
    assert line == {"messages": [*conversation("Why?"), {"role": "assistant", "content": "Because."}]}
    assert check_sft(line) is None


def test_a_correction_is_what_is_trained_on() -> None:
    assert answer_to_train_on("original", "corrected") == "corrected"
    assert answer_to_train_on("original", None) == "original"
    assert answer_to_train_on("original", "") == ""  # an empty correction is caught by the checks


def test_dpo_line_has_the_documented_shape() -> None:
    line = dpo_line(conversation("Why?"), "Good answer.", "Bad answer.")
    assert line == {
        "input": {"messages": conversation("Why?")},
        "preferred_output": [{"role": "assistant", "content": "Good answer."}],
        "non_preferred_output": [{"role": "assistant", "content": "Bad answer."}],
    }
    assert check_dpo(line) is None


def test_encoded_line_is_one_utf8_json_line() -> None:
    raw = encode(sft_line(conversation("Où est la gare?\nEt le café ☕?"), "Là-bas."))
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    assert "☕".encode() in raw
    assert json.loads(raw)["messages"][1]["content"] == "Où est la gare?\nEt le café ☕?"


@pytest.mark.parametrize(
    "stored",
    [
        json.dumps(conversation("Hi?")),  # json.dumps defaults: ", " and ": ", \\u escapes
        json.dumps(conversation("Ça va? 😀")),
        json.dumps(conversation("tabs\tand\nnewlines"), ensure_ascii=False, separators=(",", ":")),
        "  " + json.dumps(conversation("padded")) + " ",
        "[]",
    ],
)
def test_spliced_sft_line_equals_the_serialised_one(stored: str) -> None:
    answer = 'Say "hi" \\ then ☕\n twice'
    raw = sft_line_bytes(stored, answer)
    assert raw is not None and raw.endswith(b"\n") and raw.count(b"\n") == 1
    assert json.loads(raw) == sft_line(json.loads(stored), answer)


@pytest.mark.parametrize("stored", [json.dumps(conversation("x"), indent=1), '{"messages": []}', "not json"])
def test_splice_declines_what_is_not_a_one_line_array(stored: str) -> None:
    assert sft_line_bytes(stored, "a") is None


@given(st.lists(st.tuples(st.sampled_from(["system", "user", "assistant"]), st.text()), max_size=5), st.text())
def test_splice_and_serialise_agree_on_any_text(turns: list[tuple[str, str]], answer: str) -> None:
    messages = [{"role": role, "content": content} for role, content in turns]
    try:
        expected = encode(sft_line(messages, answer))
    except UnicodeEncodeError:  # lone surrogates: the build drops these as invalid_unicode
        return
    raw = sft_line_bytes(json.dumps(messages), answer)
    assert raw is not None and json.loads(raw) == json.loads(expected)


def test_the_input_of_a_vote_pair_is_the_shorter_conversation() -> None:
    short, long = conversation("Why?"), conversation("Why?", ("Earlier?", "Earlier answer."))
    assert shorter(long, short) is short
    assert shorter(short, long) is short


def test_unreadable_conversation_is_its_own_error() -> None:
    with pytest.raises(ValueError):
        parse_conversation("[{")


VALID = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}, {"role": "assistant", "content": "a"}]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ([], "data_type"),
        ({"messages": []}, "missing_messages_list"),
        ({"messages": "hello"}, "missing_messages_list"),
        ({}, "missing_messages_list"),
        ({"messages": [{"role": "user"}, *VALID]}, "message_missing_key"),
        ({"messages": ["text", *VALID]}, "message_missing_key"),
        ({"messages": [{"role": "user", "content": "u", "mood": "x"}, *VALID]}, "message_unrecognized_key"),
        ({"messages": [{"role": "wizard", "content": "u"}, *VALID]}, "unrecognized_role"),
        ({"messages": [{"role": "user", "content": 3}, *VALID]}, "missing_content"),
        ({"messages": [{"role": "user", "content": "  "}, *VALID]}, "missing_content"),
        ({"messages": [{"role": "user", "content": None}, *VALID]}, "missing_content"),
        ({"messages": VALID[:2]}, "example_missing_assistant_message"),
    ],
)
def test_each_check_names_its_reason(line: object, reason: str) -> None:
    assert check_sft(line) == reason


def test_allowed_keys_and_tool_calls_pass() -> None:
    messages = [
        {"role": "user", "content": "weather?", "name": "ann", "weight": 0},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function"}]},
        {"role": "tool", "content": "sunny", "tool_call_id": "1"},
        {"role": "assistant", "content": "Sunny.", "weight": 1},
    ]
    assert check_sft({"messages": messages}) is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"input": None}, "missing_input"),
        ({"input": {"messages": []}}, "missing_messages_list"),
        ({"preferred_output": []}, "bad_preferred_output"),
        ({"preferred_output": [{"role": "user", "content": "x"}]}, "bad_preferred_output"),
        ({"non_preferred_output": [{"role": "assistant", "content": ""}]}, "bad_non_preferred_output"),
        ({"non_preferred_output": [{"role": "assistant", "content": " Good   answer. "}]}, "identical_outputs"),
    ],
)
def test_dpo_checks(change: dict, reason: str) -> None:
    line = dpo_line(conversation("Why?"), "Good answer.", "Bad answer.") | change
    assert check_dpo(line) == reason
