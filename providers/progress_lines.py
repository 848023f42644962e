"""Reading the training program's JSON lines (`selfhost.protocol`) as events and metric points.

Both self-hosted back-ends read the same output: the local one from a file the process writes,
the Ray one from the job's logs. The cursor is a byte offset into that output; a line is read
only once it is complete (a line the program is still writing waits for the next read).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from selfhost.protocol import parse_line
from tuning.training.trainers.values import EventPage, JobEvent, MetricPoint, as_float

_LEVELS = {"event": "info", "done": "info", "error": "error"}


@dataclass(frozen=True)
class Outcome:
    """How the program ended, from its own last words: `done` (adapter written) or `error`."""

    succeeded: bool
    message: str
    adapter: str | None = None
    tokens_seen: int | None = None


def read_page(data: bytes, offset: int, job_key: str) -> EventPage:
    """Events and points in `data` (the output from byte `offset` on); the cursor moves past whole lines only."""
    end = data.rfind(b"\n") + 1
    events, metrics = [], []
    position = 0
    for raw in data[:end].decode("utf-8", errors="replace").splitlines(keepends=True):
        line = parse_line(raw)
        if line is not None:
            if line["kind"] == "progress":
                point = metric_point(line)
                if point is not None:
                    metrics.append(point)
            else:
                events.append(_event(line, f"{job_key}-{offset + position}"))
        position += len(raw.encode("utf-8"))
    return EventPage(events=events, metrics=metrics, cursor=str(offset + end))


def metric_point(line: dict[str, Any]) -> MetricPoint | None:
    step = line.get("step")
    if not isinstance(step, int) or isinstance(step, bool):
        return None
    extra = {key: value for key in ("learning_rate", "tokens_seen") if (value := as_float(line.get(key))) is not None}
    extra |= {key: value for key, raw in (line.get("extra") or {}).items() if (value := as_float(raw)) is not None}
    total = line.get("total_steps")
    return MetricPoint(
        step=step,
        total_steps=total if isinstance(total, int) else None,
        epoch=as_float(line.get("epoch")),
        train_loss=as_float(line.get("train_loss")),
        valid_loss=as_float(line.get("valid_loss")),
        token_accuracy=as_float(line.get("token_accuracy")),
        extra=extra,
    )


def _event(line: dict[str, Any], event_id: str) -> JobEvent:
    kind = line["kind"]
    if kind == "done":
        message = "Training finished; the adapter is saved."
    elif kind == "error":
        message = str(line.get("error") or "Training failed.")
    else:
        message = str(line.get("message") or "")
    return JobEvent(id=event_id, created_at=_time(line), level=_LEVELS[kind], message=message, type=kind)


def _time(line: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(line["time"]))
    except (KeyError, ValueError):
        return datetime.now(UTC)


def outcome(text: str) -> Outcome | None:
    """The program's final `done` or `error` line in its whole output, if it printed one."""
    last_progress: dict[str, Any] = {}
    for raw in text.splitlines():
        line = parse_line(raw)
        if line is None:
            continue
        if line["kind"] == "progress":
            last_progress = line
        elif line["kind"] == "done":
            tokens = last_progress.get("tokens_seen")
            return Outcome(True, "", str(line.get("adapter")), tokens if isinstance(tokens, int) else None)
        elif line["kind"] == "error":
            return Outcome(False, str(line.get("error") or "Training failed."))
    return None


def progress_summary(text: str) -> tuple[int | None, int | None]:
    """(total steps, tokens seen) from the last progress line, for the job's card."""
    for raw in reversed(text.splitlines()):
        line = parse_line(raw)
        if line is not None and line["kind"] == "progress":
            total, tokens = line.get("total_steps"), line.get("tokens_seen")
            return (total if isinstance(total, int) else None, tokens if isinstance(tokens, int) else None)
    return None, None
