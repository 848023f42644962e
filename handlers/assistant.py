"""Tuneloop in Slack's AI pane (Bolt's AsyncAssistant): suggested prompts, a thinking status, a thread title,
and answers streamed like everywhere else, with the same feedback block.

Bolt's assistant middleware takes every threaded message in a DM with the app (the pane's threads are DM
threads), so those are answered here, through the same flow as handlers/messages.py.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from slack_bolt.async_app import (
    AsyncAssistant,
    AsyncBoltContext,
    AsyncSetStatus,
    AsyncSetSuggestedPrompts,
    AsyncSetTitle,
)
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.messages import AnswerSetup, on_message
from handlers.slack_io import slack_error
from render.assistant import THINKING_STATUS, suggested_prompts, thread_title
from tuning.answering.service import Answerer
from tuning.values import AnswerClaim

log = logging.getLogger(__name__)


def build(answers: Answerer, prompts: Sequence[str], setup: AnswerSetup | None = None) -> AsyncAssistant:
    assistant = AsyncAssistant()
    shared = setup or AnswerSetup()

    @assistant.thread_started
    async def started(set_suggested_prompts: AsyncSetSuggestedPrompts) -> None:
        await set_suggested_prompts(prompts=suggested_prompts(prompts))

    @assistant.user_message
    async def asked(
        payload: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
        set_status: AsyncSetStatus,
        set_title: AsyncSetTitle,
    ) -> None:
        async def before_answer(claim: AnswerClaim) -> None:
            # Pane niceties: a DM thread outside the pane refuses them, and the answer matters more.
            try:
                if await answers.is_first_in_thread(claim.message):
                    await set_title(thread_title(claim.message.text))
                await set_status(THINKING_STATUS)  # Slack clears it when the answer is posted
            except SlackApiError as error:
                log.info("assistant status or title not set: %s", slack_error(error))

        await on_message(answers, client, payload, context, before_answer, setup=shared)

    return assistant
