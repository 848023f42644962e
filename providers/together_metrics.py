"""Loss by step from Together's `GET /fine-tunes/{id}/metrics`, and the cursor that pairs it with events.

The spec types a metrics row only as `{name: number}`; it filters by `global_step`, so each row
carries one. Training loss is read from `train_loss`/`loss`, validation loss from
`eval_loss`/`valid_loss`/`validation_loss`; every other number is kept in `extra`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tuning.trainers.types import MetricPoint, as_float

STEP = "global_step"
_TRAIN = ("train_loss", "training_loss", "loss")
_VALID = ("eval_loss", "valid_loss", "validation_loss")
_ACCURACY = ("token_accuracy", "train_token_accuracy", "train_mean_token_accuracy")
_NOT_EXTRA = {STEP, "step", "epoch", *_TRAIN, *_VALID, *_ACCURACY}
_SEPARATOR = ";"


def split_cursor(cursor: str | None) -> tuple[str | None, int]:
    """`<event cursor>;<last metrics step>`; a cursor stored before metrics were read has no step."""
    if not cursor:
        return None, 0
    events, _, step = cursor.partition(_SEPARATOR)
    return events or None, int(step) if step.isdigit() else 0


def join_cursor(events: str | None, step: int) -> str | None:
    return f"{events or ''}{_SEPARATOR}{step}" if events or step else None


def metric_points(body: Any, *, after: int, total_steps: int | None) -> list[MetricPoint]:
    """One point per step above `after`, in step order; rows for one step merge."""
    rows = body.get("metrics") if isinstance(body, dict) else None
    merged: dict[int, dict[str, float]] = {}
    for row in rows if isinstance(rows, list) else []:
        step = _step(row)
        if step is not None and step > after:
            merged.setdefault(step, {}).update(_numbers(row))
    return [_point(step, merged[step], total_steps) for step in sorted(merged)]


def _step(row: Any) -> int | None:
    if not isinstance(row, Mapping):
        return None
    value = as_float(row.get(STEP, row.get("step")))
    return int(value) if value is not None else None


def _numbers(row: Mapping[str, Any]) -> dict[str, float]:
    return {str(key): number for key, value in row.items() if (number := as_float(value)) is not None}


def _point(step: int, row: dict[str, float], total_steps: int | None) -> MetricPoint:
    return MetricPoint(
        step=step, total_steps=total_steps, epoch=row.get("epoch"),
        train_loss=_first(row, _TRAIN), valid_loss=_first(row, _VALID), token_accuracy=_first(row, _ACCURACY),
        extra={key: value for key, value in row.items() if key not in _NOT_EXTRA},
    )


def _first(row: Mapping[str, float], names: tuple[str, ...]) -> float | None:
    return next((row[name] for name in names if name in row), None)
