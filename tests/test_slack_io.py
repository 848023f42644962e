"""Reading Slack's error out of a failed call, whatever answered it."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.slack_response import SlackResponse

from handlers.slack_io import slack_error


def refused(data: object, status: int) -> SlackApiError:
    response = SlackResponse(
        client=None,
        http_verb="POST",
        api_url="https://slack.com/api/files.completeUploadExternal",
        req_args={},
        data=data,
        headers={},
        status_code=status,
    )  # type: ignore[arg-type]
    return SlackApiError("refused", response)


@pytest.mark.parametrize(
    ("data", "status", "expected"),
    [
        ({"ok": False, "error": "not_in_channel"}, 200, "not_in_channel"),  # Slack's own answer
        ("<html>502 Bad Gateway</html>", 502, "HTTP 502"),  # a proxy's page: no JSON, no error code
    ],
)
def test_slack_error_names_the_code_or_the_http_status(data: object, status: int, expected: str) -> None:
    assert slack_error(refused(data, status)) == expected
