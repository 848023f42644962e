"""Per-item results as JSONL, for download or a file upload to Slack."""

from __future__ import annotations

from collections.abc import Iterable

from tuning.release.evaluation.results import ItemResult


def results_jsonl(results: Iterable[ItemResult]) -> bytes:
    """One JSON object per item, in order, each line ending with a newline (UTF-8, not ASCII-escaped)."""
    return b"".join(result.model_dump_json().encode() + b"\n" for result in results)
