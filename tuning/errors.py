"""Errors whose message is safe to show the person who asked (through render.words.slack_words)."""

from __future__ import annotations

from tuning.words import person


class TuningError(Exception):
    """Base class: `str(error)` is written for the person who asked."""


class UsageError(TuningError):
    """A bad command: the message names the problem, `usage` shows the right form."""

    def __init__(self, message: str, usage: str = "") -> None:
        super().__init__(message)
        self.usage = usage


class NotAdmin(TuningError):
    def __init__(self, action: str, admins: frozenset[str]) -> None:
        if admins:
            who = ", ".join(person(user) for user in sorted(admins))
            text = f"Only Tuneloop admins can {action}. Ask one of: {who}."
        else:
            text = (
                f"Only Tuneloop admins can {action}, and none is set yet. "
                "An operator adds Slack user ids to TUNELOOP_ADMINS (comma-separated) and restarts the app."
            )
        super().__init__(text)


class NotFound(TuningError):
    pass


class ModelError(TuningError):
    """The chat model did not answer; the cause is chained and logged."""


class ModelGone(ModelError):
    """The model no longer exists at its provider (HTTP 404, or `model_not_found`), as opposed to a transient
    failure; `provider_error` keeps the provider's own status, code and message for the record."""

    def __init__(self, message: str, provider_error: str) -> None:
        super().__init__(message)
        self.provider_error = provider_error
