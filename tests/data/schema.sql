CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')));
CREATE TABLE answers ( id INTEGER PRIMARY KEY, team_id TEXT, channel TEXT NOT NULL, thread_ts TEXT NOT NULL, question_ts TEXT NOT NULL, asked_by TEXT NOT NULL, answer_ts TEXT, model TEXT NOT NULL, request_messages TEXT, answer_text TEXT, prompt_tokens INTEGER, completion_tokens INTEGER, latency_ms INTEGER, status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'answered', 'failed')), error TEXT, created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), finished_at TEXT, UNIQUE (channel, question_ts) );
CREATE TABLE inbox ( id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, event_type TEXT NOT NULL, body TEXT NOT NULL, received_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), processed_at TEXT, attempts INTEGER NOT NULL DEFAULT 0, error TEXT );
CREATE TABLE messages ( channel TEXT NOT NULL, ts TEXT NOT NULL, team_id TEXT, thread_ts TEXT, user_id TEXT, is_bot INTEGER NOT NULL DEFAULT 0, text TEXT NOT NULL, answer_id INTEGER REFERENCES answers (id), created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')), PRIMARY KEY (channel, ts) );
CREATE INDEX answers_thread ON answers (channel, thread_ts);
CREATE INDEX inbox_pending ON inbox (id) WHERE processed_at IS NULL;
CREATE INDEX messages_answer ON messages (answer_id) WHERE answer_id IS NOT NULL;
CREATE INDEX messages_thread ON messages (channel, thread_ts);
