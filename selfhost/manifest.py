"""manifest.json beside the adapter: what was trained, on what, how, and with which libraries."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from selfhost.data import sha256_of
from selfhost.options import Options

MANIFEST_NAME = "manifest.json"
_LIBRARIES = ("torch", "transformers", "trl", "peft", "accelerate", "datasets")


def write_manifest(options: Options, adapter_dir: Path, metrics: dict[str, Any], device: str) -> Path:
    files = {"train": {"path": str(options.train_file), "sha256": sha256_of(options.train_file)}}
    if options.validation_file is not None:
        files["validation"] = {"path": str(options.validation_file), "sha256": sha256_of(options.validation_file)}
    manifest = {
        "base_model": options.base_model,
        "adapter": str(adapter_dir),
        "dataset": options.dataset,
        "files": files,
        "hyperparameters": options.hyperparameters(),
        "metrics": metrics,
        "tuneloop_job": options.job_id,
        "device": device,
        "libraries": {name: _version(name) for name in _LIBRARIES},
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    path = adapter_dir / MANIFEST_NAME
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return path


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
