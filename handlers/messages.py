"""Mentions, DMs and thread follow-ups: remember the message, answer when the bot should."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.slack_io import fetch_conversation, publish, slack_error, to_message
from render.answers import CONVERSATION_UNREADABLE, THINKING, model_error, split_answer
from tuning.answering import Answerer
from tuning.errors import ModelError
from tuning.types import AnswerClaim, SlackMessage


def register(app: AsyncApp, answers: Answerer) -> None:
    async def on_event(event: dict[str, Any], context: AsyncBoltContext, client: AsyncWebClient) -> None:
        message = to_message(
            event, channel=event.get("channel", ""), team_id=context.team_id,
            bot_user_id=context.bot_user_id, bot_id=context.bot_id,
        )
        if message is None:
            return
        await answers.observe(message)
        if await answers.wants(message):
            claim = await answers.claim(message)
            if claim is not None:
                await _answer(answers, client, claim, context)

    app.event("app_mention")(on_event)
    app.event("message")(on_event)


async def _answer(answers: Answerer, client: AsyncWebClient, claim: AnswerClaim, context: AsyncBoltContext) -> None:
    message: SlackMessage = claim.message
    try:
        try:
            placeholder = claim.placeholder_ts or await _post_placeholder(answers, client, claim)
        except SlackApiError as error:  # e.g. removed from the channel meanwhile: there is nowhere to answer
            await answers.abandon(claim, f"could not post the answer: {slack_error(error)}")
            return
        try:
            thread = await fetch_conversation(client, message, bot_user_id=context.bot_user_id, bot_id=context.bot_id)
        except SlackApiError as error:  # e.g. the question was deleted meanwhile: say so, never leave "Thinking…"
            await answers.abandon(claim, f"could not read the conversation: {slack_error(error)}")
            await client.chat_update(channel=message.channel, ts=placeholder, text=model_error(CONVERSATION_UNREADABLE))
            return
        try:
            reply = await answers.generate(claim, thread, context.bot_user_id)
        except ModelError as error:
            await client.chat_update(channel=message.channel, ts=placeholder, text=model_error(str(error)))
            return
        parts = split_answer(reply.text)
        posted = await publish(
            client, channel=message.channel, thread_ts=claim.post_in_thread, placeholder_ts=placeholder, parts=parts
        )
        await answers.posted(claim, reply, posted, context.bot_user_id)
    finally:
        answers.release(claim)


async def _post_placeholder(answers: Answerer, client: AsyncWebClient, claim: AnswerClaim) -> str:
    response = await client.chat_postMessage(channel=claim.message.channel, thread_ts=claim.post_in_thread, text=THINKING)
    ts = str(response["ts"])
    await answers.placeholder_posted(claim, ts)
    return ts
