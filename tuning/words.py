"""How the domain points a person at a command or names a user, without knowing how the chat surface
writes either: render/words.py turns these markers into Slack's command and mention syntax.

    raise NotFound(f"There is no job `{ref}`. {command('jobs')} lists recent ones.")
"""

from __future__ import annotations

OPEN, CLOSE = "\u27e6", "\u27e7"  # ⟦ ⟧: never typed by a person, so never mistaken for their text


def command(words: str) -> str:
    """A Tuneloop command, by its words after the command name: `command("dataset build NAME")`."""
    return f"{OPEN}command {words}{CLOSE}"


def person(user_id: str) -> str:
    return f"{OPEN}person {user_id}{CLOSE}"
