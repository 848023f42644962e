"""Datasets: approved examples → checked, deduplicated, split, counted, priced JSONL versions.

lines (formats) · checks (data preparation) · quality (dedupe keys) · counting (tokens) · limits
split · prices · cost · prepare (per-batch work) · parallel · files · build (the pipeline)
records · service (DatasetService) · cli (operator commands)

The names below load on first use: a build's worker processes import `prepare` alone, and the
service's dependencies (pydantic, storage, asyncio) would add a third of a second to each start.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tuning.training.datasets.service import ChannelResolver, DatasetService, parse_ref
    from tuning.training.datasets.specs import BuildRequest, DatasetFilters, DatasetListing, DatasetSummary

__all__ = [
    "BuildRequest",
    "ChannelResolver",
    "DatasetFilters",
    "DatasetListing",
    "DatasetService",
    "DatasetSummary",
    "parse_ref",
]
_SERVICE_NAMES = frozenset({"ChannelResolver", "DatasetService", "parse_ref"})


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{'service' if name in _SERVICE_NAMES else 'specs'}"), name)
