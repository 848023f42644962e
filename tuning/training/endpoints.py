"""Dedicated endpoints for tuned Together models: deploy from a job, follow until ready, stop, start, delete.

Together serves a tuned model only on a dedicated endpoint, billed per minute while it runs, and
inference takes the endpoint's *name*. So a Together job's model is evaluated and promoted through
its endpoint, and an endpoint that stopped itself (after `inactive_timeout` idle minutes) is
explained with the command that starts it.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from storage import endpoints as endpoint_rows
from storage.db import Database
from storage.endpoints import EndpointRow, NewEndpoint
from tuning.admin import require_admin
from tuning.catalogue.entries import Catalogue
from tuning.errors import NotFound, TuningError
from tuning.training.jobs.service import JobService
from tuning.training.jobs.view import JobView
from tuning.training.trainers.features import DedicatedEndpoints, EndpointInfo, Hardware
from tuning.words import command

DEFAULT_INACTIVE_MINUTES = 60
READY = "STARTED"


class EndpointView(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    name: str
    model: str
    job_id: str | None
    hardware: str
    usd_per_hour: float | None
    state: str
    inactive_timeout: int | None
    channel: str | None = None
    thread_ts: str | None = None

    @property
    def ready(self) -> bool:
        return self.state == READY


def start_command(endpoint_id: str) -> str:
    return command(f"endpoint start {endpoint_id}")


def not_running(view: EndpointView) -> str:
    idle = f" (it stops itself after {view.inactive_timeout} idle minutes)" if view.inactive_timeout else ""
    return (
        f"Together endpoint `{view.id}` serving `{view.model}` is {view.state.lower()}{idle}. "
        f"An admin can start it with {start_command(view.id)}; it bills while it runs."
    )


class EndpointService:
    def __init__(
        self,
        db: Database,
        jobs: JobService,
        client: DedicatedEndpoints | None,
        *,
        admins: frozenset[str],
        inactive_minutes: int = DEFAULT_INACTIVE_MINUTES,
        catalogue: Catalogue,
    ) -> None:
        """`catalogue`: the process's own (the operator's models.toml laid over the packaged one)."""
        self._db = db
        self._catalogue = catalogue
        self._jobs = jobs
        self._client = client
        self._admins = admins
        self._inactive = inactive_minutes

    @property
    def idle_minutes(self) -> int:
        return self._inactive

    # -- deploy ----------------------------------------------------------------------

    async def hardware_for(self, job_ref: str, *, user: str) -> tuple[JobView, list[Hardware]]:
        """What Together offers for the job's model, with its hourly price; refused before any money moves."""
        require_admin(user, self._admins, "deploy models")
        job = await self._deployable_job(job_ref)
        offers = await self._together().hardware(str(job.fine_tuned_model))
        if not offers:
            raise TuningError(f"Together offers no hardware for `{job.fine_tuned_model}` right now; try again later.")
        return job, offers

    async def deploy(
        self, job_ref: str, hardware: str, *, user: str, channel: str | None, thread_ts: str | None
    ) -> EndpointView:
        job, offers = await self.hardware_for(job_ref, user=user)
        chosen = next((offer for offer in offers if offer.id == hardware), None)
        if chosen is None:
            raise TuningError(f"Together does not offer `{hardware}` for this model; pick one of the listed choices.")
        existing = await endpoint_rows.for_job(self._db, job.id)
        if existing is not None:
            raise TuningError(
                f"Job `{job.id}` already has endpoint `{existing.id}` ({existing.state.lower()}). "
                f"{command('endpoints')} lists it; delete it first to deploy on other hardware."
            )
        info = await self._together().create(
            str(job.fine_tuned_model), hardware, display_name=f"tuneloop {job.id}", inactive_timeout=self._inactive
        )
        await endpoint_rows.insert(
            self._db,
            NewEndpoint(
                id=info.id,
                name=info.name,
                model=info.model,
                job_id=job.id,
                hardware=hardware,
                usd_per_hour=chosen.usd_per_hour,
                state=info.state,
                inactive_timeout=self._inactive,
                channel=channel,
                thread_ts=thread_ts,
                created_by=user,
            ),
        )
        return await self._view(info.id)

    # -- follow ----------------------------------------------------------------------

    async def follow(self) -> list[EndpointView]:
        """Refresh endpoints between states; returns those that became ready since last said (once each)."""
        ready = []
        for row in await endpoint_rows.moving(self._db):
            view = await self._refresh(row)
            if view.ready and await endpoint_rows.claim_ready_post(self._db, view.id):
                ready.append(view)
        return ready

    async def listed(self) -> list[EndpointView]:
        return [await self._refresh(row) for row in await endpoint_rows.listed(self._db)]

    # -- manage (admins) ------------------------------------------------------------------

    async def stop(self, endpoint_id: str, *, user: str) -> EndpointView:
        return await self._set(endpoint_id, "STOPPED", user, "stop endpoints")

    async def start(self, endpoint_id: str, *, user: str) -> EndpointView:
        return await self._set(endpoint_id, READY, user, "start endpoints")

    async def delete(self, endpoint_id: str, *, user: str) -> EndpointView:
        require_admin(user, self._admins, "delete endpoints")
        row = await self._ours(endpoint_id)
        try:
            await self._together().delete(row.id)
        except NotFound:
            pass  # already gone at Together: forget it here too
        await endpoint_rows.delete(self._db, row.id)
        return _view(row)

    # -- serving a model ------------------------------------------------------------------------

    async def serving_name(self, job: JobView) -> str:
        """The name inference takes for the job's model: for Together, its running endpoint's name."""
        if not job.dedicated or not job.fine_tuned_model:
            return str(job.fine_tuned_model)
        row = await endpoint_rows.for_job(self._db, job.id)
        if row is None:
            raise TuningError(
                f"`{job.fine_tuned_model}` is not deployed: Together serves a tuned model only on a dedicated "
                f"endpoint. Press *Deploy* on job `{job.id}`'s card to create one (billed per hour while it runs)."
            )
        view = await self._refresh(row)
        if not view.ready:
            raise TuningError(not_running(view))
        return view.name

    async def why_unavailable(self, model: str) -> str | None:
        """For a model that did not answer: if it is one of our endpoints and not running, why and what to do."""
        row = await endpoint_rows.by_name(self._db, model)
        if row is None:
            return None
        view = await self._refresh(row)
        return None if view.ready else not_running(view)

    # -- plumbing ---------------------------------------------------------------------------------

    def _together(self) -> DedicatedEndpoints:
        if self._client is None:
            raise TuningError("Together is not configured (TOGETHER_API_KEY is not set), so there are no endpoints.")
        return self._client

    async def _deployable_job(self, job_ref: str) -> JobView:
        job = await self._jobs.find(job_ref)
        if not job.dedicated:
            raise TuningError(
                f"Job `{job.id}` ran on {job.trainer}, which serves its models itself: no endpoint needed."
            )
        if job.state != "succeeded" or not job.fine_tuned_model:
            raise TuningError(f"Job `{job.id}` is {job.state}; only a job that succeeded has a model to deploy.")
        if not self._catalogue.deployable(job.base_model):
            raise TuningError(
                f"Together cannot deploy models tuned from `{job.base_model}` to a dedicated endpoint. "
                "Train on another base (the default can be deployed)."
            )
        return job

    async def _set(self, endpoint_id: str, state: str, user: str, doing: str) -> EndpointView:
        require_admin(user, self._admins, doing)
        row = await self._ours(endpoint_id)
        info = await self._together().set_state(row.id, state)
        await endpoint_rows.set_state(self._db, row.id, info.state, rearm=state == READY)
        return await self._view(row.id)

    async def _ours(self, endpoint_id: str) -> EndpointRow:
        row = await endpoint_rows.get(self._db, endpoint_id)
        if row is None:
            raise NotFound(f"Tuneloop has no endpoint `{endpoint_id}`. {command('endpoints')} lists them.")
        return row

    async def _refresh(self, row: EndpointRow) -> EndpointView:
        try:
            info: EndpointInfo = await self._together().get(row.id)
        except NotFound:
            await endpoint_rows.set_state(self._db, row.id, "DELETED")
            return _view(row).model_copy(update={"state": "DELETED"})
        if info.state != row.state:
            await endpoint_rows.set_state(self._db, row.id, info.state)
        return _view(row).model_copy(update={"state": info.state})

    async def _view(self, endpoint_id: str) -> EndpointView:
        return _view(await self._ours(endpoint_id))


def _view(row: EndpointRow) -> EndpointView:
    return EndpointView(**{name: getattr(row, name) for name in EndpointView.model_fields})
