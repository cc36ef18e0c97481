-- The ledger: which destination entries each sync wrote, with an HMAC fingerprint of the
-- value last written and confirmed. Never a secret value, never the HMAC key.
--
-- Runs with `search_path` set to the configured schema, inside the migration transaction.

-- One row per sync that has a ledger: its existence means "this sync ran", and `settled`
-- that a sync completed without failures since the ledger began.
CREATE TABLE ledgers (
    sync_id    text        PRIMARY KEY,
    settled    boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per destination entry a sync wrote, so two workers recording different keys of
-- one sync touch different rows.
CREATE TABLE ledger_entries (
    sync_id     text NOT NULL REFERENCES ledgers (sync_id) ON DELETE CASCADE,
    key         text NOT NULL,
    -- The destination's id of the entry when it was written.
    entry_id    text,
    -- 64 lowercase hex digits (HMAC-SHA256), or NULL when the last write was unconfirmed.
    -- Checked when read: a row that cannot be read is an error, never a reset.
    fingerprint text,
    PRIMARY KEY (sync_id, key)
);
