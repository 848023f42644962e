"""A real PostgreSQL server for the tests: initdb + pg_ctl in a temporary folder, on a free loopback port.

PostgreSQL refuses to run as root; as root (CI containers) the server runs as `nobody` (runuser). Each test
gets a fresh database of its own (`fresh_database`). `.ci/run` installs PostgreSQL when initdb is missing;
without it these tests fail, they are not skipped.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

SUPERUSER = "tuneloop"
UNPRIVILEGED = "nobody"


def _binary(name: str) -> str:
    found = shutil.which(name) or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        raise RuntimeError(f"{name} not found: install PostgreSQL (.ci/run does: apt-get install postgresql)")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_server_user(args: list[str]) -> list[str]:
    return ["runuser", "-u", UNPRIVILEGED, "--", *args] if os.geteuid() == 0 else args


class PostgresServer:
    def __init__(self, root: Path, port: int, *, durable: bool = False) -> None:
        self.root = root
        self.port = port
        self.data = root / "data"
        self.durable = durable

    @property
    def admin_url(self) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/postgres"

    def url(self, dbname: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, UNPRIVILEGED)
            self.root.chmod(0o700)
        self._run(
            [
                _binary("initdb"),
                "-D",
                str(self.data),
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
                "--locale=C",
            ]
        )
        # Tests: fsync off, a test server's data need not survive a power cut (the engine is otherwise the real
        # one). Benchmarks: durable, every commit flushed, as SQLite's are.
        fast = "" if self.durable else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=300{fast}"
        self._run(
            [
                _binary("pg_ctl"),
                "-D",
                str(self.data),
                "-o",
                options,
                "-l",
                str(self.root / "log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def stop(self) -> None:
        self._run([_binary("pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop"], check=False)

    def create_database(self, name: str | None = None) -> str:
        name = name or f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE template0 STRATEGY FILE_COPY')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _run(self, args: list[str], check: bool = True) -> None:
        result = subprocess.run(_as_server_user(args), capture_output=True, text=True, cwd=self.root)
        if check and result.returncode != 0:
            log = (self.root / "log").read_text() if (self.root / "log").exists() else ""
            raise RuntimeError(f"{args[0]} failed: {result.stdout}{result.stderr}{log[-2000:]}")


@contextmanager
def postgres_server(*, durable: bool = False) -> Iterator[PostgresServer]:
    root = Path(tempfile.mkdtemp(prefix="tuneloop-pg-"))
    server = PostgresServer(root, _free_port(), durable=durable)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
