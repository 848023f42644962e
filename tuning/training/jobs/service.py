"""Fine-tuning jobs: the pre-flight check, an idempotent Start, cancel, and lookups."""

from __future__ import annotations

import asyncio
import logging
import secrets
import string
from collections.abc import Awaitable, Callable, Mapping
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

from storage import jobs as job_rows
from storage.db import Database
from storage.jobs import JobRow, NewJob
from storage.retention import erased_datasets
from tuning.admin import require_admin
from tuning.catalogue.entries import Catalogue, load_catalogue
from tuning.errors import NotFound, TuningError
from tuning.training.datasets.cost import billed_tokens, default_epochs
from tuning.training.datasets.service import DatasetService
from tuning.training.datasets.specs import MIN_TRAINING_EXAMPLES, USEFUL_TRAINING_EXAMPLES, DatasetSummary
from tuning.training.jobs.locks import KeyedLocks
from tuning.training.jobs.open_tokens import count_file, count_file_with_folder, folder_tokenizer, tokenizer_file
from tuning.training.jobs.pricing import provider_estimate
from tuning.training.jobs.template_gate import template_refusal
from tuning.training.jobs.view import ACTIVE, JobView
from tuning.training.trainers import (
    LINK_KEY,
    JobRequest,
    ProviderRefused,
    ProviderUnavailable,
    Trainer,
    TrainerJob,
    check_request,
    get_trainer,
)
from tuning.training.trainers.features import GpuCosted, HasDedicatedEndpoints, ReportsUploadProgress
from tuning.training.trainers.values import DATASET_KEY, TrainOptions
from tuning.words import command, person

log = logging.getLogger(__name__)
UPLOAD_PROGRESS_FROM = 8 << 20  # files smaller than this upload in seconds: no progress to show
_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_job_id() -> str:
    """Short enough to type in a status command, random enough never to collide in one workspace."""
    return "j" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(6))


class JobService:
    def __init__(
        self,
        db: Database,
        datasets: DatasetService,
        trainers: Mapping[str, Trainer],
        *,
        default_trainer: str,
        max_cost_usd: float,
        admins: frozenset[str],
        prices_dir: Path | None,
        today: Callable[[], date] = lambda: datetime.now(timezone.utc).date(),
        tokenizers_dir: Path | None = None,
        catalogue: Catalogue | None = None,
        hints: Mapping[str, str] | None = None,
    ) -> None:
        """`catalogue`: the process's one catalogue (else read once from `prices_dir`); `hints`: for each known
        back-end not configured here, what an operator sets to enable it."""
        self._db = db
        self._datasets = datasets
        self._trainers = trainers
        self._default_trainer = default_trainer
        self._max_cost = max_cost_usd
        self._admins = admins
        self._catalogue = catalogue or load_catalogue(prices_dir)
        self._hints = hints or {}
        self._today = today
        self._tokenizers_dir = tokenizers_dir
        # Set by the runtime to refresh a job's card while Start uploads a large file.
        self.on_progress: Callable[[JobView], Awaitable[None]] | None = None
        self._launching = KeyedLocks()

    @property
    def trainer_names(self) -> list[str]:
        """The back-ends configured here, the default first."""
        return sorted(self._trainers, key=lambda name: name != self._default_trainer)

    async def options_of(self, job_id: str) -> TrainOptions:
        """What a job was asked for."""
        return TrainOptions.model_validate_json((await self._row(job_id)).options)

    # -- pre-flight ----------------------------------------------------------------

    async def preflight(self, dataset_ref: str, options: TrainOptions, *, user: str, channel: str) -> JobView:
        """Check everything that can be checked before money is spent; the job waits for Start."""
        require_admin(user, self._admins, "start fine-tuning jobs")
        summary = await self._datasets.show(dataset_ref)
        trainer = get_trainer(self._trainers, options.trainer or self._default_trainer, self._hints)
        try:
            trainer.check_open()
        except ProviderRefused as refused:
            raise self._elsewhere(refused, summary.ref) from refused
        catalogue = self._catalogue
        self._check_taking_jobs(catalogue, trainer.name, summary.ref)
        model = options.model or catalogue.default_model(trainer.name)
        # Everything the back-end would refuse, refused now, before any file is uploaded.
        check_request(
            trainer.capabilities(),
            JobRequest(
                **options.hyperparameters(),
                base_model=model,
                method=summary.format,
                training_file_id="(not uploaded yet)",
            ),
        )
        train = {file.split: file.path for file in summary.files}["train"]
        if (
            isinstance(trainer, GpuCosted)
            and (refusal := await asyncio.to_thread(template_refusal, catalogue, model, train)) is not None
        ):
            raise TuningError(refusal)  # a base whose chat template cannot train: refused before any cost
        if summary.train < MIN_TRAINING_EXAMPLES:
            raise TuningError(
                f"`{summary.ref}` has {summary.train} training examples; fine-tuning needs at least "
                f"{MIN_TRAINING_EXAMPLES}. Approve more examples and build a new version."
            )
        epochs = options.epochs or default_epochs(summary.train)
        tokens, tokens_note = await self._count(catalogue, model, train, summary.tokens.train)
        if isinstance(trainer, GpuCosted):  # self-hosted: GPU-hours × TUNELOOP_GPU_HOUR_USD
            cost, cost_note = trainer.estimate_cost(model, billed_tokens(epochs, tokens))
        elif (
            estimate := await provider_estimate(
                trainer, train, model=model, method=summary.format, epochs=epochs, beta=options.beta
            )
        ) is not None:
            cost, cost_note = estimate, f"estimated by {trainer.name.capitalize()}"
        else:
            cost, cost_note = self._estimate(catalogue, model, epochs, tokens)
        if cost > self._max_cost:
            raise TuningError(
                f"This job would cost about ${cost:,.2f} ({cost_note}), above the limit of ${self._max_cost:,.2f} "
                "(TUNELOOP_MAX_JOB_COST_USD). Use fewer `epochs:`, a smaller `model:` or a smaller dataset — or ask "
                "an operator to raise the limit."
            )
        job_id = new_job_id()
        await job_rows.insert(
            self._db,
            NewJob(
                id=job_id,
                dataset_id=summary.id,
                dataset=summary.ref,
                trainer=trainer.name,
                base_model=model,
                method=summary.format,
                options=options.model_dump_json(exclude_none=True),
                examples=summary.train,
                tokens=tokens,
                epochs=epochs,
                estimated_cost=cost,
                state="preflight",
                channel=channel,
                requested_by=user,
                cost_note=cost_note,
                tokens_note=tokens_note,
            ),
        )
        return await self.view(job_id, summary=summary)

    async def _count(self, catalogue: Catalogue, model: str, train: Path, counted: int) -> tuple[int, str | None]:
        """Datasets are counted with OpenAI's tokenizers: exact where the catalogue says so, an estimate for
        open models unless their own tokenizer is on this machine (a local model folder's, or one under
        TUNELOOP_TOKENIZERS_DIR)."""
        if catalogue.facts(model).token_counts == "exact":
            return counted, None
        folder = folder_tokenizer(model)
        if folder is not None and (exact := await asyncio.to_thread(count_file_with_folder, folder, train)) is not None:
            return exact, "exact: counted with the model's own tokenizer"
        local = tokenizer_file(self._tokenizers_dir, model)
        if local is None:
            return counted, "estimate: counted with OpenAI's tokenizer"
        return await asyncio.to_thread(count_file, local, train), "counted with the model's tokenizer"

    def _check_taking_jobs(self, catalogue: Catalogue, backend: str, dataset: str) -> None:
        """A back-end past its catalogue `closes_on` date is refused before any cost is shown."""
        closes_on = catalogue.closes_on(backend)
        if closes_on is None or self._today() < closes_on:
            return
        raise TuningError(
            f"The `{backend}` back-end stopped taking new fine-tuning jobs on "
            f"{closes_on:%d %B %Y} (model catalogue).{self._instead(backend, dataset)} Models already tuned keep "
            f"answering until their shutdown date ({command('model')} shows it)."
        )

    def _instead(self, backend: str, dataset: str) -> str:
        """The other back-ends configured here that take jobs, as commands to try; "" when there are none."""
        open_ones = [
            name
            for name in self._trainers
            if name != backend and ((day := self._catalogue.closes_on(name)) is None or self._today() < day)
        ]
        tries = " or ".join(command(f"train {dataset} trainer:{name}") for name in open_ones)
        return f" Try {tries} instead." if tries else ""

    def _elsewhere(self, refused: ProviderRefused, dataset: str) -> ProviderRefused:
        """A back-end that refuses: the same error, pointing at the others configured here (if any)."""
        return ProviderRefused(f"{refused}{self._instead(refused.provider, dataset)}", refused.provider)

    def _estimate(self, catalogue: Catalogue, model: str, epochs: int, train_tokens: int) -> tuple[float, str]:
        price = catalogue.training_price(model)
        if price is None:
            priced = ", ".join(f"`{name}`" for name in catalogue.priced_for_training())
            raise TuningError(
                f"No training price is known for `{model}`, so Tuneloop cannot hold the job to "
                f"TUNELOOP_MAX_JOB_COST_USD (${self._max_cost:,.2f}). Models with a price: {priced}. "
                "Add the model to models.toml beside the database."
            )
        cost = billed_tokens(epochs, train_tokens) * price.usd_per_million / 1_000_000
        return cost, f"estimate, prices checked {price.checked}"

    async def card_posted(self, job_id: str, card_ts: str) -> None:
        await job_rows.update(self._db, job_id, card_ts=card_ts)

    # -- start -------------------------------------------------------------------------

    async def start(self, job_id: str, *, user: str) -> JobView:
        """Exactly one Start wins, however many clicks, retries or admins race for it."""
        require_admin(user, self._admins, "start fine-tuning jobs")
        won = await job_rows.transition(
            self._db,
            job_id,
            from_states=("preflight",),
            to_state="starting",
            started_by=user,
            started_at=_now_iso(),
        )
        if not won:
            raise TuningError(_already(await self._row(job_id)))
        return await self.launch(job_id)

    async def launch(self, job_id: str) -> JobView:
        """Upload and create at the provider; after a crash, adopt the job created last time.

        The Start that won and the monitor resuming `starting` jobs may both get here: one lock per job
        makes the second wait and then find the job already launched.
        """
        async with self._launching.hold(job_id):
            job = await self._row(job_id)
            if job.state == "starting":
                await self._launch(job)
        return await self.view(job_id)

    async def _launch(self, job: JobRow) -> None:
        trainer = get_trainer(self._trainers, job.trainer, self._hints)
        try:
            remote = await trainer.find_job_by_metadata(LINK_KEY, job.id) or await self._create(trainer, job)
        except ProviderRefused as refused:
            error = self._elsewhere(refused, job.dataset)
            await job_rows.update(
                self._db, job.id, state="failed", error_code="refused", error_message=str(error), finished_at=_now_iso()
            )
            raise error from refused
        except TuningError as error:
            code = "unavailable" if isinstance(error, ProviderUnavailable) else "refused"
            await job_rows.update(
                self._db, job.id, state="failed", error_code=code, error_message=str(error), finished_at=_now_iso()
            )
            raise
        await self.apply(job.id, remote)

    async def _create(self, trainer: Trainer, job: JobRow) -> TrainerJob:
        summary = await self._datasets.show(job.dataset)
        files = {file.split: file for file in summary.files}
        training = await self._upload(trainer, job.id, files["train"].path)
        validation = files.get("validation")
        validation_id = await trainer.upload(validation.path) if validation and validation.lines else None
        asked = TrainOptions.model_validate_json(job.options).hyperparameters()
        request = JobRequest(
            **{
                **asked,
                "epochs": job.epochs,
                "base_model": job.base_model,
                "method": job.method,
                "training_file_id": training,
                "validation_file_id": validation_id,
                # Self-hosted adapters' manifests record NAME@version; other back-ends keep it as a label.
                "metadata": {LINK_KEY: job.id, DATASET_KEY: job.dataset},
            }
        )
        if summary.kto is not None:  # the class weights the dataset card showed
            request = request.model_copy(
                update={
                    "desirable_weight": summary.kto.desirable_weight,
                    "undesirable_weight": summary.kto.undesirable_weight,
                }
            )
        return await trainer.create_job(request)

    async def _upload(self, trainer: Trainer, job_id: str, path: Path) -> str:
        """The training file; a trainer that streams reports progress, shown on the card every 10%."""
        if not isinstance(trainer, ReportsUploadProgress):
            return await trainer.upload(path)
        shown = -1

        async def progress(sent: int, total: int) -> None:
            nonlocal shown
            tenth = sent * 10 // max(total, 1)
            if tenth == shown or total < UPLOAD_PROGRESS_FROM:
                return
            shown = tenth
            await job_rows.update(self._db, job_id, raw_status=f"uploading the training file: {tenth * 10}%")
            if self.on_progress is not None:
                await self.on_progress(await self.view(job_id))

        return await trainer.upload_with_progress(path, progress)

    async def apply(self, job_id: str, remote: TrainerJob) -> None:
        """Record what the provider says about a job that is still active. A finished job keeps its outcome:
        a poll that read the provider just before a cancel must not bring the job back."""
        values: dict[str, Any] = {
            "provider_job_id": remote.provider_job_id,
            "raw_status": remote.raw_status,
            "fine_tuned_model": remote.fine_tuned_model,
            "trained_tokens": remote.trained_tokens,
            "error_code": remote.error_code,
            "error_message": remote.error_message,
        }
        if remote.total_steps:
            values["total_steps"] = remote.total_steps
        if remote.gpu_hours is not None:
            values["gpu_hours"] = remote.gpu_hours
        if remote.serving_note is not None:
            values["serving_note"] = remote.serving_note
        if remote.terminal:
            values["finished_at"] = _iso(remote.finished_at) or _now_iso()
        await job_rows.transition(self._db, job_id, from_states=tuple(ACTIVE), to_state=remote.state.value, **values)

    # -- dismiss and cancel ------------------------------------------------------------

    async def dismiss(self, job_id: str, *, user: str) -> JobView:
        require_admin(user, self._admins, "cancel fine-tuning jobs")
        if not await job_rows.transition(
            self._db, job_id, from_states=("preflight",), to_state="dismissed", cancelled_by=user
        ):
            raise TuningError(_already(await self._row(job_id)))
        return await self.view(job_id)

    async def cancel(self, ref: str, *, user: str) -> JobView:
        require_admin(user, self._admins, "cancel fine-tuning jobs")
        job = await self._find(ref)
        if job.state == "preflight":
            return await self.dismiss(job.id, user=user)
        if job.state not in ACTIVE or not job.provider_job_id:
            raise TuningError(f"Job `{job.id}` is {job.state}; there is nothing to cancel.")
        remote = await get_trainer(self._trainers, job.trainer, self._hints).cancel(job.provider_job_id)
        await job_rows.update(self._db, job.id, cancelled_by=user)
        await self.apply(job.id, remote)
        return await self.view(job.id)

    # -- lookups -----------------------------------------------------------------------

    async def find(self, ref: str) -> JobView:
        return await self.view((await self._find(ref)).id)

    async def recent(self, limit: int = 10) -> list[JobView]:
        erased = await erased_datasets(self._db)
        return [self._view(row, erased=row.dataset_id in erased) for row in await job_rows.recent(self._db, limit)]

    async def view(self, job_id: str, *, summary: DatasetSummary | None = None) -> JobView:
        row = await self._row(job_id)
        return self._view(row, summary, erased=row.dataset_id in await erased_datasets(self._db))

    def _view(self, row: JobRow, summary: DatasetSummary | None = None, *, erased: bool = False) -> JobView:
        dedicated = isinstance(self._trainers.get(row.trainer), HasDedicatedEndpoints)
        return _view(row, summary, erased=erased, dedicated=dedicated)

    async def _row(self, job_id: str) -> JobRow:
        row = await job_rows.get(self._db, job_id)
        if row is None:
            raise NotFound(f"There is no job `{job_id}`. {command('jobs')} lists recent ones.")
        return row

    async def _find(self, ref: str) -> JobRow:
        row = await job_rows.find(self._db, ref)
        if row is None:
            raise NotFound(f"There is no job `{ref}`. {command('jobs')} lists recent ones.")
        return row


def _already(job: JobRow) -> str:
    if job.state == "dismissed":
        return f"Job `{job.id}` was cancelled before it started" + (
            f" by {person(job.cancelled_by)}." if job.cancelled_by else "."
        )
    who = f" by {person(job.started_by)}" if job.started_by else ""
    return f"Job `{job.id}` was already started{who}; it is {job.state}."


def _view(
    row: JobRow, summary: DatasetSummary | None = None, *, erased: bool = False, dedicated: bool = False
) -> JobView:
    values = {name: getattr(row, name) for name in JobView.model_fields if hasattr(row, name)}
    warnings: tuple[str, ...] = ()
    if summary is not None and summary.train < USEFUL_TRAINING_EXAMPLES:
        warnings = (f"Only {summary.train} training examples: gains are unlikely below {USEFUL_TRAINING_EXAMPLES}.",)
    return JobView(**values, warnings=warnings, erased=erased, dedicated=dedicated)


def _now_iso() -> str:
    return _iso(datetime.now(timezone.utc)) or ""


def _iso(moment: datetime | None) -> str | None:
    """The format SQLite's strftime('%Y-%m-%dT%H:%M:%fZ') writes, so stored times compare as text."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if moment else None
