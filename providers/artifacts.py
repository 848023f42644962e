"""Where dataset files and adapters travel between the bot and a self-hosted trainer.

`TUNELOOP_ARTIFACTS` is a folder both sides can read (a local path, or an NFS mount for Ray
workers), or an fsspec URI (`s3://bucket/tuneloop`, `gs://…`) when the `ray` extra's fsspec and
the store's driver are installed. Layout: `files/<sha256>.jsonl` for datasets (the same file is
uploaded once) and `jobs/<tuneloop job id>/` for a job's output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from tuning.datasets.files import sha256_of
from tuning.trainers.errors import ProviderRejected


def _is_uri(location: str) -> bool:
    return "://" in location and not location.startswith("file://")


class Artifacts:
    def __init__(self, root: str | Path) -> None:
        text = str(root)
        self.root = text.removeprefix("file://").rstrip("/") if not _is_uri(text) else text.rstrip("/")

    @property
    def remote(self) -> bool:
        return _is_uri(self.root)

    def job_dir(self, job_id: str) -> str:
        return f"{self.root}/jobs/{job_id}"

    def put(self, path: Path, provider: str) -> str:
        """Copy a dataset file in (once per content); return where the trainer reads it."""
        if not path.is_file():
            raise ProviderRejected(f"The dataset file {path.name} is missing, so it cannot be sent for training.",
                                   provider)
        target = f"{self.root}/files/{sha256_of(path)}{path.suffix}"
        if self.remote:
            _fs_copy(path, target)
        else:
            destination = Path(target)
            if not destination.exists():
                destination.parent.mkdir(parents=True, exist_ok=True)
                partial = destination.with_suffix(".partial")
                shutil.copyfile(path, partial)
                partial.replace(destination)  # a crash mid-copy never leaves a half file under the final name
        return target


def _fs_copy(path: Path, target: str) -> None:
    import fsspec  # type: ignore[import-untyped]  # the `ray` extra: only for object-store artifacts

    filesystem, location = fsspec.core.url_to_fs(target)
    if not filesystem.exists(location):
        filesystem.put_file(str(path), location)
