"""Stored version rows to the values the rest of the app sees."""

from __future__ import annotations

import json
from pathlib import Path
from typing import cast

from storage.datasets import VersionRow
from tuning.training.datasets.specs import (
    CostEstimate,
    DatasetFile,
    DatasetFilters,
    DatasetListing,
    DatasetSummary,
    Format,
    KtoLabels,
    TokenStats,
)


def stored_path(path: Path, root: Path) -> str:
    """Relative to the database's directory when inside it, so the whole directory can be moved."""
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path.resolve())


def summary_from_row(row: VersionRow, root: Path) -> DatasetSummary:
    return DatasetSummary(
        id=row.id,
        name=row.name,
        version=row.version,
        format=cast(Format, row.format),
        filters=DatasetFilters.model_validate_json(row.filters),
        val=row.val_fraction,
        created_by=row.created_by,
        created_at=row.created_at,
        train=row.train_count,
        validation=row.validation_count,
        dropped=json.loads(row.dropped),
        token_model=row.token_model,
        encoding=row.encoding,
        tokens=TokenStats(
            total=row.tokens_total,
            train=row.tokens_train,
            median=row.tokens_median,
            p90=row.tokens_p90,
            max=row.tokens_max,
        ),
        cost=CostEstimate(
            trainer=row.cost_trainer,
            model=row.cost_model,
            epochs=row.default_epochs,
            billed_tokens=row.billed_tokens,
            usd_per_million=row.usd_per_million,
            usd=row.cost_usd,
            prices_checked=row.prices_checked,
        ),
        files=[
            DatasetFile(split="train", path=root / row.train_path, sha256=row.train_sha256, lines=row.train_count),
            DatasetFile(
                split="validation",
                path=root / row.validation_path,
                sha256=row.validation_sha256,
                lines=row.validation_count,
            ),
        ],
        kto=KtoLabels.model_validate_json(row.kto_labels) if row.kto_labels else None,
    )


def listing_from_row(row: VersionRow, *, erased: bool = False) -> DatasetListing:
    return DatasetListing(
        name=row.name,
        version=row.version,
        format=cast(Format, row.format),
        created_at=row.created_at,
        created_by=row.created_by,
        train=row.train_count,
        validation=row.validation_count,
        erased=erased,
    )
