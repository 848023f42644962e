"""Hostile input: the `/tune` parser and every kind of payload Slack sends, fuzzed; forged signatures refused.

How hypothesis drives the served app
------------------------------------
The `app` fixture (the real Runtime served over HTTP on 127.0.0.1, with the fakes) is function-scoped and
lives on pytest-asyncio's per-test event loop. pytest-asyncio recognises an `async def` test decorated with
`@given` (its `AsyncHypothesisTest` item) and runs every hypothesis example as a coroutine on that same
loop, so all the examples of one test talk to the one app started for it, and shrinking works as usual.
Hypothesis warns when function-scoped fixtures are shared between examples; sharing is the point here
(starting an app per example would cost seconds), so that health check is suppressed. Because the app
and its database outlive each example, every assertion is about what that example changed: counts taken
before and after, never totals.

What every example must show: no unhandled error (nothing logged at ERROR, nothing from the error path
saying "unhandled"), an HTTP answer of 200 or a clean 4xx, every stored event fully processed, and a reply
to the person wherever one is due.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.fakes import FakeOpenAI, FakeSlack
from handlers.grammar import Command, Grammar
from providers.registry import known_specs
from render.answers import THINKING
from tests.capture_helpers import answered_question, button, shortcut, submission
from tests.conftest import ADMIN, ALICE, BOB, BOT, DM, GENERAL, SIGNING_SECRET, Harness
from tests.dataset_helpers import add_example
from tests.waiting import eventually
from tuning.errors import UsageError

# One served app per test, examples one after another on its loop (see the module docstring).
SERVED = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

grammar = Grammar([spec.name for spec in known_specs()])  # what bot/ builds


# -- what counts as a failure ------------------------------------------------------------------------------


class _Problems(logging.Handler):
    """Every record that means something went unhandled: ERROR and above, or the error path's 'unhandled'."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.levelno >= logging.ERROR or "unhandled error" in record.getMessage().lower():
            self.records.append(record)

    def since(self, mark: int) -> list[str]:
        return [
            f"{r.name}: {r.getMessage()} {r.exc_info[1]!r}" if r.exc_info else f"{r.name}: {r.getMessage()}"
            for r in self.records[mark:]
        ]


@pytest.fixture
def problems() -> Iterator[_Problems]:
    handler = _Problems()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


async def quiet(app: Harness) -> None:
    """Every stored event attempted, the inbox worker and background work idle (a failed event stays visible)."""

    async def attempted() -> bool:
        waiting = await app.db.fetchval("SELECT count(*) FROM inbox WHERE attempts = 0 AND processed_at IS NULL")
        return bool(waiting == 0 and app.runtime.worker.idle and app.runtime.tasks.idle)

    await eventually(attempted, timeout=20, interval=0.01, what="the app quietening down")


async def unprocessed(app: Harness, event_id: str) -> list[dict]:
    """The inbox row of this event if it was stored and is not marked processed (a listener raised)."""
    rows = await app.db.fetchall(
        "SELECT event_id, attempts, error FROM inbox WHERE event_id = ? AND processed_at IS NULL", (event_id,)
    )
    return [dict(row) for row in rows]


def clean_status(status: int) -> bool:
    return status == 200 or 400 <= status < 500


def replies(slack: FakeSlack) -> int:
    """Everything that can reach a person: response_url posts, ephemerals, bot posts and opened modals."""
    return (
        len(slack.responses)
        + len(slack.ephemerals)
        + len(slack.calls_to("chat.postMessage"))
        + len(slack.calls_to("views.open"))
    )


# -- strategies -------------------------------------------------------------------------------------------

ODD_PIECES = [
    "\u200b",
    "\u200d",
    "\u202e",
    "\u2066",
    "\ufeff",
    "\u0000",
    "\x1c",
    "\u3000",
    "\u00a0",
    "\r\n",
    "\t",
    "\U0001f44d",
    "\U0001f44d\U0001f3fd",
    "e\u0301\u0301\u0301",
    "\ufdfd",
    "\U00012000",
    "\U0010ffff",
    "İ",
    "ß",
    "<@U0BOT>",
    "<@U0ADMIN>",
    "<#C0GENERAL|general>",
    "<!channel>",
    "<!subteam^S1|team>",
    "```",
    "`",
    "*",
    "_",
    "&lt;&amp;&gt;",
    "%s",
    "%(x)s",
    "{}",
    "{0}",
    "'; DROP TABLE examples;--",
    "\\",
    '"',
    "ft:",
    "key:value",
    "train",
    "cancel",
    "dataset",
    "support@1",
    "#general",
    "ﾃｽﾄ",
    "٣٤",
    "２０２６-０１-０１",
]
odd_text = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(st.sampled_from(ODD_PIECES), st.text(max_size=4)), max_size=30).map("".join),
    st.builds(
        lambda piece, n: piece * n,
        st.sampled_from(ODD_PIECES) | st.text(min_size=1, max_size=6),
        st.integers(500, 9000),
    ),  # oversized
)
JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=20),
    st.just(""),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
)

SUBCOMMAND_NAMES = [spec.name for spec in grammar.subcommands]
OPTION_KEYS = sorted({option.name for spec in grammar.subcommands for option in spec.options}) + ["x", "Days", "ft"]
ODD_VALUES = [
    "",
    "0",
    "-1",
    "1",
    "25",
    "26",
    "366",
    "0.5",
    "0.51",
    "1e400",
    "-0",
    "nan",
    "NaN",
    "inf",
    "-inf",
    "1_0",
    "٣",
    "²",
    "0x10",
    "9" * 5000,
    "2026-02-30",
    "0000-01-01",
    "２０２６-０１-０１",
    "#general",
    "<#C0GENERAL|general>",
    "<#C0X>",
    "#-bad",
    "sft",
    "DPO",
    "openai",
    "Together",
    "support@0",
    "support@1",
    "a" * 300,
    "ft:gpt-4.1:x:y",
]
odd_word = st.one_of(st.sampled_from(ODD_VALUES), st.text(min_size=1, max_size=12).filter(lambda w: not w.isspace()))
option_word = st.builds(lambda key, value: f"{key}:{value}", st.sampled_from(OPTION_KEYS), odd_word)
SEPARATORS = [" ", "  ", "\t", "\u3000", "\n", "\u00a0"]
command_text = st.one_of(
    odd_text,
    st.builds(
        lambda name, words, sep: sep.join([name, *words]),
        st.sampled_from(SUBCOMMAND_NAMES).map(lambda n: n.upper() if len(n) % 2 else n),
        st.lists(st.one_of(odd_word, option_word), max_size=6),
        st.sampled_from(SEPARATORS),
    ),
)


def parser_verdict(text: str) -> UsageError | Command:
    try:
        return grammar.parse(text)
    except UsageError as error:
        return error


# -- the parser on its own -----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(text=command_text)
def test_the_parser_turns_any_text_into_a_command_or_a_usage_error(text: str) -> None:
    verdict = parser_verdict(text)  # anything but UsageError propagates and fails the test
    if isinstance(verdict, UsageError):
        assert str(verdict).strip() and verdict.usage.strip()
        assert len(str(verdict)) <= 400, "the problem is named briefly, whatever was typed"
        return
    assert verdict.spec is not None and verdict.name == verdict.spec.name
    named = {name for name, _ in verdict.spec.args}
    assert set(verdict.args) == named or (verdict.spec.args_optional and set(verdict.args) < named)
    assert set(verdict.options) <= {option.name for option in verdict.spec.options}


# -- /tune against the served app ---------------------------------------------------------------------------


@SERVED
@given(text=command_text)
async def test_tune_with_any_text_answers_the_person_and_never_crashes(
    app: Harness, slack: FakeSlack, problems: _Problems, text: str
) -> None:
    mark, before = len(problems.records), replies(slack)
    status, body = await app.command(text, user=ALICE)
    assert status == 200
    if isinstance(parser_verdict(text), UsageError):
        assert body.get("response_type") == "ephemeral"
        assert body["text"].startswith(":warning:") and "*Usage:*" in body["text"]
        assert len(body["text"]) <= 4_000, "a usage message should stay readable, whatever was typed"
    await quiet(app)
    assert body.get("text") or replies(slack) > before, f"no reply to /tune {text!r}"
    assert problems.since(mark) == []


# -- events ------------------------------------------------------------------------------------------------
#
# Two kinds of hostility. *Structural*: keys dropped, or set to values of a type Slack never sends (numbers,
# nulls, lists where it sends ids and timestamps); the answer is 200 or a clean 4xx, and nothing crashes.
# *Semantic*: every value of the type Slack sends, but odd: any text, unknown users and reactions, timestamps of
# messages that do not exist (deleted meanwhile), channels Tuneloop is not in; those are Slack's own
# possibilities, so the answer is 200 and whoever is owed a reply gets one.

TS_KEYS = frozenset({"ts", "thread_ts", "message_ts", "event_ts", "action_ts"})
ts_text = st.from_regex(r"1[0-9]{9}\.[0-9]{6}", fullmatch=True)
KNOWN_KINDS = ["app_mention", "message", "message_im", "reaction_added", "reaction_removed", "app_home_opened"]
UNKNOWN_KINDS = [
    "channel_rename",
    "team_join",
    "emoji_changed",
    "message_metadata_posted",
    "link_shared",
    "tokens_revoked",
    "app_uninstalled",
    "",
    "APP_MENTION",
]
REACTIONS = [
    "+1",
    "thumbsup",
    "-1",
    "thumbsdown",
    "+1::skin-tone-3",
    "thumbsup::skin-tone-9",
    "-1::",
    "::",
    "heart",
    "",
    "+1 ",
    "THUMBSUP",
    "\U0001f44d",
]
EVENT_KEYS = [
    "type",
    "user",
    "text",
    "ts",
    "channel",
    "channel_type",
    "thread_ts",
    "subtype",
    "bot_id",
    "item",
    "reaction",
    "item_user",
    "event_ts",
    "tab",
    "reactions",
    "reply_count",
    "message",
    "previous_message",
    "files",
    "blocks",
    "team",
    "edited",
    "hidden",
]
# What a person can make differ in a real event (and what a deletion or a removal makes point at nothing).
SEMANTIC_EVENT_KEYS = ["text", "ts", "thread_ts", "user", "subtype", "channel"]
OUTSIDE = "C0OUTSIDE"  # a channel Tuneloop is not a member of


def base_event(slack: FakeSlack, kind: str, text: str, answer_ts: str) -> dict[str, Any]:
    """A well-formed event of `kind`, about a message that really is in the fake workspace."""
    return {**_event_of(slack, kind, text, answer_ts), "event_ts": f"{time.time():.6f}"}


def _event_of(slack: FakeSlack, kind: str, text: str, answer_ts: str) -> dict[str, Any]:
    if kind == "app_mention":
        ts = slack.add_message(GENERAL, ALICE, f"<@{BOT}> {text}")
        return {"type": kind, "user": ALICE, "text": f"<@{BOT}> {text}", "ts": ts, "channel": GENERAL}
    if kind == "message":
        ts = slack.add_message(GENERAL, BOB, text, thread_ts=answer_ts or None)
        return {
            "type": "message",
            "channel_type": "channel",
            "user": BOB,
            "text": text,
            "ts": ts,
            "thread_ts": answer_ts,
            "channel": GENERAL,
        }
    if kind == "message_im":
        ts = slack.add_message(DM, ALICE, text)
        return {"type": "message", "channel_type": "im", "user": ALICE, "text": text, "ts": ts, "channel": DM}
    if kind in ("reaction_added", "reaction_removed"):
        return {
            "type": kind,
            "user": BOB,
            "reaction": "+1",
            "item_user": BOT,
            "item": {"type": "message", "channel": GENERAL, "ts": answer_ts},
        }
    if kind == "app_home_opened":
        return {"type": kind, "user": ALICE, "channel": "D0HOME", "tab": "home"}
    return {"type": kind, "user": ALICE, "text": text, "channel": GENERAL}


def semantic(key: str) -> st.SearchStrategy[str]:
    """A value of the type Slack sends for `key`, but anything a person or a deletion could make it."""
    if key in TS_KEYS:
        return ts_text
    if key == "user":  # whoever acts is a member of the workspace (or the bot itself)
        return st.sampled_from([ALICE, BOB, ADMIN, BOT])
    if key == "item_user":
        return st.sampled_from([ALICE, BOB, ADMIN, BOT, "U0NOBODY", "W0ENTERPRISE", "USLACKBOT"])
    if key == "channel":
        return st.sampled_from([GENERAL, OUTSIDE, "C0DELETED", DM])
    return odd_text


@st.composite
def mutated(draw: st.DrawFn, base: dict[str, Any], keys: list[str], *, structural: bool) -> dict[str, Any]:
    """`base` with up to four of `keys` changed; structurally (dropped, junk) or semantically (see above)."""
    event = dict(base)
    for key in draw(st.lists(st.sampled_from(keys), max_size=4, unique=True)):
        how = draw(st.sampled_from(["drop", "junk", "text"])) if structural else "semantic"
        if how == "drop":
            event.pop(key, None)
        else:
            event[key] = draw({"junk": JUNK, "text": odd_text, "semantic": semantic(key)}[how])
    event.update(draw(st.dictionaries(st.text(min_size=1, max_size=8).map("x_".__add__), JUNK, max_size=2)))
    return event


@pytest.fixture
async def answer_ts(app: Harness, slack: FakeSlack) -> str:
    """A bot answer in #general, so votes, follow-ups and shortcuts have something real to point at."""
    slack.add_channel(OUTSIDE, "outside", is_member=False)
    for state in ("candidate", "approved"):  # examples 1 and 2, for the review buttons
        await add_example(app.db, state=state, channel=GENERAL)
    return await answered_question(app, slack, "what is the VPN address?")


async def send_event(app: Harness, slack: FakeSlack, event: Any) -> tuple[int, str]:
    envelope = slack.event_callback({})
    envelope["event"] = event
    status, _ = await app.post(json.dumps(envelope), "application/json")
    return status, envelope["event_id"]


def draw_event(data: st.DataObject, slack: FakeSlack, answer_ts: str, *, structural: bool) -> dict[str, Any]:
    kinds = (
        st.sampled_from(KNOWN_KINDS + UNKNOWN_KINDS) | st.text(max_size=15)
        if structural
        else st.sampled_from(KNOWN_KINDS)
    )
    base = base_event(slack, data.draw(kinds, label="kind"), data.draw(odd_text, label="text"), answer_ts)
    if base["type"] in ("reaction_added", "reaction_removed"):
        base["reaction"] = data.draw(st.sampled_from(REACTIONS) | st.text(max_size=10), label="reaction")
        if structural and data.draw(st.booleans(), label="mangle item"):
            base["item"] = data.draw(mutated(base["item"], ["type", "channel", "ts"], structural=True), label="item")
        elif data.draw(st.booleans(), label="deleted message"):
            base["item"] = {**base["item"], "ts": data.draw(ts_text, label="item ts")}
        return data.draw(
            mutated(base, EVENT_KEYS if structural else ["user", "item_user", "event_ts"], structural=structural),
            label="event",
        )
    return data.draw(
        mutated(base, EVENT_KEYS if structural else SEMANTIC_EVENT_KEYS, structural=structural), label="event"
    )


@settings(SERVED, max_examples=80)  # both kinds of damage, as many examples as two tests had
@given(data=st.data(), structural=st.booleans())
async def test_any_event_gets_a_clean_answer_and_is_processed_to_the_end(
    app: Harness, slack: FakeSlack, answer_ts: str, problems: _Problems, data: st.DataObject, structural: bool
) -> None:
    """Structural damage (keys gone or of the wrong type) may be refused with a 4xx; anything Slack could send
    is acknowledged. Either way nothing is left pending (a listener that raises leaves its event so) and
    nothing is logged at ERROR."""
    event = draw_event(data, slack, answer_ts, structural=structural)
    mark = len(problems.records)
    status, event_id = await send_event(app, slack, event)
    assert clean_status(status) if structural else status == 200, status
    await quiet(app)
    assert await unprocessed(app, event_id) == [], "a listener raised: the event stays pending"
    assert problems.since(mark) == []
    placeholders = [m for m in slack.bot_messages() if m["text"] == THINKING]
    assert placeholders == [], "an answer was left at its placeholder"


ENVELOPE_KEYS = [
    "event",
    "type",
    "event_id",
    "team_id",
    "api_app_id",
    "authorizations",
    "event_time",
    "token",
    "is_ext_shared_channel",
    "event_context",
    "challenge",
    "enterprise",
    "team",
    "user",
]


@SERVED
@given(data=st.data())
async def test_any_envelope_gets_200_or_a_clean_4xx(
    app: Harness, slack: FakeSlack, problems: _Problems, data: st.DataObject
) -> None:
    ts = slack.add_message(GENERAL, ALICE, f"<@{BOT}> hi")
    envelope = slack.event_callback(
        {"type": "app_mention", "user": ALICE, "text": f"<@{BOT}> hi", "ts": ts, "channel": GENERAL}
    )
    envelope = data.draw(mutated(envelope, ENVELOPE_KEYS, structural=True), label="envelope")
    if data.draw(st.booleans(), label="odd type"):
        envelope["type"] = data.draw(
            st.sampled_from(
                [
                    "url_verification",
                    "app_rate_limited",
                    "block_actions",
                    "view_submission",
                    "shortcut",
                    "message_action",
                    "event_callback",
                ]
            ),
            label="type",
        )
    body = data.draw(
        st.one_of(
            st.just(json.dumps(envelope)),
            st.sampled_from(
                ["", "null", "[]", "5", '"x"', "{", "{}", "\u0000", '{"type": "event_callback"}', "[" * 5000]
            ),
        ),
        label="body",
    )
    mark = len(problems.records)
    status, _ = await app.post(body, "application/json")
    assert clean_status(status), status
    await quiet(app)
    assert problems.since(mark) == []


@SERVED
@given(text=odd_text, where=st.sampled_from(["mention", "dm"]))
async def test_a_mention_or_dm_with_any_text_gets_an_answer_not_a_stuck_placeholder(
    app: Harness, slack: FakeSlack, problems: _Problems, text: str, where: str
) -> None:
    mark = len(problems.records)
    event = base_event(slack, "app_mention" if where == "mention" else "message_im", text, "")
    assert (await send_event(app, slack, event))[0] == 200
    await quiet(app)
    if where == "mention":
        said = [m["text"] for m in slack.thread(GENERAL, event["ts"])[1:]]
    else:
        later = [m for m in reversed(slack.history(DM)) if float(m["ts"]) > float(event["ts"])]
        said = [m["text"] for m in later if m["user"] == BOT]
    if text.strip() or where == "mention":  # a blank DM says nothing to answer; a bare mention is answered
        assert said, "no answer"
        assert THINKING not in said
        assert said[0].startswith(("Echo:", ":warning:"))
    assert problems.since(mark) == []


# -- interactivity: the shortcut, buttons and the modal ---------------------------------------------------------

SHORTCUT_KEYS = [
    "type",
    "callback_id",
    "trigger_id",
    "user",
    "team",
    "channel",
    "message",
    "message_ts",
    "response_url",
    "token",
    "action_ts",
]
MESSAGE_KEYS = ["type", "text", "ts", "user", "thread_ts", "reactions", "reply_count", "subtype", "bot_id", "blocks"]
SEMANTIC_MESSAGE_KEYS = ["text", "ts", "user", "thread_ts", "subtype"]


async def interact(
    app: Harness, slack: FakeSlack, problems: _Problems, payload: dict[str, Any], *, structural: bool
) -> tuple[int, dict[str, Any], int]:
    """Send the payload; check the status and the log. Returns the status, the body and how many replies came."""
    mark, before = len(problems.records), replies(slack)
    status, body = await app.interact(payload)
    assert clean_status(status) if structural else status == 200, status
    await quiet(app)
    assert problems.since(mark) == []
    return status, body, replies(slack) - before


@SERVED
@given(data=st.data(), structural=st.booleans())
async def test_any_correct_this_answer_shortcut_opens_the_modal_or_explains(
    app: Harness, slack: FakeSlack, answer_ts: str, problems: _Problems, data: st.DataObject, structural: bool
) -> None:
    target = data.draw(st.sampled_from(["answer", "statement", "reply", "outside"]), label="target")
    channel = OUTSIDE if target == "outside" else GENERAL
    if target == "answer":
        ts = answer_ts
    else:
        ts = slack.add_message(
            channel,
            BOB if target == "reply" else ALICE,
            data.draw(odd_text, label="message"),
            thread_ts=answer_ts if target == "reply" else None,
        )
    payload = shortcut(slack, user=data.draw(st.sampled_from([ALICE, ADMIN]), label="user"), channel=channel, ts=ts)
    if data.draw(st.booleans(), label="change the message"):
        keys = MESSAGE_KEYS if structural else SEMANTIC_MESSAGE_KEYS
        payload["message"] = data.draw(mutated(payload["message"], keys, structural=structural), label="message")
    if structural:
        payload = data.draw(mutated(payload, SHORTCUT_KEYS, structural=True), label="payload")
    status, _, replied = await interact(app, slack, problems, payload, structural=structural)
    if status == 200:
        assert replied, "neither a modal nor an explanation"


BUTTON_KEYS = [
    "type",
    "user",
    "team",
    "actions",
    "response_url",
    "trigger_id",
    "container",
    "channel",
    "api_app_id",
    "token",
    "message",
    "state",
]
ACTION_KEYS = ["action_id", "value", "block_id", "type", "action_ts"]
ACTION_IDS = ["review_approve", "review_reject", "review_edit", "job_start", "job_dismiss", "job_cancel"]


@SERVED
@given(data=st.data(), structural=st.booleans())
async def test_any_button_click_is_answered_and_never_crashes(
    app: Harness, slack: FakeSlack, answer_ts: str, problems: _Problems, data: st.DataObject, structural: bool
) -> None:
    action_ids = st.sampled_from(ACTION_IDS) | st.text(max_size=12) if structural else st.sampled_from(ACTION_IDS)
    action_id = data.draw(action_ids, label="action_id")
    value = data.draw(
        st.one_of(
            st.sampled_from(["1", "0", "-1", "999999", "9" * 30, "j000000", "", " 1 ", "1.5", "١", "ft:gpt-4.1:x"]),
            odd_text,
        ),
        label="value",
    )
    payload = button(slack, action_id, value, user=data.draw(st.sampled_from([ALICE, ADMIN]), label="user"))
    payload["response_url"] = slack.response_url(f"click-{time.monotonic_ns()}")  # the value would make it too long
    if structural:
        if data.draw(st.booleans(), label="mangle action"):
            payload["actions"] = [
                data.draw(mutated(payload["actions"][0], ACTION_KEYS, structural=True), label="action")
            ]
        payload = data.draw(mutated(payload, BUTTON_KEYS, structural=True), label="payload")
    status, _, replied = await interact(app, slack, problems, payload, structural=structural)
    if status == 200:
        assert replied, f"no answer to a click on {action_id}"


@pytest.mark.parametrize("response_url", ["", "0", "hooks.slack.com/commands/x", "ftp://127.0.0.1/x", "https://"])
async def test_a_click_or_command_whose_response_url_is_not_a_url_is_refused_and_changes_nothing(
    app: Harness, slack: FakeSlack, response_url: str
) -> None:
    """Found by the property above: a reply could not be sent to '' (nor to '0'), so the click ended in a 500."""
    example = await add_example(app.db, state="candidate", channel=GENERAL)
    payload = button(slack, "review_approve", str(example), user=ADMIN)
    payload["response_url"] = response_url
    status, _ = await app.interact(payload)
    assert status == 400
    assert await app.db.fetchval("SELECT state FROM examples WHERE id = ?", (example,)) == "candidate"
    command = {
        "team_id": "T0001",
        "channel_id": GENERAL,
        "user_id": ADMIN,
        "command": "/tune",
        "text": "review",
        "response_url": response_url,
        "trigger_id": "t",
    }
    status, _ = await app.post(urlencode(command), "application/x-www-form-urlencoded")
    assert status == 400
    assert await app.db.fetchval("SELECT state FROM examples WHERE id = ?", (example,)) == "candidate"


@pytest.mark.parametrize("author", [{}, {"id": ALICE}, ["U1"], 5])
async def test_a_message_shortcut_whose_message_author_is_not_an_id_is_refused(
    app: Harness, slack: FakeSlack, author: Any
) -> None:
    """Found by the shortcut property: a message whose `user` was an object reached to_message and ended in a 500."""
    ts = slack.add_message(GENERAL, ALICE, "a statement, not an answer")
    payload = shortcut(slack, user=ALICE, channel=GENERAL, ts=ts)
    payload["message"]["user"] = author
    status, _ = await app.interact(payload)
    assert status == 400
    assert slack.calls_to("views.open") == slack.calls_to("chat.postEphemeral") == []


@pytest.mark.parametrize("response_url", [None, "", "0"])
async def test_a_message_shortcut_without_a_response_url_is_refused(
    app: Harness, slack: FakeSlack, response_url: str | None
) -> None:
    """Found by the shortcut property: in a channel the bot is not in, the explanation goes through the
    response_url, so a shortcut without one ended in a 500."""
    slack.add_channel(OUTSIDE, "outside", is_member=False)
    ts = slack.add_message(OUTSIDE, ALICE, "a statement, not an answer")
    payload = shortcut(slack, user=ALICE, channel=OUTSIDE, ts=ts)
    payload.pop("response_url", None)
    if response_url is not None:
        payload["response_url"] = response_url
    status, _ = await app.interact(payload)
    assert status == 400
    assert slack.calls_to("views.open") == slack.calls_to("chat.postEphemeral") == []


VIEW_KEYS = ["type", "user", "team", "view", "api_app_id", "token", "trigger_id", "response_urls"]
VIEW_INNER_KEYS = ["callback_id", "private_metadata", "state", "id", "type", "hash", "title", "blocks"]
ODD_METADATA = [
    "",
    "{}",
    "[]",
    "null",
    "1",
    '"x"',
    "{",
    '{"example_id": "x"}',
    '{"example_id": 99999}',
    '{"example_id": 99999999999999999999999}',
    '{"example_id": true}',
    '{"example_id": -1}',
    '{"channel": 5, "ts": null}',
    '{"channel": "C0GENERAL", "ts": "1.0"}',
    '{"channel": "C0GENERAL", "ts": "1700000000.000100"}',
    '{"channel": "C0OUTSIDE", "ts": "1.000001"}',
    '{"channel": "C0GENERAL", "ts": "abc", "fp": 3}',
]


@SERVED
@given(data=st.data(), structural=st.booleans())
async def test_any_modal_submission_is_answered_inside_the_modal_or_accepted(
    app: Harness, slack: FakeSlack, answer_ts: str, problems: _Problems, data: st.DataObject, structural: bool
) -> None:
    await app.interact(shortcut(slack, user=ALICE, channel=GENERAL, ts=answer_ts))
    view = slack.calls_to("views.update")[-1].args["view"]
    user = data.draw(st.sampled_from([ALICE, ADMIN]), label="user")
    payload = submission(view, user=user, text=data.draw(st.none() | odd_text, label="text"))
    if data.draw(st.booleans(), label="odd metadata"):
        payload["view"]["private_metadata"] = data.draw(st.sampled_from(ODD_METADATA) | odd_text, label="metadata")
    if structural:
        payload["view"]["state"]["values"]["answer"]["text"]["value"] = data.draw(JUNK, label="junk text")
        if data.draw(st.booleans(), label="mangle view"):
            payload["view"] = data.draw(mutated(payload["view"], VIEW_INNER_KEYS, structural=True), label="view")
        payload = data.draw(mutated(payload, VIEW_KEYS, structural=True), label="payload")
    ephemerals = len(slack.ephemerals)
    status, body, _ = await interact(app, slack, problems, payload, structural=structural)
    if status == 200 and body.get("response_action") == "errors":
        assert all(isinstance(message, str) and message for message in body["errors"].values())
    elif status == 200:  # accepted: the correction is stored and its author told so
        assert [e["user"] for e in slack.ephemerals[ephemerals:]] == [user]


# -- signatures ------------------------------------------------------------------------------------------------


def _event_body(slack: FakeSlack) -> tuple[str, str]:
    ts = slack.add_message(GENERAL, ALICE, f"<@{BOT}> forged")
    event = {"type": "app_mention", "user": ALICE, "text": f"<@{BOT}> forged", "ts": ts, "channel": GENERAL}
    return json.dumps(slack.event_callback(event)), "application/json"


def _command_body(slack: FakeSlack) -> tuple[str, str]:
    form = {
        "token": "x",
        "team_id": "T0001",
        "channel_id": GENERAL,
        "user_id": ADMIN,
        "command": "/tune",
        "text": "rollback",
        "response_url": slack.response_url("forged"),
        "trigger_id": "t",
    }
    return urlencode(form), "application/x-www-form-urlencoded"


def _button_body(slack: FakeSlack) -> tuple[str, str]:
    return urlencode(
        {"payload": json.dumps(button(slack, "review_approve", "1", user=ADMIN))}
    ), "application/x-www-form-urlencoded"


def _shortcut_body(slack: FakeSlack) -> tuple[str, str]:
    ts = slack.add_message(GENERAL, ALICE, "forged")
    return urlencode(
        {"payload": json.dumps(shortcut(slack, user=ADMIN, channel=GENERAL, ts=ts))}
    ), "application/x-www-form-urlencoded"


def _submission_body(slack: FakeSlack) -> tuple[str, str]:
    view = {
        "id": "V1",
        "type": "modal",
        "callback_id": "correction_modal",
        "private_metadata": json.dumps({"example_id": 1, "fp": "0"}),
    }
    return urlencode(
        {"payload": json.dumps(submission(view, user=ADMIN, text="forged text"))}
    ), "application/x-www-form-urlencoded"


def _bad_signature(body: str) -> dict[str, str]:
    return FakeSlack.sign(body, "not-the-secret")


def _stale(body: str) -> dict[str, str]:
    return FakeSlack.sign(body, SIGNING_SECRET, timestamp=int(time.time()) - 6 * 60)


def _missing(body: str) -> dict[str, str]:
    return {}


def _altered_after_signing(body: str) -> dict[str, str]:
    return FakeSlack.sign(body[:-3] + "zzz", SIGNING_SECRET)


def _garbage_headers(body: str) -> dict[str, str]:
    return {"X-Slack-Request-Timestamp": "yesterday", "X-Slack-Signature": "v0=\u00e9\u00e9"}


async def _everything(app: Harness, slack: FakeSlack, oai: FakeOpenAI) -> tuple:
    tables = [
        row["name"]
        for row in await app.db.fetchall("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
    ]
    rows = {table: [tuple(r) for r in await app.db.fetchall(f"SELECT * FROM {table}")] for table in tables}
    return rows, len(slack.calls), len(slack.responses), len(oai.calls)


BODIES = [_event_body, _command_body, _button_body, _shortcut_body, _submission_body]


@pytest.mark.parametrize("body_for", BODIES)
@pytest.mark.parametrize("headers_for", [_bad_signature, _stale, _missing, _altered_after_signing, _garbage_headers])
async def test_forged_events_commands_and_interactions_get_401_and_change_nothing(
    app: Harness, slack: FakeSlack, oai: FakeOpenAI, answer_ts: str, problems: _Problems, body_for, headers_for
) -> None:
    body, content_type = body_for(slack)
    await app.settle()
    before = await _everything(app, slack, oai)
    status, _ = await app.post(body, content_type, headers_for(body), signed=False)
    assert status == 401
    await app.settle()
    assert await _everything(app, slack, oai) == before
    assert problems.records == []


async def test_the_same_requests_correctly_signed_are_accepted(app: Harness, slack: FakeSlack) -> None:
    """The forged-request test proves something only if these bodies work when Slack really signs them."""
    for body_for in BODIES:
        body, content_type = body_for(slack)
        status, _ = await app.post(body, content_type)
        assert status == 200, body_for.__name__
    await app.settle()
    kinds = [row["event_type"] for row in await app.db.fetchall("SELECT event_type FROM inbox ORDER BY id")]
    assert kinds == ["app_mention", "view_submission"]  # the event, and the form (saved when replayed)
    texts = (
        [r.get("text", "") for r in slack.responses]
        + [e["text"] for e in slack.ephemerals]
        + [json.dumps(c.args["view"]) for c in slack.calls_to("views.update")]
    )
    assert any("Nothing to roll back" in text for text in texts)  # the command
    assert any("Example 1 does not exist" in text for text in texts)  # the button
    assert any("Only answers can be corrected" in text for text in texts)  # the shortcut
