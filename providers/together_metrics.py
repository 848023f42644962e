"""Loss by step from Together's `GET /fine-tunes/{id}/metrics`, and the cursor that pairs it with events.

Together's OpenAPI document (togethercomputer/openapi `openapi.yaml`, read 2026-12-05) types a row
only as `{name: number}`; its example rows carry `train/global_step`, `train/loss` and
`train/learning_rate`, the names Hugging Face's Trainer logs to W&B (where `eval_loss` becomes
`eval/loss`). Every other number is kept in `extra`. The step filter travels in a JSON body
(`metrics_filter`): the operation declares no query parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tuning.training.trainers.values import MetricPoint, as_float

STEP = "train/global_step"
_EPOCH = "train/epoch"
_TRAIN = ("train/loss",)
_VALID = ("eval/loss",)
_ACCURACY = ("train/mean_token_accuracy",)
_NOT_EXTRA = {STEP, _EPOCH, *_TRAIN, *_VALID, *_ACCURACY}
_SEPARATOR = ";"


def split_cursor(cursor: str | None) -> tuple[str | None, int]:
    """`<event cursor>;<last metrics step>`; a cursor stored before metrics were read has no step."""
    if not cursor:
        return None, 0
    events, _, step = cursor.partition(_SEPARATOR)
    return events or None, int(step) if step.isdigit() else 0


def join_cursor(events: str | None, step: int) -> str | None:
    return f"{events or ''}{_SEPARATOR}{step}" if events or step else None


def metrics_filter(after: int) -> dict[str, int]:
    """The request body asking for the steps after `after`."""
    return {"global_step_from": after + 1}


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
    value = as_float(row.get(STEP))
    return int(value) if value is not None else None


def _numbers(row: Mapping[str, Any]) -> dict[str, float]:
    return {str(key): number for key, value in row.items() if (number := as_float(value)) is not None}


def _point(step: int, row: dict[str, float], total_steps: int | None) -> MetricPoint:
    return MetricPoint(
        step=step,
        total_steps=total_steps,
        epoch=row.get(_EPOCH),
        train_loss=_first(row, _TRAIN),
        valid_loss=_first(row, _VALID),
        token_accuracy=_first(row, _ACCURACY),
        extra={key: value for key, value in row.items() if key not in _NOT_EXTRA},
    )


def _first(row: Mapping[str, float], names: tuple[str, ...]) -> float | None:
    return next((row[name] for name in names if name in row), None)
