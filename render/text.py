"""Small text helpers shared by the renderers."""

from __future__ import annotations

SECTION_LIMIT = 3000


def excerpt(text: str, limit: int) -> str:
    """One line, at most `limit` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def quote(text: str, limit: int) -> str:
    return "> " + excerpt(text, limit)


def message_link(channel: str, ts: str, thread_ts: str | None = None) -> str:
    """Slack redirects these archive links to the message in the workspace."""
    link = f"https://slack.com/archives/{channel}/p{ts.replace('.', '')}"
    return link + (f"?thread_ts={thread_ts}&cid={channel}" if thread_ts and thread_ts != ts else "")


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else many or word + 's'}"
