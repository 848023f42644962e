"""The operator's `tuneloop dataset …` commands, as plain async functions bot/cli.py calls.

Each opens the database (applying migrations, as `serve` does), does one thing and closes it.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from pydantic import ValidationError

from storage import opened
from tuning.errors import UsageError
from tuning.training.datasets.formats import ExportFormat
from tuning.training.datasets.service import DatasetService
from tuning.training.datasets.specs import BuildRequest, DatasetFilters, DatasetSummary, Format

_CHANNEL_ID = re.compile(r"^<?#?(?P<id>[CGD][A-Z0-9]{2,})(?:\|[^>]*)?>?$")


async def build(
    database: str | Path,
    name: str,
    *,
    since: str | None = None,
    channel: str | None = None,
    format: Format = "sft",
    val: float = 0.1,
    trainer: str = "openai",
    model: str | None = None,
    created_by: str = "cli",
    home: Path | None = None,
) -> DatasetSummary:
    """`tuneloop dataset build NAME [--since YYYY-MM-DD] [--channel C123] [--format sft|dpo] [--val 0.1]`."""
    try:
        request = BuildRequest(
            name=name,
            filters=DatasetFilters(since=_date(since), channel_id=_channel_id(channel)),
            format=format,
            val=val,
            created_by=created_by,
        )
    except ValidationError as error:
        problem = error.errors()[0]
        field = ".".join(str(part) for part in problem["loc"])
        raise UsageError(f"`{field}` is not valid: {problem['msg']}.") from None
    async with opened(database, home) as db:
        return await DatasetService(db, trainer=trainer, model=model).build(request)


async def export(
    database: str | Path, ref: str, out_dir: Path, fmt: ExportFormat = "jsonl", home: Path | None = None
) -> list[Path]:
    """`tuneloop dataset export NAME[@k] --out DIR [--format jsonl|parquet|hf]`."""
    async with opened(database, home) as db:
        return await DatasetService(db).export(ref, out_dir, fmt)


async def show(database: str | Path, ref: str, home: Path | None = None) -> DatasetSummary:
    async with opened(database, home) as db:
        return await DatasetService(db).show(ref)


def _date(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UsageError(f"`{text}` is not a date written YYYY-MM-DD.") from None


def _channel_id(text: str | None) -> str | None:
    """The CLI has no Slack client to look names up, so it takes the channel's id."""
    if text is None:
        return None
    match = _CHANNEL_ID.match(text.strip())
    if not match:
        raise UsageError(f"`{text}` is not a channel id: give the id (C…), found in the channel's details in Slack.")
    return match["id"]
