"""Every trainer back-end Tuneloop knows. A new back-end is a module stating its `SPEC` (providers/spec.py) plus
one line in `SPECS`: settings validation, the `/tune` grammar, `/tune help` and the hints derive from this list.
(Self-hosted ones: local_trainer.py, ray_trainer.py, docs/selfhost.md.)"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from providers import local_trainer, openai_trainer, ray_trainer, together_trainer
from providers.spec import BuildContext, TrainerSpec
from tuning.training.trainers.base import Trainer

SPECS: tuple[TrainerSpec, ...] = (openai_trainer.SPEC, together_trainer.SPEC, local_trainer.SPEC, ray_trainer.SPEC)


def known_specs() -> tuple[TrainerSpec, ...]:
    """The list, read at each call (a test registers a back-end by extending `SPECS`)."""
    return SPECS


def spec_named(name: str) -> TrainerSpec | None:
    return next((spec for spec in known_specs() if spec.name == name), None)


def build_trainers(context: BuildContext) -> dict[str, Trainer]:
    """Every configured back-end, in the list's order; each sees only the settings its spec declares.
    Their models come from `context.catalogue` (read at start-up: a changed models.toml needs a restart)."""
    return {
        spec.name: spec.build(replace(context, values=_declared(spec, context.values)))
        for spec in known_specs()
        if spec.configured(context.values)
    }


def unconfigured_hints(values: Mapping[str, Any]) -> dict[str, str]:
    """For each known back-end not configured with these settings, what an operator sets to enable it."""
    return {spec.name: spec.hint for spec in known_specs() if not spec.configured(values)}


def _declared(spec: TrainerSpec, values: Mapping[str, Any]) -> dict[str, Any]:
    return {name: values.get(name) for name in spec.settings}
