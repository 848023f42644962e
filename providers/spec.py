"""What a trainer back-end states about itself, so that everything else derives from one list of specs
(providers/registry.py): settings validation, the `/tune` grammar's choices, `/tune help`, the hints shown for a
back-end that is not configured, and which trainers are built."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import openai
from pydantic import SecretStr

from tuning.catalogue.entries import Catalogue
from tuning.training.trainers.base import Trainer
from tuning.training.trainers.features import features_of


@dataclass(frozen=True)
class BuildContext:
    """What a spec's `build` is given: the values of the settings it declared (by environment name), and what
    every back-end shares."""

    values: Mapping[str, Any]
    openai: openai.AsyncOpenAI
    catalogue: Catalogue
    artifacts: str  # TUNELOOP_ARTIFACTS, else artifacts/ beside the database
    today: Callable[[], date]

    def text(self, name: str) -> str | None:
        """A setting's value as text (a secret unwrapped), None when unset or empty."""
        value = self.values.get(name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        return str(value) if value not in (None, "") else None


@dataclass(frozen=True)
class TrainerSpec:
    """One back-end. `provider` is the catalogue provider whose client answers with the models it tunes."""

    name: str
    summary: str  # one line for `/tune help`
    kind: type  # the trainer class: its optional features are the protocols it implements
    build: Callable[[BuildContext], Trainer]
    provider: str
    settings: tuple[str, ...] = ()  # the settings (environment names) `build` reads
    required: tuple[str, ...] = ()  # those that must be set for the back-end to exist here
    hint: str = ""  # what an operator sets to enable it, shown when it is asked for and not configured

    @property
    def features(self) -> frozenset[str]:
        """The optional capabilities (tuning.training.trainers.base protocols) this back-end's trainer implements."""
        return features_of(self.kind)

    def configured(self, values: Mapping[str, Any]) -> bool:
        return all(is_set(values.get(name)) for name in self.required)


def is_set(value: Any) -> bool:
    """A setting given a value (an empty secret is not)."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value not in (None, "")
