"""Every admin-only action, refused to a non-admin: an ephemeral naming who can act, and nothing changes.

One table lists them all: the slash commands `/tune train`, `cancel`, `promote`, `rollback`, `canary` and `migrate`; the review
queue's Approve, Reject and Edit; the job card's Start, Cancel (`job_dismiss`, before a start) and Cancel job
(`job_cancel`, while it runs); and the correction modal's submission on an approved example (opened from the
review queue's Edit, or from "Correct this answer" on the message; approved by an admin or by votes), which
is refused inside the modal. Each is tried by a non-admin against real targets (a dataset, a candidate
example, a job waiting for Start, a running job, a promoted model), first with TUNELOOP_ADMINS set, then,
on the same database, with nobody set, when the refusal must say how to set it.

"Nothing changes" is checked as: every row of every table as before, no call that acts at the provider (only
the job monitor's reads may happen), nothing posted to the channel and no modal opened.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.fakes import FakeOpenAI, FakeSlack
from handlers.grammar import Grammar
from providers.registry import known_specs
from render.ids import (
    CORRECTION_VIEW,
    JOB_ACTIONS,
    JOB_CANCEL,
    JOB_DEPLOY,
    JOB_DISMISS,
    JOB_START,
    MIGRATION_PROMOTE,
    REVIEW_ACTIONS,
    REVIEW_APPROVE,
    REVIEW_EDIT,
    REVIEW_REJECT,
    REVIEW_RETIRE,
)
from tests.capture_helpers import button, submission
from tests.conftest import ADMIN, ALICE, GENERAL, Harness, make_settings, served
from tests.dataset_helpers import add_example, add_many
from tuning.training.datasets.specs import BuildRequest

grammar = Grammar([spec.name for spec in known_specs()])  # what bot/ builds


Targets = dict[str, Any]


@dataclass(frozen=True)
class AdminAction:
    name: str
    entry: str  # the subcommand, the button's action id, or the modal's callback id
    perform: Callable[[Harness, Targets], Awaitable[str | None]]  # a modal's answer; None: told via response_url


def command(text: str) -> Callable[[Harness, Targets], Awaitable[None]]:
    async def perform(app: Harness, targets: Targets) -> None:  # type: ignore[return]
        status, body = await app.command(text.format(**targets), user=ALICE)
        assert status == 200 and body == {}, body

    return perform


def click(action_id: str, target: str) -> Callable[[Harness, Targets], Awaitable[None]]:
    async def perform(app: Harness, targets: Targets) -> None:
        status, _ = await app.interact(button(app.slack, action_id, str(targets[target]), user=ALICE))
        assert status == 200

    return perform


SUBMISSIONS = itertools.count(1)


def correct(target: dict[str, str]) -> Callable[[Harness, Targets], Awaitable[str]]:
    """Submit the correction modal as a non-admin; returns what they were told (the submission is stored and
    replayed, so the refusal comes as an ephemeral, or a DM when there is no channel to post it in)."""

    async def perform(app: Harness, targets: Targets) -> str:
        filled = {
            key: int(value.format(**targets)) if key == "example_id" else value.format(**targets)
            for key, value in target.items()
        }
        view = {
            "type": "modal",
            "id": "V0FORGED",
            "callback_id": CORRECTION_VIEW,
            "private_metadata": json.dumps({**filled, "fp": "0" * 16}),
        }
        ephemerals, dms = len(app.slack.ephemerals), len(dms_to(app.slack, ALICE))
        text = f"A better answer, surely (try {next(SUBMISSIONS)})."  # each a new submission, not Slack's retry
        status, _ = await app.interact(submission(view, user=ALICE, text=text))
        await app.settle()
        assert status == 200
        told = [e["text"] for e in app.slack.ephemerals[ephemerals:] if e["user"] == ALICE]
        return json.dumps(told + dms_to(app.slack, ALICE)[dms:])

    return perform


def dms_to(slack: FakeSlack, user: str) -> list[str]:
    return [
        call.args.get("text", "") for call in slack.calls_to("chat.postMessage") if call.args.get("channel") == user
    ]


def channel_posts(slack: FakeSlack) -> int:
    """Messages posted anywhere but in a person's DM with the app (where a refusal may be told)."""
    return sum(
        1 for call in slack.calls_to("chat.postMessage") if not str(call.args.get("channel", "")).startswith("U")
    )


ADMIN_ONLY = [
    AdminAction("/tune train", "train", command("train {dataset}")),
    AdminAction("/tune cancel", "cancel", command("cancel {running_job}")),
    AdminAction("/tune promote", "promote", command("promote {model}")),
    AdminAction("/tune rollback", "rollback", command("rollback")),
    AdminAction("/tune canary MODEL", "canary", command("canary gpt-5-nano share:50%")),
    AdminAction("/tune canary stop", "canary", command("canary stop")),
    AdminAction("/tune canary promote", "canary", command("canary promote")),
    AdminAction("/tune migrate", "migrate", command("migrate to:together")),
    AdminAction("/tune forget", "forget", command("forget <@U0BOB|bob>")),
    AdminAction("Approve", REVIEW_APPROVE, click(REVIEW_APPROVE, "example")),
    AdminAction("Reject", REVIEW_REJECT, click(REVIEW_REJECT, "example")),
    AdminAction("Edit", REVIEW_EDIT, click(REVIEW_EDIT, "example")),
    AdminAction("Retire memory", REVIEW_RETIRE, click(f"{REVIEW_RETIRE}-1", "approved")),
    AdminAction("/tune memory off", "memory", command("memory off")),
    AdminAction("/tune memory on #channel", "memory", command(f"memory on <#{GENERAL}|general>")),
    AdminAction("Start", JOB_START, click(JOB_START, "waiting_job")),
    AdminAction("Cancel (before the start)", JOB_DISMISS, click(JOB_DISMISS, "waiting_job")),
    AdminAction("Cancel job (while it runs)", JOB_CANCEL, click(JOB_CANCEL, "running_job")),
    AdminAction("Promote (migration card)", MIGRATION_PROMOTE, click(MIGRATION_PROMOTE, "running_job")),
    AdminAction("Deploy", JOB_DEPLOY, click(JOB_DEPLOY, "running_job")),
    AdminAction("/tune endpoint stop", "endpoint stop", command("endpoint stop {endpoint}")),
    AdminAction("/tune endpoint start", "endpoint start", command("endpoint start {endpoint}")),
    AdminAction("/tune endpoint delete", "endpoint delete", command("endpoint delete {endpoint}")),
    AdminAction(
        "Correction modal (Edit) on an admin-approved example", CORRECTION_VIEW, correct({"example_id": "{approved}"})
    ),
    AdminAction(
        "Correction modal (Edit) on a vote-approved example", CORRECTION_VIEW, correct({"example_id": "{voted}"})
    ),
    AdminAction(
        "Correct this answer on an admin-approved message",
        CORRECTION_VIEW,
        correct({"channel": GENERAL, "ts": "{approved_ts}"}),
    ),
]


async def prepare(app: Harness) -> Targets:
    """As an admin: a dataset, a candidate example, a job waiting for Start, a running job, a promotion."""
    await add_many(app.db, 12, channel=GENERAL)
    dataset = (await app.runtime.services.datasets.build(BuildRequest(name="support", val=0.2))).ref
    example = await add_example(
        app.db, question="Is this right?", answer="Probably.", state="candidate", channel=GENERAL, up=0, down=1
    )
    approved = await add_example(app.db, question="Which port?", answer="8443.", state="candidate", channel=GENERAL)
    assert (await app.runtime.services.review.decide(approved, "approve", ADMIN)).state == "approved"
    voted = await add_example(app.db, question="Which host?", answer="db-1.", state="approved", channel=GENERAL, up=3)
    approved_ts = await app.db.fetchval("SELECT message_ts FROM examples WHERE id = ?", (approved,))
    for _ in range(2):
        status, _ = await app.command(f"train {dataset}", user=ADMIN)
        assert status == 200
        await app.settle()
    waiting, running = [row["id"] for row in await app.db.fetchall("SELECT id FROM jobs ORDER BY created_at, id")]
    await app.interact(button(app.slack, "job_start", running, user=ADMIN))
    await app.settle()
    await app.command("promote gpt-4.1 force:yes", user=ADMIN)
    await app.settle()
    states = {row["id"]: row["state"] for row in await app.db.fetchall("SELECT id, state FROM jobs")}
    assert states[waiting] == "preflight" and states[running] in ("pending", "running"), states
    assert await app.db.fetchval("SELECT count(*) FROM model_changes") == 1
    return {
        "dataset": dataset,
        "example": example,
        "waiting_job": waiting,
        "running_job": running,
        "model": "gpt-4o-mini",
        "endpoint": "endpoint-0f1e2d3c",
        "approved": approved,
        "voted": voted,
        "approved_ts": approved_ts,
    }


async def everything(app: Harness) -> dict[str, list[tuple]]:
    tables = [
        row["name"]
        for row in await app.db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'inbox'"
            " ORDER BY name"
        )
    ]  # a modal submission is stored in the inbox before it is acknowledged: not a change
    return {
        table: sorted((tuple(row) for row in await app.db.fetchall(f"SELECT * FROM {table}")), key=repr)
        for table in tables
    }


def acting_calls(oai: FakeOpenAI) -> list[str]:
    """Calls that do something at OpenAI (the job monitor's polling only reads)."""
    return [call.method for call in oai.calls if not call.method.startswith("GET ")]


async def steady(app: Harness) -> None:
    """Let the job monitor catch up, so its bookkeeping is not mistaken for a change."""
    await app.runtime.monitor.tick()
    await app.settle()


async def refusals(app: Harness, slack: FakeSlack, oai: FakeOpenAI, targets: Targets, who: str) -> list[str]:
    """Try every admin-only action as a non-admin; the list of what went wrong (empty when all held)."""
    failures = []
    for action in ADMIN_ONLY:
        await steady(app)
        rows, calls = await everything(app), acting_calls(oai)
        replies, posts, modals = len(slack.responses), channel_posts(slack), len(slack.views)
        in_modal = await action.perform(app, targets)
        await app.settle()
        await steady(app)
        told = [r for r in slack.responses[replies:] if r.get("response_type") == "ephemeral" and who in r["text"]]
        if in_modal is not None:
            told = [in_modal] if who in in_modal else []
        if not told:
            failures.append(f"{action.name}: no ephemeral naming {who!r}: {slack.responses[replies:]}")
        if await everything(app) != rows:
            failures.append(f"{action.name}: the database changed")
        if acting_calls(oai) != calls:
            failures.append(f"{action.name}: called the provider: {acting_calls(oai)[len(calls) :]}")
        if channel_posts(slack) != posts or len(slack.views) != modals:
            failures.append(f"{action.name}: posted to the channel or opened a modal")
    return failures


async def test_every_admin_only_action_is_refused_to_a_non_admin_and_changes_nothing(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    with_admins = make_settings(tmp_path, slack, oai, TUNELOOP_POLL_SECONDS="3600")
    async with served(with_admins, slack) as app:
        targets = await prepare(app)
        failures = await refusals(app, slack, oai, targets, who=f"<@{ADMIN}>")
    # The same database, but nobody is an admin: the refusal says how to make someone one.
    nobody = make_settings(tmp_path, slack, oai, TUNELOOP_POLL_SECONDS="3600", TUNELOOP_ADMINS="")
    async with served(nobody, slack) as app:
        assert app.runtime.settings.admins == frozenset()
        failures += [
            f"(no admins) {failure}" for failure in await refusals(app, slack, oai, targets, who="TUNELOOP_ADMINS")
        ]
    assert failures == [], "\n".join(failures)


def test_the_table_covers_every_admin_button_and_every_subcommand_marked_for_admins() -> None:
    entries = {action.entry for action in ADMIN_ONLY}
    assert set(REVIEW_ACTIONS) | set(JOB_ACTIONS) | {MIGRATION_PROMOTE} <= entries
    assert {spec.name for spec in grammar.subcommands if "(admins)" in spec.summary} | {"train"} <= entries


async def test_an_admin_may_correct_an_approved_example(app: Harness) -> None:
    approved = await add_example(app.db, question="Which port?", answer="8443.", state="candidate", channel=GENERAL)
    await app.runtime.services.review.decide(approved, "approve", ADMIN)
    view = {
        "type": "modal",
        "id": "V0ADMIN",
        "callback_id": CORRECTION_VIEW,
        "private_metadata": json.dumps({"example_id": approved, "fp": "0" * 16}),
    }
    status, body = await app.interact(submission(view, user=ADMIN, text="Port 8443, over TLS."))
    await app.settle()
    assert status == 200 and body == {}, body
    row = await app.db.fetchone("SELECT state, corrected, decided_by FROM examples WHERE id = ?", (approved,))
    assert tuple(row) == ("approved", "Port 8443, over TLS.", ADMIN)
