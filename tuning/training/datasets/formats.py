"""A dataset version in the formats the open-model world reads: Parquet, and a Hugging Face `datasets` folder.

Both carry the version's card (counts, tokens, source, scrubbing) as metadata: Parquet in the schema's
key-value metadata under `tuneloop`, the `datasets` folder in each split's `DatasetInfo.description` and a
README.md dataset card. pyarrow and datasets come with the `export` extra; they are imported only here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from tuning.errors import TuningError, UsageError
from tuning.training.datasets.files import sha256_of
from tuning.training.datasets.specs import DatasetSummary

ExportFormat = Literal["jsonl", "parquet", "hf"]
EXTRA_HINT = "pip install 'tuneloop[export]'"
SCRUBBING = (
    "Personal data (emails, phone numbers, names of workspace members, secrets) was scrubbed when each "
    "example was captured; see docs/scrubbing.md."
)


def card(summary: DatasetSummary) -> dict[str, Any]:
    """What a reader of the exported files should know about where they came from."""
    return {
        "dataset": summary.ref,
        "format": summary.format,
        "created_at": summary.created_at,
        "created_by": summary.created_by,
        "source": "Slack threads: approved 👍 answers and corrections (Tuneloop)",
        "filters": summary.filters.model_dump(mode="json"),
        "counts": {"train": summary.train, "validation": summary.validation},
        "dropped": summary.dropped,
        "tokens": summary.tokens.model_dump(),
        "token_model": summary.token_model,
        "encoding": summary.encoding,
        "scrubbing": SCRUBBING,
    }


def read_splits(summary: DatasetSummary) -> dict[str, list[dict[str, Any]]]:
    """Each split's records, from files checked against the sha256 recorded at build time."""
    splits: dict[str, list[dict[str, Any]]] = {}
    for dataset_file in summary.files:
        if not dataset_file.path.is_file() or sha256_of(dataset_file.path) != dataset_file.sha256:
            raise TuningError(f"{dataset_file.path} is missing or changed since {summary.ref} was built; rebuild it.")
        with dataset_file.path.open(encoding="utf-8") as lines:
            splits[dataset_file.split] = [json.loads(line) for line in lines if line.strip()]
    return splits


def write_parquet(summary: DatasetSummary, out_dir: Path) -> list[Path]:
    pyarrow, parquet = _require("pyarrow"), _require("pyarrow.parquet")
    metadata = {b"tuneloop": json.dumps(card(summary)).encode()}
    written = []
    for split, records in read_splits(summary).items():
        table = pyarrow.Table.from_pylist(records)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
        target = out_dir / f"{summary.ref}.{split}.parquet"
        parquet.write_table(table, target)
        written.append(target)
    return written


def write_hf(summary: DatasetSummary, out_dir: Path) -> list[Path]:
    """A `datasets.DatasetDict` saved with save_to_disk: `load_from_disk` reads it back, splits and all."""
    datasets = _require("datasets")
    facts = card(summary)
    info = datasets.DatasetInfo(
        description=json.dumps(facts), dataset_name=summary.name, version=f"{summary.version}.0.0"
    )
    splits = {split: datasets.Dataset.from_list(records, info=info) for split, records in read_splits(summary).items()}
    target = out_dir / summary.ref
    datasets.DatasetDict(splits).save_to_disk(str(target))
    (target / "README.md").write_text(_readme(facts), encoding="utf-8")
    return [target]


def _readme(facts: dict[str, Any]) -> str:
    counts = facts["counts"]
    return (
        f"# {facts['dataset']}\n\n{facts['source']}, format `{facts['format']}`, built {facts['created_at']}.\n\n"
        f"- examples: {counts['train']} train, {counts['validation']} validation\n"
        f"- tokens ({facts['token_model']}): {facts['tokens']['total']} in all, median {facts['tokens']['median']}\n"
        f"- scrubbing: {facts['scrubbing']}\n\n"
        "Load it with `datasets.load_from_disk(PATH)`.\n\n```json\n" + json.dumps(facts, indent=2) + "\n```\n"
    )


def _require(module: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UsageError(f"This export needs {module.split('.')[0]}: {EXTRA_HINT}.") from None
