"""The lines `python -m selfhost.train` prints: one JSON object a line, nothing else on stdout.

Every line has `kind` and `time` (ISO 8601, UTC). Kinds:
- `progress`: step, total_steps, epoch, train_loss, valid_loss, token_accuracy, learning_rate, tokens_seen,
  tokens_per_second (since the previous line), peak_gpu_memory_gb (None on the CPU), extra
- `event`: message (started, checkpoint saved, resumed, …); a checkpoint's event also has its step
- `done`: adapter, manifest, metrics
- `error`: error (plain words), and the program exits non-zero

Standard library only: the bot parses these lines without the training extras installed.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

PROGRESS_FIELDS = (
    "step",
    "total_steps",
    "epoch",
    "train_loss",
    "valid_loss",
    "token_accuracy",
    "learning_rate",
    "tokens_seen",
    "tokens_per_second",
    "peak_gpu_memory_gb",
)
KINDS = frozenset({"progress", "event", "done", "error"})

_out: TextIO | None = None


def claim_stdout(lines: bool = True) -> None:
    """Keep stdout for these lines alone: whatever else prints (library logs, progress dicts) goes to stderr.

    With `lines` False (a second training process) the lines go to stderr too: one process speaks.
    """
    global _out
    _out = sys.stdout if lines else sys.stderr
    sys.stdout = sys.stderr


def lines_stream() -> TextIO:
    """Where the lines go: the real stdout once claimed."""
    return _out or sys.stdout


def emit(kind: str, stream: TextIO | None = None, **fields: Any) -> None:
    """Print one line of `kind` and flush, so a reader sees it while training continues."""
    out = stream or _out or sys.stdout
    stamp = datetime.now(UTC).isoformat(timespec="milliseconds")
    out.write(json.dumps({"kind": kind, "time": stamp, **fields}, separators=(",", ":"), default=str) + "\n")
    out.flush()


def parse_line(text: str) -> dict[str, Any] | None:
    """The object on a line the program printed, or None for anything else (library chatter, blank lines)."""
    text = text.rsplit("\r", 1)[-1].strip()  # a progress bar on the same stream may precede it on the line
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if not isinstance(value, dict) or value.get("kind") not in KINDS:
        return None
    return value
