"""Dedupe keys, exact token counts, the per-example limit table, the split and the epochs rule."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import bpe_openai
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.dataset_helpers import conversation
from tuning.catalogue import tokens as reference
from tuning.catalogue.entries import packaged_catalogue, parse_catalogue
from tuning.training.datasets import counting
from tuning.training.datasets.cost import billed_tokens, default_epochs, estimate
from tuning.training.datasets.counting import LineCounter, TooLong, splits_at_every_space
from tuning.training.datasets.quality import conversation_keys, exact_key, near_key, question_key
from tuning.training.datasets.split import needs_forced_validation, split_of, split_point
from tuning.training.datasets.tally import TokenTally

# --- dedupe keys ---------------------------------------------------------------------------------


def test_exact_duplicates_ignore_whitespace_and_case() -> None:
    first = exact_key(conversation("How do I reset it?"), "Hold the button.")
    assert exact_key(conversation("  how do i\n reset   IT?"), "hold  the\tbutton.") == first
    assert exact_key(conversation("How do I reset it?"), "Hold the button!") != first
    assert exact_key(conversation("How do I reset it"), "Hold the button.") != first


def test_near_duplicates_also_ignore_punctuation_but_not_words() -> None:
    key = near_key(conversation("How do I reset it?"))
    assert near_key(conversation("how do i reset it")) == key
    assert near_key(conversation("How... do I reset it?!")) == key
    assert near_key(conversation("“How do I reset it?”")) == key  # typographic quotes too
    assert near_key(conversation("How do I restart it?")) != key


def test_the_answer_is_in_the_exact_key_only() -> None:
    exact_a, near_a = conversation_keys(conversation("Why?"), "Because A.")
    exact_b, near_b = conversation_keys(conversation("Why?"), "Because B.")
    assert near_a == near_b and exact_a != exact_b


def test_roles_are_part_of_the_key() -> None:
    as_user = [{"role": "user", "content": "hi"}]
    as_system = [{"role": "system", "content": "hi"}]
    assert near_key(as_user) != near_key(as_system)


def test_question_key_tolerates_a_lone_surrogate() -> None:
    assert question_key("why \ud800?") == question_key("WHY \ud800")


# --- tokens --------------------------------------------------------------------------------------


def test_reference_token_counts() -> None:
    assert len(bpe_openai.get_encoding("cl100k_base").encode_ordinary("hello world")) == 2
    assert len(bpe_openai.get_encoding("o200k_base").encode_ordinary("hello world")) == 2
    assert LineCounter("gpt-3.5-turbo").text("hello world") == 2
    assert LineCounter("gpt-4.1-mini").text("hello world") == 2


def test_message_accounting_is_three_per_message_one_per_name_three_per_example() -> None:
    counter = LineCounter("gpt-4o-mini")
    assert counter.messages([{"role": "user", "content": "hello world"}]) == 3 + (3 + 2)
    assert counter.messages([{"role": "user", "content": "hello world", "name": "ann"}]) == 3 + (3 + 2 + 1)
    assert counter.messages([]) == 3


def test_the_model_picks_the_encoding() -> None:
    assert LineCounter("gpt-3.5-turbo-0125").encoding_name == "cl100k_base"
    assert LineCounter("ft:gpt-4.1-mini-2025-04-14:org:x:1").encoding_name == "o200k_base"
    text = "Tokenizers differ: ünïcödé, emoji 🤖, code `x += 1`."
    assert LineCounter("gpt-3.5-turbo").text(text) != LineCounter("gpt-4o").text(text)


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "role": st.sampled_from(["system", "user", "assistant"]),
                "content": st.text(max_size=300),
            },
            optional={"name": st.sampled_from(["", "ann"])},
        ),
        max_size=6,
    ),
    st.sampled_from(["gpt-4.1", "gpt-3.5-turbo"]),
)
def test_counts_equal_tuning_tokens_accounting(messages: list[dict[str, str]], model: str) -> None:
    assert LineCounter(model).messages(messages) == reference.count_messages(model, messages)


def test_repeated_contents_are_counted_the_same_every_time() -> None:
    counter = LineCounter("gpt-4.1")
    text = "a long system prompt " * 30
    assert counter.text(text) == counter.text(text) == reference.count_text("gpt-4.1", text)


def test_text_over_the_tokenizers_guard_is_too_long() -> None:
    with pytest.raises(TooLong):
        LineCounter("gpt-4.1").text("x" * 1_000_001)


@pytest.mark.parametrize("encoding", ["o200k_base", "cl100k_base"])
def test_the_direct_rust_counter_counts_like_the_public_api(encoding: str) -> None:
    count = reference.text_counter(encoding)
    public = bpe_openai.get_encoding(encoding)
    for text in ["hello world", "Tokenizers differ: ünïcödé, emoji 🤖, code `x += 1`.", "  \n\t ", "a" * 5000]:
        assert count(text) == len(public.encode_ordinary(text))


def test_without_the_rust_bindings_counting_falls_back_to_the_public_api(monkeypatch: pytest.MonkeyPatch) -> None:
    def moved() -> None:
        raise ImportError("no bindings where this version keeps them")

    monkeypatch.setattr(reference, "_bpe_openai_bindings", moved)
    reference.text_counter.cache_clear()
    try:
        text = "hello world, again"
        assert LineCounter("gpt-4.1").text(text) == len(bpe_openai.get_encoding("o200k_base").encode_ordinary(text))
    finally:
        reference.text_counter.cache_clear()


def test_a_lone_surrogate_is_counted_by_the_public_api() -> None:
    assert LineCounter("gpt-4.1").text("why \ud800?") == reference.count_text("gpt-4.1", "why \ud800?")


# Words and the separators that decide whether a text may be counted word by word: contractions (cl100k
# cuts them off), capitals, digit runs, the punctuation that swallows newlines and slashes in o200k,
# combining marks, emoji, and every kind of whitespace next to a space.
_WORDS = st.sampled_from(
    [
        "hello",
        "World",
        "don't",
        "it's",
        "'ll",
        "12345",
        "x1",
        "?!",
        "./",
        "(a)",
        "ünï",
        "e\u0301",
        "🤖",
        "\u4e2d\u6587",
        "A",
        "-",
        "\x1f",
        "",
    ]
)
_SEPARATORS = st.sampled_from(
    [" ", " ", " ", "  ", "   ", "\n", " \n", "\n ", "\r\n", "\t", " \t", "\xa0", " \xa0", "\u3000 ", "\n\n", ""]
)


@given(st.lists(st.tuples(_WORDS, _SEPARATORS), max_size=12), st.sampled_from(["gpt-4.1", "gpt-3.5-turbo"]))
def test_counting_word_by_word_equals_counting_the_whole_text(parts: list[tuple[str, str]], model: str) -> None:
    text = "".join(word + separator for word, separator in parts)
    assert LineCounter(model).text(text) == reference.count_text(model, text)


def test_word_by_word_only_where_no_space_touches_other_whitespace() -> None:
    for text in ["a b c", " a", "a ", "", "ünï cödé 🤖", "line one\nline two", "tab\tand space", "a\x1f b"]:
        assert splits_at_every_space(text), text
    for text in ["a  b", "a \nb", "a\n b", "a\t b", "a\xa0 b", "ünï \u3000b", "a \r\nb"]:
        assert not splits_at_every_space(text), text


def test_every_unicode_space_is_known_to_the_word_check() -> None:
    # Python's isspace() is Unicode's White_Space plus the four ASCII separators \x1c-\x1f, which the
    # tokenizer's regex does not take for spaces.
    spaces = {c for c in map(chr, range(0x3001)) if c.isspace()} - {" ", "\x1c", "\x1d", "\x1e", "\x1f"}
    assert spaces == set(counting._ALL_OTHER_SPACES)


def test_a_word_seen_once_is_not_sent_to_the_tokenizer_again(monkeypatch: pytest.MonkeyPatch) -> None:
    counter = LineCounter("gpt-4.1")
    sent: list[str] = []
    tokenizer = reference.text_counter("o200k_base")
    monkeypatch.setattr(counter._later_words, "_count", lambda text: sent.append(text) or tokenizer(text))
    first = counter.text("reset the router")
    assert counter.text("then reset the modem") == reference.count_text("gpt-4.1", "then reset the modem")
    assert first == reference.count_text("gpt-4.1", "reset the router")
    assert sent == [" the", " router", " reset", " modem"]


def test_remembered_words_stop_at_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(counting, "_REMEMBERED_WORDS", 3)
    counter = LineCounter("gpt-4.1")
    text = "one two three four five six"
    assert counter.text(text) == reference.count_text("gpt-4.1", text)
    assert len(counter._later_words) == 3
    assert counter.text(text + " seven") == reference.count_text("gpt-4.1", text + " seven")


def test_a_build_worker_starts_without_the_services_or_the_tokenizer_package() -> None:
    """Each worker process imports prepare: pydantic, storage and bpe_openai's package (0.8 s of vocabulary
    parsing) would be paid again per worker, per build."""
    probe = (
        "import sys; from tuning.training.datasets import prepare; prepare._counter('o200k_base').text('hi');"
        "print(sorted(m for m in ('pydantic', 'storage', 'bpe_openai', 'tuning.training.datasets.service') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert result.stdout.strip() == "[]"


def test_per_example_limits_come_from_the_catalogue() -> None:
    def limit(model: str) -> int:
        return packaged_catalogue().facts(model).example_token_limit

    assert limit("gpt-4.1-mini-2025-04-14") == 65_536
    assert limit("gpt-4o-2024-08-06") == 65_536
    assert limit("ft:gpt-4o-mini-2024-07-18:org::abc") == 65_536
    assert limit("gpt-3.5-turbo-0125") == 16_385
    assert limit("meta-llama/Meta-Llama-3.1-8B-Instruct-Reference") == 8_192  # open models: conservative


# --- split ---------------------------------------------------------------------------------------


@given(
    st.sets(st.integers(1, 10**9), max_size=200),
    st.sets(st.integers(1, 10**9), max_size=200),
    st.sampled_from([0.05, 0.1, 0.2, 0.5]),
)
def test_adding_examples_never_moves_an_old_one(old: set[int], added: set[int], val: float) -> None:
    before = {i: split_of(i, val) for i in old}
    after = {i: split_of(i, val) for i in old | added}
    assert {i: after[i] for i in old} == before


def test_split_follows_the_fraction() -> None:
    ids = range(1, 20_001)
    share = sum(split_of(i, 0.1) == "validation" for i in ids) / len(ids)
    assert 0.09 < share < 0.11
    assert all(split_of(i, 0.0) == "train" for i in ids)
    assert all(0 <= split_point(i) < 1 for i in ids)


def test_a_larger_fraction_only_adds_validation_examples() -> None:
    small = {i for i in range(1, 5000) if split_of(i, 0.1) == "validation"}
    large = {i for i in range(1, 5000) if split_of(i, 0.2) == "validation"}
    assert small < large


@pytest.mark.parametrize(
    ("train", "validation", "val", "forced"),
    [
        (10, 0, 0.1, True),
        (9, 0, 0.1, False),
        (10, 1, 0.1, False),
        (500, 0, 0.1, True),
        (10, 0, 0.0, False),
    ],
)
def test_at_least_one_validation_example_from_ten(train: int, validation: int, val: float, forced: bool) -> None:
    assert needs_forced_validation(train, validation, val) is forced


# --- epochs and cost -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "epochs"),
    [
        (0, 0),
        (1, 25),
        (3, 25),
        (4, 25),
        (5, 20),
        (10, 10),
        (33, 3),
        (34, 3),
        (100, 3),
        (8_333, 3),
        (8_334, 2),
        (12_500, 2),
        (12_501, 1),
        (25_000, 1),
        (1_000_000, 1),
    ],
)
def test_default_epochs_rule(n: int, epochs: int) -> None:
    assert default_epochs(n) == epochs


@given(st.integers(1, 10**7))
def test_default_epochs_matches_the_published_rule(n: int) -> None:
    if 3 * n < 100:
        expected = min(25, 100 // n)
    elif 3 * n > 25_000:
        expected = max(1, 25_000 // n)
    else:
        expected = 3
    assert default_epochs(n) == expected


def test_estimate_uses_the_price_table() -> None:
    fallback = {
        "provider": "x",
        "context_window": 1,
        "max_output_tokens": 1,
        "example_token_limit": 1,
        "tokenizer": "o200k_base",
        "token_counts": "exact",
    }
    prices = parse_catalogue(
        {
            "checked": "2026-11-21",
            "fallback": fallback,
            "models": {
                "gpt-4.1-mini": {"training_usd_per_million": 5.0},
                "gpt-4.1": {"training_usd_per_million": 25.0},
            },
        },
        "test",
    )
    cost = estimate(prices, trainer="openai", model="gpt-4.1-mini-2025-04-14", train_examples=200, train_tokens=100_000)
    assert (cost.epochs, cost.billed_tokens, cost.usd_per_million, cost.usd) == (3, 300_000, 5.0, 1.5)
    assert cost.prices_checked == "2026-11-21"
    assert billed_tokens(3, 100_000) == 300_000
    unknown = estimate(prices, trainer="together", model="Qwen/Qwen2-7B", train_examples=200, train_tokens=1)
    assert unknown.usd is None and unknown.prices_checked is None


# --- token statistics ----------------------------------------------------------------------------


@given(st.lists(st.tuples(st.sampled_from(["train", "validation"]), st.integers(1, 70_000)), min_size=1))
def test_tally_matches_nearest_rank_on_the_sorted_counts(counts: list[tuple[str, int]]) -> None:
    tally = TokenTally()
    for split, tokens in counts:
        tally.add(split, tokens)
    ordered = sorted(tokens for _, tokens in counts)
    n = len(ordered)
    stats = tally.stats()
    assert stats.total == sum(ordered) and stats.max == ordered[-1]
    assert stats.train == sum(tokens for split, tokens in counts if split == "train")
    assert stats.median == ordered[-(-n * 50 // 100) - 1] and stats.p90 == ordered[-(-n * 90 // 100) - 1]


def test_tally_moves_between_splits_and_is_empty_at_first() -> None:
    tally = TokenTally()
    assert tally.stats().median == tally.stats().total == 0
    tally.add("train", 10)
    tally.add("train", 30)
    tally.move(30, "train", "validation")
    assert (tally.stats().train, tally.stats().total) == (10, 40)


def test_a_removed_count_leaves_the_statistics_as_if_never_added() -> None:
    tally = TokenTally()
    for tokens in (10, 20, 500):
        tally.add("train", tokens)
    tally.add("validation", 40)
    tally.remove("train", 500)
    tally.remove("validation", 40)
    stats = tally.stats()
    assert (stats.total, stats.train, stats.max, stats.median, stats.p90) == (30, 30, 20, 10, 20)
