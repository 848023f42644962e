"""The values datasets are described with: what handlers, render and the CLI see."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Format = Literal["sft", "dpo", "kto"]
Split = Literal["train", "validation"]

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"

# The back-ends that train KTO (providers/selfhost_jobs.py); a dataset's cost estimate names its trainer.
SELF_HOSTED_TRAINERS = frozenset({"local", "ray"})

# OpenAI asks for at least 10 examples and reports clear gains from 50 to 100 (docs/providers.md).
MIN_TRAINING_EXAMPLES = 10
USEFUL_TRAINING_EXAMPLES = 50

# Every reason an example can be left out, in the order the build applies them, with a label.
DROP_REASONS: dict[str, str] = {
    "unreadable_conversation": "conversation is not valid JSON",
    "data_type": "line is not a JSON object",
    "missing_messages_list": "no list of messages",
    "message_missing_key": "a message lacks role or content",
    "message_unrecognized_key": "a message has an unknown key",
    "unrecognized_role": "a message has an unknown role",
    "missing_content": "a message has empty or non-text content",
    "example_missing_assistant_message": "no assistant message",
    "invalid_unicode": "text that is not valid Unicode",
    "missing_input": "DPO line without input messages",
    "bad_preferred_output": "DPO preferred output is not one assistant message",
    "bad_non_preferred_output": "DPO non-preferred output is not one assistant message",
    "identical_outputs": "preferred and non-preferred answers are the same",
    "too_many_tokens": "longer than the model's per-example training limit",
    "duplicate": "exact duplicate (whitespace and case ignored)",
    "near_duplicate": "same question as a better-supported answer",
    "no_preference_pair": "no rejected answer to pair with (DPO)",
}


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True)


class DatasetFilters(_Value):
    since: date | None = None
    channel_id: str | None = None
    channel_name: str | None = None

    def describe(self) -> str:
        parts = []
        if self.since:
            parts.append(f"since {self.since.isoformat()}")
        if self.channel_id or self.channel_name:
            parts.append(f"channel <#{self.channel_id}>" if self.channel_id else f"channel #{self.channel_name}")
        return ", ".join(parts) or "all approved examples"


class BuildRequest(_Value):
    name: str = Field(pattern=NAME_PATTERN)
    filters: DatasetFilters = DatasetFilters()
    format: Format = "sft"
    val: float = Field(0.1, ge=0, le=0.5)
    created_by: str | None = None


class TokenStats(_Value):
    """Per example, counted with the target model's encoding (OpenAI's chat accounting)."""

    total: int
    train: int
    median: int
    p90: int
    max: int


class CostEstimate(_Value):
    trainer: str
    model: str
    epochs: int
    billed_tokens: int
    usd_per_million: float | None
    usd: float | None
    prices_checked: str | None


class KtoLabels(_Value):
    """A KTO version's training examples by label, and the class weights its jobs train with.

    TRL's KTO docs: upweight the rarer kind so that desirable_weight × desirable / (undesirable_weight ×
    undesirable) lies between 1 and 4/3. The more common kind keeps weight 1; the rarer gets the weight that
    brings the ratio to 1 (both stay 1 when it is already in range)."""

    desirable: int
    undesirable: int
    desirable_weight: float
    undesirable_weight: float

    @classmethod
    def weighed(cls, desirable: int, undesirable: int) -> KtoLabels:
        ratio = desirable / undesirable if undesirable else 1.0
        desirable_weight = round(1 / ratio, 3) if desirable and ratio < 1 else 1.0
        undesirable_weight = round(ratio, 3) if ratio > 4 / 3 else 1.0
        return cls(
            desirable=desirable,
            undesirable=undesirable,
            desirable_weight=desirable_weight,
            undesirable_weight=undesirable_weight,
        )


class DatasetFile(_Value):
    split: Split
    path: Path
    sha256: str
    lines: int


class DatasetSummary(_Value):
    id: int
    name: str
    version: int
    format: Format
    filters: DatasetFilters
    val: float
    created_by: str | None
    created_at: str
    train: int
    validation: int
    dropped: dict[str, int]
    token_model: str
    encoding: str
    tokens: TokenStats
    cost: CostEstimate
    files: list[DatasetFile]
    kto: KtoLabels | None = None  # format kto only

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def examples(self) -> int:
        return self.train + self.validation

    @property
    def warnings(self) -> list[str]:
        notes = []
        if self.train < MIN_TRAINING_EXAMPLES:
            notes.append(f"Fewer than {MIN_TRAINING_EXAMPLES} training examples: training will be refused.")
        elif self.train < USEFUL_TRAINING_EXAMPLES:
            notes.append(f"Fewer than {USEFUL_TRAINING_EXAMPLES} training examples: gains are unlikely.")
        if self.validation == 0:
            notes.append("No validation split: evaluation needs one (use `val:` above 0 and 10+ examples).")
        if self.kto is not None and self.cost.trainer not in SELF_HOSTED_TRAINERS:
            notes.append(
                f"KTO trains only with `trainer:local` or `trainer:ray`: the cost shown is {self.cost.trainer}'s, "
                "which cannot train it."
            )
        if self.kto is not None and not (self.kto.desirable and self.kto.undesirable):
            notes.append(
                "KTO learns from both kinds: this version has only "
                f"{'desirable' if self.kto.desirable else 'undesirable'} answers in its training split."
            )
        if self.cost.usd is None:
            notes.append(f"No price is known for `{self.cost.model}`: add it to models.toml beside the database.")
        return notes


class DatasetListing(_Value):
    name: str
    version: int
    format: Format
    created_at: str
    created_by: str | None
    train: int
    validation: int
    erased: bool = False  # built with examples erased since (README, "Privacy"): rebuild it
