"""Settings, read once from the environment and `.env` (see README, "Settings")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from providers.registry import known_specs, spec_named
from providers.spec import is_set
from render.assistant import DEFAULT_SUGGESTED_PROMPTS, MAX_PROMPTS
from tuning.catalogue.entries import packaged_catalogue

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
    # postgresql://user:password@host/db: PostgreSQL instead of the SQLite file (replicas need it).
    database_url: SecretStr | None = Field(None, alias="TUNELOOP_DATABASE_URL")
    # What lives beside the SQLite file (datasets, the operator's models.toml, artifacts' default): required
    # with PostgreSQL, shared by every replica (a volume all hosts mount).
    data_dir: Path | None = Field(None, alias="TUNELOOP_DATA_DIR")
    model: str = Field(default_factory=lambda: packaged_catalogue().defaults["answering"], alias="TUNELOOP_MODEL")
    system_prompt: str = Field(DEFAULT_SYSTEM_PROMPT, alias="TUNELOOP_SYSTEM_PROMPT")
    admins: Annotated[frozenset[str], NoDecode] = Field(frozenset(), alias="TUNELOOP_ADMINS")
    trainer: str = Field("openai", alias="TUNELOOP_TRAINER")  # one of providers/registry.py's back-ends
    ray_address: str | None = Field(None, alias="TUNELOOP_RAY_ADDRESS")
    ray_token: SecretStr | None = Field(None, alias="TUNELOOP_RAY_TOKEN")
    # Ray as clusters run it: the job's runtime environment (a JSON object, e.g. {"env_vars": {"HF_TOKEN": "…"},
    # "pip": […]}), the workers' Python (one with `tuneloop[train]`), and GPUs per job (0 on a CPU-only cluster;
    # also the local trainer's: 0 trains on the CPU); the local and ray specs declare them.
    ray_runtime_env: Annotated[dict[str, Any] | None, NoDecode] = Field(None, alias="TUNELOOP_RAY_RUNTIME_ENV")
    ray_python: str = Field("python", alias="TUNELOOP_RAY_PYTHON", min_length=1)
    gpus_per_job: float = Field(1, alias="TUNELOOP_GPUS_PER_JOB", ge=0)
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
    judge_model: str = Field(
        default_factory=lambda: packaged_catalogue().defaults["judge"], alias="TUNELOOP_JUDGE_MODEL"
    )
    announce_channel: str | None = Field(None, alias="TUNELOOP_ANNOUNCE_CHANNEL", pattern="^[CG][A-Z0-9]+$")
    lifecycle_poll_seconds: float = Field(600.0, alias="TUNELOOP_LIFECYCLE_POLL_SECONDS", gt=0)
    suggested_prompts: Annotated[tuple[str, ...], NoDecode] = Field(
        DEFAULT_SUGGESTED_PROMPTS, alias="TUNELOOP_SUGGESTED_PROMPTS"
    )
    port: int = Field(3000, validation_alias=AliasChoices("PORT"), ge=1, le=65535)
    health_port: int | None = Field(None, alias="TUNELOOP_HEALTH_PORT", ge=0, le=65535)  # Socket Mode's /healthz
    inbox_days: int = Field(7, alias="TUNELOOP_INBOX_DAYS", ge=1)  # processed events kept this long
    message_days: int = Field(30, alias="TUNELOOP_MESSAGE_DAYS", ge=1)  # message text that never became an example
    ready_max_backlog: int = Field(1000, alias="TUNELOOP_READY_MAX_BACKLOG", ge=0)
    # Quality alerts (tuning/release/quality.py): the last N rated answers against the M before them; failures above
    # a share of the last N answers; checked this often.
    quality_recent: int = Field(50, alias="TUNELOOP_QUALITY_RECENT", ge=10)
    quality_baseline: int = Field(200, alias="TUNELOOP_QUALITY_BASELINE", ge=10)
    quality_min_rated: int = Field(20, alias="TUNELOOP_QUALITY_MIN_RATED", ge=5)
    failure_alert_rate: float = Field(0.05, alias="TUNELOOP_FAILURE_ALERT_RATE", gt=0, lt=1)
    quality_check_seconds: float = Field(600.0, alias="TUNELOOP_QUALITY_CHECK_SECONDS", gt=0)

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

    @field_validator("ray_runtime_env", mode="before")
    @classmethod
    def _runtime_env_json(cls, value: object) -> object:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else None
            except ValueError as error:
                raise ValueError(
                    f'must be a JSON object, such as {{"env_vars": {{"HF_TOKEN": "…"}}}} ({error})'
                ) from None
        if value is not None and not isinstance(value, dict):
            raise ValueError("must be a JSON object (Ray's runtime_env: env_vars, pip, working_dir, …)")
        return value

    @field_validator("artifacts")
    @classmethod
    def _local_artifacts(cls, value: str | None) -> str | None:
        if value is not None and "://" in value and not value.startswith("file://"):
            raise ValueError(
                "must be a folder (a shared mount for Ray and the model server): object stores such as "
                "s3:// are not supported"
            )
        return value

    @field_validator("trainer")
    @classmethod
    def _known_trainer(cls, value: str) -> str:
        names = [spec.name for spec in known_specs()]
        if value not in names:
            raise ValueError(f"no trainer back-end `{value}`; known: {', '.join(names)}")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url")
    @classmethod
    def _postgresql_only(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("give a postgresql:// URL (unset it to use the SQLite file in TUNELOOP_DB)")
        return value

    @model_validator(mode="after")
    def _data_dir_with_postgresql(self) -> Settings:
        if self.database_url is not None and self.data_dir is None:
            raise ValueError(
                "TUNELOOP_DATA_DIR is required with TUNELOOP_DATABASE_URL: the folder (shared by every"
                " replica) for datasets, models.toml and artifacts, which otherwise live beside the"
                " SQLite file"
            )
        return self

    @property
    def database(self) -> str:
        """What open_database takes: the PostgreSQL URL when one is set, else the SQLite file."""
        return self.database_url.get_secret_value() if self.database_url else str(self.db_path)

    @property
    def data_home(self) -> Path:
        """TUNELOOP_DATA_DIR, else the SQLite file's folder."""
        return self.data_dir if self.data_dir is not None else self.db_path.parent

    @property
    def artifacts_root(self) -> str:
        """TUNELOOP_ARTIFACTS, else `artifacts/` in the data folder (beside the SQLite file by default)."""
        return str(Path(self.artifacts or self.data_home / "artifacts").expanduser().resolve())

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
        missing = [name for name, value in required.items() if value is None or not value.get_secret_value()]
        values = self.values()
        trainer = spec_named(self.trainer)
        return missing + [name for name in (trainer.required if trainer else ()) if not is_set(values.get(name))]

    def values(self) -> dict[str, object]:
        """Every setting by its environment name (what back-end specs declare they read)."""
        return {str(info.alias or name): getattr(self, name) for name, info in type(self).model_fields.items()}


def missing_settings_message(names: list[str]) -> str:
    lines = ["Tuneloop cannot start: these settings are missing."]
    lines += [f"  {name}: {WHERE_TO_GET.get(name) or _trainer_hint(name)}" for name in names]
    if "SLACK_SIGNING_SECRET" in names:
        lines.append(
            "  (or set SLACK_APP_TOKEN, an app-level xapp- token, to use Socket Mode: it needs no signing secret)"
        )
    lines.append("Set them in the environment or in a .env file; the README's 'Settings' section lists them all.")
    return "\n".join(lines)


def _trainer_hint(name: str) -> str:
    """For a setting the default back-end (TUNELOOP_TRAINER) requires: that back-end's own hint."""
    spec = next((spec for spec in known_specs() if name in spec.required), None)
    return f"TUNELOOP_TRAINER={spec.name}: {spec.hint}" if spec else "see the README's 'Settings'"
