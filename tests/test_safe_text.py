"""Model output and corrections can format, but never ping or impersonate (render/safe_text.py)."""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from render import safe_text

# Fragments Slack gives meaning to, mixed into ordinary text so generated strings hit them often.
PIECES = st.sampled_from(
    [
        "<!channel>",
        "<!here>",
        "<!everyone>",
        "<!subteam^S0123|@team>",
        "<@U0ALICE>",
        "<@W123|bob>",
        "<#C0GENERAL>",
        "<",
        ">",
        "&",
        "!",
        "@",
        "#",
        "^",
        "|",
        "@channel",
        "@here",
        "@everyone",
        "&lt;",
        "&amp;",
        "**bold**",
        "> quote",
        "\n",
        " ",
        "`code`",
        "<https://example.com|link>",
    ]
)
TEXT = st.lists(st.one_of(PIECES, st.text(max_size=5)), max_size=30).map("".join)
TOKEN = re.compile(r"<[!@#]")
BARE_BROADCAST = re.compile(r"@(channel|here|everyone)\b", re.IGNORECASE)


@settings(derandomize=True, max_examples=500)
@given(TEXT)
def test_mrkdwn_keeps_no_markup_and_shows_the_text_as_written(text: str) -> None:
    safe = safe_text.mrkdwn(text)
    assert "<" not in safe and ">" not in safe
    assert not BARE_BROADCAST.search(safe)
    assert html.unescape(safe.replace(safe_text.ZWSP, "")) == text.replace(safe_text.ZWSP, "")


@settings(derandomize=True, max_examples=500)
@given(TEXT)
def test_markdown_breaks_every_token_and_changes_nothing_visible(text: str) -> None:
    safe = safe_text.markdown(text)
    assert not TOKEN.search(safe)
    assert not BARE_BROADCAST.search(safe)
    assert safe.replace(safe_text.ZWSP, "") == text.replace(safe_text.ZWSP, "")


def test_mrkdwn_escapes_ampersands_so_an_escaped_token_stays_text() -> None:
    assert safe_text.mrkdwn("&lt;!channel&gt; & <b>") == "&amp;lt;!channel&amp;gt; &amp; &lt;b&gt;"


def test_markdown_formatting_is_left_alone() -> None:
    text = "**bold**, _it_, `a < b`, > quote, [link](https://example.com)"
    assert safe_text.markdown(text) == text


def test_a_correction_shown_for_review_pings_nobody() -> None:
    from render.review import review_queue
    from tuning.values import ExampleView

    example = ExampleView.model_construct(
        id=1,
        source="bot_answer",
        state="candidate",
        channel="C0GENERAL",
        message_ts="1.000100",
        thread_ts=None,
        question="<!here> why?",
        answer="old",
        corrected="<!channel> do it <@U0BOB> & <!subteam^S1>",
        up_votes=0,
        down_votes=0,
    )
    blocks, _ = review_queue([example], 1, frozenset())
    text = blocks[1].to_dict()["text"]["text"]
    assert "&lt;!channel&gt; do it &lt;@U0BOB&gt; &amp; &lt;!subteam^S1&gt;" in text
    assert "&lt;!here&gt; why?" in text
