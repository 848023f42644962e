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
    "ada",
    "Ada",
    "Lovelace",
    "AL",
    "al",
    "josé",
    "田中",
    "O’Brien",
    "user",
    "USER",
    "@",
    "example.com",
    "a.b",
    "mailto:",
    "git@github.com:",
    "https://",
    "://",
    "user:pass",
    "@host.io/",
    "+",
    "+44",
    "+1",
    "(0)",
    "00",
    "0",
    "020",
    "7946",
    "0958",
    "(415)",
    "555",
    "0132",
    "07700",
    "900123",
    "4111",
    "1111",
    "4242",
    "5555",
    "4444",
    "3782",
    "822463",
    "10005",
    "1234567890123",
    "4111111111111111",
    "call me at ",
    "phone: ",
    "my number is ",
    "xoxb-",
    "xapp-1-",
    "sk-",
    "sk-proj-",
    "abc123DEF456ghi789JKL",
    "AKIA",
    "IOSFODNN7EXAMPLE",
    "ghp_",
    "github_pat_",
    "aws_secret_access_key=",
    "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "Authorization: ",
    "Bearer ",
    "Basic ",
    "eyJhbGciOiJIUzI1NiJ9",
    "eyJ",
    "-----BEGIN PRIVATE KEY-----",
    "-----END PRIVATE KEY-----",
    "MIIEvQIBADAN",
    "<@U123ABC>",
    "<@U1|ada>",
    "<#C1|general>",
    "<#C2>",
    "<!here>",
    "<",
    ">",
    "|",
    "[USER]",
    "[EMAIL]",
    "[PHONE]",
    "[CARD]",
    "[SECRET]",
    "[",
    "]",
    "#",
    "hooks.slack.com/services/T1/B2/x",
    "2024-03-15",
    "10:30",
    "v1.2.3",
    "\n",
    "030/",
    "0171/",
    "12345678",
    "1234-5678",
    "01.23",
    ".45.67.89",
    "06",
    "98765",
    "43210",
    "\u00a0",
    "\u202f",
    "_",
    "*",
    "~",
    "_ada@example.com_",
    "called ",
    " times",
    "-----BEGIN PGP PRIVATE KEY BLOCK-----",
    "-----END PGP PRIVATE KEY BLOCK-----",
    "Version: GnuPG",
    "12.03.2024",
    "192.168.1.10",
]
SEPARATORS = ["", " ", "-", ".", "@", ":", "/", "\n", "  ", ", ", "_", "'", "\u00a0", "*"]

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
# National phone formats and counts (properties)
# --------------------------------------------------------------------------

DIGIT_SPACES = [" ", "\u00a0", "\u202f"]
# Text around a number that does not glue to it. After a phone word ("Tel.")
# any 7-15 digits count as a phone, so the negatives below are tested
# without one (the corpus pins "call 192.168.1.10" and friends).
BEFORE = ["", "Ruf an: ", "(", "au ", "reach me on ", "Büro\n", "→ ", "see "]
BEFORE_PHONE = [*BEFORE, "Tel. ", "phone: "]
AFTER = ["", " ", ", thanks", ".", " (Büro)", "\n", " oder per Mail", ")"]


def _digits(count: int) -> st.SearchStrategy[str]:
    return st.text("0123456789", min_size=count, max_size=count)


@st.composite
def german_slash_number(draw: st.DrawFn) -> str:
    area = "0" + draw(st.sampled_from("123456789")) + draw(_digits(draw(st.integers(1, 3))))
    subscriber = draw(_digits(draw(st.integers(max(9 - len(area), 2), 12 - len(area)))))
    split = draw(st.integers(0, min(5, len(subscriber) - 2)))
    if split:  # a dashed extension: 030/1234-5678
        subscriber = subscriber[:-split] + "-" + subscriber[-split:]
    return area + "/" + subscriber


@st.composite
def french_number(draw: st.DrawFn) -> str:
    sep = draw(st.sampled_from([".", *DIGIT_SPACES]))
    pairs = [draw(_digits(2)) for _ in range(4)]
    return "0" + draw(st.sampled_from("123456789")) + sep + sep.join(pairs)


@st.composite
def five_five_mobile(draw: st.DrawFn) -> str:
    first = draw(st.sampled_from("6789")) + draw(_digits(4))
    return first + draw(st.sampled_from(DIGIT_SPACES)) + draw(_digits(5))


@st.composite
def uk_number_with_no_break_spaces(draw: st.DrawFn) -> str:
    sep = draw(st.sampled_from(DIGIT_SPACES[1:]))
    if draw(st.booleans()):
        return sep.join(["+44", "20", draw(_digits(4)), draw(_digits(4))])
    return sep.join(["020", draw(_digits(4)), draw(_digits(4))])


national_phone = st.one_of(german_slash_number(), french_number(), five_five_mobile(), uk_number_with_no_break_spaces())


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(BEFORE_PHONE), national_phone, st.sampled_from(AFTER))
def test_national_phone_formats_are_scrubbed(before: str, phone: str, after: str) -> None:
    assert scrub(before + phone + after) == before + "[PHONE]" + after


def _padded(low: int, high: int, width: int = 2) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: str(n).zfill(width))


def _joined(sep: str, *parts: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.tuples(*parts).map(sep.join)


_DAY, _MONTH, _YEAR = _padded(1, 31), _padded(1, 12), _padded(1990, 2039, 4)
_DOTTED_DATE = _joined(".", _DAY, _MONTH, _YEAR)
_DOTTED_TIME = _joined(".", _padded(0, 23), _padded(0, 59))
# Realistic versions have a small major and minor: "10.0.19045.3693".
_VERSION = st.tuples(_padded(0, 30, 1), _padded(0, 99, 1), st.lists(_padded(0, 99999, 1), min_size=1, max_size=2)).map(
    lambda t: ".".join([t[0], t[1], *t[2]])
)
_IPV4 = st.tuples(st.lists(st.integers(0, 255), min_size=4, max_size=4), st.sampled_from([1, 3]))
_THOUSANDS = st.tuples(
    st.sampled_from([".", *DIGIT_SPACES]),
    st.integers(1, 999).map(str),
    st.lists(_padded(0, 999, 3), min_size=1, max_size=4),
    st.sampled_from(["", ",56"]),
)

number_that_is_not_a_phone = st.one_of(
    _DOTTED_DATE,  # 12.03.2024
    _joined(" ", _DOTTED_DATE, _DOTTED_TIME),  # 12.03.2024 09.30
    _joined(".", _DAY, _MONTH, _padded(0, 99)),  # 01.02.24
    _DOTTED_TIME,  # 12.30
    _joined("/", _DAY, _MONTH, _YEAR),  # 15/03/2024
    _joined("/", _MONTH, _YEAR),  # 05/2027
    _VERSION,  # 1.2.3, 10.0.19045.3693
    # 192.168.1.10, also zero-padded 010.001.002.003
    _IPV4.map(lambda t: ".".join(str(octet).zfill(t[1]) for octet in t[0])),
    _joined(".", _padded(0, 99999, 1), _padded(0, 99)),  # 123.45
    # 1.234.567,56 or 1 234 567 with (no-break) spaces
    _THOUSANDS.map(lambda t: t[0].join([t[1], *t[2]]) + t[3]),
)


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(BEFORE), number_that_is_not_a_phone, st.sampled_from(AFTER))
def test_dates_times_versions_ips_and_amounts_survive(before: str, number: str, after: str) -> None:
    text = before + number + after
    assert scrub(text) == text


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(["called", "call", "phoned", "dialled", "texted", "rang", "call it"]),
    st.integers(1, 10**12 - 1),  # 13+ Luhn-valid digits may be a card whatever follows
    st.sampled_from(["", " "]),
    st.sampled_from(["times", "more times", "calls", "requests", "users", "ms", "%", "times a day"]),
)
def test_a_count_after_a_phone_word_is_not_a_phone(cue: str, count: int, grouped: str, unit: str) -> None:
    number = f"{count:,}".replace(",", " ") if grouped else str(count)
    space = "" if unit == "%" else " "
    text = f"the webhook was {cue} {number}{space}{unit} yesterday"
    assert scrub(text) == text


# --------------------------------------------------------------------------
# E-mail inside Slack formatting (property)
# --------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.sampled_from("_*~"), min_size=1, max_size=3, unique=True),
    st.from_regex(r"[a-z][a-z0-9._+-]{0,12}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9]{0,8}\.(com|org|io|co\.uk)", fullmatch=True),
)
def test_email_inside_slack_formatting_keeps_the_markers(markers: list[str], local: str, domain: str) -> None:
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
    ("german-slashes", "030/" * (SIZE // 4), "030/" * (SIZE // 4)),
    ("dotted-pairs", "01." * (SIZE // 3), "01." * (SIZE // 3)),
    ("five-digit-groups", "98765 " * (SIZE // 6), "98765 " * (SIZE // 6)),
    ("no-break-digit-groups", "1\u00a0" * (SIZE // 2), "1\u00a0" * (SIZE // 2)),
    ("count-cues", "called 1 " * (SIZE // 9), "called 1 " * (SIZE // 9)),
    ("underscores-then-at", "_" * SIZE + "@", "_" * SIZE + "@"),
    (
        "pgp-header-then-blank-lines",
        "-----BEGIN PGP PRIVATE KEY BLOCK-----" + "\n" * SIZE,
        "[SECRET]" + "\n" * (SIZE - 1),
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
