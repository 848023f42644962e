"""`/tune eval`, the automatic evaluation after a job succeeds, and `/tune rollback`."""

from __future__ import annotations

import time

from slack_sdk.web.async_client import AsyncWebClient

from handlers.lifecycle import after_migration_evaluated
from handlers.tune import Invocation, Runner
from render import charts
from render import evaluations as render
from render.help import failure
from tuning.errors import TuningError
from tuning.release.evaluation.export import results_jsonl
from tuning.release.evaluation.service import EvalPlan, Evaluations
from tuning.release.lifecycle.successor import SuccessorMigrations
from tuning.release.promotion import Promotions
from tuning.training.jobs.view import JobView

PROGRESS_EVERY_SECONDS = 3.0


def runners(evaluations: Evaluations, promotions: Promotions) -> dict[str, Runner]:
    async def run_eval(call: Invocation) -> None:
        options = call.command.options
        memory = options.get("memory")
        plan = await evaluations.plan(
            call.command.args["MODEL|JOB|base"],
            against=options.get("against"),
            dataset=options.get("dataset"),
            memory=None if memory is None else memory == "on",
        )
        await run_and_post(evaluations, call.client, plan, channel=call.channel, thread_ts=None, user=call.user)

    async def rollback(call: Invocation) -> None:
        change = await promotions.rollback(user=call.user)
        await call.client.chat_postMessage(channel=call.channel, text=render.rolled_back(change))

    return {"eval": run_eval, "rollback": rollback}


async def run_and_post(
    evaluations: Evaluations,
    client: AsyncWebClient,
    plan: EvalPlan,
    *,
    channel: str,
    thread_ts: str | None,
    user: str | None,
) -> int:
    """A progress message updated as items finish, then the results, the chart and the per-item file."""
    total = len(plan.items)
    posted = await client.chat_postMessage(
        channel=channel,
        thread_ts=thread_ts,
        text=render.progress(plan.candidate, plan.baseline, plan.dataset, 0, total),
    )
    progress_ts, last = str(posted["ts"]), 0.0

    async def on_progress(done: int, total: int) -> None:
        nonlocal last
        if time.monotonic() - last >= PROGRESS_EVERY_SECONDS or done == total:
            last = time.monotonic()
            await client.chat_update(
                channel=channel,
                ts=progress_ts,
                text=render.progress(plan.candidate, plan.baseline, plan.dataset, done, total),
            )

    evaluation_id, result = await evaluations.run(plan, channel=channel, user=user, on_progress=on_progress)
    blocks, text = render.results(result.summary, plan.dataset)
    await client.chat_update(channel=channel, ts=progress_ts, blocks=blocks, text=text)
    await client.files_upload_v2(
        channel=channel,
        thread_ts=thread_ts or progress_ts,
        file_uploads=[
            {
                "content": charts.eval_chart(result.summary),
                "filename": f"evaluation-{evaluation_id}.png",
                "title": "Candidate vs baseline",
            },
            {
                "content": results_jsonl(result.items),
                "filename": f"evaluation-{evaluation_id}.jsonl",
                "title": "Per-item results",
            },
        ],
    )
    return evaluation_id


def after_job_succeeded(evaluations: Evaluations, client: AsyncWebClient, migrations: SuccessorMigrations):
    """The monitor's hook: the evaluation the promotion gate asks for (against the answering model, on the
    newest version of the job's dataset), in the job card's thread."""

    async def evaluate_job(job: JobView) -> None:
        try:
            migration = await migrations.evaluation_plan(job)
            plan = migration or await evaluations.plan_for_job(job)
            evaluation_id = await run_and_post(
                evaluations, client, plan, channel=job.channel, thread_ts=job.card_ts, user=None
            )
            if migration is not None:
                await after_migration_evaluated(migrations, client, job, evaluation_id)
        except TuningError as error:
            await client.chat_postMessage(
                channel=job.channel, thread_ts=job.card_ts, text=failure(f"No automatic evaluation: {error}")
            )

    return evaluate_job
