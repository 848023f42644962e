"""The price table: the packaged tuning/prices.toml, overridden model by model by a prices.toml
beside the database file. Read at every build, so an operator's edit needs no restart."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from tuning.errors import TuningError
from tuning.models import base_model

OVERRIDE_NAME = "prices.toml"


@dataclass(frozen=True)
class Price:
    usd_per_million: float
    checked: str
    source: str = ""


@dataclass(frozen=True)
class PriceTable:
    models: dict[str, Price] = field(default_factory=dict)
    default_models: dict[str, str] = field(default_factory=dict)
    # Answering prices: model prefix -> (USD per 1M input tokens, USD per 1M output tokens).
    inference: dict[str, tuple[float, float]] = field(default_factory=dict)

    def price_for(self, model: str) -> Price | None:
        name = base_model(model)
        for prefix in sorted(self.models, key=len, reverse=True):
            if name.startswith(prefix):
                return self.models[prefix]
        return None

    def default_model(self, trainer: str) -> str:
        try:
            return self.default_models[trainer]
        except KeyError:
            known = ", ".join(sorted(self.default_models))
            raise TuningError(f"No default model for trainer `{trainer}` (known trainers: {known}).") from None

    def merged(self, other: PriceTable) -> PriceTable:
        return PriceTable({**self.models, **other.models}, {**self.default_models, **other.default_models},
                          {**self.inference, **other.inference})


def load_prices(override_dir: Path | None) -> PriceTable:
    packaged = resources.files("tuning").joinpath("prices.toml").read_text(encoding="utf-8")
    table = parse_prices(tomllib.loads(packaged), "tuning/prices.toml")
    override = override_dir / OVERRIDE_NAME if override_dir else None
    if override is None or not override.is_file():
        return table
    try:
        data = tomllib.loads(override.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise TuningError(f"The price table {override} cannot be read: {error}") from None
    return table.merged(parse_prices(data, str(override)))


def parse_prices(data: dict[str, Any], origin: str) -> PriceTable:
    checked = str(data.get("checked", "unknown date"))
    try:
        models = {
            name: Price(float(entry["usd_per_million"]), str(entry.get("checked", checked)), str(entry.get("source", "")))
            for name, entry in data.get("models", {}).items()
        }
        defaults = {name: str(entry["default_model"]) for name, entry in data.get("trainers", {}).items()}
        inference = {name: (float(entry["input"]), float(entry["output"]))
                     for name, entry in data.get("inference", {}).items()}
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise TuningError(
            f"The price table {origin} is malformed ({error!r}): each [models.\"NAME\"] needs usd_per_million, "
            "each [trainers.NAME] needs default_model, each [inference.\"NAME\"] needs input and output."
        ) from None
    return PriceTable(models, defaults, inference)
