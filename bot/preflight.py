"""Checks `serve` makes before it takes a request: each failure is one line saying what is wrong and the fix."""

from __future__ import annotations

import asyncio
import errno

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

# The bot scopes manifest.yml asks for (tests/test_preflight.py keeps the two lists equal).
REQUIRED_BOT_SCOPES = frozenset(
    {
        "app_mentions:read",
        "channels:history",
        "groups:history",
        "im:history",
        "mpim:history",
        "mpim:read",
        "channels:read",
        "groups:read",
        "chat:write",
        "assistant:write",
        "commands",
        "reactions:read",
        "users:read",
        "files:write",
    }
)
# Slack's auth.test errors for a token that will not work until someone replaces it.
REINSTALL = frozenset({"token_revoked", "account_inactive", "token_expired", "app_uninstalled"})
WRONG_TOKEN = frozenset({"invalid_auth", "not_authed", "not_allowed_token_type"})
SLACK_TIMEOUT_SECONDS = 10.0


class StartupError(Exception):
    """Tuneloop cannot start; str() is the one line an operator reads."""


async def check_bot_token(client: AsyncWebClient) -> str:
    """auth.test with SLACK_BOT_TOKEN, and the manifest's scopes granted; returns the workspace's name."""
    try:
        response = await asyncio.wait_for(client.auth_test(), SLACK_TIMEOUT_SECONDS)
    except SlackApiError as error:
        raise StartupError(_token_refused("SLACK_BOT_TOKEN", _code(error))) from None
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        raise StartupError(_unreachable(client.base_url, error)) from None
    granted = _granted_scopes(response.headers)
    if granted is not None:
        missing = sorted(REQUIRED_BOT_SCOPES - granted)
        if missing:
            raise StartupError(
                f"SLACK_BOT_TOKEN lacks the scopes {', '.join(missing)} that manifest.yml asks for: add them under "
                "OAuth & Permissions > Scopes (or update the app from manifest.yml), reinstall it, and set the new token."
            )
    return str(response.get("team") or response.get("team_id") or "the workspace")


async def check_app_token(client: AsyncWebClient, app_token: str) -> None:
    """Socket Mode: the app-level token can open a connection (the URL it returns is not used)."""
    try:
        await asyncio.wait_for(client.apps_connections_open(app_token=app_token), SLACK_TIMEOUT_SECONDS)
    except SlackApiError as error:
        code = _code(error)
        raise StartupError(
            f"Slack refused SLACK_APP_TOKEN ({code}): create an app-level token (xapp-...) with the "
            "connections:write scope under Basic Information > App-Level Tokens, or unset SLACK_APP_TOKEN to serve HTTP."
        ) from None
    except (aiohttp.ClientError, OSError, TimeoutError) as error:
        raise StartupError(_unreachable(client.base_url, error)) from None


def port_in_use(error: OSError, port: int) -> StartupError | None:
    if error.errno != errno.EADDRINUSE:
        return None
    return StartupError(
        f"port {port} is already in use (another Tuneloop, or another program): stop it, "
        "or choose another port with --port or PORT."
    )


def _token_refused(name: str, code: str) -> str:
    if code in REINSTALL:
        return (
            f"Slack refused {name} ({code}): the app was uninstalled or its token revoked; reinstall it "
            "(OAuth & Permissions > Install to Workspace) and set the new Bot User OAuth Token."
        )
    if code in WRONG_TOKEN:
        return (
            f"Slack refused {name} ({code}): it is not a valid bot token; copy the Bot User OAuth Token "
            "(xoxb-...) from OAuth & Permissions."
        )
    return f"Slack refused {name} ({code}): see https://api.slack.com/methods/auth.test for what it means."


def _unreachable(base_url: str, error: BaseException) -> str:
    reason = str(error) or type(error).__name__
    return f"cannot reach Slack at {base_url} ({reason}): check the network (and SLACK_API_URL), then start again."


def _code(error: SlackApiError) -> str:
    return str(error.response.get("error") or "unknown_error")


def _granted_scopes(headers: object) -> frozenset[str] | None:
    """The token's scopes from auth.test's X-OAuth-Scopes header; None when Slack did not send it."""
    if not isinstance(headers, dict) and not hasattr(headers, "items"):
        return None
    for name, value in headers.items():
        if name.lower() == "x-oauth-scopes":
            return frozenset(scope.strip() for scope in str(value).split(",") if scope.strip())
    return None
