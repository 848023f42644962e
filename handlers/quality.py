"""Quality alerts in Slack: the alert message, and `/tune alerts`."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from handlers.tune import Invocation, Runner
from render import quality as render
from tuning.release.quality import QualityAlerts, QualityState


class SlackQualityPublisher:
    """tuning.release.quality.QualityPublisher over the Web API."""

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def alert(self, channel: str, state: QualityState, cause: str) -> None:
        await self._client.chat_postMessage(channel=channel, text=render.alert(state, cause))


def runners(quality: QualityAlerts) -> dict[str, Runner]:
    async def alerts(call: Invocation) -> None:
        await call.reply(render.alerts_state(await quality.state()))

    return {"alerts": alerts}
