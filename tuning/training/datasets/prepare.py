"""The per-example work of a build, batch by batch: pure functions that may run in worker processes.

Rows come in as plain tuples from storage/datasets.py and go back as plain tuples (cheap to pickle).
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from tuning.training.datasets.checks import check_dpo, check_sft
from tuning.training.datasets.counting import LineCounter, TooLong
from tuning.training.datasets.lines import (
    Line,
    UnreadableConversation,
    answer_to_train_on,
    dpo_line,
    encode,
    kto_line,
    line_messages,
    parse_conversation,
    sft_line,
    sft_line_bytes,
    shorter,
)
from tuning.training.datasets.quality import conversation_keys, normal, question_key
from tuning.training.datasets.split import split_of

if TYPE_CHECKING:  # workers need only the tuples, not the storage package
    from storage.datasets import ApprovedRow, SurvivorRow

Row = tuple[Any, ...]
# Moves an undesirable KTO answer's near-duplicate key apart from the desirable ones' (a 64-bit key stays one).
_UNDESIRABLE_NEAR = 0x6B746F
Spilled = dict[str, tuple[bytes, list[int]]]  # split → (its SFT lines joined, each line's tokens)
_NO_KEYS = (None, None)


@lru_cache(maxsize=4)
def _counter(encoding: str) -> LineCounter:
    return LineCounter.of_encoding(encoding)


def inspect_batch(
    fmt: str, encoding: str, limit: int, val: float, rows: list[ApprovedRow]
) -> tuple[list[Row], Spilled]:
    """Pass 1. In: (id, conversation, answer, corrected, question), one per example.
    Out: a candidate per example, in the same order — (id, reason, tokens, split, exact key, near key,
    question key, is_correction, line offset, line length) — and per split, its SFT lines joined in that order
    (a candidate's line is at its offset in that block) with their token counts. Lines are made here, once,
    so pass 2 of an SFT build only copies; the question key is only for DPO's vote pairs."""
    counter = _counter(encoding)
    candidates: list[Row] = []
    lines: dict[str, list[bytes]] = {"train": [], "validation": []}
    tokens_of_lines: dict[str, list[int]] = {"train": [], "validation": []}
    sizes = {"train": 0, "validation": 0}
    for row in rows:
        reason, tokens, split, exact, near, question, is_correction, line = _inspect(counter, limit, val, fmt, row)
        offset = length = None
        if line is not None:
            offset, length = sizes[split], len(line)
            sizes[split] += length
            lines[split].append(line)
            tokens_of_lines[split].append(tokens)
        candidates.append((row[0], reason, tokens, split, exact, near, question, is_correction, offset, length))
    return candidates, {split: (b"".join(lines[split]), tokens_of_lines[split]) for split in lines}


def _inspect(counter: LineCounter, limit: int, val: float, fmt: str, row: ApprovedRow) -> Row:
    example_id, conversation_text, answer, corrected, question_text = row
    # A KTO build reads each answer's label where DPO reads its question; an undesirable answer is the one voted on.
    desirable = fmt != "kto" or bool(question_text)
    target = answer_to_train_on(answer, corrected) if desirable else answer
    try:
        reason, tokens, keys, conversation = _assess(counter, limit, conversation_text, target)
        if not desirable and keys[1] is not None:  # KTO: a 👍 and a 👎 answer to one thread are both examples
            keys = (keys[0], keys[1] ^ _UNDESIRABLE_NEAR)
        is_correction = int(corrected is not None and normal(corrected) != normal(answer))
    except UnicodeEncodeError:  # a lone surrogate smuggled in through a \ud800 escape
        reason, tokens, keys, conversation, is_correction = "invalid_unicode", None, _NO_KEYS, None, 0
    # Only a DPO build reads the questions (NOT NULL); an SFT build reads NULL.
    question = question_key(question_text) if fmt == "dpo" and question_text is not None and reason is None else None
    line = None
    if fmt == "sft" and reason is None:
        line = sft_line_bytes(conversation_text, target) or encode(sft_line(conversation, target))
    elif fmt == "kto" and reason is None:
        line = encode(kto_line(conversation, target, desirable))
    return (reason, tokens, split_of(example_id, val), *keys, question, is_correction, line)


def _assess(counter: LineCounter, limit: int, conversation_text: str, target: str) -> tuple[Any, ...]:
    try:
        conversation = parse_conversation(conversation_text)
    except UnreadableConversation:
        return "unreadable_conversation", None, _NO_KEYS, None
    line = sft_line(conversation, target)
    reason = check_sft(line)
    if reason:
        return reason, None, _NO_KEYS, conversation
    keys = conversation_keys(conversation, target)
    tokens, reason = _tokens_within(counter, limit, line)
    return reason, tokens, (_NO_KEYS if reason else keys), conversation


def _tokens_within(counter: LineCounter, limit: int, line: Line) -> tuple[int | None, str | None]:
    try:
        tokens = counter.messages(line_messages(line))
    except TooLong:
        return None, "too_many_tokens"
    return tokens, ("too_many_tokens" if tokens > limit else None)


def render_batch(encoding: str, limit: int, rows: list[SurvivorRow]) -> list[Row]:
    """Pass 2 of a DPO build (an SFT build's lines were made in pass 1).
    In: (id, split, rejected_id, conversation, answer, corrected, rejected conversation, rejected answer).
    Out: (id, split, reason, tokens, line bytes or None)."""
    counter = _counter(encoding)
    return [_render_dpo(counter, limit, row) for row in rows]


def _render_dpo(counter: LineCounter, limit: int, row: SurvivorRow) -> Row:
    example_id, split, rejected_id, conversation_text, answer, corrected, rejected_text, rejected_answer = row
    conversation = parse_conversation(conversation_text)
    if rejected_id is None:  # a correction (only those go unpaired): the team's text over the original answer
        assert corrected is not None
        line = dpo_line(conversation, corrected, answer)
    else:  # a 👍 answer over a 👎 answer to the same question in the same thread (its answer is NOT NULL)
        assert rejected_answer is not None
        context = shorter(conversation, _parsed_or(rejected_text, conversation))
        line = dpo_line(context, answer_to_train_on(answer, corrected), rejected_answer)
    reason = check_dpo(line)
    tokens, too_long = (None, None) if reason else _tokens_within(counter, limit, line)
    return (example_id, split, *_encoded(reason or too_long, tokens, line))


def _parsed_or(text: str | None, fallback: Any) -> Any:
    try:
        return parse_conversation(text) if text is not None else fallback
    except UnreadableConversation:
        return fallback


def _encoded(reason: str | None, tokens: int | None, line: Line) -> Row:
    """(reason, tokens, line bytes or None)."""
    if reason:
        return reason, tokens, None
    try:
        return None, tokens, encode(line)
    except UnicodeEncodeError:  # a lone surrogate smuggled in through a \ud800 escape
        return "invalid_unicode", tokens, None
