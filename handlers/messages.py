"""Mentions, DMs and thread follow-ups: remember the message, answer when the bot should."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.answer_writer import AnswerClient, AnswerWriter, NowhereToAnswer, StreamProblem, answer_tag
from handlers.memory import channel_kinds
from handlers.posting import find_left_behind
from handlers.slack_io import fetch_conversation, slack_error, to_message
from handlers.stream_budget import LocalStreamBudget, StreamBudget
from handlers.stream_errors import StreamFailure
from render.answers import CONVERSATION_UNREADABLE, model_error, stream_setup_error
from render.memory import drew_on
from tuning import telemetry
from tuning.answering.memory import Recall
from tuning.answering.service import Answerer
from tuning.errors import ModelError
from tuning.values import AnswerClaim, SlackMessage

BeforeAnswer = Callable[[AnswerClaim], Awaitable[None]]
TellAdmins = Callable[[str, str], Awaitable[None]]  # (key, text): told once per key
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AnswerSetup:
    """What every answer shares: the workspace's budget of stream calls, and how admins hear of a setup error."""

    budget: StreamBudget = field(default_factory=LocalStreamBudget)
    tell_admins: TellAdmins | None = None


def register(app: AsyncApp, answers: Answerer, setup: AnswerSetup | None = None) -> None:
    shared = setup or AnswerSetup()

    async def on_event(event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        await on_message(answers, client, event, context, setup=shared)  # edits and deletions: message_edits.py

    app.event("app_mention")(on_event)
    app.event("message")(on_event)


async def on_message(
    answers: Answerer,
    client: AsyncWebClient,
    event: dict[str, Any],
    context: AsyncBoltContext,
    before_answer: BeforeAnswer | None = None,
    *,
    setup: AnswerSetup,
) -> None:
    """Remember the message; answer it if the bot should (`before_answer` runs once the answer is claimed)."""
    message = to_message(
        event,
        channel=event.get("channel", ""),
        team_id=context.team_id,
        bot_user_id=context.bot_user_id,
        bot_id=context.bot_id,
    )
    if message is None:
        return
    await answers.observe(message)
    if await answers.wants(message):
        claim = await answers.claim(message)
        if claim is not None:
            await _answer(answers, client, claim, context, before_answer, setup)


async def _answer(
    answers: Answerer,
    client: AsyncWebClient,
    claim: AnswerClaim,
    context: AsyncBoltContext,
    before_answer: BeforeAnswer | None,
    setup: AnswerSetup,
) -> None:
    message: SlackMessage = claim.message
    recipient = AnswerClient(client, context.team_id or message.team_id, message.user, setup.budget)
    try:
        if before_answer is not None:
            await before_answer(claim)
        await answer(answers, recipient, claim, context, setup.tell_admins)
    finally:
        answers.release(claim)


async def answer(
    answers: Answerer,
    client: AnswerClient,
    claim: AnswerClaim,
    context: AsyncBoltContext,
    tell_admins: TellAdmins | None = None,
) -> None:
    """Read the conversation, then stream the model's answer into Slack (or edit a placeholder) and record it."""
    message = claim.message
    with telemetry.answer_span(channel=message.channel, thread_ts=message.reply_thread, model=claim.model):
        await _write_answer(answers, client, claim, context, tell_admins)


async def _with_first_message_left_behind(
    answers: Answerer, client: AnswerClient, claim: AnswerClaim, bot_user_id: str | None
) -> AnswerClaim:
    """A resumed answer whose first message was posted but never recorded edits that message, not a second one."""
    try:
        found = await find_left_behind(
            client.web,
            channel=claim.message.channel,
            thread_ts=claim.post_in_thread,
            metadata=answer_tag(claim.answer_id, 0),
            question_ts=claim.message.ts,
            bot_user_id=bot_user_id,
            skip=claim.other_answers_ts,
        )
    except SlackApiError as error:  # the thread cannot be read: answer anew rather than not at all
        log.warning("answer %s: its thread could not be searched (%s)", claim.answer_id, slack_error(error))
        return claim
    if found is None:
        return claim
    await answers.placeholder_posted(claim, found)
    return claim.model_copy(update={"placeholder_ts": found})


async def _write_answer(
    answers: Answerer,
    client: AnswerClient,
    claim: AnswerClaim,
    context: AsyncBoltContext,
    tell_admins: TellAdmins | None,
) -> None:
    message = claim.message
    if claim.lost_first_message:
        claim = await _with_first_message_left_behind(answers, client, claim, context.bot_user_id)

    async def first_message(ts: str) -> None:
        await answers.placeholder_posted(claim, ts)

    # Memory is searched while the thread is read, so it adds nothing to the time to the first words.
    recalling = asyncio.create_task(_recall(answers, client, claim, context))
    writer = AnswerWriter(
        client, claim, stream=await answers.streams_in(message.channel), on_first_message=first_message
    )
    try:
        await writer.start()
        try:
            thread = await fetch_conversation(
                client.web, message, bot_user_id=context.bot_user_id, bot_id=context.bot_id
            )
        except SlackApiError as error:  # e.g. the question was deleted meanwhile: say so, never leave "Thinking…"
            await answers.abandon(claim, f"could not read the conversation: {slack_error(error)}")
            await writer.fail(model_error(CONVERSATION_UNREADABLE))
            return
        recall = await recalling
        try:
            reply = await answers.generate(claim, thread, context.bot_user_id, on_text=writer.on_text, recall=recall)
        except ModelError as error:
            await writer.fail(model_error(str(error)))
            return
        posted = await writer.finish(reply.text, note=drew_on(recall.hits))
    except NowhereToAnswer as error:  # e.g. removed from the channel meanwhile
        await answers.abandon(claim, f"could not post the answer: {error}")
        return
    finally:
        recalling.cancel()
        writer.close()
        if writer.problem is not None:
            await _stream_problem(answers, message.channel, writer.problem, tell_admins)
    await answers.posted(claim, reply, posted, context.bot_user_id, recall)


async def _recall(answers: Answerer, client: AnswerClient, claim: AnswerClaim, context: AsyncBoltContext) -> Recall:
    """The team's answers to draw on; none if memory cannot be searched (the answer matters more)."""
    try:
        return await answers.recall(claim, channel_kinds(client.web), context.bot_user_id)
    except Exception:  # noqa: BLE001 - logged; the question is still answered, without memory
        log.warning("team memory could not be searched for answer %s", claim.answer_id, exc_info=True)
        return Recall()


async def _stream_problem(
    answers: Answerer, channel: str, problem: StreamProblem, tell_admins: TellAdmins | None
) -> None:
    """A refusal is remembered for the channel; a setup error is told to the admins once."""
    if problem.kind is StreamFailure.REFUSED:
        await answers.streaming_refused(channel, problem.error)
    elif problem.kind is StreamFailure.SETUP and tell_admins is not None:
        await tell_admins(f"slack-setup:{problem.error}", stream_setup_error(problem.error))
