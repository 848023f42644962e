"""The `tuneloop` command line (also `python -m bot`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from pydantic import ValidationError

from bot import logs
from bot.settings import Settings, missing_settings_message
from render.datasets import summary_text
from render.privacy import forgotten
from render.stats import stats_text
from render.words import slack_words
from storage import DatabaseUnavailable, migrate, open_database, opened
from storage.copy import CopyRefused, copy_database
from storage.db import is_postgresql
from storage.postgres import redacted
from tuning.capture.privacy import Privacy
from tuning.capture.stats import collect
from tuning.errors import TuningError
from tuning.training.datasets import cli as dataset_cli


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tuneloop", description="Turn what a team does in Slack into better models.")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the Slack app (Socket Mode if SLACK_APP_TOKEN is set, else HTTP)")
    serve.add_argument("--http", action="store_true", help="serve HTTP even when SLACK_APP_TOKEN is set")
    serve.add_argument("--port", type=int, help="HTTP port (default: $PORT or 3000)")
    serve.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    serve.add_argument(
        "--log-format",
        default="text",
        choices=["text", "json"],
        help="json: one JSON object per line, for log collectors",
    )
    commands.add_parser("migrate", help="apply database migrations")
    demo = commands.add_parser("demo", help="the whole loop offline against loopback fakes of Slack and OpenAI")
    demo.add_argument("--dir", type=Path, default=Path("tuneloop-demo"), help="where to leave the database and files")
    commands.add_parser("healthcheck", help="exit 0 if this machine's server answers /healthz (Docker HEALTHCHECK)")
    commands.add_parser("stats", help="examples collected, as /tune stats shows them")
    forget = commands.add_parser("forget", help="erase a person's messages, votes and examples (README, 'Privacy')")
    forget.add_argument("user", help="their Slack user id (U…)")
    dataset = commands.add_parser("dataset", help="build, show or export datasets").add_subparsers(
        dest="dataset_command", required=True
    )
    build = dataset.add_parser("build", help="build a new version NAME@k from approved examples")
    build.add_argument("name")
    build.add_argument("--since", help="only examples created on or after YYYY-MM-DD")
    build.add_argument("--channel", help="only examples from this channel id (C…)")
    build.add_argument("--format", choices=["sft", "dpo", "kto"], default="sft")
    build.add_argument("--val", type=float, default=0.1, help="validation fraction (0–0.5)")
    show = dataset.add_parser("show", help="a version's summary")
    show.add_argument("name", help="NAME or NAME@k")
    export = dataset.add_parser(
        "export",
        help="write a version as JSONL (checked against its sha256), Parquet or a Hugging Face datasets "
        "folder (those two need tuneloop[export])",
    )
    export.add_argument("name", help="NAME or NAME@k")
    export.add_argument("--out", required=True, type=Path)
    export.add_argument("--format", choices=["jsonl", "parquet", "hf"], default="jsonl", dest="export_format")
    db = commands.add_parser("db", help="move the database").add_subparsers(dest="db_command", required=True)
    copy = db.add_parser("copy", help="copy the SQLite database (TUNELOOP_DB) into an empty PostgreSQL one")
    copy.add_argument("--to", required=True, help="postgresql://user:password@host/db")
    commands.add_parser(
        "serve-model",
        add_help=False,
        help="serve a base model and LoRA adapters with vLLM's API (needs tuneloop[train])",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve-model"]:
        return _serve_model(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"Tuneloop cannot start: a setting is invalid.\n{error}", file=sys.stderr)
        return 2
    if args.command == "serve":
        return _serve(settings, args)
    if args.command == "healthcheck":
        return _healthcheck(settings)
    if args.command == "demo":
        return _demo(args.dir)
    try:
        return asyncio.run(_operator_command(settings, args))
    except (TuningError, DatabaseUnavailable) as error:
        print(f"tuneloop: {slack_words(str(error))}", file=sys.stderr)
        return 1


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    http = args.http or not settings.socket_mode
    missing = settings.missing(http=http)
    if missing:
        print(missing_settings_message(missing), file=sys.stderr)
        return 2
    secrets = [
        s.get_secret_value()
        for s in (
            settings.slack_bot_token,
            settings.slack_signing_secret,
            settings.slack_app_token,
            settings.openai_api_key,
            settings.together_api_key,
        )
        if s
    ]
    logs.configure(args.log_level, secrets, args.log_format)
    from bot.preflight import StartupError
    from bot.server import (
        serve,  # imported late: the settings check above must not wait for Bolt
    )

    try:
        asyncio.run(serve(settings, http=http, port=args.port or settings.port))
    except (StartupError, DatabaseUnavailable) as error:
        print(f"tuneloop cannot start: {error}", file=sys.stderr)
        return 1
    except (asyncio.CancelledError, KeyboardInterrupt):  # a signal before it finished starting
        print("tuneloop: stopped before it finished starting", file=sys.stderr)
        return 0
    return 0


def _demo(workdir: Path) -> int:
    from bot import demo

    logs.configure("WARNING")
    if (workdir / "tuneloop.db").exists():
        print(f"tuneloop demo: {workdir} already holds a demo; remove it or pass --dir", file=sys.stderr)
        return 1
    workdir.mkdir(parents=True, exist_ok=True)
    asyncio.run(demo.run(workdir))
    return 0


def _healthcheck(settings: Settings) -> int:
    """GET /healthz on this machine: the HTTP port, or TUNELOOP_HEALTH_PORT in Socket Mode."""
    from urllib.error import URLError
    from urllib.request import urlopen

    from bot.health import HEALTH_PATH

    port = settings.health_port if settings.socket_mode else settings.port
    if port is None:
        print("tuneloop: Socket Mode serves /healthz only when TUNELOOP_HEALTH_PORT is set", file=sys.stderr)
        return 1
    try:
        with urlopen(f"http://127.0.0.1:{port}{HEALTH_PATH}", timeout=4) as response:
            return 0 if response.status == 200 else 1
    except (URLError, OSError) as error:
        print(f"tuneloop: no answer on port {port}: {error}", file=sys.stderr)
        return 1


def _serve_model(argv: list[str]) -> int:
    """The small model server needs no Slack settings, only the training extras."""
    try:
        from selfhost import serve
    except ImportError as error:
        print(
            f"tuneloop serve-model needs the training extras: pip install 'tuneloop[train]' ({error})", file=sys.stderr
        )
        return 2
    return serve.main(argv)


async def _operator_command(settings: Settings, args: argparse.Namespace) -> int:
    """The same operations as the slash command, on the same database, printed for a terminal."""
    db_path, home = settings.database, settings.data_home
    if args.command == "migrate":
        db = await open_database(db_path, home=home)
        try:
            applied = await migrate(db)
        finally:
            await db.close()
        print("applied: " + ", ".join(applied) if applied else "database is up to date")
    elif args.command == "stats":
        async with opened(db_path, home) as db:
            print(stats_text(await collect(db)))
    elif args.command == "forget":
        print(await _forget(db_path, args.user))
    elif args.command == "db":
        print(await _copy(settings.db_path, args.to))
    elif args.dataset_command == "build":
        print(
            summary_text(
                await dataset_cli.build(
                    db_path,
                    args.name,
                    since=args.since,
                    channel=args.channel,
                    format=args.format,
                    val=args.val,
                    trainer=settings.trainer,
                    home=home,
                )
            )
        )
    elif args.dataset_command == "show":
        print(summary_text(await dataset_cli.show(db_path, args.name, home)))
    else:
        for path in await dataset_cli.export(db_path, args.name, args.out, args.export_format, home):
            print(path)
    return 0


async def _copy(source_path: Path, to: str) -> str:
    """`tuneloop db copy --to URL`: TUNELOOP_DB's rows into an empty PostgreSQL database."""
    if not is_postgresql(to):
        raise TuningError("--to takes a postgresql:// URL")
    source = await open_database(source_path, must_exist=True)
    try:
        target = await open_database(to)
        try:
            copied = await copy_database(source, target)
        except CopyRefused as error:
            raise TuningError(str(error)) from None
        finally:
            await target.close()
    finally:
        await source.close()
    rows = sum(c.rows for c in copied)
    return f"copied {rows} rows in {len(copied)} tables from {source_path} to {redacted(to)}"


async def _forget(db_path: str, who: str) -> str:
    db = await open_database(db_path, must_exist=True)
    try:
        await migrate(db)
        user, erased = await Privacy(db, frozenset(), inbox_days=0, message_days=0).forget(who, actor=None)
    finally:
        await db.close()
    return forgotten(user, erased.messages, erased.votes, erased.examples, erased.datasets)


if __name__ == "__main__":
    sys.exit(main())
