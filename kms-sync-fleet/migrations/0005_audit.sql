-- The audit trail: one row per API call that reads or changes a sync or a connection, and
-- one per run of the fleet, named with the KMS's event names. Rows name the actor, the
-- project, the sync or connection, and for runs the keys created, updated and deleted —
-- never a secret value or a credential. Old rows are pruned by the sink's retention.
--
-- Runs with `search_path` set to the configured schema, inside the migration transaction.

CREATE TABLE IF NOT EXISTS audit_events (
    id bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    event text NOT NULL,
    actor text NOT NULL,
    project_id text,
    sync_id text,
    connection_id text,
    destination text,
    metadata jsonb NOT NULL DEFAULT '{}'::jsonb
);

CREATE INDEX IF NOT EXISTS audit_events_project ON audit_events (project_id, id DESC);
CREATE INDEX IF NOT EXISTS audit_events_sync ON audit_events (sync_id, id DESC);
CREATE INDEX IF NOT EXISTS audit_events_at ON audit_events (at);
