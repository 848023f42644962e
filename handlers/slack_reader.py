"""tuning.ports.SlackReader over the Web API: pagination here, rate limits in the client's retry handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from slack_bolt.async_app import AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.slack_io import NOT_A_MEMBER, slack_error, to_message
from tuning.errors import NotFound, TuningError
from tuning.values import Member, SlackMessage

PAGE = 200
_NOT_IN_CHANNEL = NOT_A_MEMBER | {"missing_scope"}


class NotInChannel(TuningError):
    def __init__(self, channel: str) -> None:
        super().__init__(
            f"Tuneloop can't read <#{channel}>: it is not a member. Invite it with `/invite @tuneloop` and try again."
        )


class WebApiReader:
    def __init__(
        self, client: AsyncWebClient, *, team_id: str | None, bot_user_id: str | None, bot_id: str | None
    ) -> None:
        self._client = client
        self._team_id = team_id
        self.bot_user_id = bot_user_id
        self._bot_id = bot_id

    @classmethod
    def from_context(cls, context: AsyncBoltContext) -> WebApiReader:
        assert context.client is not None
        return cls(context.client, team_id=context.team_id, bot_user_id=context.bot_user_id, bot_id=context.bot_id)

    def convert(self, raw: dict, channel: str) -> SlackMessage | None:
        return to_message(
            raw, channel=channel, team_id=self._team_id, bot_user_id=self.bot_user_id, bot_id=self._bot_id
        )

    async def message(self, channel: str, ts: str) -> SlackMessage | None:
        for candidate in await self._raw_around(channel, ts):
            if candidate.get("ts") == ts:
                return self.convert(candidate, channel)
        return None

    async def _raw_around(self, channel: str, ts: str) -> list[dict]:
        """conversations.replies finds a reply or a root; conversations.history a plain top-level message."""
        try:
            replies = await self._client.conversations_replies(channel=channel, ts=ts, limit=1)
            found: list[dict[str, Any]] = list(replies.get("messages", []))
        except SlackApiError as error:
            if slack_error(error) != "thread_not_found":
                raise self._explain(error, channel) from error
            found = []
        if not any(raw.get("ts") == ts for raw in found):
            history = await self._client.conversations_history(channel=channel, latest=ts, inclusive=True, limit=1)
            found += history.get("messages", [])
        return found

    async def thread(self, channel: str, thread_ts: str) -> list[SlackMessage]:
        messages: list[SlackMessage] = []
        try:
            async for page in await self._client.conversations_replies(channel=channel, ts=thread_ts, limit=PAGE):
                messages += [m for raw in page.get("messages", []) if (m := self.convert(raw, channel))]
        except SlackApiError as error:
            raise self._explain(error, channel) from error
        return messages

    async def history(self, channel: str, oldest: float) -> AsyncIterator[list[SlackMessage]]:
        try:
            async for page in await self._client.conversations_history(
                channel=channel, oldest=f"{oldest:.6f}", limit=PAGE
            ):
                yield [m for raw in page.get("messages", []) if (m := self.convert(raw, channel))]
        except SlackApiError as error:
            raise self._explain(error, channel) from error

    async def channel_id(self, name: str) -> str | None:
        async for page in await self._client.conversations_list(types="public_channel,private_channel", limit=PAGE):
            for channel in page.get("channels", []):
                if channel.get("name") == name:
                    return channel["id"]
        return None

    async def members(self) -> list[Member]:
        members = []
        async for page in await self._client.users_list(limit=PAGE):
            for user in page.get("members", []):
                if user.get("deleted") or user.get("is_bot") or user.get("id") == "USLACKBOT":
                    continue
                profile = user.get("profile") or {}
                members.append(
                    Member(
                        user_id=user["id"],
                        name=user.get("name", ""),
                        real_name=profile.get("real_name") or user.get("real_name", ""),
                        display_name=profile.get("display_name", ""),
                    )
                )
        return members

    @staticmethod
    def _explain(error: SlackApiError, channel: str) -> Exception:
        if slack_error(error) == "thread_not_found":  # deleted while Tuneloop was looking at it
            return NotFound("That conversation is no longer there: was it deleted?")
        return NotInChannel(channel) if slack_error(error) in _NOT_IN_CHANNEL else error
