"""The model catalogue: what Tuneloop knows about each model, read from tuning/catalogue/models.toml.

One entry per model family: its provider, the back-ends that train it and how, context window,
per-example training limit, tokenizer, prices and shutdown date; plus each back-end's default base
model. Names match entries by prefix, longest first, after `ft:BASE:org:suffix:id` is reduced to
BASE. An operator's models.toml (or an older prices.toml) beside the database overrides the packaged
file field by field; `load_catalogue` reads it at every call, so an edit needs no restart.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from tuning.errors import TuningError

Method = Literal["sft", "dpo", "kto"]
TokenCounts = Literal["exact", "estimate"]

PACKAGED = "models.toml"
OVERRIDE_NAME = "models.toml"
LEGACY_OVERRIDE_NAME = "prices.toml"  # the older, prices-only shape; still honoured
MODEL_FIELDS = frozenset(
    {
        "provider",
        "train",
        "snapshots",
        "context_window",
        "max_output_tokens",
        "example_token_limit",
        "tokenizer",
        "token_counts",
        "training_usd_per_million",
        "inference",
        "fine_tuned_inference",
        "shutdown",
        "source",
        "checked",
        "dedicated_endpoint",
        "parameters_billion",
        "training_defaults",
        "chat_template",
        "chat_template_source",
    }
)
TRAINING_DEFAULT_FIELDS = frozenset({"max_length", "batch_size", "target_modules"})
BACKEND_FIELDS = frozenset({"default_model", "closes_on", "learning_rate", "learning_rate_multiplier", "source"})


@dataclass(frozen=True)
class Price:
    """A training price: USD per 1M billed tokens, and the day the table giving it was checked."""

    usd_per_million: float
    checked: str
    source: str = ""


@dataclass(frozen=True)
class ModelPrice:
    """An answering price: USD per 1M input and per 1M output tokens."""

    input_usd_per_million: float
    output_usd_per_million: float


@dataclass(frozen=True)
class TrainingDefaults:
    """Self-hosted training settings that suit a model; `python -m selfhost.train` takes them as flags."""

    max_length: int | None = None
    batch_size: int | None = None
    target_modules: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelFacts:
    name: str  # the catalogue entry (a prefix), or "" for the fallback
    provider: str
    context_window: int
    max_output_tokens: int
    example_token_limit: int
    tokenizer: str
    token_counts: TokenCounts
    train: Mapping[str, frozenset[Method]] = field(default_factory=dict)
    snapshots: tuple[str, ...] = ()
    training: Price | None = None
    inference: ModelPrice | None = None
    fine_tuned_inference: ModelPrice | None = None
    shutdown: date | None = None
    source: str = ""
    # False: the provider trains it but will not serve it (or models tuned from it) on a dedicated endpoint.
    dedicated_endpoint: bool = True
    parameters_billion: float | None = None  # for self-hosted GPU-hour estimates
    training_defaults: TrainingDefaults = TrainingDefaults()
    chat_template: str | None = None  # the model's own, verbatim: pre-flight checks it trains (no download)
    chat_template_source: str = ""


@dataclass(frozen=True)
class Backend:
    name: str
    default_model: str
    closes_on: date | None = None  # the first day it takes no new jobs
    learning_rate: float | None = None  # its default absolute learning rate
    learning_rate_multiplier: float | None = None  # its default multiplier, for back-ends that take one (OpenAI)
    source: str = ""


class UnknownModelName(TuningError):
    pass


class Catalogue:
    def __init__(
        self,
        models: Mapping[str, ModelFacts],
        backends: Mapping[str, Backend],
        fallback: ModelFacts,
        checked: str,
        defaults: Mapping[str, str] | None = None,
    ) -> None:
        self.models = dict(models)
        self.defaults = dict(defaults or {})  # answering, judge: the models used before any setting or promotion
        self.backends = dict(backends)
        self.fallback = fallback
        self.checked = checked
        self._prefixes = sorted(self.models, key=len, reverse=True)

    def entry(self, model: str) -> ModelFacts | None:
        """The longest entry `model` (or its base, for a fine-tune) starts with; None when none does."""
        name = base_model(model)
        return next((self.models[prefix] for prefix in self._prefixes if name.startswith(prefix)), None)

    def facts(self, model: str) -> ModelFacts:
        """The entry for `model`, or the conservative fallback for an open model not listed."""
        return self.entry(model) or self.fallback

    def require(self, model: str) -> ModelFacts:
        entry = self.entry(model)
        if entry is None:
            raise UnknownModelName(
                f"Tuneloop knows nothing about the model `{model}`. Known models: "
                f"{', '.join(f'`{name}`' for name in sorted(self.models))}."
            )
        return entry

    def training_price(self, model: str) -> Price | None:
        entry = self.entry(model)
        return entry.training if entry else None

    def priced_for_training(self) -> list[str]:
        return sorted(name for name, entry in self.models.items() if entry.training is not None)

    def inference_price(self, model: str) -> ModelPrice | None:
        """A fine-tune (`ft:…`) is priced apart from its base."""
        entry = self.entry(model)
        if entry is None:
            return None
        return entry.fine_tuned_inference if model.startswith("ft:") else entry.inference

    def deployable(self, base_model: str) -> bool:
        """Whether a model tuned from `base_model` can be served on a dedicated endpoint."""
        return self.facts(base_model).dedicated_endpoint

    def default_model(self, backend: str) -> str:
        return self._backend(backend).default_model

    def closes_on(self, backend: str) -> date | None:
        known = self.backends.get(backend)
        return known.closes_on if known else None

    def absolute_learning_rate(self, source: str, target: str, value: float | None) -> tuple[float | None, str]:
        """`value` as set on a `source` job, for a `target` back-end, with a sentence saying how it was mapped.

        OpenAI takes a multiplier of a pretraining rate it does not publish; other back-ends take an absolute
        rate. A multiplier maps proportionally: its back-end's default multiplier becomes the target's default
        rate. None (the target's own default) when the source set none.
        """
        if value is None:
            return None, "learning rate: the target back-end's default"
        from_, to = self.backends.get(source), self.backends.get(target)
        if from_ is None or to is None or from_.learning_rate_multiplier is None:
            return value, f"learning rate {value:g}, as set on the source job"
        if to.learning_rate is None:
            return None, (
                f"learning rate: `{target}` has no default rate in the catalogue to map OpenAI's multiplier "
                f"{value:g} onto, so its own default is used"
            )
        rate = to.learning_rate * value / from_.learning_rate_multiplier
        return rate, (
            f"learning rate {rate:.2g}: OpenAI's multiplier {value:g} ÷ its default "
            f"{from_.learning_rate_multiplier:g} × `{target}`'s default rate {to.learning_rate:g} "
            "(an approximation: OpenAI does not publish the rate its multiplier scales)"
        )

    def trainable(self, backend: str) -> dict[str, frozenset[Method]]:
        """Exact base-model names `backend` accepts, and the methods for each."""
        return {
            snapshot: entry.train[backend]
            for entry in self.models.values()
            if backend in entry.train
            for snapshot in entry.snapshots or (entry.name,)
        }

    def _backend(self, backend: str) -> Backend:
        try:
            return self.backends[backend]
        except KeyError:
            known = ", ".join(sorted(self.backends))
            raise TuningError(f"No default model for trainer `{backend}` (known trainers: {known}).") from None


def base_model(model: str) -> str:
    """`ft:BASE:org:suffix:id` → `BASE`; any other name is its own base."""
    if model.startswith("ft:"):
        return model.split(":")[1]
    return model


def model_facts(model: str) -> ModelFacts:
    """Facts from the packaged catalogue (no override): token counting and context fitting."""
    return _facts_cached(model)


@lru_cache(maxsize=256)
def _facts_cached(model: str) -> ModelFacts:
    return packaged_catalogue().facts(model)


@lru_cache(maxsize=1)
def packaged_catalogue() -> Catalogue:
    return parse_catalogue(_packaged_data(), f"tuning/{PACKAGED}")


@lru_cache(maxsize=1)
def _packaged_data() -> dict[str, Any]:
    return tomllib.loads(resources.files("tuning.catalogue").joinpath(PACKAGED).read_text(encoding="utf-8"))


def load_catalogue(override_dir: Path | None) -> Catalogue:
    """The packaged catalogue with the operator's models.toml and prices.toml (if any) laid over it."""
    if override_dir is None:
        return packaged_catalogue()
    data = _packaged_data()
    overrides = []
    for name, translate in ((LEGACY_OVERRIDE_NAME, _from_prices_shape), (OVERRIDE_NAME, _as_is)):
        path = override_dir / name
        if path.is_file():
            overrides.append((str(path), translate(_read(path))))
    if not overrides:
        return packaged_catalogue()
    for _, override in overrides:
        data = _merged(data, override)
    return parse_catalogue(data, " with ".join([f"tuning/{PACKAGED}", *(origin for origin, _ in overrides)]))


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise TuningError(f"The model catalogue {path} cannot be read: {error}") from None


def _as_is(data: dict[str, Any]) -> dict[str, Any]:
    return data


def _from_prices_shape(data: dict[str, Any]) -> dict[str, Any]:
    """An older prices.toml: [models."P"] usd_per_million, [trainers.T] default_model, [inference."P"]."""
    try:
        models: dict[str, dict[str, Any]] = {}
        for name, entry in data.get("models", {}).items():
            models.setdefault(name, {}).update(
                training_usd_per_million=float(entry["usd_per_million"]),
                **{key: str(entry[key]) for key in ("checked", "source") if key in entry},
            )
        for name, entry in data.get("inference", {}).items():
            key = "fine_tuned_inference" if name.startswith("ft:") else "inference"
            models.setdefault(name.removeprefix("ft:"), {})[key] = {
                "input": float(entry["input"]),
                "output": float(entry["output"]),
            }
        backends = {
            name: {"default_model": str(entry["default_model"])} for name, entry in data.get("trainers", {}).items()
        }
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise TuningError(
            f'The price table prices.toml is malformed ({error!r}): each [models."NAME"] needs usd_per_million, '
            'each [trainers.NAME] needs default_model, each [inference."NAME"] needs input and output.'
        ) from None
    return {
        key: value
        for key, value in (("checked", data.get("checked")), ("models", models), ("backends", backends))
        if value
    }


def _merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Each override entry replaces the fields it names; a new entry starts from the entry it falls under."""
    checked = str(override.get("checked", base.get("checked", "unknown date")))
    models = {
        name: {"checked": str(base.get("checked", "unknown date")), **entry}
        for name, entry in base.get("models", {}).items()
    }
    prefixes = sorted(models, key=len, reverse=True)
    for name, entry in override.get("models", {}).items():
        parent = models.get(name) or next((models[p] for p in prefixes if name.startswith(p)), {})
        dated = {"checked": checked} if "training_usd_per_million" in entry else {}
        models[name] = {**parent, **dated, **entry}
    backends = {
        name: {**base.get("backends", {}).get(name, {}), **entry}
        for name, entry in {**base.get("backends", {}), **override.get("backends", {})}.items()
    }
    return {**base, "models": models, "backends": backends}


def parse_catalogue(data: dict[str, Any], origin: str) -> Catalogue:
    checked = str(data.get("checked", "unknown date"))
    try:
        fallback = _facts("", data["fallback"], {}, checked)
        models = {
            name: _facts(name, entry, data["fallback"], checked) for name, entry in data.get("models", {}).items()
        }
        backends = {name: _backend(name, entry) for name, entry in data.get("backends", {}).items()}
        defaults = {role: str(model) for role, model in data.get("defaults", {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise TuningError(
            f"The model catalogue {origin} is malformed ({error!r}): see the field list at the top of "
            "tuning/catalogue/models.toml (each [backends.NAME] needs default_model; prices are numbers)."
        ) from None
    return Catalogue(models, backends, fallback, checked, defaults)


def _backend(name: str, entry: Mapping[str, Any]) -> Backend:
    _known_fields(name, entry, BACKEND_FIELDS)
    return Backend(
        name,
        str(entry["default_model"]),
        _date(entry.get("closes_on")),
        _number(entry.get("learning_rate")),
        _number(entry.get("learning_rate_multiplier")),
        str(entry.get("source", "")),
    )


def _number(value: object) -> float | None:
    return None if value is None else float(value)  # type: ignore[arg-type]


def _known_fields(name: str, entry: Mapping[str, Any], fields: frozenset[str]) -> None:
    unknown = sorted(set(entry) - fields)
    if unknown:
        raise ValueError(f"{name or 'fallback'} has unknown fields {unknown}; known: {sorted(fields)}")


def _facts(name: str, entry: Mapping[str, Any], fallback: Mapping[str, Any], checked: str) -> ModelFacts:
    _known_fields(name, entry, MODEL_FIELDS)

    def get(key: str) -> Any:
        return entry[key] if key in entry else fallback[key]

    counts = str(get("token_counts"))
    if counts not in ("exact", "estimate"):
        raise ValueError(f"token_counts of {name or 'fallback'} must be exact or estimate")
    training = entry.get("training_usd_per_million")
    return ModelFacts(
        name=name,
        provider=str(get("provider")),
        context_window=int(get("context_window")),
        max_output_tokens=int(get("max_output_tokens")),
        example_token_limit=int(get("example_token_limit")),
        tokenizer=str(get("tokenizer")),
        token_counts="exact" if counts == "exact" else "estimate",
        train={backend: frozenset(_method(m) for m in methods) for backend, methods in entry.get("train", {}).items()},
        snapshots=tuple(str(s) for s in entry.get("snapshots", ())),
        training=Price(float(training), str(entry.get("checked", checked)), str(entry.get("source", "")))
        if training is not None
        else None,
        inference=_price(entry.get("inference")),
        fine_tuned_inference=_price(entry.get("fine_tuned_inference")),
        shutdown=_date(entry.get("shutdown")),
        source=str(entry.get("source", "")),
        dedicated_endpoint=bool(entry.get("dedicated_endpoint", True)),
        parameters_billion=float(entry["parameters_billion"]) if "parameters_billion" in entry else None,
        training_defaults=_training_defaults(name, entry.get("training_defaults", {})),
        chat_template=str(entry["chat_template"]) if "chat_template" in entry else None,
        chat_template_source=str(entry.get("chat_template_source", "")),
    )


def _training_defaults(name: str, entry: Mapping[str, Any]) -> TrainingDefaults:
    _known_fields(f"{name}.training_defaults", entry, TRAINING_DEFAULT_FIELDS)
    return TrainingDefaults(
        max_length=int(entry["max_length"]) if "max_length" in entry else None,
        batch_size=int(entry["batch_size"]) if "batch_size" in entry else None,
        target_modules=tuple(str(module) for module in entry.get("target_modules", ())),
    )


def _method(value: object) -> Method:
    if value == "sft":
        return "sft"
    if value == "dpo":
        return "dpo"
    if value == "kto":
        return "kto"
    raise ValueError(f"unknown training method {value!r} (sft, dpo or kto)")


def _price(value: Mapping[str, Any] | None) -> ModelPrice | None:
    return ModelPrice(float(value["input"]), float(value["output"])) if value is not None else None


def _date(value: object) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))
