"""What the trainer tests share: training lines, a JSONL writer, an uploader and a sleep that only records."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tuning.training.trainers import Trainer

SFT_LINE = {
    "messages": [
        {"role": "user", "content": "How do I reset my VPN?"},
        {"role": "assistant", "content": "Open the portal and press Reset."},
    ]
}
DPO_LINE = {
    "input": {"messages": [{"role": "user", "content": "Where are the docs?"}]},
    "preferred_output": [{"role": "assistant", "content": "In the wiki, under Handbook."}],
    "non_preferred_output": [{"role": "assistant", "content": "Somewhere."}],
}


class Sleeps:
    """Records the waits the retry helper asks for, without waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def write_jsonl(path: Path, line: dict[str, Any], count: int = 12) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for _ in range(count)))
    return path


async def uploaded(trainer: Trainer, tmp_path: Path, line: dict[str, Any] = SFT_LINE, name: str = "train") -> str:
    return await trainer.upload(write_jsonl(tmp_path / f"{name}.jsonl", line))
