"""Help and usage messages for `/tune`."""

from __future__ import annotations

from tuning.grammar import help_text


def help_message() -> str:
    return "*Tuneloop* turns 👍 and corrections into fine-tuned models.\n\n" + help_text()


def usage_error(problem: str, usage: str) -> str:
    return f":warning: {problem}\n*Usage:*\n```{usage}```" if usage else f":warning: {problem}"


def failure(message: str) -> str:
    return f":warning: {message}"


INTERNAL_ERROR = ":warning: Something went wrong on Tuneloop's side. It has been logged; please try again."
