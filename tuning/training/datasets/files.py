"""train.jsonl and validation.jsonl: written to a staging directory while the build streams, then
moved into `<datasets dir>/NAME/<version>/` with os.replace, so a reader never sees half a file."""

from __future__ import annotations

import hashlib
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path

from tuning.training.datasets.specs import Split

SPLITS: tuple[Split, ...] = ("train", "validation")
_BUFFER = 1 << 20


def file_name(split: Split) -> str:
    return f"{split}.jsonl"


class _SplitFile:
    """One split's staging file. Its sha256 is taken once the file is final (after close)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines = 0
        self._file = open(path, "wb", buffering=_BUFFER)  # noqa: SIM115 - closed by close()

    def append(self, raw: bytes) -> int:
        self._file.write(raw)
        self.lines += 1
        return self.lines

    def fileno(self) -> int:
        return self._file.fileno()

    def copy_from(self, spill: Spill) -> _SpillCopy:
        spill.close()
        self._file.flush()  # from here on the copy writes through the descriptor
        return _SpillCopy(spill, self)

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    @property
    def sha256(self) -> str:
        self.close()
        return sha256_of(self.path)


class Spill:
    """Pass 1's SFT lines of one split, in id order, until pass 2 copies the survivors' into the split.

    Making each line once, where the example is already parsed, and copying bytes later is cheaper
    than parsing every example a second time; the survivors' lines come in long runs between the few
    dropped, so the copy is a handful of kernel calls per thousand lines. Costs disk: about the size of
    the dataset, until the build ends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lines = 0
        self.size = 0
        self._file = open(path, "wb", buffering=_BUFFER)  # noqa: SIM115 - closed by close()

    def append(self, block: bytes, lines: int) -> int:
        """A batch's lines, joined; returns the block's offset."""
        self._file.write(block)
        offset, self.size, self.lines = self.size, self.size + len(block), self.lines + lines
        return offset

    def close(self) -> None:
        self._file.close()


class _SpillCopy:
    """A spill copied into its split file, skipping the dropped lines as they are named (in file order)."""

    def __init__(self, spill: Spill, target: _SplitFile) -> None:
        self._spill, self._target = spill, target
        self._source = open(spill.path, "rb")  # noqa: SIM115 - closed by close()
        self._position = 0
        self._dropped = 0

    def skip(self, offset: int, length: int) -> None:
        self._copy_to(offset)
        self._position, self._dropped = offset + length, self._dropped + 1

    def finish(self) -> None:
        self._copy_to(self._spill.size)
        self._target.lines += self._spill.lines - self._dropped

    def close(self) -> None:
        self._source.close()

    def _copy_to(self, end: int) -> None:
        """In the kernel where it can: no bytes pass through Python."""
        source, target = self._source.fileno(), self._target.fileno()
        while self._position < end:
            count = end - self._position
            try:
                copied = os.copy_file_range(source, target, count, self._position)
            except OSError:  # a file system or kernel without it (EXDEV, ENOSYS, EINVAL): through memory
                copied = os.write(target, os.pread(source, min(count, _BUFFER), self._position))
            if copied == 0:
                raise OSError(f"{self._spill.path} ended {count} bytes early")
            self._position += copied


class StagedSplits:
    def __init__(self, dataset_dir: Path) -> None:
        self.staging = dataset_dir / f".staging-{uuid.uuid4().hex}"
        self.staging.mkdir(parents=True)
        self._files = {split: _SplitFile(self.staging / file_name(split)) for split in SPLITS}
        self._spills = {split: Spill(self.staging / f"{split}.spill") for split in SPLITS}

    def append(self, split: Split, raw: bytes) -> int:
        """Returns the line's 1-based number in its split."""
        return self._files[split].append(raw)

    def spill(self, split: Split, block: bytes, lines: int) -> int:
        """Pass 1 (SFT): keep a batch's lines of one split for later; returns where the block starts in the
        split's spill (a line's offset there is this plus its offset in the block)."""
        return self._spills[split].append(block, lines)

    def keep_spilled(self, drops: Iterable[tuple[Split, int, int]]) -> None:
        """Pass 2 (SFT): each split's file is its spill without the dropped lines, given as (split, offset,
        length) in spill order; both splits in one pass over them."""
        copies = {split: self._files[split].copy_from(self._spills[split]) for split in SPLITS}
        try:
            for split, offset, length in drops:
                copies[split].skip(offset, length)
            for copy in copies.values():
                copy.finish()
        finally:
            for copy in copies.values():
                copy.close()

    def lines(self, split: Split) -> int:
        return self._files[split].lines

    def sha256(self, split: Split) -> str:
        return self._files[split].sha256

    def close(self) -> None:
        for split_file in self._files.values():
            split_file.close()
        for spill in self._spills.values():
            spill.close()

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
