"""The one error path: user-safe TuningErrors become an ephemeral message, anything else is logged.

For an event the inbox worker replays, the error is also left in the request's context (FAILURE_KEY) for the
worker to decide: a failure that will not change (not a member of the channel, the message gone, a user-safe
TuningError) closes the event at once; any other is retried with back-off. The person is told only when the
event will not be tried again, so at most once.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError

from handlers.inbox import REPLAY_KEY
from handlers.slack_io import NOT_A_MEMBER, slack_error
from render.help import INTERNAL_ERROR, failure
from tuning.errors import TuningError

log = logging.getLogger("tuneloop.errors")
FAILURE_KEY = "tuneloop_failure"  # the error a replayed event's listener raised
FINAL_ATTEMPT_KEY = "tuneloop_final_attempt"  # True when a replayed event will not be tried again
# Slack's answers that trying again cannot change: the channel, message, thread or user is gone or closed.
PERMANENT_SLACK_ERRORS = NOT_A_MEMBER | frozenset(
    {
        "message_not_found",
        "thread_not_found",
        "is_archived",
        "user_not_found",
        "cant_update_message",
        "cant_delete_message",
        "is_inactive",
        "restricted_action",
        "no_permission",
        "cannot_dm_bot",
    }
)


def is_permanent(error: BaseException) -> bool:
    if isinstance(error, TuningError):
        return True
    return isinstance(error, SlackApiError) and slack_error(error) in PERMANENT_SLACK_ERRORS


def reason(error: BaseException) -> str:
    """A short reason to store with an event that was closed because of `error`."""
    if isinstance(error, SlackApiError):
        return f"slack: {slack_error(error)}"
    return f"{type(error).__name__}: {error}"[:300]


def register(app: AsyncApp) -> None:
    @app.error
    async def on_error(error: Exception, body: dict[str, Any], context: AsyncBoltContext) -> None:
        if REPLAY_KEY in context:
            context[FAILURE_KEY] = error
            if not (is_permanent(error) or context.get(FINAL_ATTEMPT_KEY)):
                log.warning("event failed (%s); it will be tried again", reason(error))
                return
        if isinstance(error, TuningError):
            text = failure(str(error))
        else:
            if is_permanent(error):
                log.warning("%s request failed for good: %s", body.get("type", "unknown"), reason(error))
            else:
                log.error("unhandled error for %s request", body.get("type", "unknown"), exc_info=error)
            text = INTERNAL_ERROR
        await _tell_user(context, text)


async def _tell_user(context: AsyncBoltContext, text: str) -> None:
    if not (context.channel_id and context.user_id and context.client):
        return
    try:
        await context.client.chat_postEphemeral(channel=context.channel_id, user=context.user_id, text=text)
    except Exception:  # the error is already logged; a failed notice must not raise again
        log.warning("could not tell %s about an error", context.user_id, exc_info=True)
