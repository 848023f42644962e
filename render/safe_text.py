"""Text from a model or a person, made safe to show in Slack: it can format, but never ping or impersonate.

Slack turns `<!channel>`, `<!here>`, `<!everyone>`, `<!subteam^ID>`, `<@U…>` and `<#C…>` into broadcasts,
mentions and links, and in `mrkdwn` `&`, `<` and `>` are control characters that must be escaped as
`&amp;`, `&lt;`, `&gt;` (docs/slack-ai-surface.md cites Slack's formatting reference). Two targets:

- `mrkdwn(text)`: for `text` fields and mrkdwn text objects. Escaping `<` and `>` already makes every
  special token plain text; `&` is escaped so `&lt;!channel&gt;` typed as text stays text too.
- `markdown(text)`: for the `markdown` block and a stream's `markdown_text`, which take standard Markdown
  (`**bold**`, lists, code, `>` quotes). Escaping `>` there would break quotes, so only the opening `<`
  of a Slack token is broken, with a zero-width space after it: the person sees the same characters.

Bare `@channel`, `@here` and `@everyone` are broken the same way in both: some clients link them.
"""

from __future__ import annotations

import re

ZWSP = "\u200b"
# The start of anything Slack reads as a special token: <!…>, <@…>, <#…>.
_TOKEN_START = re.compile(r"<(?=[!@#])")
_BARE_BROADCAST = re.compile(r"@(?=(?:channel|here|everyone)\b)", re.IGNORECASE)


def mrkdwn(text: str) -> str:
    """Shown exactly as written in a mrkdwn field: no mention, broadcast or link markup survives."""
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BARE_BROADCAST.sub("@" + ZWSP, escaped)


def markdown(text: str) -> str:
    """Standard Markdown that renders as formatting, with every Slack token and broadcast broken."""
    return _BARE_BROADCAST.sub("@" + ZWSP, _TOKEN_START.sub("<" + ZWSP, text))
