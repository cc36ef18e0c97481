-- The fleet's workers: shared source reads. What each distinct source (project, environment,
-- secret path) looked like at the last poll round, and the one poll round the fleet runs at
-- a time. Never a secret value: `revision` is HMAC-SHA256, under the embedder's ledger key,
-- of the source's own revision (itself a keyed hash for the KMS source).
--
-- Runs with `search_path` set to the configured schema, inside the migration transaction.

CREATE TABLE IF NOT EXISTS source_revisions (
    -- '' for syncs without a project.
    project_id  text        NOT NULL,
    environment text        NOT NULL,
    secret_path text        NOT NULL,
    -- 64 lowercase hex digits.
    revision    text        NOT NULL CHECK (revision ~ '^[0-9a-f]{64}$'),
    checked_at  timestamptz NOT NULL DEFAULT now(),
    changed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, environment, secret_path)
);

-- One row: the fleet's poll rounds. A worker runs a round only by taking this row's lease
-- while the round is due, so one round runs at a time and rounds come once per interval
-- across the fleet, not once per worker.
CREATE TABLE IF NOT EXISTS source_polls (
    id            boolean     PRIMARY KEY DEFAULT true CHECK (id),
    round         bigint      NOT NULL DEFAULT 0,
    holder        text,
    lease_until   timestamptz,
    next_at       timestamptz NOT NULL DEFAULT 'epoch',
    last_sources  integer,
    last_reads    integer,
    last_changed  integer,
    last_finished timestamptz
);
INSERT INTO source_polls (id) VALUES (true) ON CONFLICT (id) DO NOTHING;
