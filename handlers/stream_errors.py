"""What an error from chat.startStream / appendStream / stopStream means for Tuneloop.

Codes from the methods' reference pages (docs.slack.dev/reference/methods/chat.startStream etc., read
5 Dec 2026). Only a channel type that cannot stream is a lasting refusal; a setup error (a scope or an
argument Tuneloop must send) is for the admins to hear of, once; anything else (`ratelimited` after the
SDK's retries, `fatal_error`, `service_unavailable`, `request_timeout`, an HTTP 5xx) passes, so only this
answer falls back to placeholder-and-edit.
"""

from __future__ import annotations

from enum import Enum

from handlers.slack_io import NOT_A_MEMBER

# `method_not_supported_for_channel_type` is the older code (conversations.join still answers it).
REFUSED = frozenset({"channel_type_not_supported", "method_not_supported_for_channel_type"})
SETUP = frozenset(
    {
        "missing_scope",
        "missing_recipient_team_id",
        "missing_recipient_user_id",
        "no_permission",
        "not_allowed_token_type",
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "ekm_access_denied",
        "messages_tab_disabled",
        "enterprise_is_restricted",
    }
)


class StreamFailure(Enum):
    NOWHERE = "nowhere"  # not in the channel: there is nowhere to answer
    REFUSED = "refused"  # this channel cannot stream: remember it
    SETUP = "setup"  # Tuneloop's install lacks something: tell the admins (once)
    PASSING = "passing"  # try streaming again next time


def classify(code: str) -> StreamFailure:
    if code in NOT_A_MEMBER:
        return StreamFailure.NOWHERE
    if code in REFUSED:
        return StreamFailure.REFUSED
    if code in SETUP:
        return StreamFailure.SETUP
    return StreamFailure.PASSING
