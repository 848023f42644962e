"""`/tune stats` and the App Home tab."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from handlers.tune import Invocation, Runner
from render import stats as render
from tuning.services import Services


def runners(services: Services) -> dict[str, Runner]:
    async def stats(call: Invocation) -> None:
        blocks, text = render.stats_blocks(await services.insights.collect())
        await call.reply(text, blocks)

    return {"stats": stats}


def register(app: AsyncApp, services: Services) -> None:
    async def on_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        view = render.home_view(await services.insights.collect(), await services.current_model(), await services.insights.recent())
        await client.views_publish(user_id=event["user"], view=view)

    app.event("app_home_opened")(on_home_opened)
