"""Dockerfile, compose.yaml and the systemd unit agree with the app (Docker itself does not run on the machines
these tests run on: what can be checked without it is checked here)."""

from __future__ import annotations

import asyncio
import configparser
import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import yaml

from bot.fakes import FakeOpenAI, FakeSlack
from bot.health import HEALTH_PATH
from bot.settings import Settings
from tests.test_startup import Serve, free_port

REPO = Path(__file__).resolve().parents[1]
DOCKERFILE = (REPO / "Dockerfile").read_text()


def instructions(name: str) -> list[str]:
    """The arguments of every `NAME` instruction, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(name + " ")]


def test_the_image_is_slim_runs_as_a_user_and_keeps_the_database_on_the_volume() -> None:
    assert all(base.startswith("python:3.11-slim") for base in instructions("FROM"))
    assert instructions("USER") == ["tuneloop"]
    assert instructions("VOLUME") == ['["/data"]']
    env = " ".join(instructions("ENV"))
    assert "TUNELOOP_DB=/data/tuneloop.db" in env
    assert f"PORT={Settings.model_fields['port'].default}" in env


def test_the_image_copies_every_package_pyproject_ships() -> None:
    include = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    copied = {line.split()[0] for line in instructions("COPY") if not line.startswith("--from")}
    assert {pattern.rstrip("*") for pattern in include} <= copied


def test_the_healthcheck_asks_the_servers_health_route() -> None:
    (healthcheck,) = instructions("HEALTHCHECK")
    assert healthcheck.endswith('CMD ["tuneloop", "healthcheck"]')
    assert HEALTH_PATH == "/healthz"


def test_compose_runs_one_service_with_its_database_on_a_volume() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    (service,) = [s for s in compose["services"].values() if "profiles" not in s]
    assert service["build"] == "."
    # `docker compose run --rm tuneloop tuneloop demo` (README) needs no .env
    assert service["env_file"] == [{"path": ".env", "required": False}]
    assert service["environment"]["TUNELOOP_DB"].startswith("/data/")
    (volume,) = service["volumes"]
    name, mount = volume.split(":")
    assert mount == "/data" and name in compose["volumes"]
    assert "replicas" not in str(service.get("deploy", {}))
    assert {port.split(":")[1] for port in service["ports"]} == {"3000", service["environment"]["TUNELOOP_HEALTH_PORT"]}


def test_the_systemd_unit_serves_and_stops_with_sigterm() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read_string((REPO / "deploy" / "tuneloop.service").read_text())
    assert "tuneloop serve" in unit["Service"]["ExecStart"]
    assert unit["Service"]["KillSignal"] == "SIGTERM" and unit["Service"]["User"] == "tuneloop"


def healthcheck(tmp_path: Path, port: int) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "PYTHONPATH": str(REPO), "PORT": str(port)}
    return subprocess.run(
        [sys.executable, "-m", "bot", "healthcheck"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_tuneloop_healthcheck_passes_only_while_the_server_answers(
    tmp_path: Path, slack: FakeSlack, oai: FakeOpenAI
) -> None:
    assert (await asyncio.to_thread(healthcheck, tmp_path, free_port())).returncode == 1
    server = Serve(tmp_path, slack, oai)
    try:
        await server.start_http()
        await server.wait_listening()
        assert (await asyncio.to_thread(healthcheck, tmp_path, server.port)).returncode == 0
        assert await server.stop() == 0
    finally:
        server.kill()


def test_the_replicas_profile_runs_two_replicas_on_one_postgresql_and_one_shared_folder() -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())
    profiled = {name: s for name, s in compose["services"].items() if "replicas" in s.get("profiles", [])}
    replicas = [s for s in profiled.values() if "TUNELOOP_DATABASE_URL" in s.get("environment", {})]
    assert len(replicas) == 2 and "postgres" in profiled
    urls = {s["environment"]["TUNELOOP_DATABASE_URL"] for s in replicas}
    (url,) = urls
    assert url.startswith("postgresql://") and "@postgres:5432/" in url
    for replica in replicas:
        (volume,) = replica["volumes"]
        name, mount = volume.split(":")
        assert mount == replica["environment"]["TUNELOOP_DATA_DIR"] and name in compose["volumes"]
        assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert len({port for s in replicas for port in s["ports"]}) == 4  # no two replicas on one host port
