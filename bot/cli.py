"""The `tuneloop` command line (also `python -m bot`)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from pydantic import ValidationError

from bot import logs
from bot.settings import Settings, missing_settings_message
from storage import migrate, open_database


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tuneloop", description="Turn what a team does in Slack into better models.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the Slack app (Socket Mode if SLACK_APP_TOKEN is set, else HTTP)")
    serve.add_argument("--http", action="store_true", help="serve HTTP even when SLACK_APP_TOKEN is set")
    serve.add_argument("--port", type=int, help="HTTP port (default: $PORT or 3000)")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    commands.add_parser("migrate", help="apply database migrations")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"Tuneloop cannot start: a setting is invalid.\n{error}", file=sys.stderr)
        return 2
    if args.command == "migrate":
        return asyncio.run(_migrate(settings))
    return _serve(settings, args)


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    http = args.http or not settings.socket_mode
    missing = settings.missing(http=http)
    if missing:
        print(missing_settings_message(missing), file=sys.stderr)
        return 2
    secrets = [s.get_secret_value() for s in (settings.slack_bot_token, settings.slack_signing_secret,
               settings.slack_app_token, settings.openai_api_key, settings.together_api_key) if s]
    logs.configure(args.log_level, secrets)
    from bot.server import serve  # imported late: the settings check above must not wait for Bolt

    asyncio.run(serve(settings, http=http, port=args.port or settings.port))
    return 0


async def _migrate(settings: Settings) -> int:
    db = await open_database(settings.db_path)
    try:
        applied = await migrate(db)
    finally:
        await db.close()
    print("applied: " + ", ".join(applied) if applied else "database is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
