"""A transformers callback that prints each training step as one `progress` line (see `protocol`).

A step's line waits until the step is over, so a validation loss computed at that step (each epoch's
end, which is also where a run cut short by --max-steps ends) travels on the same line: one metric
point per step. Each training line also carries the throughput since the previous line (tokens/s) and the
process's peak GPU memory (None on the CPU).
"""

from __future__ import annotations

import time
from typing import Any

from transformers import (
    TrainerCallback,
    TrainerControl,
    TrainerState,
    TrainingArguments,
)

from selfhost.modeling import peak_gpu_memory_gb
from selfhost.protocol import emit

# Trainer log keys that are not a step's metrics (the end-of-training summary).
_SUMMARY_KEYS = frozenset({"train_runtime", "train_samples_per_second", "train_steps_per_second"})
_EXTRA_PREFIXES = ("rewards/", "eval_rewards/")


class ProgressLines(TrainerCallback):
    """Also keeps the last values seen, which the manifest records as final metrics."""

    def __init__(self) -> None:
        self.final: dict[str, Any] = {}
        self._pending: dict[str, Any] | None = None
        self._clock: tuple[float, int | None] = (time.perf_counter(), None)  # (time, tokens) at the last line
        self._first: tuple[float, int] | None = None  # the same where throughput was first measurable

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        # A fresh run starts from zero tokens; a resumed one measures from its first line on.
        self._clock = (time.perf_counter(), 0 if state.global_step == 0 else None)

    def on_save(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any) -> None:
        # No flush: the end-of-epoch evaluation is logged after the last step's save and joins that step's line.
        if state.is_world_process_zero:
            emit("event", message=f"Saved a checkpoint at step {state.global_step}.", step=state.global_step)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, float] | None = None,
        **kwargs: Any,
    ) -> None:
        if not logs or _SUMMARY_KEYS & logs.keys() or not state.is_world_process_zero:
            return
        point = point_from_logs(logs, state)
        if point["valid_loss"] is None:
            self._flush()
            point["tokens_per_second"] = self._throughput(point["tokens_seen"])
            point["peak_gpu_memory_gb"] = peak_gpu_memory_gb()
            self._pending = point
        elif self._pending is not None and self._pending["step"] == point["step"]:
            self._pending["valid_loss"] = point["valid_loss"]
            self._pending["extra"] = {**self._pending["extra"], **point["extra"]}
        else:
            self._pending = point

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._flush()

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        self._flush()

    def throughput(self) -> float | None:
        """Tokens a second over the whole run so far (this process's run, when it resumed)."""
        last_time, last_tokens = self._clock
        if self._first is None or last_tokens is None or last_time <= self._first[0]:
            return None
        return round((last_tokens - self._first[1]) / (last_time - self._first[0]), 1)

    def _throughput(self, tokens: int | None) -> float | None:
        now = time.perf_counter()
        then, before = self._clock
        self._clock = (now, tokens)
        if tokens is None or before is None or now <= then:
            return None
        if self._first is None:
            self._first = (then, before)
        return round((tokens - before) / (now - then), 1)

    def _flush(self) -> None:
        if self._pending is None:
            return
        point, self._pending = self._pending, None
        self.final.update({key: value for key, value in point.items() if value is not None and key != "extra"})
        emit("progress", **point)


def point_from_logs(logs: dict[str, float], state: TrainerState) -> dict[str, Any]:
    evaluating = "eval_loss" in logs
    prefix = "eval_" if evaluating else ""
    return {
        "step": state.global_step,
        "total_steps": state.max_steps,
        "epoch": round(state.epoch, 4) if state.epoch is not None else None,
        "train_loss": None if evaluating else logs.get("loss"),
        "valid_loss": logs.get("eval_loss"),
        "token_accuracy": logs.get(f"{prefix}mean_token_accuracy"),
        "learning_rate": logs.get("learning_rate"),
        "tokens_seen": _int(logs.get(f"{prefix}num_tokens")),
        "tokens_per_second": None,
        "peak_gpu_memory_gb": None,
        "extra": {key: value for key, value in logs.items() if key.startswith(_EXTRA_PREFIXES)},
    }


def _int(value: float | None) -> int | None:
    return None if value is None else int(value)
