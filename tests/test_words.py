"""The domain names commands and people with markers; only render/ writes them the way Slack does."""

from __future__ import annotations

import subprocess
from pathlib import Path

from render.help import failure
from render.words import slack_words
from tuning.errors import NotAdmin
from tuning.words import command, person

ROOT = Path(__file__).resolve().parents[1]


def test_markers_become_slack_commands_and_mentions() -> None:
    text = f"Build one with {command('dataset build NAME')}, or ask {person('U0ADMIN1')}."
    assert slack_words(text) == "Build one with `/tune dataset build NAME`, or ask <@U0ADMIN1>."
    assert slack_words("nothing to change: <#C1> ⟦ half") == "nothing to change: <#C1> ⟦ half"


def test_a_domain_error_reaches_slack_in_slack_words() -> None:
    shown = failure(str(NotAdmin("start fine-tuning jobs", frozenset({"U2", "U1"}))))
    assert shown == ":warning: Only Tuneloop admins can start fine-tuning jobs. Ask one of: <@U1>, <@U2>."


def test_the_domain_writes_no_slack_command_or_mention() -> None:
    found = subprocess.run(
        ["git", "grep", "-n", "--untracked", "-E", r"/tune\b|<@\{", "--", "tuning"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    # scrub.py recognises Slack markup in what people wrote; it writes none.
    assert [line for line in found if not line.startswith("tuning/scrub.py:")] == []
