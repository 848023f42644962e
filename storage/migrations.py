"""Append-only, named migrations: the only place the schema is defined.

Never edit or reorder an entry once it has landed; add a new one.
"""

from __future__ import annotations

from storage.db import Database
from storage.dialect import Dialect

_NOW = "(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))"

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_inbox",
        f"""
        -- Every Slack event is written here before Slack gets its 200, then processed.
        CREATE TABLE inbox (
            id            INTEGER PRIMARY KEY,
            event_id      TEXT NOT NULL UNIQUE,
            event_type    TEXT NOT NULL,
            body          TEXT NOT NULL,
            received_at   TEXT NOT NULL DEFAULT {_NOW},
            processed_at  TEXT,
            attempts      INTEGER NOT NULL DEFAULT 0,
            error         TEXT
        );
        CREATE INDEX inbox_pending ON inbox (id) WHERE processed_at IS NULL;
        """,
    ),
    (
        "0002_messages_and_answers",
        f"""
        CREATE TABLE answers (
            id                INTEGER PRIMARY KEY,
            team_id           TEXT,
            channel           TEXT NOT NULL,
            thread_ts         TEXT NOT NULL,
            question_ts       TEXT NOT NULL,
            asked_by          TEXT NOT NULL,
            answer_ts         TEXT,
            model             TEXT NOT NULL,
            request_messages  TEXT,
            answer_text       TEXT,
            prompt_tokens     INTEGER,
            completion_tokens INTEGER,
            latency_ms        INTEGER,
            status            TEXT NOT NULL DEFAULT 'pending'
                              CHECK (status IN ('pending', 'answered', 'failed')),
            error             TEXT,
            created_at        TEXT NOT NULL DEFAULT {_NOW},
            finished_at       TEXT,
            UNIQUE (channel, question_ts)
        );
        CREATE INDEX answers_thread ON answers (channel, thread_ts);

        -- Slack's ts is unique only within a channel.
        CREATE TABLE messages (
            channel     TEXT NOT NULL,
            ts          TEXT NOT NULL,
            team_id     TEXT,
            thread_ts   TEXT,
            user_id     TEXT,
            is_bot      INTEGER NOT NULL DEFAULT 0,
            text        TEXT NOT NULL,
            answer_id   INTEGER REFERENCES answers (id),
            created_at  TEXT NOT NULL DEFAULT {_NOW},
            PRIMARY KEY (channel, ts)
        );
        CREATE INDEX messages_thread ON messages (channel, thread_ts);
        CREATE INDEX messages_answer ON messages (answer_id) WHERE answer_id IS NOT NULL;
        """,
    ),
    (
        "0003_capture",
        f"""
        -- Reactions as an event log: replays, retries and out-of-order delivery all converge.
        CREATE TABLE reaction_events (
            channel    TEXT NOT NULL,
            ts         TEXT NOT NULL,
            voter      TEXT NOT NULL,
            reaction   TEXT NOT NULL,
            direction  INTEGER NOT NULL CHECK (direction IN (1, -1)),
            added      INTEGER NOT NULL CHECK (added IN (0, 1)),
            event_ts   TEXT NOT NULL,
            PRIMARY KEY (channel, ts, voter, reaction, event_ts, added)
        ) WITHOUT ROWID;

        -- One vote per person per message: the direction of their newest reaction still present.
        CREATE VIEW votes AS
        SELECT channel, ts, voter, direction FROM (
            SELECT channel, ts, voter, direction,
                   row_number() OVER (PARTITION BY channel, ts, voter ORDER BY event_ts DESC) AS pick
            FROM (
                SELECT channel, ts, voter, direction, added, event_ts,
                       row_number() OVER (PARTITION BY channel, ts, voter, reaction
                                          ORDER BY event_ts DESC, added ASC) AS newest
                FROM reaction_events
            )
            WHERE newest = 1 AND added = 1
        )
        WHERE pick = 1;

        CREATE TABLE examples (
            id            INTEGER PRIMARY KEY,
            source        TEXT NOT NULL CHECK (source IN ('bot_answer', 'teammate_answer', 'correction')),
            state         TEXT NOT NULL DEFAULT 'candidate' CHECK (state IN ('candidate', 'approved', 'rejected')),
            team_id       TEXT,
            channel       TEXT NOT NULL,
            thread_ts     TEXT,
            message_ts    TEXT NOT NULL,
            author        TEXT,
            answer_id     INTEGER REFERENCES answers (id),
            model         TEXT,
            conversation  TEXT NOT NULL,
            question      TEXT NOT NULL,
            answer        TEXT NOT NULL,
            corrected     TEXT,
            up_votes      INTEGER NOT NULL DEFAULT 0,
            down_votes    INTEGER NOT NULL DEFAULT 0,
            decided_by    TEXT,
            created_at    TEXT NOT NULL DEFAULT {_NOW},
            updated_at    TEXT NOT NULL DEFAULT {_NOW},
            UNIQUE (channel, message_ts)
        );
        CREATE INDEX examples_state ON examples (state, id);

        CREATE TABLE corrections (
            id           INTEGER PRIMARY KEY,
            example_id   INTEGER NOT NULL REFERENCES examples (id),
            corrector    TEXT NOT NULL,
            text         TEXT NOT NULL,
            created_at   TEXT NOT NULL DEFAULT {_NOW},
            replaced_at  TEXT
        );
        CREATE INDEX corrections_example ON corrections (example_id, id);

        -- Who changed an example's state or answer, and when.
        CREATE TABLE example_events (
            id          INTEGER PRIMARY KEY,
            example_id  INTEGER NOT NULL REFERENCES examples (id),
            action      TEXT NOT NULL,
            actor       TEXT,
            state       TEXT NOT NULL,
            at          TEXT NOT NULL DEFAULT {_NOW}
        );
        CREATE INDEX example_events_example ON example_events (example_id, id);

        -- Workspace members, so their names can be scrubbed from training data.
        CREATE TABLE members (
            user_id       TEXT PRIMARY KEY,
            name          TEXT NOT NULL DEFAULT '',
            real_name     TEXT NOT NULL DEFAULT '',
            display_name  TEXT NOT NULL DEFAULT '',
            refreshed_at  TEXT NOT NULL DEFAULT {_NOW}
        );
        """,
    ),
    (
        "0004_datasets",
        f"""
        -- One row per immutable dataset version (NAME@version); rows are only ever inserted.
        CREATE TABLE dataset_versions (
            id                 INTEGER PRIMARY KEY,
            name               TEXT NOT NULL,
            version            INTEGER NOT NULL CHECK (version >= 1),
            format             TEXT NOT NULL CHECK (format IN ('sft', 'dpo')),
            filters            TEXT NOT NULL,
            val_fraction       REAL NOT NULL,
            created_by         TEXT,
            created_at         TEXT NOT NULL DEFAULT {_NOW},
            train_count        INTEGER NOT NULL,
            validation_count   INTEGER NOT NULL,
            dropped            TEXT NOT NULL,
            token_model        TEXT NOT NULL,
            encoding           TEXT NOT NULL,
            tokens_total       INTEGER NOT NULL,
            tokens_train       INTEGER NOT NULL,
            tokens_median      INTEGER NOT NULL,
            tokens_p90         INTEGER NOT NULL,
            tokens_max         INTEGER NOT NULL,
            train_path         TEXT NOT NULL,
            train_sha256       TEXT NOT NULL,
            validation_path    TEXT NOT NULL,
            validation_sha256  TEXT NOT NULL,
            default_epochs     INTEGER NOT NULL,
            billed_tokens      INTEGER NOT NULL,
            cost_trainer       TEXT NOT NULL,
            cost_model         TEXT NOT NULL,
            usd_per_million    REAL,
            cost_usd           REAL,
            prices_checked     TEXT,
            UNIQUE (name, version)
        );

        -- Which example became which line of which split; rejected_id is the 👎 answer of a DPO vote pair.
        CREATE TABLE dataset_members (
            dataset_id   INTEGER NOT NULL REFERENCES dataset_versions (id),
            example_id   INTEGER NOT NULL REFERENCES examples (id),
            split        TEXT NOT NULL CHECK (split IN ('train', 'validation')),
            line         INTEGER NOT NULL,
            rejected_id  INTEGER REFERENCES examples (id),
            tokens       INTEGER NOT NULL,
            PRIMARY KEY (dataset_id, example_id)
        ) WITHOUT ROWID;
        CREATE INDEX dataset_members_line ON dataset_members (dataset_id, split, line);
        """,
    ),
    (
        "0005_jobs",
        f"""
        -- A fine-tuning job from its pre-flight card to its end. id is Tuneloop's own short id.
        CREATE TABLE jobs (
            id                TEXT PRIMARY KEY,
            dataset_id        INTEGER NOT NULL REFERENCES dataset_versions (id),
            dataset           TEXT NOT NULL,
            trainer           TEXT NOT NULL,
            base_model        TEXT NOT NULL,
            method            TEXT NOT NULL CHECK (method IN ('sft', 'dpo')),
            options           TEXT NOT NULL,
            examples          INTEGER NOT NULL,
            tokens            INTEGER NOT NULL,
            epochs            INTEGER NOT NULL,
            estimated_cost    REAL,
            state             TEXT NOT NULL CHECK (state IN ('preflight', 'dismissed', 'starting', 'pending',
                              'running', 'cancelling', 'succeeded', 'failed', 'cancelled')),
            raw_status        TEXT,
            provider_job_id   TEXT,
            fine_tuned_model  TEXT,
            trained_tokens    INTEGER,
            error_code        TEXT,
            error_message     TEXT,
            channel           TEXT NOT NULL,
            card_ts           TEXT,
            requested_by      TEXT NOT NULL,
            started_by        TEXT,
            cancelled_by      TEXT,
            event_cursor      TEXT,
            step              INTEGER,
            total_steps       INTEGER,
            epoch             REAL,
            train_loss        REAL,
            valid_loss        REAL,
            finish_posted     INTEGER NOT NULL DEFAULT 0,
            created_at        TEXT NOT NULL DEFAULT {_NOW},
            started_at        TEXT,
            finished_at       TEXT,
            UNIQUE (trainer, provider_job_id)
        );
        CREATE INDEX jobs_active ON jobs (state) WHERE state IN ('starting', 'pending', 'running', 'cancelling');

        CREATE TABLE job_metrics (
            job_id          TEXT NOT NULL REFERENCES jobs (id),
            step            INTEGER NOT NULL,
            total_steps     INTEGER,
            epoch           REAL,
            train_loss      REAL,
            valid_loss      REAL,
            token_accuracy  REAL,
            PRIMARY KEY (job_id, step)
        ) WITHOUT ROWID;

        -- Provider events; `posted` once they are in the card's thread, so a restart posts none twice.
        CREATE TABLE job_events (
            job_id      TEXT NOT NULL REFERENCES jobs (id),
            event_id    TEXT NOT NULL,
            created_at  TEXT NOT NULL,
            level       TEXT NOT NULL,
            message     TEXT NOT NULL,
            posted      INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (job_id, event_id)
        ) WITHOUT ROWID;
        """,
    ),
    (
        "0006_evaluations_and_models",
        f"""
        CREATE TABLE evaluations (
            id            INTEGER PRIMARY KEY,
            candidate     TEXT NOT NULL,
            baseline      TEXT,
            judge         TEXT,
            dataset       TEXT NOT NULL,
            job_id        TEXT REFERENCES jobs (id),
            state         TEXT NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
            items         INTEGER NOT NULL DEFAULT 0,
            summary       TEXT,
            error         TEXT,
            channel       TEXT,
            requested_by  TEXT,
            created_at    TEXT NOT NULL DEFAULT {_NOW},
            finished_at   TEXT
        );

        CREATE TABLE evaluation_items (
            evaluation_id  INTEGER NOT NULL REFERENCES evaluations (id),
            item_id        TEXT NOT NULL,
            result         TEXT NOT NULL,
            PRIMARY KEY (evaluation_id, item_id)
        ) WITHOUT ROWID;

        -- The answering model's history: a promotion pushes a model, a rollback pops back to the one before.
        CREATE TABLE model_changes (
            id             INTEGER PRIMARY KEY,
            action         TEXT NOT NULL CHECK (action IN ('promote', 'rollback')),
            model          TEXT NOT NULL,
            job_id         TEXT REFERENCES jobs (id),
            evaluation_id  INTEGER REFERENCES evaluations (id),
            changed_by     TEXT NOT NULL,
            created_at     TEXT NOT NULL DEFAULT {_NOW}
        );
        """,
    ),
    (
        "0007_members_in_id_order",
        """
        -- A split's lines are in example-id order (the build writes them so), so an example's line is its
        -- rank by id in its split. Storing the number cost every build a window, a second index and
        -- out-of-order inserts: 0.4 s per 100,000 examples, while it held the write lock.
        CREATE TABLE dataset_members_by_id (
            dataset_id   INTEGER NOT NULL REFERENCES dataset_versions (id),
            example_id   INTEGER NOT NULL REFERENCES examples (id),
            split        TEXT NOT NULL CHECK (split IN ('train', 'validation')),
            rejected_id  INTEGER REFERENCES examples (id),
            tokens       INTEGER NOT NULL,
            PRIMARY KEY (dataset_id, example_id)
        ) WITHOUT ROWID;
        INSERT INTO dataset_members_by_id (dataset_id, example_id, split, rejected_id, tokens)
            SELECT dataset_id, example_id, split, rejected_id, tokens FROM dataset_members;
        DROP TABLE dataset_members;
        ALTER TABLE dataset_members_by_id RENAME TO dataset_members;
        """,
    ),
    (
        "0008_model_lifecycle",
        f"""
        -- A fallback (the answering model is gone at its provider) pops the stack like a rollback; a forced
        -- promotion keeps who forced it and why; `channel` is where the change was announced.
        CREATE TABLE model_changes_v2 (
            id             INTEGER PRIMARY KEY,
            action         TEXT NOT NULL CHECK (action IN ('promote', 'rollback', 'fallback')),
            model          TEXT NOT NULL,
            job_id         TEXT REFERENCES jobs (id),
            evaluation_id  INTEGER REFERENCES evaluations (id),
            changed_by     TEXT NOT NULL,
            created_at     TEXT NOT NULL DEFAULT {_NOW},
            forced         INTEGER NOT NULL DEFAULT 0 CHECK (forced IN (0, 1)),
            reason         TEXT,
            channel        TEXT
        );
        INSERT INTO model_changes_v2 (id, action, model, job_id, evaluation_id, changed_by, created_at)
            SELECT id, action, model, job_id, evaluation_id, changed_by, created_at FROM model_changes;
        DROP TABLE model_changes;
        ALTER TABLE model_changes_v2 RENAME TO model_changes;

        -- A canary answers a share of new threads with a candidate; at most one runs (stopped_at IS NULL).
        CREATE TABLE canaries (
            id          INTEGER PRIMARY KEY,
            model       TEXT NOT NULL,
            share       REAL NOT NULL CHECK (share > 0 AND share < 1),
            started_by  TEXT NOT NULL,
            started_at  TEXT NOT NULL DEFAULT {_NOW},
            stopped_by  TEXT,
            stopped_at  TEXT,
            outcome     TEXT CHECK (outcome IN ('promoted', 'stopped'))
        );
        CREATE UNIQUE INDEX canaries_one_running ON canaries (coalesce(stopped_at, 1)) WHERE stopped_at IS NULL;

        -- Lifecycle notices already sent (shutdown warnings, fallback announcements, daily canary cards).
        CREATE TABLE lifecycle_notices (
            key         TEXT PRIMARY KEY,
            sent_at     TEXT NOT NULL DEFAULT {_NOW}
        ) WITHOUT ROWID;

        -- A migration: the answering model retrained on another back-end, then evaluated against it.
        CREATE TABLE model_migrations (
            id             INTEGER PRIMARY KEY,
            source_model   TEXT NOT NULL,
            source_job_id  TEXT REFERENCES jobs (id),
            job_id         TEXT NOT NULL UNIQUE REFERENCES jobs (id),
            hyperparameters TEXT NOT NULL,
            evaluation_id  INTEGER REFERENCES evaluations (id),
            gate           TEXT,
            decision       TEXT,
            channel        TEXT NOT NULL,
            card_ts        TEXT,
            requested_by   TEXT NOT NULL,
            created_at     TEXT NOT NULL DEFAULT {_NOW}
        );
        """,
    ),
    (
        "0009_feedback_buttons_and_streaming",
        f"""
        -- A click on an answer's 👍/👎 feedback buttons is one more event in the vote log (reaction
        -- 'feedback_buttons', always added: Slack sends no "deselected"), so the votes view keeps one
        -- vote per person per answer across reactions and clicks, the newest winning.
        ALTER TABLE reaction_events ADD COLUMN source TEXT NOT NULL DEFAULT 'reaction'
            CHECK (source IN ('reaction', 'button'));

        -- Channels where Slack refused chat.startStream: answered by placeholder-and-edit from then on.
        CREATE TABLE streaming_refused (
            channel     TEXT PRIMARY KEY,
            error       TEXT NOT NULL,
            refused_at  TEXT NOT NULL DEFAULT {_NOW}
        ) WITHOUT ROWID;
        """,
    ),
    (
        "0010_job_estimate_notes",
        """
        -- Where a job's numbers came from, shown beside them on its card: "estimated by Together" or
        -- "estimate, prices checked …"; "counted with the model's tokenizer" or "estimate: OpenAI's tokenizer".
        ALTER TABLE jobs ADD COLUMN cost_note TEXT;
        ALTER TABLE jobs ADD COLUMN tokens_note TEXT;
        """,
    ),
    (
        "0011_endpoints",
        f"""
        -- Dedicated endpoints Tuneloop created for tuned models (Together serves a tuned model only there).
        -- `name` is what inference takes as the model; `id` is what management takes.
        CREATE TABLE endpoints (
            id               TEXT PRIMARY KEY,
            name             TEXT NOT NULL UNIQUE,
            model            TEXT NOT NULL,
            job_id           TEXT REFERENCES jobs (id),
            hardware         TEXT NOT NULL,
            usd_per_hour     REAL,
            state            TEXT NOT NULL,
            inactive_timeout INTEGER,
            channel          TEXT,
            thread_ts        TEXT,
            ready_posted     INTEGER NOT NULL DEFAULT 0,
            created_by       TEXT NOT NULL,
            created_at       TEXT NOT NULL DEFAULT {_NOW},
            updated_at       TEXT NOT NULL DEFAULT {_NOW}
        );
        CREATE INDEX endpoints_by_job ON endpoints (job_id);
        """,
    ),
    (
        "0012_writer_lease",
        """
        -- The one process serving from this file (storage/lease.py); times are Unix seconds.
        CREATE TABLE writer_lease (
            id          INTEGER PRIMARY KEY CHECK (id = 1),
            token       TEXT NOT NULL,
            pid         INTEGER NOT NULL,
            host        TEXT NOT NULL,
            started_at  REAL NOT NULL,
            expires_at  REAL NOT NULL
        );
        """,
    ),
    (
        "0013_erasure",
        f"""
        -- Dataset versions built with examples erased since (storage/retention.py): shown as needing a rebuild.
        CREATE TABLE erased_from_datasets (
            dataset_id  INTEGER PRIMARY KEY REFERENCES dataset_versions (id),
            reason      TEXT NOT NULL,
            at          TEXT NOT NULL DEFAULT {_NOW}
        );
        -- Retention prunes by age: these keep it from reading whole tables.
        CREATE INDEX inbox_processed ON inbox (processed_at) WHERE processed_at IS NOT NULL;
        CREATE INDEX messages_user ON messages (user_id);
        """,
    ),
    (
        "0014_memory",
        f"""
        -- Team memory (storage/memory.py): the approved examples an answer may draw on, kept in step with
        -- `examples` in the same transactions. `answer` is the corrected text when there is one.
        CREATE TABLE memory_items (
            example_id       INTEGER PRIMARY KEY REFERENCES examples (id),
            channel          TEXT NOT NULL,
            thread_ts        TEXT,
            message_ts       TEXT NOT NULL,
            question         TEXT NOT NULL,
            answer           TEXT NOT NULL,
            embedding_model  TEXT,
            embedding        BLOB,
            indexed_at       TEXT NOT NULL DEFAULT {_NOW}
        );
        CREATE INDEX memory_items_channel ON memory_items (channel);
        -- SQLite-only: the BM25 index over memory_items (external content: it holds no copy of the text).
        CREATE VIRTUAL TABLE memory_fts USING fts5(
            question, answer, content='memory_items', content_rowid='example_id',
            tokenize='porter unicode61 remove_diacritics 2'
        );
        -- One row: the votes a memory needs (TUNELOOP_MEMORY_MIN_VOTES, written at start-up), the workspace's
        -- switch, and a counter bumped by every change so a process can tell its cached embeddings are stale.
        CREATE TABLE memory_config (
            id          INTEGER PRIMARY KEY CHECK (id = 1),
            min_votes   INTEGER NOT NULL DEFAULT 2,
            enabled     INTEGER NOT NULL DEFAULT 1,
            generation  INTEGER NOT NULL DEFAULT 0
        );
        INSERT INTO memory_config (id) VALUES (1);
        -- What Slack says a channel is (public, private, shared with another organisation, dm), and an
        -- admin's per-channel switch (NULL: follow the workspace's).
        CREATE TABLE memory_channels (
            channel     TEXT PRIMARY KEY,
            kind        TEXT CHECK (kind IN ('public', 'private', 'shared', 'dm')),
            enabled     INTEGER,
            checked_at  TEXT NOT NULL DEFAULT {_NOW}
        );
        -- Which memories each answer was given, best first.
        CREATE TABLE answer_memory (
            answer_id   INTEGER NOT NULL REFERENCES answers (id),
            example_id  INTEGER NOT NULL REFERENCES examples (id),
            rank        INTEGER NOT NULL,
            score       REAL NOT NULL,
            PRIMARY KEY (answer_id, example_id)
        );
        CREATE INDEX answer_memory_example ON answer_memory (example_id);
        """,
    ),
    (
        "0015_answer_traces",
        """
        -- Where each answer's OpenTelemetry trace is (32 and 16 hex digits), so a vote days later joins it.
        ALTER TABLE answers ADD COLUMN trace_id TEXT;
        ALTER TABLE answers ADD COLUMN span_id TEXT;
        """,
    ),
    (
        "0016_job_run_facts",
        """
        -- Self-hosted jobs, once finished: the GPU-hours the run held (shown beside the estimate), and why the
        -- model server cannot load the adapter when it cannot.
        ALTER TABLE jobs ADD COLUMN gpu_hours REAL;
        ALTER TABLE jobs ADD COLUMN serving_note TEXT;
        """,
    ),
    (
        "0017_kto",
        f"""
        -- KTO (format:kto datasets, method:kto jobs): the two CHECKs widen. SQLite cannot alter a CHECK, so both
        -- tables are rebuilt with foreign keys off (FOREIGN_KEYS_OFF; sqlite.org/lang_altertable.html, "other
        -- kinds of table schema changes"). kto_labels: a KTO version's training labels and the class weights chosen
        -- for them, {{"desirable", "undesirable", "desirable_weight", "undesirable_weight"}} (NULL for SFT and DPO).
        CREATE TABLE dataset_versions_kto (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL,
            version INTEGER NOT NULL CHECK (version >= 1),
            format TEXT NOT NULL CHECK (format IN ('sft', 'dpo', 'kto')),
            filters TEXT NOT NULL,
            val_fraction REAL NOT NULL,
            created_by TEXT,
            created_at TEXT NOT NULL DEFAULT {_NOW},
            train_count INTEGER NOT NULL,
            validation_count INTEGER NOT NULL,
            dropped TEXT NOT NULL,
            token_model TEXT NOT NULL,
            encoding TEXT NOT NULL,
            tokens_total INTEGER NOT NULL,
            tokens_train INTEGER NOT NULL,
            tokens_median INTEGER NOT NULL,
            tokens_p90 INTEGER NOT NULL,
            tokens_max INTEGER NOT NULL,
            train_path TEXT NOT NULL,
            train_sha256 TEXT NOT NULL,
            validation_path TEXT NOT NULL,
            validation_sha256 TEXT NOT NULL,
            default_epochs INTEGER NOT NULL,
            billed_tokens INTEGER NOT NULL,
            cost_trainer TEXT NOT NULL,
            cost_model TEXT NOT NULL,
            usd_per_million REAL,
            cost_usd REAL,
            prices_checked TEXT,
            kto_labels TEXT,
            UNIQUE (name, version)
        );
        INSERT INTO dataset_versions_kto SELECT *, NULL FROM dataset_versions;
        DROP TABLE dataset_versions;
        ALTER TABLE dataset_versions_kto RENAME TO dataset_versions;
        CREATE TABLE jobs_kto (
            id TEXT PRIMARY KEY,
            dataset_id INTEGER NOT NULL REFERENCES dataset_versions (id),
            dataset TEXT NOT NULL,
            trainer TEXT NOT NULL,
            base_model TEXT NOT NULL,
            method TEXT NOT NULL CHECK (method IN ('sft', 'dpo', 'kto')),
            options TEXT NOT NULL,
            examples INTEGER NOT NULL,
            tokens INTEGER NOT NULL,
            epochs INTEGER NOT NULL,
            estimated_cost REAL,
            state TEXT NOT NULL CHECK (state IN ('preflight', 'dismissed', 'starting', 'pending', 'running',
                                                 'cancelling', 'succeeded', 'failed', 'cancelled')),
            raw_status TEXT,
            provider_job_id TEXT,
            fine_tuned_model TEXT,
            trained_tokens INTEGER,
            error_code TEXT,
            error_message TEXT,
            channel TEXT NOT NULL,
            card_ts TEXT,
            requested_by TEXT NOT NULL,
            started_by TEXT,
            cancelled_by TEXT,
            event_cursor TEXT,
            step INTEGER,
            total_steps INTEGER,
            epoch REAL,
            train_loss REAL,
            valid_loss REAL,
            finish_posted INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL DEFAULT {_NOW},
            started_at TEXT,
            finished_at TEXT,
            cost_note TEXT,
            tokens_note TEXT,
            gpu_hours REAL,
            serving_note TEXT,
            UNIQUE (trainer, provider_job_id)
        );
        INSERT INTO jobs_kto SELECT * FROM jobs;
        DROP TABLE jobs;
        ALTER TABLE jobs_kto RENAME TO jobs;
        CREATE INDEX jobs_active ON jobs (state) WHERE state IN ('starting', 'pending', 'running', 'cancelling');
        """,
    ),
    (
        "0018_vote_reasons",
        f"""
        -- Why a 👎 (tuning/capture/feedback_reasons.py): one per person per answer, the newest winning; it counts only
        -- while that person's vote is still 👎. `note` is what they wrote (a fix becomes a correction draft).
        CREATE TABLE vote_reasons (
            channel  TEXT NOT NULL,
            ts       TEXT NOT NULL,
            voter    TEXT NOT NULL,
            reason   TEXT NOT NULL CHECK (reason IN ('wrong', 'outdated', 'incomplete', 'unclear', 'other')),
            note     TEXT,
            at       TEXT NOT NULL DEFAULT {_NOW},
            PRIMARY KEY (channel, ts, voter)
        ) WITHOUT ROWID;
        """,
    ),
    (
        "0019_train_options",
        """
        -- A job's options are TrainOptions' fields (tuning/training/trainers/values.py), no longer /tune's words: a job in
        -- flight across the upgrade keeps its batch size and learning rate. The old JSON was json.dumps' own
        -- (`"key": value`, values never holding a quote), so a textual rename is exact, and portable SQL.
        UPDATE jobs SET options = REPLACE(REPLACE(options, '"batch":', '"batch_size":'), '"lr":', '"learning_rate":')
        """,
    ),
    (
        "0020_replicas",
        """
        -- Replicas on one PostgreSQL database (storage/claims.py): the replica processing an inbox row, or
        -- writing an answer, holds a claim it renews while it lives; a dead replica's claims expire and
        -- another takes them over. Times are Unix seconds. On SQLite one process serves, and clears them at start.
        ALTER TABLE inbox ADD COLUMN claimed_by TEXT;
        ALTER TABLE inbox ADD COLUMN claim_expires REAL;
        ALTER TABLE answers ADD COLUMN claimed_by TEXT;
        ALTER TABLE answers ADD COLUMN claim_expires REAL;
        -- The one replica that runs periodic work (job monitor, lifecycle watch, retention).
        CREATE TABLE leader_lease (
            id          INTEGER PRIMARY KEY CHECK (id = 1),
            holder      TEXT NOT NULL,
            expires_at  REAL NOT NULL
        );
        """,
    ),
    (
        "0021_rate_buckets",
        """
        -- Slack's rate tiers shared by every replica on one database (storage/rate_buckets.py): a token bucket
        -- per workspace and method; `at` is when it was last taken from, in Unix seconds.
        CREATE TABLE rate_buckets (
            team    TEXT NOT NULL,
            method  TEXT NOT NULL,
            tokens  REAL NOT NULL,
            at      REAL NOT NULL,
            PRIMARY KEY (team, method)
        ) WITHOUT ROWID;
        """,
    ),
    (
        "0022_memory_index_direct",
        """
        -- PostgreSQL only (POSTGRESQL_INSTEAD): FTS5 keeps no pending list.
        """,
    ),
]


# Where a landed migration's SQLite text does not translate (storage/dialect.py), the exact edits that make
# its PostgreSQL text: (SQLite text, PostgreSQL text), each required to occur exactly once.
POSTGRESQL_EDITS: dict[str, list[tuple[str, str]]] = {
    # PostgreSQL before 16 wants every subquery in FROM named.
    "0003_capture": [
        (
            "FROM reaction_events\n            )\n            WHERE newest",
            "FROM reaction_events\n            ) AS newest_each\n            WHERE newest",
        ),
        (
            "WHERE newest = 1 AND added = 1\n        )\n        WHERE pick",
            "WHERE newest = 1 AND added = 1\n        ) AS picked\n        WHERE pick",
        ),
    ],
    # coalesce(text, 1) mixes types there; any constant expression makes "at most one running" unique.
    "0008_model_lifecycle": [("ON canaries (coalesce(stopped_at, 1))", "ON canaries ((stopped_at IS NULL))")],
}


# Where SQLite must rebuild a table (a CHECK cannot be altered there), PostgreSQL alters it: the whole
# PostgreSQL text of that migration. A column's CHECK is named `<table>_<column>_check` by PostgreSQL.
POSTGRESQL_INSTEAD: dict[str, str] = {
    # A GIN index's fast-update list is scanned whole by every search until a vacuum merges it: up to 4 MB of
    # recent memories cost a 100k-memory search about 30 ms (bench/memory_search.py). Memories arrive at the
    # pace of votes, so writing each into the index at once costs nothing anyone waits for.
    "0022_memory_index_direct": """
        ALTER INDEX memory_items_search SET (fastupdate = off);
        SELECT gin_clean_pending_list('memory_items_search'::regclass);
    """,
    "0017_kto": """
        ALTER TABLE dataset_versions DROP CONSTRAINT dataset_versions_format_check;
        ALTER TABLE dataset_versions ADD CONSTRAINT dataset_versions_format_check
            CHECK (format IN ('sft', 'dpo', 'kto'));
        ALTER TABLE dataset_versions ADD COLUMN kto_labels TEXT;
        ALTER TABLE jobs DROP CONSTRAINT jobs_method_check;
        ALTER TABLE jobs ADD CONSTRAINT jobs_method_check CHECK (method IN ('sft', 'dpo', 'kto'));
    """,
    # PostgreSQL has no FTS5: its own full-text search, over a tsvector kept in the row itself (a generated
    # column, so it is written, changed and deleted with the row: no index to keep in step, nothing left behind
    # once the row is gone), weighted question (A) over answer (B) as FTS5's BM25 weights are (storage/memory.py).
    "0014_memory": f"""
        CREATE TABLE memory_items (
            example_id       BIGINT PRIMARY KEY REFERENCES examples (id),
            channel          TEXT NOT NULL,
            thread_ts        TEXT,
            message_ts       TEXT NOT NULL,
            question         TEXT NOT NULL,
            answer           TEXT NOT NULL,
            embedding_model  TEXT,
            embedding        BYTEA,
            indexed_at       TEXT NOT NULL DEFAULT {_NOW},
            search           tsvector GENERATED ALWAYS AS (
                setweight(to_tsvector('english', question), 'A') || setweight(to_tsvector('english', answer), 'B')
            ) STORED
        );
        CREATE INDEX memory_items_channel ON memory_items (channel);
        CREATE INDEX memory_items_search ON memory_items USING GIN (search);
        CREATE TABLE memory_config (
            id          INTEGER PRIMARY KEY CHECK (id = 1),
            min_votes   INTEGER NOT NULL DEFAULT 2,
            enabled     INTEGER NOT NULL DEFAULT 1,
            generation  INTEGER NOT NULL DEFAULT 0
        );
        INSERT INTO memory_config (id) VALUES (1);
        CREATE TABLE memory_channels (
            channel     TEXT PRIMARY KEY,
            kind        TEXT CHECK (kind IN ('public', 'private', 'shared', 'dm')),
            enabled     INTEGER,
            checked_at  TEXT NOT NULL DEFAULT {_NOW}
        );
        CREATE TABLE answer_memory (
            answer_id   INTEGER NOT NULL REFERENCES answers (id),
            example_id  INTEGER NOT NULL REFERENCES examples (id),
            rank        INTEGER NOT NULL,
            score       REAL NOT NULL,
            PRIMARY KEY (answer_id, example_id)
        );
        CREATE INDEX answer_memory_example ON answer_memory (example_id);
    """,
}
# Migrations that rebuild a table others reference: SQLite's documented procedure runs them with foreign keys off
# (a pragma that only takes effect outside a transaction), then checks every reference before committing.
FOREIGN_KEYS_OFF = frozenset({"0017_kto"})


def migration_sql(name: str, sql: str, dialect: Dialect) -> list[str]:
    """A migration's statements in `dialect`."""
    if dialect == "postgresql" and name in POSTGRESQL_INSTEAD:
        return _statements(POSTGRESQL_INSTEAD[name])
    if dialect == "postgresql":
        for old, new in POSTGRESQL_EDITS.get(name, []):
            assert sql.count(old) == 1, f"{name}: the PostgreSQL edit no longer matches its SQLite text"
            sql = sql.replace(old, new)
    return _statements(sql)


async def migrate(db: Database) -> list[str]:
    """Apply every migration not yet recorded; returns the names applied now.

    Each migration is one transaction that checks again, once it holds the write lock, whether it is still
    to do: replicas that start at once all call this, one applies each migration, the others wait for it
    and then find it done (on PostgreSQL transactions are serialised by an advisory lock, storage/postgres.py)."""
    async with db.transaction() as tx:
        await tx.execute(
            f"CREATE TABLE IF NOT EXISTS _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT {_NOW})"
        )
    done = {row["name"] for row in await db.fetchall("SELECT name FROM _migrations")}
    applied = []
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        rebuild = name in FOREIGN_KEYS_OFF and db.dialect == "sqlite"
        if rebuild:
            await db.execute("PRAGMA foreign_keys = OFF")
        try:
            async with db.transaction() as tx:
                if await tx.fetchval("SELECT count(*) FROM _migrations WHERE name = ?", (name,)):
                    continue  # another process applied it while this one waited
                for statement in migration_sql(name, sql, db.dialect):
                    await tx.execute(statement)
                if rebuild and await tx.fetchall("PRAGMA foreign_key_check"):
                    raise RuntimeError(f"migration {name} would break a foreign key")
                await tx.execute("INSERT INTO _migrations (name) VALUES (?)", (name,))
        finally:
            if rebuild:
                await db.execute("PRAGMA foreign_keys = ON")
        applied.append(name)
    return applied


def _statements(sql: str) -> list[str]:
    # executescript() would commit our transaction; split instead (no ';' inside our DDL literals).
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [stmt.strip() for stmt in "\n".join(lines).split(";") if stmt.strip()]
