"""The `local` back-end: `python -m selfhost.train` as a separate process on this machine.

Each job lives in `<artifacts>/jobs/<tuneloop job id>/`: `job.json` (pid, command, whether a cancel
was asked, how many times it was relaunched), `output.jsonl` (the program's stdout: one JSON object a
line) and `stderr.log`. The process runs in its own session, so it outlives a restart of the bot; after
one, the monitor's next poll reads `job.json` and finds the process still running (re-attached) or gone.
A process gone without a final `done` or `error` line (killed: out of memory, a reboot) and not cancelled
is relaunched with the same command, which resumes from its last checkpoint, up to `max_restarts` times;
after that it is marked failed with what its stderr last said.
"""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import Any

from providers.artifacts import Artifacts
from providers.progress_lines import outcome, progress_summary, read_page
from providers.selfhost_jobs import (
    DEFAULT_LORA,
    DEFAULT_MAX_LENGTH,
    SelfHostedTrainer,
    gpu_hour_usd,
    gpus_per_job,
    training_args,
)
from providers.spec import BuildContext, TrainerSpec
from tuning.catalogue.entries import Catalogue, packaged_catalogue
from tuning.errors import NotFound
from tuning.training.trainers.base import check_request
from tuning.training.trainers.errors import ProviderRefused, ProviderUnavailable
from tuning.training.trainers.open_models import SELF_HOSTED_PROVIDER, served_name
from tuning.training.trainers.values import (
    LINK_KEY,
    EventPage,
    JobRequest,
    JobState,
    LoraSettings,
    TrainerJob,
)

RECORD = "job.json"
LOCK = "job.lock"
OUTPUT = "output.jsonl"
STDERR = "stderr.log"
_STDERR_TAIL = 2000
# A crash that recurs (a bad node, an input that always runs out of memory) is not retried for ever.
MAX_RESTARTS = 2


@dataclass
class _Record:
    job_id: str
    base_model: str
    created_at: str
    pid: int | None = None
    cancel_requested: bool = False
    command: list[str] | None = None  # None in records written before relaunches existed: never relaunched
    restarts: int = 0


class LocalTrainer(SelfHostedTrainer):
    """Trains on this machine. `python` is the interpreter that runs the program (this one by default)."""

    def __init__(
        self,
        artifacts: Path | str,
        *,
        python: str = sys.executable,
        lora: LoraSettings = DEFAULT_LORA,
        max_length: int = DEFAULT_MAX_LENGTH,
        extra_args: tuple[str, ...] = (),
        gpu_hour_usd: float = 0.0,
        catalogue: Catalogue | None = None,
        name: str = "local",
        gpus_per_job: float = 1,
        max_restarts: int = MAX_RESTARTS,
    ) -> None:
        self.name = name
        self._catalogue = catalogue or packaged_catalogue()
        self._gpu_hour_usd = gpu_hour_usd
        self._artifacts = Artifacts(artifacts)
        self._python = python
        self._lora = lora
        self._max_length = max_length
        self._extra_args = extra_args
        self._gpus = gpus_per_job  # 0: the program runs on the CPU (no GPU is made visible to it)
        self._max_restarts = max_restarts
        self._children: dict[int, subprocess.Popen[bytes]] = {}

    def check_open(self) -> None:
        """Open when this machine has the training extras (the bot itself does not need them)."""
        missing = [name for name in ("torch", "transformers", "trl", "peft") if find_spec(name) is None]
        if missing:
            raise ProviderRefused(
                f"The local trainer needs the training extras ({', '.join(missing)} missing): an operator runs "
                "`pip install 'tuneloop[train]'`.",
                self.name,
            )

    async def create_job(self, request: JobRequest) -> TrainerJob:
        check_request(self.capabilities(), request)
        job_id = request.link or uuid.uuid4().hex[:12]
        folder = self._folder(job_id)
        if (folder / RECORD).is_file():  # a retried Start: the job already exists
            return await self.get_job(job_id)
        folder.mkdir(parents=True, exist_ok=True)
        command = [
            self._python,
            "-m",
            "selfhost.train",
            *training_args(
                request, job_id, str(self._artifacts.output_dir(job_id)), self._lora, self._max_length, self._gpus
            ),
            *self._extra_args,
        ]
        record = _Record(job_id, request.base_model, datetime.now(UTC).isoformat(), command=command)
        record.pid = await asyncio.to_thread(self._spawn, folder, command)
        self._save(folder, record)
        return await self.get_job(job_id)

    def _spawn(self, folder: Path, command: list[str]) -> int:
        env = {
            **os.environ,
            "PYTHONPATH": _selfhost_path() + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "TOKENIZERS_PARALLELISM": "false",
        }
        if not self._gpus:
            env["CUDA_VISIBLE_DEVICES"] = ""  # GPUs per job 0: train on the CPU even where a GPU is free
        try:
            with (folder / OUTPUT).open("ab") as out, (folder / STDERR).open("ab") as err:
                child = subprocess.Popen(
                    command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env, start_new_session=True
                )  # its own process group: survives us, stops as one
        except OSError as error:
            raise ProviderUnavailable(f"The training program could not start: {error}", self.name) from error
        self._children[child.pid] = child
        return child.pid

    async def get_job(self, provider_job_id: str) -> TrainerJob:
        job = await asyncio.to_thread(self._job, provider_job_id)
        if job.state != JobState.SUCCEEDED:
            return job
        ran = await self.succeeded(provider_job_id, job.created_at, job.finished_at, self._gpus)
        return job.model_copy(update=ran)

    def _job(self, job_id: str) -> TrainerJob:
        folder = self._folder(job_id)
        record = self._load(folder)
        output = _read(folder / OUTPUT)
        total, tokens = progress_summary(output)
        common: dict[str, Any] = {
            "provider": self.name,
            "provider_job_id": job_id,
            "base_model": record.base_model,
            "created_at": datetime.fromisoformat(record.created_at),
            "total_steps": total,
            "trained_tokens": tokens,
        }
        if self._alive(record.pid):
            state = JobState.CANCELLING if record.cancel_requested else JobState.RUNNING
            return TrainerJob(state=state, raw_status=f"{state.value} (pid {record.pid})", **common)
        ended = outcome(output)
        if ended is None and not record.cancel_requested and self._relaunch(folder, record):
            return TrainerJob(
                state=JobState.RUNNING,
                raw_status=(
                    f"resumed from its last checkpoint after the process died (restart {record.restarts} of "
                    f"{self._max_restarts}, pid {record.pid})"
                ),
                **common,
            )
        common["finished_at"] = datetime.fromtimestamp((folder / OUTPUT).stat().st_mtime, UTC)
        if ended is not None and ended.succeeded:
            return TrainerJob(
                state=JobState.SUCCEEDED, raw_status="succeeded", fine_tuned_model=served_name(job_id), **common
            )
        if record.cancel_requested:
            return TrainerJob(state=JobState.CANCELLED, raw_status="cancelled", **common)
        if ended is not None:
            return TrainerJob(
                state=JobState.FAILED,
                raw_status="failed",
                error_code="training_failed",
                error_message=ended.message,
                **common,
            )
        return TrainerJob(
            state=JobState.FAILED,
            raw_status="process died",
            error_code="process_died",
            error_message=self._death_note(record, folder),
            **common,
        )

    def _relaunch(self, folder: Path, record: _Record) -> bool:
        """Start the dead process's command again (it resumes from its checkpoint) unless the limit is reached;
        `record` becomes the relaunched one. Under a lock, so two polls at once relaunch it once."""
        with (folder / LOCK).open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self._load(folder)
            if current.pid != record.pid:  # another poll relaunched it meanwhile
                record.__dict__.update(current.__dict__)
                return True
            if record.command is None or record.restarts >= self._max_restarts:
                return False
            record.pid = self._spawn(folder, record.command)
            record.restarts += 1
            self._save(folder, record)
            return True

    def _death_note(self, record: _Record, folder: Path) -> str:
        child = self._children.get(record.pid or -1)
        how = f" with exit code {child.returncode}" if child is not None and child.returncode is not None else ""
        tail = [line for line in _read(folder / STDERR)[-_STDERR_TAIL:].splitlines() if line.strip()]
        last = f" Its last words: {tail[-1].strip()}" if tail else ""
        resumed = f" (resumed {_times(record.restarts)} from its checkpoint)" if record.restarts else ""
        return f"The training process (pid {record.pid}) ended{how} without finishing{resumed}.{last}"

    def _alive(self, pid: int | None) -> bool:
        if pid is None:
            return False
        child = self._children.get(pid)
        if child is not None:
            return child.poll() is None  # our own child: poll() also reaps it
        return _running_program(pid)

    async def events_since(self, provider_job_id: str, cursor: str | None) -> EventPage:
        folder = self._folder(provider_job_id)
        self._load(folder)
        offset = int(cursor or 0)
        data = await asyncio.to_thread(_read_bytes, folder / OUTPUT, offset)
        return read_page(data, offset, provider_job_id)

    async def cancel(self, provider_job_id: str) -> TrainerJob:
        folder = self._folder(provider_job_id)
        record = self._load(folder)
        if not self._alive(record.pid):
            job = await self.get_job(provider_job_id)
            if job.terminal:
                return job
            record = self._load(folder)  # it had died and was just relaunched: stop the new process
        record.cancel_requested = True
        self._save(folder, record)
        try:
            os.killpg(record.pid or 0, signal.SIGTERM)
        except ProcessLookupError:
            pass
        return await self.get_job(provider_job_id)

    async def find_job_by_metadata(self, key: str, value: str) -> TrainerJob | None:
        if key != LINK_KEY or not (self._folder(value) / RECORD).is_file():
            return None
        return await self.get_job(value)

    async def close(self) -> None:
        """Running jobs keep running: a restarted bot re-attaches to them."""

    def _folder(self, job_id: str) -> Path:
        if not job_id or "/" in job_id or job_id.startswith("."):
            raise NotFound(f"There is no local training job `{job_id}`.")
        return self._artifacts.job_dir(job_id)

    def _load(self, folder: Path) -> _Record:
        try:
            return _Record(**json.loads((folder / RECORD).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise NotFound(f"There is no local training job `{folder.name}`.") from None

    @staticmethod
    def _save(folder: Path, record: _Record) -> None:
        partial = folder / (RECORD + ".partial")
        partial.write_text(json.dumps(record.__dict__), encoding="utf-8")
        partial.replace(folder / RECORD)


def _selfhost_path() -> str:
    """The folder holding the `selfhost` package, so the child imports the same code as the bot."""
    spec = find_spec("selfhost")
    assert spec is not None and spec.origin is not None
    return str(Path(spec.origin).parent.parent)


def _running_program(pid: int) -> bool:
    """A process that is not our child (we restarted): alive, and still the training program (pids get reused)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False  # someone else's process now holds the pid
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.exists():
        try:
            return b"selfhost.train" in cmdline.read_bytes()
        except OSError:
            return False
    return True


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def _read_bytes(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as handle:
            handle.seek(offset)
            return handle.read()
    except FileNotFoundError:
        return b""


def _build(context: BuildContext) -> LocalTrainer:
    return LocalTrainer(
        context.artifacts,
        gpu_hour_usd=gpu_hour_usd(context),
        gpus_per_job=gpus_per_job(context),
        catalogue=context.catalogue,
    )


SPEC = TrainerSpec(
    name="local",
    summary="LoRA on this machine (`python -m selfhost.train`; needs tuneloop[train])",
    kind=LocalTrainer,
    build=_build,
    provider=SELF_HOSTED_PROVIDER,
    settings=("TUNELOOP_ARTIFACTS", "TUNELOOP_GPU_HOUR_USD", "TUNELOOP_GPUS_PER_JOB"),
)
