"""Help and usage messages for `/tune`."""

from __future__ import annotations

from render.words import slack_words


def help_message(commands: str) -> str:
    """commands: the grammar's list of subcommands (handlers.grammar.help_text())."""
    return "*Tuneloop* turns 👍 and corrections into fine-tuned models.\n\n" + commands


def usage_error(problem: str, usage: str) -> str:
    problem = slack_words(problem)
    return f":warning: {problem}\n*Usage:*\n```{usage}```" if usage else f":warning: {problem}"


def failure(message: str) -> str:
    """A domain error's message (`str(error)`), as Slack shows it."""
    return f":warning: {slack_words(message)}"


INTERNAL_ERROR = ":warning: Something went wrong on Tuneloop's side. It has been logged; please try again."
