"""`/tune forget @user` (admins): erase a person's data."""

from __future__ import annotations

from handlers.tune import Invocation, Runner
from render.privacy import forgotten
from tuning.capture.privacy import Privacy


def runners(privacy: Privacy) -> dict[str, Runner]:
    async def forget(call: Invocation) -> None:
        user, erased = await privacy.forget(call.command.args["@user"], actor=call.user)
        await call.reply(forgotten(f"<@{user}>", erased.messages, erased.votes, erased.examples, erased.datasets))

    return {"forget": forget}
