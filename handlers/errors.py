"""The one error path: user-safe TuningErrors become an ephemeral message, anything else is logged."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext

from render.help import INTERNAL_ERROR, failure
from tuning.errors import TuningError

log = logging.getLogger("tuneloop.errors")


def register(app: AsyncApp) -> None:
    @app.error
    async def on_error(error: Exception, body: dict[str, Any], context: AsyncBoltContext) -> None:
        if isinstance(error, TuningError):
            text = failure(str(error))
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
