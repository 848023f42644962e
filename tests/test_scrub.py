"""Tests for tuning.scrub: labelled corpus, properties and edge cases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tuning.scrub import PLACEHOLDERS, Scrubber, luhn_valid, scrub

CORPUS_PATH = Path(__file__).parent / "data" / "scrub_cases.jsonl"


def _load_corpus() -> list[dict]:
    with CORPUS_PATH.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


CORPUS = _load_corpus()


def _scrub_case(case: dict, text: str) -> str:
    return scrub(text, case.get("names", ()))


# --------------------------------------------------------------------------
# Corpus
# --------------------------------------------------------------------------


@pytest.mark.parametrize("case", CORPUS, ids=[c["id"] for c in CORPUS])
def test_corpus_case(case: dict) -> None:
    assert _scrub_case(case, case["text"]) == case["expected"]


@pytest.mark.parametrize("case", CORPUS, ids=[c["id"] for c in CORPUS])
def test_corpus_expected_is_a_fixed_point(case: dict) -> None:
    assert _scrub_case(case, case["expected"]) == case["expected"]


def test_corpus_shape() -> None:
    assert len(CORPUS) >= 150
    unchanged = [c for c in CORPUS if c["expected"] == c["text"]]
    assert len(unchanged) * 2 >= len(CORPUS)
    ids = [c["id"] for c in CORPUS]
    assert len(ids) == len(set(ids)), "case ids must be unique"
    for case in CORPUS:
        assert set(case) <= {"id", "category", "text", "expected", "names"}, case["id"]
        assert isinstance(case.get("names", []), list), case["id"]


def test_corpus_covers_every_placeholder() -> None:
    produced = "".join(c["expected"] for c in CORPUS if c["expected"] != c["text"])
    for placeholder in PLACEHOLDERS:
        assert placeholder in produced


# --------------------------------------------------------------------------
# Idempotence
# --------------------------------------------------------------------------

NAMES = ["Ada Lovelace", "ada", "Al", "José García", "田中", "Conan O'Brien", "User"]
NAMED = Scrubber(NAMES)

# Pieces of the formats the scrubber knows, so that random concatenations
# land near pattern boundaries far more often than arbitrary text would.
FRAGMENTS = [
    "ada", "Ada", "Lovelace", "AL", "al", "josé", "田中", "O’Brien", "user", "USER",
    "@", "example.com", "a.b", "mailto:", "git@github.com:", "https://", "://",
    "user:pass", "@host.io/", "+", "+44", "+1", "(0)", "00", "0", "020", "7946",
    "0958", "(415)", "555", "0132", "07700", "900123", "4111", "1111", "4242",
    "5555", "4444", "3782", "822463", "10005", "1234567890123", "4111111111111111",
    "call me at ", "phone: ", "my number is ", "xoxb-", "xapp-1-", "sk-", "sk-proj-",
    "abc123DEF456ghi789JKL", "AKIA", "IOSFODNN7EXAMPLE", "ghp_", "github_pat_",
    "aws_secret_access_key=", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "Authorization: ", "Bearer ", "Basic ", "eyJhbGciOiJIUzI1NiJ9", "eyJ",
    "-----BEGIN PRIVATE KEY-----", "-----END PRIVATE KEY-----", "MIIEvQIBADAN",
    "<@U123ABC>", "<@U1|ada>", "<#C1|general>", "<#C2>", "<!here>", "<", ">", "|",
    "[USER]", "[EMAIL]", "[PHONE]", "[CARD]", "[SECRET]", "[", "]", "#",
    "hooks.slack.com/services/T1/B2/x", "2024-03-15", "10:30", "v1.2.3", "\n",
]
SEPARATORS = ["", " ", "-", ".", "@", ":", "/", "\n", "  ", ", ", "_", "'"]

fragment_text = st.lists(
    st.tuples(
        st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)),
        st.sampled_from(SEPARATORS),
    ),
    max_size=14,
).map(lambda pieces: "".join(fragment + sep for fragment, sep in pieces))


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_idempotent_on_arbitrary_text(text: str) -> None:
    once = NAMED.scrub(text)
    assert NAMED.scrub(once) == once


@settings(max_examples=1500, deadline=None)
@given(fragment_text)
def test_idempotent_on_pattern_fragments(text: str) -> None:
    once = NAMED.scrub(text)
    assert NAMED.scrub(once) == once


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(CORPUS), st.sampled_from(CORPUS), st.sampled_from(SEPARATORS))
def test_idempotent_on_corpus_texts(first: dict, second: dict, sep: str) -> None:
    text = first["text"] + sep + second["text"]
    once = NAMED.scrub(text)
    assert NAMED.scrub(once) == once


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_placeholders_are_never_split_or_nested(text: str) -> None:
    # Whatever surrounds them, existing placeholders come out intact.
    wrapped = "[USER]" + text + "[SECRET]"
    out = NAMED.scrub(wrapped)
    assert out.startswith("[USER]") and out.endswith("[SECRET]")


# --------------------------------------------------------------------------
# E-mail inside Slack formatting (property)
# --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(st.sampled_from("_*~"), min_size=1, max_size=3, unique=True),
    st.from_regex(r"[a-z][a-z0-9._+-]{0,12}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9]{0,8}\.(com|org|io|co\.uk)", fullmatch=True),
)
def test_email_inside_slack_formatting_keeps_the_markers(
    markers: list[str], local: str, domain: str
) -> None:
    opening, closing = "".join(markers), "".join(reversed(markers))
    text = f"mail {opening}{local}@{domain}{closing} today"
    assert scrub(text) == f"mail {opening}[EMAIL]{closing} today"


# --------------------------------------------------------------------------
# Adversarial input: must finish (no timing asserted) with the right answer
# --------------------------------------------------------------------------

SIZE = 100_000

ADVERSARIAL = [
    ("digit-groups", "1 " * (SIZE // 2), "1 " * (SIZE // 2)),
    ("dashed-digits", "1-" * (SIZE // 2), "1-" * (SIZE // 2)),
    ("plus-signs", "+1 " * (SIZE // 3), "+1 " * (SIZE // 3)),
    ("email-labels", "x@" + "a." * (SIZE // 2) + "1", "x@" + "a." * (SIZE // 2) + "1"),
    ("email-hyphens", "x@" + "a-" * (SIZE // 2), "x@" + "a-" * (SIZE // 2)),
    ("at-chain", "a@" * (SIZE // 2), "a@" * (SIZE // 2)),
    # userinfo runs to the last "@" that is followed by a host
    ("url-userinfo", "a://" + "b@" * (SIZE // 2), "a://[SECRET]@b@"),
    ("slack-prefixes", "xoxb-" * (SIZE // 5), "xoxb-" * (SIZE // 5)),
    ("openai-no-digit", "sk-" + "a" * SIZE, "sk-" + "a" * SIZE),
    ("bearer-words", "Bearer " * (SIZE // 7), "Bearer " * (SIZE // 7)),
    ("phone-cues", "call me at " * (SIZE // 11), "call me at " * (SIZE // 11)),
    ("whitespace", " " * SIZE, " " * SIZE),
    ("names", "Ada " * (SIZE // 4), "[USER] " * (SIZE // 4)),
    ("name-then-spaces", "Ada" + " " * SIZE + "x", "[USER]" + " " * SIZE + "x"),
    ("open-mentions", "<@U" * (SIZE // 3), "<@U" * (SIZE // 3)),
    (
        "unterminated-key-headers",
        "-----BEGIN PRIVATE KEY-----\n" * (SIZE // 28),
        "[SECRET]\n" * (SIZE // 28),
    ),
    (
        "key-header-then-dashes",
        "-----BEGIN PRIVATE KEY-----" + "-" * SIZE,
        "[SECRET]" + "-" * SIZE,
    ),
    (
        "near-misses-then-real-email",
        "a.b-c_d+" * (SIZE // 8) + " ada@example.com",
        "a.b-c_d+" * (SIZE // 8) + " [EMAIL]",
    ),
    (
        "repeated-real-data",
        "ada@x.io +44 20 7946 0958 4111 1111 1111 1111 " * 2000,
        "[EMAIL] [PHONE] [CARD] " * 2000,
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"),
    [(text, expected) for _, text, expected in ADVERSARIAL],
    ids=[name for name, _, _ in ADVERSARIAL],
)
def test_adversarial_input_finishes(text: str, expected: str) -> None:
    assert len(text) >= SIZE // 2
    assert NAMED.scrub(text) == expected


# --------------------------------------------------------------------------
# Luhn
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "number",
    [
        "4111111111111111",
        "4242424242424242",
        "5555555555554444",
        "378282246310005",
        "6011111111111117",
        "30569309025904",
        "4222222222222",
        "79927398713",  # the textbook example
        "0",
    ],
)
def test_luhn_valid(number: str) -> None:
    assert luhn_valid(number)


@pytest.mark.parametrize(
    "number",
    [
        "4111111111111112",
        "1234567890123456",
        "9780306406157",
        "79927398710",
        "",
        "4111 1111",  # separators are the caller's business
        "４１１１",  # full-width digits are not ASCII digits
        "abc",
    ],
)
def test_luhn_invalid(number: str) -> None:
    assert not luhn_valid(number)


def test_luhn_failing_digit_runs_are_not_cards() -> None:
    assert scrub("pay 4111 1111 1111 1112 now") == "pay 4111 1111 1111 1112 now"
    assert scrub("pay 4111 1111 1111 1111 now") == "pay [CARD] now"


def test_card_with_mixed_separators_is_not_one_card() -> None:
    assert scrub("4111 1111-1111 1111") == "4111 1111-1111 1111"


# --------------------------------------------------------------------------
# Member names
# --------------------------------------------------------------------------


def test_full_name_is_one_placeholder_not_two() -> None:
    assert Scrubber(["Ada Lovelace"]).scrub("Ada Lovelace said hi") == "[USER] said hi"


def test_first_and_last_name_of_real_name_are_scrubbed() -> None:
    scrubber = Scrubber(["Ada Lovelace"])
    assert scrubber.scrub("ask ada or LOVELACE") == "ask [USER] or [USER]"


def test_common_word_parts_are_not_scrubbed_alone() -> None:
    scrubber = Scrubber(["Mark Will"])
    assert scrubber.scrub("mark it, it will pass") == "mark it, it will pass"
    assert scrubber.scrub("Mark Will approved") == "[USER] approved"


def test_display_names_are_scrubbed_even_if_common_words() -> None:
    # Names passed in whole are trusted: a member chose that display name.
    assert Scrubber(["max"]).scrub("ping max") == "ping [USER]"


def test_names_do_not_match_inside_words_or_identifiers() -> None:
    scrubber = Scrubber(["Al"])
    text = "also AL-123 al.py al_bot pal Al."
    assert scrubber.scrub(text) == "also AL-123 al.py al_bot pal [USER]."


def test_short_and_empty_names_are_ignored() -> None:
    scrubber = Scrubber(["A", "", "   ", "@b"])
    assert scrubber.scrub("A b c") == "A b c"


def test_non_string_names_are_ignored() -> None:
    scrubber = Scrubber(["Ada", None, 42])  # type: ignore[list-item]
    assert scrubber.scrub("Ada and None and 42") == "[USER] and None and 42"


def test_names_are_regex_escaped() -> None:
    scrubber = Scrubber(["a.b (c)", "x+y"])
    assert scrubber.scrub("a.b (c) aXb x+y xxy") == "[USER] aXb [USER] xxy"


def test_longest_name_wins() -> None:
    scrubber = Scrubber(["Ada", "Ada Lovelace", "Ada Lovelace King"])
    assert scrubber.scrub("Ada Lovelace King, Ada Lovelace, Ada") == "[USER], [USER], [USER]"


def test_names_never_rewrite_placeholders_or_special_mentions() -> None:
    scrubber = Scrubber(["User", "here", "EMAIL"])
    text = "[USER] [EMAIL] <!here> here"
    assert scrubber.scrub(text) == "[USER] [EMAIL] <!here> [USER]"


def _letters(number: int) -> str:
    return "".join(chr(ord("a") + int(d)) for d in f"{number:04d}")


def test_many_names_compile_and_match() -> None:
    names = [f"Qu{_letters(i)} Zo{_letters(i)}" for i in range(3000)] + ["Member0042"]
    scrubber = Scrubber(names)
    text = f"Qu{_letters(42)} Zo{_letters(42)}, zo{_letters(2999)}, quzz, member0042"
    assert scrubber.scrub(text) == "[USER], [USER], quzz, [USER]"


def test_name_parts_are_whole_words_only() -> None:
    # "Member0042 Person" has no first-name part: "Member0042" is not a word.
    scrubber = Scrubber(["Member0042 Person"])
    assert scrubber.scrub("Member rang Person") == "Member rang [USER]"


def test_overlong_names_are_ignored_and_long_ones_work() -> None:
    prefixes = ["a" * k for k in range(2, 101)]  # worst case: nested prefixes
    scrubber = Scrubber(prefixes + ["x" * 500])
    text = "a" * 100 + " " + "a" * 7 + " " + "x" * 500
    assert scrubber.scrub(text) == "[USER] [USER] " + "x" * 500


def test_names_do_not_affect_default_scrubber() -> None:
    scrub("Ada", ["Ada"])
    assert scrub("Ada") == "Ada"


def test_convenience_function_matches_scrubber() -> None:
    text = "Ada <ada@example.com> +44 20 7946 0958"
    assert scrub(text, ["Ada"]) == Scrubber(["Ada"]).scrub(text)


def test_placeholders_constant() -> None:
    assert PLACEHOLDERS == ("[EMAIL]", "[PHONE]", "[CARD]", "[SECRET]", "[USER]")


def test_empty_text() -> None:
    assert scrub("") == ""
    assert Scrubber(["Ada"]).scrub("") == ""
