"""train.jsonl and validation.jsonl: written to a staging directory while the build streams, then
moved into `<datasets dir>/NAME/<version>/` with os.replace, so a reader never sees half a file."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from pathlib import Path

from tuning.datasets.types import Split

SPLITS: tuple[Split, ...] = ("train", "validation")
_BUFFER = 1 << 20


def file_name(split: Split) -> str:
    return f"{split}.jsonl"


class _SplitFile:
    """One split's staging file, hashed as lines are appended."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines = 0
        self._hash = hashlib.sha256()
        self._file = open(path, "wb", buffering=_BUFFER)  # noqa: SIM115 - closed by close()

    def append(self, raw: bytes) -> int:
        self._file.write(raw)
        self._hash.update(raw)
        self.lines += 1
        return self.lines

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()


class Spill:
    """Pass 1's SFT lines in id order, kept until pass 2 copies the survivors into their split.

    Making each line once, where the example is already parsed, and copying bytes later is cheaper
    than parsing every example a second time. Costs disk: about the size of the dataset, briefly."""

    def __init__(self, path: Path) -> None:
        self._file = open(path, "w+b", buffering=_BUFFER)  # noqa: SIM115 - closed by close()
        self._end = 0

    def append(self, raw: bytes) -> tuple[int, int]:
        """Returns (offset, length) for read(). Every append comes before the first read."""
        self._file.write(raw)
        offset, self._end = self._end, self._end + len(raw)
        return offset, len(raw)

    def read(self, offset: int, length: int) -> bytes:
        self._file.seek(offset)
        return self._file.read(length)

    def close(self) -> None:
        self._file.close()


class StagedSplits:
    def __init__(self, dataset_dir: Path) -> None:
        self.staging = dataset_dir / f".staging-{uuid.uuid4().hex}"
        self.staging.mkdir(parents=True)
        self._files = {split: _SplitFile(self.staging / file_name(split)) for split in SPLITS}
        self.spill = Spill(self.staging / "spill.jsonl")

    def append(self, split: Split, raw: bytes) -> int:
        """Returns the line's 1-based number in its split."""
        return self._files[split].append(raw)

    def lines(self, split: Split) -> int:
        return self._files[split].lines

    def sha256(self, split: Split) -> str:
        return self._files[split].sha256

    def close(self) -> None:
        for split_file in self._files.values():
            split_file.close()
        self.spill.close()

    def move_train_line_to_validation(self, line: int) -> None:
        """Rewrite train without that line and make it validation's only line (validation is empty)."""
        self.close()
        source = self._files["train"].path
        train = _SplitFile(source.with_suffix(".rewrite"))
        validation = _SplitFile(self._files["validation"].path)
        with open(source, "rb") as lines:
            for number, raw in enumerate(lines, start=1):
                (validation if number == line else train).append(raw)
        train.close()
        validation.close()
        os.replace(train.path, source)
        train.path = source
        self._files = {"train": train, "validation": validation}

    def publish(self, final_dir: Path) -> dict[Split, Path]:
        """Move both files into place; the directory is new unless a crashed, unrecorded build left it."""
        self.close()
        final_dir.mkdir(parents=True, exist_ok=True)
        placed = {}
        for split, split_file in self._files.items():
            target = final_dir / file_name(split)
            os.replace(split_file.path, target)
            placed[split] = target
        _fsync_directory(final_dir)
        self.discard()
        return placed

    def discard(self) -> None:
        self.close()
        shutil.rmtree(self.staging, ignore_errors=True)


def _fsync_directory(path: Path) -> None:
    # The renames are durable only once the directory entry is on disk.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        for chunk in iter(lambda: source.read(_BUFFER), b""):
            digest.update(chunk)
    return digest.hexdigest()
