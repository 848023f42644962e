"""Datasets: approved examples → checked, deduplicated, split, counted, priced JSONL versions.

lines (formats) · checks (data preparation) · quality (dedupe keys) · counting (tokens) · limits
split · prices · cost · prepare (per-batch work) · parallel · files · build (the pipeline)
records · service (DatasetService) · cli (operator commands)
"""

from tuning.datasets.service import ChannelResolver, DatasetService, parse_ref
from tuning.datasets.types import BuildRequest, DatasetFilters, DatasetListing, DatasetSummary

__all__ = [
    "BuildRequest", "ChannelResolver", "DatasetFilters", "DatasetListing", "DatasetService", "DatasetSummary",
    "parse_ref",
]
