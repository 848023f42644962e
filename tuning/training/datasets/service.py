"""DatasetService: build, show, export and list dataset versions.

`NAME` means the newest version everywhere; `NAME@k` a given one. Versions are never rewritten.
Files live under `<database dir>/datasets/NAME/<k>/`.
"""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path

from storage import datasets as rows
from storage.datasets import MemberIds
from storage.db import Database
from storage.retention import erased_datasets
from tuning.catalogue.entries import Catalogue, load_catalogue
from tuning.errors import NotFound, TuningError, UsageError
from tuning.training.datasets.build import BuildPlan, build_dataset
from tuning.training.datasets.files import file_name, sha256_of
from tuning.training.datasets.formats import ExportFormat, write_hf, write_parquet
from tuning.training.datasets.parallel import default_workers
from tuning.training.datasets.records import listing_from_row, summary_from_row
from tuning.training.datasets.specs import BuildRequest, DatasetFilters, DatasetListing, DatasetSummary, Split
from tuning.words import command

# Looks a channel name up (Slack's API, when the command carried only `#name`); None if unknown.
ChannelResolver = Callable[[str], Awaitable[str | None]]

_REF = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.\-]{0,63})(?:@(?P<version>[1-9][0-9]{0,5}))?$")
DATASETS_DIRNAME = "datasets"


class DatasetService:
    def __init__(
        self,
        db: Database,
        *,
        trainer: str = "openai",
        model: str | None = None,
        workers: int | None = None,
        min_votes: int = 1,
        catalogue: Catalogue | None = None,
    ) -> None:
        """trainer: the default trainer (TUNELOOP_TRAINER); model: its base model, else the catalogue's default;
        min_votes: KTO's undesirable margin; catalogue: the process's one (else read beside the database)."""
        self._db = db
        self._catalogue = catalogue
        self._trainer = trainer
        self._model = model
        self._workers = workers if workers is not None else default_workers()
        self._min_votes = min_votes  # TUNELOOP_MIN_VOTES, for KTO's labels

    @property
    def root(self) -> Path:
        """The database's data folder (beside the SQLite file, or TUNELOOP_DATA_DIR): datasets and the
        operator's models.toml (or prices.toml) live there."""
        return self._db.home or Path(".").resolve()

    async def build(self, request: BuildRequest, *, resolve_channel: ChannelResolver | None = None) -> DatasetSummary:
        if self._db.home is None:
            raise TuningError("Datasets need a database file (TUNELOOP_DB), not an in-memory database.")
        filters = await _resolve_channel(request.filters, resolve_channel)
        catalogue = self._catalogue or load_catalogue(self.root)
        plan = BuildPlan(
            database=self._db.target,
            home=self.root,
            datasets_dir=self.root / DATASETS_DIRNAME,
            request=request.model_copy(update={"filters": filters}),
            trainer=self._trainer,
            model=self._model or catalogue.default_model(self._trainer),
            catalogue=catalogue,
            workers=self._workers,
            min_votes=self._min_votes,
        )
        # The build takes seconds to minutes: its own thread and database connection keep the loop free.
        return await asyncio.to_thread(build_dataset, plan)

    async def show(self, ref: str) -> DatasetSummary:
        name, version = parse_ref(ref)
        row = await rows.get_version(self._db, name, version)
        if row is None:
            raise NotFound(await self._not_found(name, version))
        return summary_from_row(row, self.root)

    async def members(self, ref: str, split: Split = "validation") -> list[MemberIds]:
        """One split's members in file order: what evaluation reads."""
        summary = await self.show(ref)
        return await rows.member_ids(self._db, summary.id, split)

    async def export(self, ref: str, out_dir: Path, fmt: ExportFormat = "jsonl") -> list[Path]:
        """Write a version to out_dir: its JSONL files (NAME@k.train.jsonl …, checked by sha256), Parquet files,
        or a Hugging Face `datasets` folder. A version built with data erased since is refused."""
        summary = await self.show(ref)
        erased = (await erased_datasets(self._db)).get(summary.id)
        if erased is not None:
            raise TuningError(f"{summary.ref} contains erased data ({erased}): rebuild it and export the new version.")
        _make_dir(out_dir)
        writer = {"jsonl": _copy_checked, "parquet": write_parquet, "hf": write_hf}[fmt]
        return await asyncio.to_thread(writer, summary, out_dir)

    async def _not_found(self, name: str, version: int | None) -> str:
        known = await rows.names(self._db)
        if not known:
            return f"There are no datasets yet. Build one with {command('dataset build NAME')}."
        if name not in known:
            return f"There is no dataset `{name}`. Known datasets: {', '.join(f'`{n}`' for n in known)}."
        versions = await rows.version_numbers(self._db, name)
        return f"`{name}` has no version {version}; its versions are {', '.join(f'@{v}' for v in versions)}."

    async def list(self) -> list[DatasetListing]:
        """Every version, grouped by name, newest version first."""
        erased = await erased_datasets(self._db)
        return [listing_from_row(row, erased=row.id in erased) for row in await rows.list_versions(self._db)]


def parse_ref(ref: str) -> tuple[str, int | None]:
    match = _REF.match(ref.strip())
    if not match:
        raise UsageError(f"`{ref}` is not a dataset name: expected NAME or NAME@version.")
    return match["name"], int(match["version"]) if match["version"] else None


async def _resolve_channel(filters: DatasetFilters, resolve: ChannelResolver | None) -> DatasetFilters:
    if filters.channel_id or not filters.channel_name:
        return filters
    channel_id = await resolve(filters.channel_name) if resolve else None
    if channel_id is None:
        raise UsageError(
            f"I can't tell which channel #{filters.channel_name} is. Pick it from Slack's channel list as you type "
            "(so the command carries its id), or give the channel id (C…)."
        )
    return filters.model_copy(update={"channel_id": channel_id})


def _make_dir(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir} is a file: --out names a directory to write the version's files into.")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create the directory {out_dir}: {error.strerror or error}.") from None


def _copy_checked(summary: DatasetSummary, out_dir: Path) -> list[Path]:
    copied = []
    for dataset_file in summary.files:
        if not dataset_file.path.is_file() or sha256_of(dataset_file.path) != dataset_file.sha256:
            raise TuningError(f"{dataset_file.path} is missing or changed since {summary.ref} was built; rebuild it.")
        target = out_dir / f"{summary.ref}.{file_name(dataset_file.split)}"
        shutil.copyfile(dataset_file.path, target)
        copied.append(target)
    return copied
