"""Team memory in Slack: what a channel is (for where memories may go), and `/tune memory [on|off] [#channel]`."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient

from handlers.slack_reader import WebApiReader
from handlers.tune import Invocation, Runner
from render import memory as render
from tuning.answering.memory import ChannelKind, ChannelKinds, Memory
from tuning.errors import NotFound
from tuning.values import ChannelRef


def channel_kinds(client: AsyncWebClient) -> ChannelKinds:
    """conversations.info: shared with another organisation (Slack Connect), private, public or a DM."""

    async def kind(channel: str) -> ChannelKind | None:
        info = (await client.conversations_info(channel=channel)).get("channel") or {}
        if info.get("is_im") or info.get("is_mpim"):
            return "dm"
        if info.get("is_ext_shared") or info.get("is_pending_ext_shared"):
            return "shared"
        return "private" if info.get("is_private") or info.get("is_group") else "public"

    return kind


def runners(memory: Memory) -> dict[str, Runner]:
    async def run(call: Invocation) -> None:
        switch: str | None = call.command.args.get("on|off")
        if switch is None:
            stats, workspace, channels = await memory.stats()
            blocks, text = render.memory_report(stats, workspace, channels)
            await call.reply(text, blocks)
            return
        ref: ChannelRef | None = call.command.args.get("#channel")
        channel = None if ref is None else ref.id or await _channel_id(call, ref)
        await memory.switch(call.user, switch == "on", channel)
        await call.reply(render.switched(switch == "on", channel))

    return {"memory": run}


async def _channel_id(call: Invocation, ref: ChannelRef) -> str:
    found = await WebApiReader.from_context(call.context).channel_id(ref.name or "")
    if found is None:
        raise NotFound(f"There is no channel {ref} that Tuneloop can see.")
    return found
