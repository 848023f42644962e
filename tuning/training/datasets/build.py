"""The streaming build: approved examples in, an immutable NAME@version out.

Runs in a worker thread on its own connection (sqlite3, or psycopg's sync API), inside one read snapshot:

1. inspect   every matching approved example, batch by batch (in worker processes when it pays):
             the data-preparation checks, exact token count, the per-example limit, dedupe keys
2. dedupe    in SQL: exact duplicates, then near-duplicates (best supported stays)
3. pair      DPO only: corrections pair with their original; 👍 answers with a 👎 sibling
4. write     survivors in id order to their split's staging file. SFT and KTO lines were made in step 1 and
             spilled, one file per split (the split is the id's hash): each split's file is its spill
             copied without the lines dedupe dropped. DPO lines are made here, once pairs are known
5. publish   version number, files moved into place and rows inserted, in one write transaction

An example dropped at one step is counted under that step's reason and not seen again.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import cast

from storage import datasets as rows
from storage.datasets import VersionFacts
from tuning.catalogue.entries import Catalogue
from tuning.errors import TuningError
from tuning.training.datasets.cost import estimate
from tuning.training.datasets.files import StagedSplits
from tuning.training.datasets.parallel import PARALLEL_MIN_EXAMPLES, Workers, worker_pool
from tuning.training.datasets.prepare import inspect_batch, render_batch
from tuning.training.datasets.quality import question_key
from tuning.training.datasets.records import stored_path, summary_from_row
from tuning.training.datasets.specs import DROP_REASONS, BuildRequest, DatasetSummary, KtoLabels, Split, TokenStats
from tuning.training.datasets.split import needs_forced_validation, split_point
from tuning.training.datasets.tally import TokenTally
from tuning.words import command

BATCH_SIZE = 2_000


@dataclass(frozen=True)
class BuildPlan:
    database: str  # the SQLite file or the postgresql:// URL
    home: Path  # stored paths are relative to it
    datasets_dir: Path
    request: BuildRequest  # its filters already name a channel id, not just a name
    trainer: str
    model: str
    catalogue: Catalogue  # the packaged one with the operator's overrides, read when the build began
    workers: int = 1
    batch_size: int = BATCH_SIZE
    min_votes: int = 1  # TUNELOOP_MIN_VOTES: a KTO build's 👎 margin that makes an answer undesirable

    @property
    def kto_min_votes(self) -> int | None:
        return self.min_votes if self.request.format == "kto" else None

    @property
    def limit(self) -> int:
        """Tokens one example may have: longer ones are truncated by the provider, so the build drops them."""
        return self.catalogue.facts(self.model).example_token_limit

    @property
    def encoding(self) -> str:
        return self.catalogue.facts(self.model).tokenizer

    @property
    def filter_args(self) -> dict[str, str | None]:
        filters = self.request.filters
        return {"since": filters.since.isoformat() if filters.since else None, "channel": filters.channel_id}


def build_dataset(plan: BuildPlan) -> DatasetSummary:
    conn = rows.connect(plan.database)
    staged = StagedSplits(plan.datasets_dir / plan.request.name)
    try:
        with rows.snapshot(conn):
            rows.create_work_tables(conn)
            matched = rows.count_approved(conn, **plan.filter_args, kto_min_votes=plan.kto_min_votes)
            if matched == 0:
                raise TuningError(
                    f"No {'approved or voted-down answers' if plan.kto_min_votes else 'approved examples'} match "
                    f"({plan.request.filters.describe()}). "
                    f"Approve some with {command('review')}, or widen the filters."
                )
            tally = TokenTally()
            with worker_pool(plan.workers if matched >= PARALLEL_MIN_EXAMPLES else 1) as workers:
                _inspect(conn, plan, workers, staged, tally)
                _dedupe(conn)
                if plan.request.format == "dpo":
                    _pair(conn, plan)
                    _write_dpo(conn, plan, workers, staged, tally)
                else:
                    _write_sft(conn, staged, tally)
            _ensure_validation(conn, plan, staged, tally)
        return _publish(conn, plan, staged, tally.stats())
    finally:
        staged.discard()
        conn.close()


def _inspect(conn: rows.BuildConn, plan: BuildPlan, workers: Workers, staged: StagedSplits, tally: TokenTally) -> None:
    """Workers get what they inspect (id and texts) and return the candidates as they are stored, with each
    split's SFT lines joined: one write per split per batch, and no per-example work in this thread. Dedupe
    takes back the few lines it drops (_write_sft)."""
    inspect = partial(inspect_batch, plan.request.format, plan.encoding, plan.limit, plan.request.val)
    dpo = plan.request.format == "dpo"
    batches = rows.approved_batches(
        conn, **plan.filter_args, size=plan.batch_size, questions=dpo, kto_min_votes=plan.kto_min_votes
    )
    for candidates, spilled in workers.map(inspect, batches):
        starts = {}
        for split, (block, tokens) in spilled.items():
            if tokens:
                starts[split] = staged.spill(cast(Split, split), block, len(tokens))
                tally.add_many(cast(Split, split), tokens)
        rows.add_candidates(conn, candidates, starts)


def _dedupe(conn: rows.BuildConn) -> None:
    rows.drop_all_but_best(conn, "exact", "duplicate")
    rows.drop_all_but_best(conn, "near", "near_duplicate")


def _pair(conn: rows.BuildConn, plan: BuildPlan) -> None:
    # Light work (one normalised question each), so it stays in this thread.
    for batch in rows.negative_batches(conn, channel=plan.request.filters.channel_id, size=plan.batch_size):
        rows.add_negatives(
            conn, [(i, channel, thread, question_key(text), down, at) for i, channel, thread, text, down, at in batch]
        )
    rows.pair_with_negatives(conn, "no_preference_pair")


def _write_sft(conn: rows.BuildConn, staged: StagedSplits, tally: TokenTally) -> None:
    """Each split's file is its spill without the lines dedupe dropped (their tokens leave the tally too);
    the members are derived in SQL at publish."""

    def dropped() -> Iterator[tuple[Split, int, int]]:
        for split, tokens, offset, length in rows.spilled_drops(conn):
            tally.remove(cast(Split, split), tokens)  # storage's column holds only 'train' or 'validation'
            yield cast(Split, split), offset, length

    staged.keep_spilled(dropped())


def _write_dpo(
    conn: rows.BuildConn, plan: BuildPlan, workers: Workers, staged: StagedSplits, tally: TokenTally
) -> None:
    render = partial(render_batch, plan.encoding, plan.limit)
    for rendered in workers.map(render, rows.survivor_batches(conn, size=plan.batch_size)):
        rows.drop_candidates(conn, [(reason, example_id) for example_id, _, reason, _, _ in rendered if reason])
        kept = [(example_id, split, tokens, raw) for example_id, split, reason, tokens, raw in rendered if not reason]
        rows.set_tokens(conn, [(tokens, example_id) for example_id, _, tokens, _ in kept])
        for _, split, tokens, raw in kept:
            staged.append(split, raw)
            tally.add(split, tokens)


def _ensure_validation(conn: rows.BuildConn, plan: BuildPlan, staged: StagedSplits, tally: TokenTally) -> None:
    """The at-least-one-validation rule (split.py): the train example with the lowest split point moves."""
    if not needs_forced_validation(staged.lines("train"), staged.lines("validation"), plan.request.val):
        return
    train = (row for batch in rows.survivor_ids(conn, "train", size=plan.batch_size) for row in batch)
    example_id, tokens = min(train, key=lambda row: split_point(row[0]))
    staged.move_train_line_to_validation(rows.move_to_validation(conn, example_id))
    tally.move(tokens, "train", "validation")


def _publish(conn: rows.BuildConn, plan: BuildPlan, staged: StagedSplits, tokens: TokenStats) -> DatasetSummary:
    staged.close()
    facts = _version_facts(conn, plan, staged, tokens)
    root = plan.home
    with rows.write_transaction(conn):
        version = rows.next_version(conn, plan.request.name)
        placed = staged.publish(plan.datasets_dir / plan.request.name / str(version))
        dataset_id = rows.insert_version(
            conn,
            facts,
            version=version,
            train_path=stored_path(placed["train"], root),
            validation_path=stored_path(placed["validation"], root),
        )
    return summary_from_row(rows.read_version(conn, dataset_id), root)


def _version_facts(conn: rows.BuildConn, plan: BuildPlan, staged: StagedSplits, tokens: TokenStats) -> VersionFacts:
    train, validation = staged.lines("train"), staged.lines("validation")
    cost = estimate(
        plan.catalogue, trainer=plan.trainer, model=plan.model, train_examples=train, train_tokens=tokens.train
    )
    request = plan.request
    return VersionFacts(
        name=request.name,
        format=request.format,
        filters=request.filters.model_dump_json(),
        val_fraction=request.val,
        created_by=request.created_by,
        train_count=train,
        validation_count=validation,
        dropped=_dropped_json(conn),
        token_model=plan.model,
        encoding=plan.encoding,
        tokens_total=tokens.total,
        tokens_train=tokens.train,
        tokens_median=tokens.median,
        tokens_p90=tokens.p90,
        tokens_max=tokens.max,
        train_sha256=staged.sha256("train"),
        validation_sha256=staged.sha256("validation"),
        default_epochs=cost.epochs,
        billed_tokens=cost.billed_tokens,
        cost_trainer=cost.trainer,
        cost_model=cost.model,
        usd_per_million=cost.usd_per_million,
        cost_usd=cost.usd,
        prices_checked=cost.prices_checked,
        kto_labels=_kto_labels(conn, plan),
    )


def _kto_labels(conn: rows.BuildConn, plan: BuildPlan) -> str | None:
    if plan.kto_min_votes is None:
        return None
    return KtoLabels.weighed(*rows.kto_label_counts(conn, plan.kto_min_votes)).model_dump_json()


def _dropped_json(conn: rows.BuildConn) -> str:
    counts = rows.dropped_counts(conn)
    ordered = {reason: counts[reason] for reason in DROP_REASONS if reason in counts}
    return json.dumps(ordered | {reason: n for reason, n in counts.items() if reason not in ordered})
