"""What Tuneloop shows in Slack's AI pane."""

from __future__ import annotations

from collections.abc import Sequence

from render.text import excerpt

THINKING_STATUS = "is thinking…"
TITLE_LIMIT = 80
PROMPT_TITLE_LIMIT = 40
MAX_PROMPTS = 4  # Slack shows at most four suggested prompts
DEFAULT_SUGGESTED_PROMPTS = (
    "What can you help me with?",
    "Explain this error message to me",
    "Draft a short reply to a customer",
)


def suggested_prompts(prompts: Sequence[str]) -> list[dict[str, str]]:
    """Each prompt as Slack wants it: a short title on the button, the full text sent when clicked."""
    return [{"title": excerpt(prompt, PROMPT_TITLE_LIMIT), "message": prompt} for prompt in prompts[:MAX_PROMPTS]]


def thread_title(question: str) -> str:
    """The pane's thread title: the first question, on one line."""
    return excerpt(question, TITLE_LIMIT) or "New question"
