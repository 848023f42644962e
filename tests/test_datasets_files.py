"""Staging files: an SFT split is its spill without the lines dedupe dropped, copied in the kernel or not."""

from __future__ import annotations

import errno
import hashlib
import os
from pathlib import Path

import pytest

from tuning.training.datasets.files import StagedSplits


def spill_lines(staged: StagedSplits, count: int) -> list[tuple[str, bytes, int, int]]:
    """Spills `count` distinct lines, every fourth to validation: (split, line, offset, length) in spill order."""
    spilled = []
    for n in range(count):
        split = "validation" if n % 4 == 3 else "train"
        raw = f'{{"messages":[{{"role":"user","content":"line {n}{"!" * (n % 7)}"}}]}}\n'.encode()
        spilled.append((split, raw, staged.spill(split, raw, 1), len(raw)))
    return spilled


def split_file(spilled: list[tuple[str, bytes, int, int]], split: str, dropped: set[int]) -> bytes:
    return b"".join(raw for n, (where, raw, _, _) in enumerate(spilled) if where == split and n not in dropped)


def published(staged: StagedSplits, drops: list[tuple[str, int, int]]) -> dict[str, bytes]:
    staged.keep_spilled(iter(drops))
    shas = {split: staged.sha256(split) for split in ("train", "validation")}
    placed = staged.publish(staged.staging.parent / "1")
    contents = {split: path.read_bytes() for split, path in placed.items()}
    assert shas == {split: hashlib.sha256(content).hexdigest() for split, content in contents.items()}
    return contents


@pytest.fixture(params=["kernel copy", "no kernel copy"])
def staged(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StagedSplits:
    if request.param == "no kernel copy":

        def unsupported(*_: object) -> int:
            raise OSError(errno.EXDEV, "cross-device")

        monkeypatch.setattr(os, "copy_file_range", unsupported)
    return StagedSplits(tmp_path / "support")


def test_a_split_is_its_spill_without_the_dropped_lines(staged: StagedSplits) -> None:
    spilled = spill_lines(staged, 40)
    dropped = {0, 3, 5, 6, 7, 38, 39}  # the first line, a run across both splits, each split's last line
    contents = published(
        staged, [(split, offset, length) for n, (split, _, offset, length) in enumerate(spilled) if n in dropped]
    )
    for split in ("train", "validation"):
        assert contents[split] == split_file(spilled, split, dropped)
        assert staged.lines(split) == contents[split].count(b"\n")
    assert staged.lines("train") + staged.lines("validation") == 40 - len(dropped)


def test_with_nothing_dropped_the_files_are_the_spills(staged: StagedSplits) -> None:
    spilled = spill_lines(staged, 9)
    contents = published(staged, [])
    assert contents == {split: split_file(spilled, split, set()) for split in ("train", "validation")}
    assert staged.lines("train") + staged.lines("validation") == 9


def test_an_empty_split_stays_empty(staged: StagedSplits) -> None:
    raw = b'{"messages":[]}\n'
    staged.spill("train", raw, 1)
    contents = published(staged, [("train", 0, len(raw))])
    assert contents == {"train": b"", "validation": b""}
    assert staged.lines("train") == staged.lines("validation") == 0


def test_a_block_of_lines_is_spilled_where_its_offset_says(staged: StagedSplits) -> None:
    first, second = b'{"a":1}\n{"b":22}\n', b'{"c":333}\n'
    assert staged.spill("train", first, 2) == 0
    assert staged.spill("train", second, 1) == len(first)
    contents = published(staged, [("train", len(b'{"a":1}\n'), len(b'{"b":22}\n'))])
    assert contents["train"] == b'{"a":1}\n{"c":333}\n'
    assert staged.lines("train") == 2
