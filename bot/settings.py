"""Settings, read once from the environment and `.env` (see README, "Settings")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from render.assistant import DEFAULT_SUGGESTED_PROMPTS, MAX_PROMPTS
from tuning.catalogue import packaged_catalogue

DEFAULT_SYSTEM_PROMPT = (
    "You are Tuneloop, a helpful assistant in a team's Slack workspace. "
    "Answer clearly and concisely; say so when you are not sure."
)

# Where an operator gets each required value: shown when one is missing.
WHERE_TO_GET = {
    "SLACK_BOT_TOKEN": "Slack app settings > OAuth & Permissions > Bot User OAuth Token (xoxb-...)",
    "SLACK_SIGNING_SECRET": "Slack app settings > Basic Information > App Credentials > Signing Secret",
    "OPENAI_API_KEY": "https://platform.openai.com/api-keys (or your Azure OpenAI resource's key)",
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    slack_bot_token: SecretStr | None = Field(None, alias="SLACK_BOT_TOKEN")
    slack_signing_secret: SecretStr | None = Field(None, alias="SLACK_SIGNING_SECRET")
    slack_app_token: SecretStr | None = Field(None, alias="SLACK_APP_TOKEN")
    slack_api_url: str = Field("https://slack.com/api/", alias="SLACK_API_URL")
    openai_api_key: SecretStr | None = Field(None, alias="OPENAI_API_KEY")
    openai_base_url: str | None = Field(None, alias="OPENAI_BASE_URL")
    together_api_key: SecretStr | None = Field(None, alias="TOGETHER_API_KEY")
    together_base_url: str = Field("https://api.together.ai/v1", alias="TOGETHER_BASE_URL")
    # `<dir>/<org>/<model>/tokenizer.json`: exact token counts for open models (no hub downloads here).
    tokenizers_dir: Path | None = Field(None, alias="TUNELOOP_TOKENIZERS_DIR")
    # A Together endpoint Tuneloop creates stops itself after this many idle minutes (it bills while it runs).
    endpoint_idle_minutes: int = Field(60, alias="TUNELOOP_ENDPOINT_IDLE_MINUTES", ge=1, le=10_080)
    db_path: Path = Field(Path("./tuneloop.db"), alias="TUNELOOP_DB")
    model: str = Field(default_factory=lambda: packaged_catalogue().defaults["answering"], alias="TUNELOOP_MODEL")
    system_prompt: str = Field(DEFAULT_SYSTEM_PROMPT, alias="TUNELOOP_SYSTEM_PROMPT")
    admins: Annotated[frozenset[str], NoDecode] = Field(frozenset(), alias="TUNELOOP_ADMINS")
    trainer: str = Field("openai", alias="TUNELOOP_TRAINER", pattern="^(openai|together|local|ray)$")
    ray_address: str | None = Field(None, alias="TUNELOOP_RAY_ADDRESS")
    ray_token: SecretStr | None = Field(None, alias="TUNELOOP_RAY_TOKEN")
    artifacts: str | None = Field(None, alias="TUNELOOP_ARTIFACTS")
    serve_url: str | None = Field(None, alias="TUNELOOP_SERVE_URL")
    gpu_hour_usd: float = Field(0.0, alias="TUNELOOP_GPU_HOUR_USD", ge=0)
    max_job_cost_usd: float = Field(50.0, alias="TUNELOOP_MAX_JOB_COST_USD", ge=0)
    min_votes: int = Field(1, alias="TUNELOOP_MIN_VOTES", ge=1)
    # Team memory (README, "Team memory"): stricter than training, so unset means one 👍 more than min_votes.
    memory_min_votes: int | None = Field(None, alias="TUNELOOP_MEMORY_MIN_VOTES", ge=1)
    memory_examples: int = Field(3, alias="TUNELOOP_MEMORY_EXAMPLES", ge=1, le=10)
    memory_floor: float = Field(0.5, alias="TUNELOOP_MEMORY_FLOOR", gt=0, le=1)
    embedding_model: str | None = Field(None, alias="TUNELOOP_EMBEDDING_MODEL")
    embedding_base_url: str | None = Field(None, alias="TUNELOOP_EMBEDDING_BASE_URL")
    # A memory found by its embedding alone needs this cosine to the question (1.0: the same question).
    embedding_min_similarity: float = Field(0.3, alias="TUNELOOP_EMBEDDING_MIN_SIMILARITY", ge=0, le=1)
    poll_seconds: float = Field(30.0, alias="TUNELOOP_POLL_SECONDS", gt=0)
    judge_model: str = Field(default_factory=lambda: packaged_catalogue().defaults["judge"],
                             alias="TUNELOOP_JUDGE_MODEL")
    announce_channel: str | None = Field(None, alias="TUNELOOP_ANNOUNCE_CHANNEL", pattern="^[CG][A-Z0-9]+$")
    lifecycle_poll_seconds: float = Field(600.0, alias="TUNELOOP_LIFECYCLE_POLL_SECONDS", gt=0)
    suggested_prompts: Annotated[tuple[str, ...], NoDecode] = Field(
        DEFAULT_SUGGESTED_PROMPTS, alias="TUNELOOP_SUGGESTED_PROMPTS")
    port: int = Field(3000, validation_alias=AliasChoices("PORT"), ge=1, le=65535)
    health_port: int | None = Field(None, alias="TUNELOOP_HEALTH_PORT", ge=0, le=65535)  # Socket Mode's /healthz
    inbox_days: int = Field(7, alias="TUNELOOP_INBOX_DAYS", ge=1)  # processed events kept this long
    message_days: int = Field(30, alias="TUNELOOP_MESSAGE_DAYS", ge=1)  # message text that never became an example
    ready_max_backlog: int = Field(1000, alias="TUNELOOP_READY_MAX_BACKLOG", ge=0)

    @field_validator("admins", mode="before")
    @classmethod
    def _split_admins(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value

    @field_validator("suggested_prompts", mode="before")
    @classmethod
    def _split_prompts(cls, value: object) -> object:
        """`|` between prompts, at most four (the AI pane shows no more)."""
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split("|") if part.strip())
        if isinstance(value, tuple | list) and not 0 < len(value) <= MAX_PROMPTS:
            raise ValueError(f"give 1 to {MAX_PROMPTS} prompts, separated by |")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @property
    def artifacts_root(self) -> str:
        """TUNELOOP_ARTIFACTS, else `artifacts/` beside the database."""
        return self.artifacts or str(self.db_path.parent / "artifacts")

    @property
    def memory_votes(self) -> int:
        return self.memory_min_votes or self.min_votes + 1

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    def missing(self, *, http: bool) -> list[str]:
        """Names of the required variables that are unset for this way of serving."""
        required = {"SLACK_BOT_TOKEN": self.slack_bot_token, "OPENAI_API_KEY": self.openai_api_key}
        if http:
            required["SLACK_SIGNING_SECRET"] = self.slack_signing_secret
        return [name for name, value in required.items() if value is None or not value.get_secret_value()]


def missing_settings_message(names: list[str]) -> str:
    lines = ["Tuneloop cannot start: these settings are missing."]
    lines += [f"  {name}: {WHERE_TO_GET[name]}" for name in names]
    if "SLACK_SIGNING_SECRET" in names:
        lines.append("  (or set SLACK_APP_TOKEN, an app-level xapp- token, to use Socket Mode: it needs no signing secret)")
    lines.append("Set them in the environment or in a .env file; the README's 'Settings' section lists them all.")
    return "\n".join(lines)
