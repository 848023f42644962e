"""Trainer errors. Each message is written for the Slack user and never holds a secret."""

from __future__ import annotations

import re
from collections.abc import Iterable

from tuning.errors import TuningError

_SECRET_PATTERNS = (
    re.compile(r"(?i)bearer\s+\S+"),
    re.compile(r"\bsk-[A-Za-z0-9_\-*.]{4,}"),
    re.compile(r"\btgp_v\d_[A-Za-z0-9_\-]+"),
    re.compile(r"\b[a-f0-9]{48,}\b"),
)
_MAX_PROVIDER_TEXT = 300


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` without the given secrets and without anything shaped like an API key."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub("[redacted]", text)
    if len(text) > _MAX_PROVIDER_TEXT:
        text = text[: _MAX_PROVIDER_TEXT - 1] + "…"
    return text


class TrainerError(TuningError):
    """A trainer back-end could not do what was asked. `provider` names the back-end."""

    def __init__(self, message: str, provider: str = "") -> None:
        super().__init__(message)
        self.provider = provider


class ProviderRefused(TrainerError):
    """The provider will not train for this account (or not any more)."""


class ProviderUnavailable(TrainerError):
    """The provider did not answer usefully after retries (429, 5xx, timeouts); the cause is chained."""


class ProviderRejected(TrainerError):
    """The provider said the request itself is wrong (bad file, bad hyperparameter)."""


class UnknownModel(TrainerError):
    def __init__(self, provider: str, model: str, supported: Iterable[str], hint: str = "") -> None:
        names = ", ".join(f"`{name}`" for name in supported)
        text = f"The {provider} trainer cannot fine-tune `{model}`. It supports: {names}{hint}."
        super().__init__(text, provider)
        self.model = model


class MethodNotSupported(TrainerError):
    def __init__(self, provider: str, method: str, model: str | None, supported: Iterable[str]) -> None:
        names = ", ".join(f"`{name}`" for name in supported)
        if model is None:
            text = f"The {provider} trainer does not do {method.upper()} training."
            if method == "kto":
                text += (
                    " KTO (learning from every 👍 and 👎) trains on the self-hosted back-ends only: "
                    "`trainer:local` or `trainer:ray`."
                )
        elif names:
            text = f"The {provider} trainer cannot do {method.upper()} on `{model}`. Models that can: {names}."
        else:
            text = f"The {provider} trainer cannot do {method.upper()} on `{model}`."
        super().__init__(text, provider)
