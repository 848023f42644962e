"""`/tune stats` and the App Home tab."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from handlers.tune import Invocation, Runner
from render import lifecycle as render_lifecycle
from render import stats as render
from tuning.capture.stats import StatsService
from tuning.release.lifecycle.canary import CanaryReport


def runners(insights: StatsService) -> dict[str, Runner]:
    async def stats(call: Invocation) -> None:
        blocks, text = render.stats_blocks(await insights.collect())
        await call.reply(text, blocks)

    return {"stats": stats}


def register(
    app: AsyncApp,
    insights: StatsService,
    current_model: Callable[[], Awaitable[str]],
    canary: Callable[[], Awaitable[CanaryReport | None]],
) -> None:
    async def on_home_opened(event: dict[str, Any], client: AsyncWebClient) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        report = await canary()
        card = render_lifecycle.canary_blocks(report)[0] if report else []
        view = render.home_view(await insights.collect(), await current_model(), await insights.recent(), card)
        await client.views_publish(user_id=event["user"], view=view)

    app.event("app_home_opened")(on_home_opened)
