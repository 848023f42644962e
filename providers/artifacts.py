"""Where dataset files and adapters travel between the bot, a self-hosted trainer and the model server.

`TUNELOOP_ARTIFACTS` is a folder every side reads at the same path (a local path, or an NFS or similar
mount for Ray workers and a model server on other machines). It is always used as an absolute path:
the paths in it are handed to processes with other working directories (the training program, a Ray
job, vLLM). Layout:

- `files/<sha256>.jsonl`: dataset files (the same file is copied once);
- `jobs/<tuneloop job id>/`: a job's folder; the training program writes `out/adapter/`;
- `adapters/tuneloop-<job id>`: each finished adapter under its served name (a link to the job's
  `out/adapter`), the layout vLLM's filesystem LoRA resolver reads (`VLLM_LORA_RESOLVER_CACHE_DIR`).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from tuning.training.datasets.files import sha256_of
from tuning.training.trainers.errors import ProviderRejected
from tuning.training.trainers.open_models import ADAPTER_PREFIX, served_name

ADAPTER_SUBDIR = "adapter"  # selfhost.train writes OUTPUT/adapter
ADAPTER_FILES = ("adapter_config.json",)
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")


class NotALocalFolder(ValueError):
    pass


def artifacts_folder(location: str | Path) -> Path:
    """TUNELOOP_ARTIFACTS as an absolute folder; an object-store URI is refused with what to use instead."""
    text = str(location)
    if "://" in text and not text.startswith("file://"):
        raise NotALocalFolder(
            f"TUNELOOP_ARTIFACTS={text} is not a folder. Object stores are not supported: use a folder that the bot, "
            "the Ray workers and the model server all mount at the same path (NFS or similar)."
        )
    return Path(text.removeprefix("file://")).expanduser().resolve()


class Artifacts:
    def __init__(self, root: str | Path) -> None:
        self.root = artifacts_folder(root)

    def job_dir(self, job_id: str) -> Path:
        return self.root / "jobs" / job_id

    def output_dir(self, job_id: str) -> Path:
        """What the training program gets as --output-dir; it writes the adapter to `<this>/adapter`."""
        return self.job_dir(job_id) / "out"

    def adapter_dir(self, job_id: str) -> Path:
        return self.output_dir(job_id) / ADAPTER_SUBDIR

    def served_adapter(self, name: str) -> str:
        """Where the model server loads the adapter `tuneloop-<job id>` from: its published name, else the job's
        own folder (adapters trained before publishing existed)."""
        published = self.root / "adapters" / name
        return str(published if published.exists() else self.adapter_dir(name.removeprefix(ADAPTER_PREFIX)))

    def publish_adapter(self, job_id: str) -> str | None:
        """Link a finished job's adapter under its served name; None when done, else why the server cannot load it."""
        adapter = self.adapter_dir(job_id)
        problem = unreadable(adapter)
        if problem is not None:
            return (
                f"The adapter is not readable at {adapter} ({problem}), where the model server will load it: "
                "TUNELOOP_ARTIFACTS must be the same folder for the bot, the trainer and the model server."
            )
        link = self.root / "adapters" / served_name(job_id)
        if not link.exists():
            link.parent.mkdir(parents=True, exist_ok=True)
            partial = link.with_name(link.name + ".partial")
            partial.unlink(missing_ok=True)
            # Relative, so the link holds wherever the folder is mounted.
            partial.symlink_to(os.path.relpath(adapter, link.parent), target_is_directory=True)
            partial.replace(link)
        return None

    def put(self, path: Path, provider: str) -> str:
        """Copy a dataset file in (once per content); return where the trainer reads it."""
        if not path.is_file():
            raise ProviderRejected(
                f"The dataset file {path.name} is missing, so it cannot be sent for training.", provider
            )
        destination = self.root / "files" / f"{sha256_of(path)}{path.suffix}"
        if not destination.exists():
            destination.parent.mkdir(parents=True, exist_ok=True)
            partial = destination.with_suffix(".partial")
            shutil.copyfile(path, partial)
            partial.replace(destination)  # a crash mid-copy never leaves a half file under the final name
        return str(destination)


def unreadable(adapter: Path) -> str | None:
    """Why a PEFT adapter folder cannot be loaded (a missing or unreadable file), or None."""
    needed = [adapter / name for name in ADAPTER_FILES]
    weights = [adapter / name for name in ADAPTER_WEIGHTS if (adapter / name).exists()]
    if not weights:
        return f"no {' or '.join(ADAPTER_WEIGHTS)}"
    for path in [*needed, weights[0]]:
        try:
            with path.open("rb") as handle:
                handle.read(1)
        except OSError as error:
            return f"{path.name}: {error.strerror or type(error).__name__}"
    return None
