"""The summary card, the list and show: what a Slack user reads, within Block Kit's limits."""

from __future__ import annotations

from pathlib import Path

from render import datasets as render
from tuning.training.datasets.specs import (
    DROP_REASONS,
    CostEstimate,
    DatasetFile,
    DatasetFilters,
    DatasetListing,
    DatasetSummary,
    TokenStats,
)


def summary(train: int = 120, validation: int = 14, **changes: object) -> DatasetSummary:
    values = dict(
        id=1,
        name="support",
        version=3,
        format="sft",
        filters=DatasetFilters(channel_id="C0HELP"),
        val=0.1,
        created_by="U0ALICE",
        created_at="2026-11-21T10:15:00.000Z",
        train=train,
        validation=validation,
        dropped={"duplicate": 4, "too_many_tokens": 1},
        token_model="gpt-4.1-mini-2025-04-14",
        encoding="o200k_base",
        tokens=TokenStats(total=40_200, train=36_000, median=290, p90=410, max=2_000),
        cost=CostEstimate(
            trainer="openai",
            model="gpt-4.1-mini-2025-04-14",
            epochs=3,
            billed_tokens=108_000,
            usd_per_million=5.0,
            usd=0.54,
            prices_checked="2026-11-21",
        ),
        files=[
            DatasetFile(split="train", path=Path("/d/train.jsonl"), sha256="a" * 64, lines=train),
            DatasetFile(split="validation", path=Path("/d/validation.jsonl"), sha256="b" * 64, lines=validation),
        ],
    )
    return DatasetSummary(**(values | changes))


def text_of(blocks: list) -> str:
    return str([block.to_dict() for block in blocks])


def test_card_shows_splits_tokens_epochs_cost_and_drops() -> None:
    blocks, fallback = render.summary_card(summary(), attached=True)
    shown = text_of(blocks)
    for fragment in (
        "Dataset support@3",
        "*134* SFT examples",
        "*120* train",
        "*14* validation",
        "median 290",
        "p90 410",
        "total 40,200",
        "*Default epochs*\\n3",
        "$0.54 (estimate)",
        "prices checked 2026-11-21",
        "gpt-4.1-mini-2025-04-14",
        DROP_REASONS["duplicate"] + ": 4",
        "channel <#C0HELP>",
        "<@U0ALICE>",
        "in this thread",
    ):
        assert fragment in shown, fragment
    assert "estimate" in fallback and "2026-11-21" in fallback and "120 train / 14 validation" in fallback
    assert ":warning:" not in shown


def test_warnings_for_small_datasets() -> None:
    few = text_of(render.summary_card(summary(train=8, validation=1))[0])
    assert "Fewer than 10 training examples: training will be refused." in few
    some = text_of(render.summary_card(summary(train=30, validation=3))[0])
    assert "Fewer than 50 training examples: gains are unlikely." in some and "refused" not in some
    none = text_of(render.summary_card(summary(validation=0))[0])
    assert "No validation split" in none


def test_an_unpriced_model_says_so() -> None:
    cost = CostEstimate(
        trainer="together",
        model="Qwen/Qwen2-7B",
        epochs=3,
        billed_tokens=1,
        usd_per_million=None,
        usd=None,
        prices_checked=None,
    )
    shown = text_of(render.summary_card(summary(cost=cost))[0])
    assert "unknown (estimate)" in shown and "no price known" in shown and "models.toml" in shown


def test_card_stays_within_block_kit_limits_whatever_the_input() -> None:
    huge = summary(
        dropped={f"reason_{i}" * 20: i for i in range(400)},
        created_by="x" * 5000,
        filters=DatasetFilters(channel_name="c" * 80),
    )
    for blocks in (render.summary_card(huge)[0], render.show_card(huge)[0]):
        assert len(blocks) <= 50
        for block in blocks:
            data = block.to_dict()
            texts = [data.get("text", {}).get("text", "")] + [e.get("text", "") for e in data.get("elements", [])]
            assert all(len(text) <= 3000 for text in texts)


def test_show_adds_checksums() -> None:
    shown = text_of(render.show_card(summary())[0])
    assert "`train.jsonl` 120 lines sha256 `aaaaaaaaaaaa…`" in shown


def test_list_groups_versions_by_name_and_caps_blocks() -> None:
    versions = [
        DatasetListing(
            name=f"set{n:03d}",
            version=v,
            format="sft",
            created_at="2026-11-2%dT00:00:00Z" % v,
            created_by=None,
            train=10 * v,
            validation=v,
        )
        for n in range(80)
        for v in (7, 6, 5, 4, 3, 2, 1)
    ]
    blocks, fallback = render.listing(versions)
    assert len(blocks) == 50
    shown = text_of(blocks)
    assert "*set000* (newest: `set000@7`, SFT)" in shown and "`@3` 30 train / 3 validation" in shown
    assert "`@2`" not in shown and "2 older versions" in shown and "and 32 more" in shown
    assert fallback.startswith("Datasets: set000@7, set001@7")


def test_empty_list_says_how_to_start() -> None:
    blocks, text = render.listing([])
    assert "/tune dataset build NAME" in text and len(blocks) == 1
