"""Personal-data scrubber for Slack messages before they become training data.

The scrubber replaces e-mail addresses, phone numbers, payment-card numbers,
secrets and Slack users with fixed placeholders. docs/scrubbing.md is the
user-facing description of exactly what is and is not scrubbed; keep the two
in sync.

Design notes:

* Every pattern is compiled once at import time (member names once per
  ``Scrubber``), and written so that it cannot backtrack catastrophically:
  repetitions are possessive/atomic or delimited by characters they cannot
  consume.
* Stages run in a fixed order (``_TEXT_STAGES``, ``_DIGIT_STAGES``, then
  names). Slack mention markup first, because it is fully delimited;
  private-key blocks and credentials before e-mails and numbers, so their
  contents are not half-scrubbed; cards before phones, so a 16-digit card is
  never taken for a phone; member names last, so they never match inside an
  address or token.
* Scrubbing is idempotent: ``scrub(scrub(x)) == scrub(x)``. Placeholders
  contain no digits and no ``@``, and no pattern rewrites them. Boundary
  checks are written so that a decision does not flip when a neighbour
  becomes a placeholder on the first run (e.g. a phone glued to a word stays
  unscrubbed even once the word is ``[USER]``); tests/test_scrub.py checks
  this with hypothesis.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

EMAIL = "[EMAIL]"
PHONE = "[PHONE]"
CARD = "[CARD]"
SECRET = "[SECRET]"
USER = "[USER]"
PLACEHOLDERS = (EMAIL, PHONE, CARD, SECRET, USER)

__all__ = ["PLACEHOLDERS", "Scrubber", "scrub", "luhn_valid"]


# Scripts written without spaces between words (CJK, kana, Hangul, Thai).
# Next to them a token is not glued to a longer word: "電話03-1234-5678まで"
# holds a phone number, "Adaさん" a name.
_SPACELESS_RANGES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\u0e00-\u0e7f\uf900-\ufaff"
_SPACELESS_SCRIPT = re.compile(f"[{_SPACELESS_RANGES}]")

# The "word character" of every boundary check below (instead of \w): a
# letter, digit or "_" of a script that separates words with spaces.
_W = f"[^\\W{_SPACELESS_RANGES}]"

# Spaces written between digit groups: ordinary, no-break (U+00A0), figure
# (U+2007), thin (U+2009) and narrow no-break (U+202F). Keyboards, word
# processors and French typography put the others into phone numbers.
_SPACES = " \u00a0\u2007\u2009\u202f"
_DIGIT_SPACE = f"[{_SPACES}]"


# --------------------------------------------------------------------------
# Secrets
# --------------------------------------------------------------------------

# A PEM private-key block, or an OpenPGP one ("-----BEGIN PGP PRIVATE KEY
# BLOCK-----", RFC 4880 section 6.2). The body stops at the next
# "-----BEGIN " as well as at "-----END ", so a pile of unterminated headers
# is scanned in linear time. An unterminated block (message cut off
# mid-paste) still loses its header and the base64 lines that follow it.
_PRIVATE_KEY = re.compile(
    r"-----BEGIN (?P<kind>[A-Z0-9]+(?: [A-Z0-9]+)*? )?PRIVATE KEY(?P<block> BLOCK)?-----"
    r"(?:"
    r"[^-]*+(?:-(?!----(?:BEGIN|END) )[^-]*+)*+"
    r"-----END (?P=kind)?PRIVATE KEY(?(block) BLOCK)-----"
    # Unterminated: an OpenPGP armour ("... KEY BLOCK") may open with
    # "Key: value" header lines and a blank line before its base64.
    r"|(?(block)(?:[ \t]*+\r?\n[A-Za-z][A-Za-z-]*+:[^\r\n]*+)*+"
    r"(?:[ \t]*+\r?\n(?=[ \t]*+\r?\n))?+)"
    r"(?:[ \t]*+\r?\n[ \t]*+[A-Za-z0-9+/=]++)*+"
    r")"
)

# Incoming-webhook URLs carry their secret in the path, not in userinfo.
_SLACK_WEBHOOK = re.compile(r"(https://hooks\.slack\.com/(?:services|workflows|triggers)/)[A-Za-z0-9/_-]++")

# scheme://userinfo@host — userinfo may itself contain "@" (unencoded
# passwords), so it runs up to the last "@" before the path starts.
_URL_USERINFO = re.compile(
    # The look-behind pins the scheme to the start of its run of characters;
    # without it every letter of a long word would be tried as a scheme start.
    r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*+://)"
    r"(?P<userinfo>[^\s/?#<>|\"'`@]++(?:@[^\s/?#<>|\"'`@]++)*)"
    r"@(?=[\w\[])"
)

# Vendor tokens with a recognisable prefix. The lookahead "(?=...\d)"
# requires a digit early on, which every real token of these kinds has, and
# which keeps prose such as "xoxb-your-token-here" or "sk-this-is-fake"
# intact; it is bounded so that "xoxb-xoxb-xoxb-..." stays linear.
_VENDOR_TOKEN = re.compile(
    rf"(?<!{_W}|-)(?:"
    r"(?:xox[abcdeoprs](?:\.xox[abcdeoprs])?|xapp)-(?=[A-Za-z0-9-]{0,63}?\d)[A-Za-z0-9-]{6,}+"
    r"|sk-(?=[A-Za-z0-9_-]{0,63}?\d)[A-Za-z0-9_-]{20,}+"
    r"|(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{10,}+"
    r"|gh[pousr]_[A-Za-z0-9]{20,}+"
    r"|github_pat_[A-Za-z0-9_]{20,}+"
    r"|glpat-[A-Za-z0-9_-]{20,}+"
    r"|AIza[A-Za-z0-9_-]{35}+"
    r"|eyJ[A-Za-z0-9_-]{5,}+\.eyJ[A-Za-z0-9_-]{5,}+\.[A-Za-z0-9_-]*+"
    rf")(?!{_W}|-)"
)

_AWS_ACCESS_KEY_ID = re.compile(r"(?<![A-Za-z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Za-z0-9])")

# A bare 40-character string is indistinguishable from a hash, so AWS secret
# keys are only recognised next to their label.
_AWS_SECRET_KEY = re.compile(
    r"(?P<label>(?i:aws_?secret_?access_?key|aws_?secret_?key|secret_?access_?key)"
    r"[\"']?\s*+[:=]\s*+[\"']?)"
    r"[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])"
)

_TOKEN_CHARS = r"[A-Za-z0-9._~+/-]"

# "Authorization: [Bearer|Basic|Token|Bot] <value>" — the header labels the
# value as a credential.
_AUTH_HEADER = re.compile(
    rf"(?P<label>(?<!{_W})(?i:authorization)[\"']?\s*+[:=]\s*+[\"']?"
    # Possessive: after "Bearer " the value must follow; "Bearer" itself is
    # never taken for the value.
    r"(?:(?P<scheme>(?i:bearer|basic|token|bot))\s++)?+)"
    rf"(?P<token>{_TOKEN_CHARS}{{6,}}+=*+)(?![(\[{{])"
)

# A bare "Bearer <value>" outside a header is only a token if it looks like
# one, so "bearer tokens expire" and "Bearer Authentication" survive.
_BEARER = re.compile(rf"(?P<label>(?<!{_W})(?i:bearer)\s++)(?P<token>{_TOKEN_CHARS}{{8,}}+=*+)")

# Constants and code references are not secrets: "Bearer YOUR_TOKEN",
# "token=settings.SLACK_TOKEN". Keeping them lets code snippets survive.
_CONSTANT_OR_CODE = re.compile(r"[A-Z][A-Z0-9_]*+|[A-Za-z_]++(?:\.[A-Za-z_]++)++")
_LOWERCASE_WORDS = re.compile(r"[a-z]++(?:[_-][a-z]++)*+")
# Words that mark a lowercase value as a template ("your-token-here").
_TEMPLATE_WORDS = frozenset(
    "your my token here key secret api access example placeholder redacted "
    "changeme dummy fake insert value none null".split()
)


def _is_template_or_code(value: str, after_scheme: bool) -> bool:
    if _CONSTANT_OR_CODE.fullmatch(value):
        return True
    if _LOWERCASE_WORDS.fullmatch(value[:1].lower() + value[1:]):
        # Without "Bearer" etc., a lowercase word is a setting ("enabled").
        return not after_scheme or any(w in _TEMPLATE_WORDS for w in re.split("[_-]", value))
    return False


def _looks_like_token(value: str) -> bool:
    # A digit, or a capital after the first letter: "abc123", "eyJhbGci".
    return any(c.isdigit() for c in value) or any(c.isupper() for c in value[1:])


def _split_sentence_end(token: str) -> tuple[str, str]:
    # Tokens never end with ".", sentences do: "use Bearer abc123."
    value = token.rstrip(".")
    return value, token[len(value) :]


def _scrub_auth_header(match: re.Match[str]) -> str:
    value, tail = _split_sentence_end(match["token"])
    if _is_template_or_code(value, after_scheme=match["scheme"] is not None):
        return match[0]
    return match["label"] + SECRET + tail


def _scrub_bearer(match: re.Match[str]) -> str:
    value, tail = _split_sentence_end(match["token"])
    if _is_template_or_code(value, after_scheme=True) or not _looks_like_token(value):
        return match[0]
    return match["label"] + SECRET + tail


# --------------------------------------------------------------------------
# E-mail and Slack markup
# --------------------------------------------------------------------------

# Unicode-aware so "josé@exemple.fr" is caught. Each domain label can match
# in only one way (no optional sub-group), which keeps a failing match linear.
# The last lookahead leaves scp-style remotes ("git@github.com:org/repo.git")
# alone: they name a host, not a mailbox.
_EMAIL = re.compile(
    r"(?<![\w.%+-])(?P<local>[\w.%+-]++)@"
    r"(?:[^\W_][\w-]*+(?<=[^\W_])\.)+"
    r"[^\W\d_]{2,}+"
    # Slack's "_italic_" closes with "_" ("*bold*" and "~strike~" use
    # characters an address cannot hold, so they need no special case).
    # The closing "_" is no marker when more of an address or a placeholder
    # follows ("_a@b.com_.@c.io", "_a@b.com_[USER]"): the text must decide
    # the same before and after a first pass.
    r"(?:(?P<close>_++)(?![.%+-]*+[@\[]))?+"
    # Not glued to more address-like text, so two glued addresses decide the
    # same way before and after the first one becomes [EMAIL].
    r"(?![\w%+-]|\.[\w%+-])"
    r"(?!:[\w~/\[])"  # "[" too: the path may already hold a placeholder
)


def _scrub_email(match: re.Match[str]) -> str:
    # "_" may start an address, so leading ones are "_italic_" markers only
    # when the address is closed by one: "_ada@example.com_" -> "_[EMAIL]_".
    close = match["close"]
    if not close:
        return EMAIL
    local = match["local"]
    address = local.lstrip("_")
    if not address:  # "_@app.route_": markers around a decorator, no mailbox
        return match[0]
    return local[: len(local) - len(address)] + EMAIL + close


_USER_MENTION = re.compile(r"<@[UW][A-Z0-9]++(?:\|[^<>]*+)?>")
_CHANNEL_MENTION = re.compile(r"<#[CGD][A-Z0-9]++(?:\|(?P<name>[^<>]*+))?>")


def _channel_name(match: re.Match[str]) -> str:
    return "#" + (match["name"] or "channel")


# --------------------------------------------------------------------------
# Cards
# --------------------------------------------------------------------------

# Candidate: a maximal run of digit groups joined by single spaces (of any
# _SPACES kind) or dashes.
# It is split into cards (and non-cards) in Python because a regex cannot run
# the Luhn check; see _scrub_card_run.
_DIGIT_RUN = re.compile(rf"(?=\d)(?<!{_W}|[.+-])\d++(?:[{_SPACES}-]\d++)*+(?!{_W}|\.\d)")
_GROUP = re.compile(f"(?P<sep>[{_SPACES}-]?)(?P<digits>\\d+)")

# Issuer prefixes of the major networks: Mastercard 2221-2720 and 51-55,
# Diners 30/36/38/39, Amex 34/37, JCB 35, Visa 4, Maestro 50/56-59,
# Discover/UnionPay/RuPay 6. Requiring one keeps Luhn-valid millisecond
# timestamps (17...), compact dates (2024...) and ISBN-13s (978...) out.
_CARD_ISSUER = re.compile(r"4|5|6|3[0456789]|222[1-9]|22[3-9]|2[3-6]|27[01]|2720")
_CARD_MIN_DIGITS, _CARD_MAX_DIGITS = 13, 19


def luhn_valid(digits: str) -> bool:
    """True if the string of digits passes the Luhn (mod 10) check."""
    if not digits or not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _is_card(groups: list[str]) -> bool:
    digits = "".join(groups)
    if not _CARD_MIN_DIGITS <= len(digits) <= _CARD_MAX_DIGITS:
        return False
    if not _CARD_ISSUER.match(digits) or not luhn_valid(digits):
        return False
    if len(groups) == 1:
        return True
    # Printed layouts: 4-4-4-4, 4-4-4-4-3, 4-6-5 (Amex), 4-6-4 (Diners)...
    middle_ok = all(3 <= len(g) <= 6 for g in groups[1:-1])
    return len(groups[0]) == 4 and middle_ok and 1 <= len(groups[-1]) <= 6


def _can_start_card(digits: str) -> bool:
    # Cheap filter so long runs of short groups are not searched at all.
    length = len(digits)
    return digits[0] in "23456" and (length == 4 or _CARD_MIN_DIGITS <= length <= _CARD_MAX_DIGITS)


def _longest_card_at(groups: list[tuple[str, str]], start: int) -> int | None:
    """Index of the last group of the longest card starting at ``start``."""
    if not _can_start_card(groups[start][1]):
        return None
    candidates: list[int] = []
    total = 0
    for end in range(start, len(groups)):
        separator, digits = groups[end]
        # A card is written with one kind of separator throughout.
        if end > start + 1 and separator != groups[start + 1][0]:
            break
        total += len(digits)
        if total > _CARD_MAX_DIGITS:
            break
        candidates.append(end)
    for end in reversed(candidates):
        if _is_card([digits for _, digits in groups[start : end + 1]]):
            return end
    return None


def _scrub_card_run(match: re.Match[str]) -> str:
    groups = [(m["sep"], m["digits"]) for m in _GROUP.finditer(match[0])]
    pieces: list[str] = []
    index = 0
    while index < len(groups):
        separator, digits = groups[index]
        end = _longest_card_at(groups, index)
        if end is None:
            pieces.append(separator + digits)
            index += 1
        else:
            pieces.append(separator + CARD)
            index = end + 1
    return "".join(pieces)


# --------------------------------------------------------------------------
# Phones
# --------------------------------------------------------------------------

# Phones are recognised by *format*; a bare run of digits is only a phone
# after a phone word (see _PHONE_AFTER_CUE), because on its own it is more
# likely an id, an amount or a timestamp.
# Group separators of international numbers: "+49 (0)30/1234-5678".
_SEP = rf"[.\-/{_SPACES}]"
_GROUPS = r"(?:" + _SEP + r"?\(\d{1,5}\)" + _SEP + r"?\d++|" + _SEP + r"\d++)*+"
# Not glued to a longer token, decimal, path or time. "[" counts as a digit
# so that "A:B" decides the same way once B has become a placeholder.
_END = rf"(?!{_W}|[.\-/:][\d\[])"
# "]" counts as a word character: a phone glued to a word stays unscrubbed
# even after that word has become a placeholder such as [USER].
_START = rf"(?<!{_W}|[\].+\-/#$])"

# Patterns below (and _DIGIT_RUN) open with "(?=<first character>)": it lets
# `re` skip ahead to candidate positions instead of evaluating the
# look-behind at every position, which halves their cost.

# +44 20 7946 0958, +1-415-555-0132, +1 (415) 555-0132, (+44) 20 7946 0958,
# +49 (0)30/1234-5678, +33 1.23.45.67.89
_PHONE_PLUS = re.compile(r"(?=[+(])" + _START + r"(?:\+\d++|\(\+\d++\))" + _GROUPS + _END)

# 0044 20 7946 0958, 001 415 555 0132 (the "00" international prefix)
_PHONE_DOUBLE_ZERO = re.compile(r"(?=0)" + _START + r"00[1-9]\d*+" + _GROUPS + _END)

# (415) 555-0132, 415-555-0132, 415.555.0132, 415 555 0132, 1-800-555-0199
_NANP_SEP = rf"[.\-{_SPACES}]"
_PHONE_NANP = re.compile(
    r"(?=[\d(])" + _START + rf"(?:1{_NANP_SEP})?+"
    rf"(?:\(\d{{3}}\){_NANP_SEP}?+\d{{3}}{_NANP_SEP}|\d{{3}}(?P<sep>{_NANP_SEP})\d{{3}}(?P=sep))"
    r"\d{4}" + _END
)

# A trunk "0" and the area code, then the rest in one of the national styles
# below. Each style has its own digit count (_TRUNK_DIGITS), and a number is
# written in one style throughout, so "01-02-2024 10:30" is not a phone.
_PHONE_TRUNK = re.compile(
    r"(?=0)" + _START + r"0[1-9]\d{0,4}+(?:"
    # 020 7946 0958, 07700 900123, 06 12 34 56 78 (any _SPACES, mixed)
    rf"(?P<spaced>(?:{_DIGIT_SPACE}\d{{2,8}}+){{1,4}}+)"
    # 0161-496-0000
    r"|(?P<dashed>(?:-\d{2,8}+){1,4}+)"
    # 01.23.45.67.89 (France), 0475.12.34.56 (Belgium): pairs only, so dotted
    # dates (01.03.2024), versions and IPv4 addresses never fit.
    r"|(?P<dotted>(?:\.\d\d){3,4}+)"
    # 030/12345678, 0171/1234567, 089/123 456 78, 030/1234-5678 (German):
    # short groups after the "/" are part of the number only when whole.
    rf"|(?P<slashed>/\d{{2,9}}+(?:(?:-\d{{1,5}}+|{_DIGIT_SPACE}\d{{2,4}}+)(?!{_W})){{0,3}}+)"
    r")" + _END
)
_TRUNK_DIGITS = {"spaced": (10, 11), "dashed": (10, 11), "dotted": (10, 10), "slashed": (9, 12)}

# 98765 43210: ten digits written 5+5, as mobiles are in India (where they
# start with 6-9). Not when it is one of a row of numbers ("7 98765 43210").
_PHONE_FIVE_FIVE = re.compile(
    r"(?=[6-9])" + _START + rf"(?<!\d{_DIGIT_SPACE})"
    rf"[6-9]\d{{4}}{_DIGIT_SPACE}\d{{5}}(?!{_DIGIT_SPACE}\d)" + _END
)

# "call me at 555-0132", "tel: 07700900123", "my number is 4155550132".
_PHONE_CUE = (
    rf"(?:(?<!{_W})(?:call(?:ed|ing)?|phon(?:e|ed|ing)|ph|tel(?:ephone)?|mobile|mob"
    rf"|cell(?:phone)?|text(?:ed|ing)?|sms|whatsapp|fax|ring|dial(?:l?ed)?)(?!{_W})"
    rf"(?:\s++(?:me|us|him|her|them|back)(?!{_W}))?+"
    rf"|(?<!{_W})(?:my|his|her|their|our|your)\s++(?:(?:phone|mobile|cell)\s++)?+"
    rf"(?:number(?!{_W})|no\.))"
    rf"[\t{_SPACES}]*+(?:(?:on|at|is|no\.|number|nr\.?|\#|:|\.)[\t{_SPACES}]*+){{0,2}}+"
)
# "called 1482113 times", "phoned 1 234 567 more times": a count, not a number.
_COUNT_WORD = (
    r"(?:(?:more|extra|additional)\s++)?+"
    r"(?:times?|x|×|calls?|attempts?|tries|retries|requests?|messages?|users?|people"
    r"|customers?|ms|secs?|seconds?|mins?|minutes?|hours?|hrs?|days?|weeks?|months?"
    r"|years?|percent|per)"
)
# "[USER]" counts as a count word: a member may be called "ms" or "user", and
# the decision must not flip once the name pass has replaced that word.
_NOT_A_COUNT = rf"(?![\t{_SPACES}]*+(?:%|\[USER\]|(?i:(?:{_COUNT_WORD})(?!{_W}))))"
_PHONE_AFTER_CUE = re.compile(
    r"(?P<cue>(?i:" + _PHONE_CUE + r"))"
    rf"(?P<number>(?:\(\d++\){_NANP_SEP}?+)?+\d++(?:{_NANP_SEP}\d++)*+)" + _END + _NOT_A_COUNT
)

# "a call on 2024-03-15 at 10:30" and "call on 15.03.2024 14.00" name a day,
# not a number to call: a cued number that starts with a date is kept.
_DATE_LIKE = re.compile(r"(?:\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4})(?!\d)")
# Dotted numbers after a phone word are more often addresses, versions or
# amounts: "call 192.168.1.10", "called 10.0.19045", "Tel. 1.234.567,89".
_IPV4_SHAPE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_GROUP_SEPARATORS = re.compile(rf"[.\-{_SPACES}]")


def _digit_count(text: str) -> int:
    return sum(c.isdigit() for c in text)


def _scrub_plus(match: re.Match[str]) -> str:
    # One "/" separates a German area code; more make it a date or a path.
    number = match[0]
    return PHONE if 7 <= _digit_count(number) <= 16 and number.count("/") <= 1 else number


def _scrub_double_zero(match: re.Match[str]) -> str:
    number = match[0]
    digits = _digit_count(number)
    # Ungrouped "00..." runs are often zero-padded ids; demand a longer run.
    grouped = digits != len(number)
    low = 10 if grouped else 12
    if _IPV4_SHAPE.fullmatch(number) or number.count("/") > 1:  # 001.002.003.004
        return number
    return PHONE if low <= digits <= 17 else number


def _scrub_trunk(match: re.Match[str]) -> str:
    low, high = _TRUNK_DIGITS[match.lastgroup or ""]
    return PHONE if low <= _digit_count(match[0]) <= high else match[0]


def _dotted_but_not_a_phone(number: str, after: str) -> bool:
    if "." not in number:
        return False
    one_digit_group = any(len(g) == 1 for g in _GROUP_SEPARATORS.split(number))
    decimal_comma = after[:1] == "," and after[1:2].isdigit()
    return one_digit_group or decimal_comma or _IPV4_SHAPE.fullmatch(number) is not None


def _scrub_cued_phone(match: re.Match[str]) -> str:
    number = match["number"]
    after = match.string[match.end() : match.end() + 2]
    if _DATE_LIKE.match(number) or not 7 <= _digit_count(number) <= 15 or _dotted_but_not_a_phone(number, after):
        return match[0]
    return match["cue"] + PHONE


# --------------------------------------------------------------------------
# Member names
# --------------------------------------------------------------------------

# Copied through unchanged by the name pass: placeholders (so a member called
# "User" does not turn "[USER]" into "[[USER]]") and Slack special mentions
# such as <!here>, which stay verbatim.
_PROTECTED = r"\[(?:EMAIL|PHONE|CARD|SECRET|USER)\]|<![^<>\s]*+>"

# Words too common in English (or in engineering chat) to be scrubbed when
# they are only *part* of a real name: "Will Smith" must not turn every
# "will" into [USER]. Names passed in whole are always scrubbed.
_COMMON_WORDS = frozenset(
    """
    about after again all also amber and any april are art august ask autumn
    back bad bank banks bay bell best big bill bird black blue bob bond book
    boss bot box boy brown buck build bush but buy call can cap card case cash
    chase chip city cloud code cook cool core crystal dash data dawn day dean
    dear deploy dev does don dot down drew duke each east easy end even fair
    faith far fast few field fine fish fix for ford fox frank free from fun
    gene get gift going gold good grace gray great green grey guy had hall
    happy has have hay head her here hill him his hope hot how hunter java
    jack joy july june just key kid kind king lake lane last let line little
    long look lord love low lucky main major man mark master max may mean
    miles min mint miss moon more most much must new news next nice night
    not now oak off old one only ops our out over page park pat peace penny
    pepper pine plain poll pool post price prince python rain ray read red
    reed rich river rob rock rod room root rose ruby rust said sandy see shell
    ship short should sky small snow some son spring star still stone storm
    street sue summer sun sunny sweet swift test than that the their them
    then there they this tip top town true try two under upon use very was
    way well west what when which white who why will win winter with wolf
    wood woods word work would yes you young your
    """.split()
)

# Honorifics and suffixes are not names; skip them when picking the first
# and last word ("Dr. Ada Lovelace PhD" -> "Ada", "Lovelace").
_NOT_NAME_PARTS = frozenset("mr mrs ms miss mx dr prof sir dame rev jr sr ii iii iv phd md".split())

_NAME_WORD = re.compile(r"[^\W\d_]+(?:['\u2019-][^\W\d_]+)*")
# Display names often carry a suffix: "Ada Lovelace (she/her)",
# "ada | Platform", "Ada Lovelace - Eng". The core is what precedes it.
_NAME_SUFFIX = re.compile(r"\s*(?:[|(\[{/,\u2022\u00b7\u2013\u2014]|\s-\s).*", re.DOTALL)
_MIN_NAME_LENGTH = 2
# Slack caps real and display names at 80 characters; anything much longer
# is not a name, and would nest the compiled pattern too deeply.
_MAX_NAME_LENGTH = 100
_MIN_PART_LENGTH = 3


def _is_safe_part(token: str) -> bool:
    return (
        len(token) >= _MIN_PART_LENGTH
        and _NAME_WORD.fullmatch(token) is not None  # "Member0042" is not a word
        and token.lower() not in _COMMON_WORDS
    )


def _name_variants(raw: str) -> set[str]:
    """The name as given, its core, and the core's first and last words."""
    name = " ".join(raw.split()).lstrip("@")
    if not _MIN_NAME_LENGTH <= len(name) <= _MAX_NAME_LENGTH:
        return set()
    variants = {name}
    core = _NAME_SUFFIX.sub("", name).strip()
    if len(core) >= _MIN_NAME_LENGTH:
        variants.add(core)
    tokens = [t.strip(".,;:!?\"'") for t in core.split()]
    tokens = [t for t in tokens if t and t.lower() not in _NOT_NAME_PARTS]
    if len(tokens) > 1:
        variants.add(" ".join(tokens))  # "Dr. Ada Lovelace" -> "Ada Lovelace"
        variants.update(t for t in (tokens[0], tokens[-1]) if _is_safe_part(t))
    return variants


_SPACE = object()  # trie key for "any run of whitespace" inside a name
_APOSTROPHE = object()  # trie key for "'" and "’": "O'Brien" matches "O’Brien"


def _trie_key(char: str) -> object:
    if char.isspace():
        return _SPACE
    if char in "'\u2019":
        return _APOSTROPHE
    lowered = char.lower()
    # Characters whose lower case is longer ("İ") keep their own key.
    return lowered if len(lowered) == 1 else char


# Whitespace is possessive: the next atom in a name is never whitespace.
_TRIE_ATOMS = {_SPACE: r"\s++", _APOSTROPHE: "['\u2019]"}


def _atom(key: object) -> str:
    return _TRIE_ATOMS.get(key) or re.escape(str(key))


def _trie_regex(node: dict[object, dict[object, Any]]) -> str:
    """Regex for a trie, children before "stop here" so longer names win."""
    terminal = None in node
    branches = []
    for key in (k for k in node if k is not None):
        # Follow single-child chains in a loop: recursion only at branch
        # points keeps the depth far below Python's limit.
        atoms, child = [_atom(key)], node[key]
        while len(child) == 1 and None not in child:
            ((next_key, next_child),) = child.items()
            atoms.append(_atom(next_key))
            child = next_child
        branches.append("".join(atoms) + _trie_regex(child))
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if terminal:
        return "(?:" + body + ")?"
    return body


def _name_pattern(names: Iterable[str]) -> str:
    """One alternation of all names, longest first, factored into a trie.

    Python's ``re`` tries alternatives one by one at every position, so a
    flat list of thousands of names is slow; the trie matches exactly the
    same strings (preferring the longest) at a cost that does not grow with
    the number of names.
    """
    root: dict[object, dict[object, Any]] = {}
    for name in names:
        node = root
        for char in " ".join(name.split()):
            node = node.setdefault(_trie_key(char), {})
        node[None] = {}
    return _trie_regex(root)


def _compile_names(member_names: Iterable[str]) -> re.Pattern[str] | None:
    variants: set[str] = set()
    for raw in member_names:
        if isinstance(raw, str):
            variants |= _name_variants(raw)
    if not variants:
        return None
    spaced = [n for n in variants if not _SPACELESS_SCRIPT.search(n)]
    spaceless = [n for n in variants if _SPACELESS_SCRIPT.search(n)]
    # A name is a whole word: not glued to letters/digits, nor joined to
    # them by "-", ".", "/" or "@" (so "Al" spares "AL-123", "al.py", "also").
    # Names in space-less scripts have no word boundary to anchor on
    # ("田中さん"), so they match anywhere.
    w = _W
    branches = [rf"(?P<keep>{_PROTECTED})"]
    if spaced:
        names = _name_pattern(spaced)
        branches.append(rf"(?<!{w})(?<!{w}[-./@])(?:{names})(?!{w})(?![-./@]{w})")
    if spaceless:
        branches.append(f"(?:{_name_pattern(spaceless)})")
    return re.compile("|".join(branches), re.IGNORECASE)


def _scrub_name(match: re.Match[str]) -> str:
    return match["keep"] or USER


# --------------------------------------------------------------------------
# Pipeline
# --------------------------------------------------------------------------

_Replacement = str | Callable[[re.Match[str]], str]

# Order matters; see the module docstring.
_TEXT_STAGES: tuple[tuple[re.Pattern[str], _Replacement], ...] = (
    # Fully delimited Slack markup goes first, so that later stages see the
    # same text on a second run as on the first.
    (_USER_MENTION, USER),
    (_CHANNEL_MENTION, _channel_name),
    (_PRIVATE_KEY, SECRET),
    (_SLACK_WEBHOOK, r"\g<1>" + SECRET),
    (_URL_USERINFO, r"\g<scheme>" + SECRET + "@"),
    (_VENDOR_TOKEN, SECRET),
    (_AWS_ACCESS_KEY_ID, SECRET),
    (_AWS_SECRET_KEY, r"\g<label>" + SECRET),
    (_AUTH_HEADER, _scrub_auth_header),
    (_BEARER, _scrub_bearer),
    (_EMAIL, _scrub_email),
)

# Every pattern here needs a digit, so digit-free text (most chat messages)
# skips them all.
_DIGIT_STAGES: tuple[tuple[re.Pattern[str], _Replacement], ...] = (
    (_DIGIT_RUN, _scrub_card_run),
    (_PHONE_PLUS, _scrub_plus),
    (_PHONE_DOUBLE_ZERO, _scrub_double_zero),
    (_PHONE_NANP, PHONE),
    (_PHONE_TRUNK, _scrub_trunk),
    (_PHONE_FIVE_FIVE, PHONE),
    (_PHONE_AFTER_CUE, _scrub_cued_phone),
)
_ANY_DIGIT = re.compile(r"\d")


class Scrubber:
    """Replaces personal data and secrets in text with placeholders.

    ``member_names`` are the real names and display names of workspace
    members (from Slack's ``users.list``); they are compiled once here.
    """

    def __init__(self, member_names: Iterable[str] = ()) -> None:
        self._names = _compile_names(member_names)

    def scrub(self, text: str) -> str:
        for pattern, replacement in _TEXT_STAGES:
            text = pattern.sub(replacement, text)
        if _ANY_DIGIT.search(text):
            for pattern, replacement in _DIGIT_STAGES:
                text = pattern.sub(replacement, text)
        if self._names is not None:
            text = self._names.sub(_scrub_name, text)
        return text


_DEFAULT = Scrubber()


def scrub(text: str, member_names: Iterable[str] = ()) -> str:
    """Convenience wrapper; build a ``Scrubber`` once when scrubbing many texts."""
    names = tuple(member_names)
    scrubber = Scrubber(names) if names else _DEFAULT
    return scrubber.scrub(text)
