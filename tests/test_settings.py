import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import Settings
from tests.conftest import REPO

REQUIRED = ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "OPENAI_API_KEY")


def test_defaults_match_the_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(_env_file=None)
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.together_base_url == "https://api.together.ai/v1"
    assert settings.db_path == Path("tuneloop.db")
    assert settings.trainer == "openai"
    assert (settings.max_job_cost_usd, settings.min_votes, settings.poll_seconds, settings.port) == (50, 1, 30, 3000)
    assert settings.admins == frozenset()
    assert not settings.socket_mode


def test_admins_are_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TUNELOOP_ADMINS", " U1, U2 ,,")
    assert Settings(_env_file=None).admins == {"U1", "U2"}


def test_dotenv_is_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("TUNELOOP_MODEL=gpt-4.1-mini\nSLACK_APP_TOKEN=xapp-test\n")
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.model == "gpt-4.1-mini" and settings.socket_mode


def test_secrets_are_never_printed() -> None:
    settings = Settings(_env_file=None, SLACK_BOT_TOKEN="xoxb-secret-value", OPENAI_API_KEY="sk-secretvalue")
    assert "secret-value" not in repr(settings) and "secretvalue" not in str(settings.model_dump())


def test_socket_mode_does_not_need_a_signing_secret() -> None:
    settings = Settings(_env_file=None, SLACK_BOT_TOKEN="xoxb-1", OPENAI_API_KEY="sk-1", SLACK_APP_TOKEN="xapp-1")
    assert settings.missing(http=False) == []
    assert settings.missing(http=True) == ["SLACK_SIGNING_SECRET"]


def test_serve_with_settings_missing_names_them_all_and_exits_non_zero(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(REPO)}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    for name in REQUIRED:
        assert name in result.stderr
    assert "README" in result.stderr
    assert not (tmp_path / "tuneloop.db").exists()


def test_postgresql_needs_a_data_folder_and_keeps_its_password_secret(tmp_path: Path) -> None:
    url = "postgresql://tuneloop:hunter2@db.internal:5432/tuneloop"
    with pytest.raises(ValueError, match="TUNELOOP_DATA_DIR is required"):
        Settings(_env_file=None, TUNELOOP_DATABASE_URL=url)
    with pytest.raises(ValueError, match="postgresql://"):
        Settings(_env_file=None, TUNELOOP_DATABASE_URL="mysql://x/y", TUNELOOP_DATA_DIR=str(tmp_path))
    settings = Settings(_env_file=None, TUNELOOP_DATABASE_URL=url, TUNELOOP_DATA_DIR=str(tmp_path))
    assert settings.database == url and "hunter2" not in repr(settings)
    assert settings.data_home == tmp_path and settings.artifacts_root == str(tmp_path / "artifacts")
    sqlite = Settings(_env_file=None, TUNELOOP_DB=str(tmp_path / "x" / "t.db"))
    assert sqlite.database == str(tmp_path / "x" / "t.db") and sqlite.data_home == tmp_path / "x"
