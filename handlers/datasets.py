"""`/tune dataset build|list|show`: the card goes to the channel, the JSONL files into its thread."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from handlers.posting import post_once, tag
from handlers.slack_io import NOT_A_MEMBER, slack_error
from handlers.tune import Invocation, Runner
from render import datasets as render
from tuning.training.datasets import BuildRequest, ChannelResolver, DatasetFilters, DatasetSummary
from tuning.training.datasets.service import DatasetService
from tuning.values import ChannelRef

# Slack refuses uploads over 1 GB; bigger datasets are fetched with `tuneloop dataset export`.
SLACK_FILE_LIMIT_BYTES = 1_000_000_000


def runners(datasets: DatasetService) -> dict[str, Runner]:
    async def build(call: Invocation) -> None:
        request = build_request(call)
        await call.reply(render.building(request.name))
        summary = await datasets.build(request, resolve_channel=channel_resolver(call.client))
        await post_summary(call, summary)

    async def show(call: Invocation) -> None:
        blocks, text = render.show_card(await datasets.show(call.command.args["NAME"]))
        await call.reply(text, blocks)

    async def list_versions(call: Invocation) -> None:
        blocks, text = render.listing(await datasets.list())
        await call.reply(text, blocks)

    return {"dataset build": build, "dataset show": show, "dataset list": list_versions}


def build_request(call: Invocation) -> BuildRequest:
    options = call.command.options
    channel: ChannelRef | None = options.get("channel")
    filters = DatasetFilters(
        since=options.get("since"),
        channel_id=channel.id if channel else None,
        channel_name=channel.name if channel else None,
    )
    return BuildRequest(
        name=call.command.args["NAME"],
        filters=filters,
        format=options.get("format", "sft"),
        val=options.get("val", 0.1),
        created_by=call.user or None,
    )


async def post_summary(call: Invocation, summary: DatasetSummary) -> None:
    blocks, text = render.summary_card(summary, attached=True)
    try:
        posted = {
            "ts": await post_once(
                call.client,
                channel=call.channel,
                metadata=tag("tuneloop_dataset_card", f"{summary.name}:{summary.version}"),
                blocks=blocks,
                text=text,
            )
        }
    except SlackApiError as error:
        blocks, text = render.summary_card(summary)
        await call.reply(text, blocks)
        code = slack_error(error)
        reason = render.NOT_A_MEMBER if code in NOT_A_MEMBER else f"Tuneloop can't post in this channel: {code}"
        await call.reply(render.files_not_attached(reason))
        return
    uploads = [
        {"file": str(f.path), "filename": f"{summary.ref}.{f.path.name}", "title": f"{summary.ref} {f.split}"}
        for f in summary.files
        if f.lines and f.path.stat().st_size <= SLACK_FILE_LIMIT_BYTES
    ]
    if len(uploads) < sum(1 for f in summary.files if f.lines):
        await call.reply(render.files_not_attached("a file is over Slack's 1 GB limit"))
    if not uploads:
        return
    try:
        await call.client.files_upload_v2(channel=call.channel, thread_ts=posted["ts"], file_uploads=uploads)
    except SlackApiError as error:
        await call.reply(render.files_not_attached(f"Slack refused the upload: {slack_error(error)}"))


def channel_resolver(client: AsyncWebClient) -> ChannelResolver:
    """`channel:#name` typed without Slack's autocomplete carries no id: look the name up."""

    async def resolve(name: str) -> str | None:
        try:
            async for page in await client.conversations_list(
                types="public_channel,private_channel", exclude_archived=True, limit=1000
            ):
                for channel in page.get("channels", []):
                    if channel.get("name") == name:
                        return str(channel["id"])
        except SlackApiError:  # e.g. missing channels:read scope: the service explains what to do
            return None
        return None

    return resolve
