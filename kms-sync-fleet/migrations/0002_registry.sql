-- The registry: app connections, syncs (the KMS's create-sync definitions), their status,
-- pending triggers, the run each one has in progress (its lease) and a bounded run history.
-- Never a credential in plaintext, never a secret value.
--
-- Runs with `search_path` set to the configured schema, inside the migration transaction
-- (once per schema, recorded in schema_migrations); every statement is also safe to repeat.

-- App connections. Credentials are AES-256-GCM ciphertext under the embedder's key
-- `key_id` (never stored), or absent when the embedder's resolver supplies them.
CREATE TABLE IF NOT EXISTS connections (
    id                 uuid        PRIMARY KEY,
    -- The KMS's app: bitbucket, checkly, octopus-deploy, or a kind an embedder added.
    app                text        NOT NULL,
    name               text        NOT NULL,
    description        text,
    project_id         text,
    method             text        NOT NULL,
    -- The credentials' fields that are not secret, shown as the KMS shows them (Bitbucket's
    -- email, Octopus Deploy's instanceUrl; nothing for Checkly).
    public_credentials jsonb       NOT NULL DEFAULT '{}'::jsonb,
    key_id             text,
    nonce              bytea,
    ciphertext         bytea,
    -- HMAC-SHA256 keyed with a key derived from key `key_id`; NULL when resolved.
    credentials_hash   text,
    version            integer     NOT NULL DEFAULT 1,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT connections_sealed_whole CHECK (
        (key_id IS NULL) = (ciphertext IS NULL) AND (nonce IS NULL) = (ciphertext IS NULL)
    ),
    CONSTRAINT connections_nonce_96_bits CHECK (nonce IS NULL OR octet_length(nonce) = 12)
);
CREATE UNIQUE INDEX IF NOT EXISTS connections_project_name
    ON connections (coalesce(project_id, ''), name);
CREATE INDEX IF NOT EXISTS connections_app ON connections (app, project_id);
CREATE INDEX IF NOT EXISTS connections_key ON connections (key_id);

-- Syncs: the create-sync definition, column by column, as last validated.
CREATE TABLE IF NOT EXISTS syncs (
    id                   uuid        PRIMARY KEY,
    name                 text        NOT NULL,
    description          text,
    project_id           text,
    destination          text        NOT NULL,
    -- RESTRICT: a connection in use cannot be deleted.
    connection_id        uuid        NOT NULL REFERENCES connections (id) ON DELETE RESTRICT,
    environment          text        NOT NULL,
    secret_path          text        NOT NULL,
    is_enabled           boolean     NOT NULL,
    is_auto_sync_enabled boolean     NOT NULL,
    sync_options         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    destination_config   jsonb       NOT NULL,
    version              integer     NOT NULL DEFAULT 1,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS syncs_project_name ON syncs (coalesce(project_id, ''), name);
CREATE INDEX IF NOT EXISTS syncs_connection ON syncs (connection_id);
CREATE INDEX IF NOT EXISTS syncs_destination ON syncs (destination, project_id);
CREATE INDEX IF NOT EXISTS syncs_source ON syncs (project_id, environment, secret_path)
    WHERE is_enabled AND is_auto_sync_enabled;

-- Per sync: the status in the KMS's field names, the run in progress (its lease) and the
-- backoff. One row per sync, created with it.
CREATE TABLE IF NOT EXISTS sync_state (
    sync_id             uuid        PRIMARY KEY REFERENCES syncs (id) ON DELETE CASCADE,
    sync_status         text CHECK (sync_status IN ('pending', 'running', 'succeeded', 'failed')),
    last_sync_job_id    text,
    last_sync_message   text,
    last_synced_at      timestamptz,
    import_status       text CHECK (import_status IN ('pending', 'running', 'succeeded', 'failed')),
    last_import_job_id  text,
    last_import_message text,
    last_imported_at    timestamptz,
    remove_status       text CHECK (remove_status IN ('pending', 'running', 'succeeded', 'failed')),
    last_remove_job_id  text,
    last_remove_message text,
    last_removed_at     timestamptz,
    -- The run in progress: a fencing token changed by every claim, so a worker whose
    -- lease was taken over can neither heartbeat nor finish.
    lease_token         uuid,
    lease_worker        text,
    lease_job_id        uuid,
    lease_operation     text,
    lease_cause         text,
    lease_manual        boolean,
    lease_attempt       integer,
    lease_run_id        bigint,
    lease_millis        bigint,
    lease_expires_at    timestamptz,
    -- Consecutive failed runs, and the earliest time a pending trigger may be claimed.
    failures            integer     NOT NULL DEFAULT 0,
    not_before          timestamptz NOT NULL DEFAULT 'epoch',
    -- Runs taken over from a worker whose lease expired.
    takeovers           integer     NOT NULL DEFAULT 0,
    CONSTRAINT sync_state_lease_whole CHECK (
        (lease_token IS NULL) = (lease_expires_at IS NULL)
        AND (lease_token IS NULL) = (lease_job_id IS NULL)
    )
);
CREATE INDEX IF NOT EXISTS sync_state_leases ON sync_state (lease_expires_at)
    WHERE lease_token IS NOT NULL;

-- At most one pending trigger per sync and operation; later ones coalesce into it.
CREATE TABLE IF NOT EXISTS sync_triggers (
    sync_id      uuid        NOT NULL REFERENCES syncs (id) ON DELETE CASCADE,
    operation    text        NOT NULL CHECK (operation IN ('sync', 'remove')),
    job_id       uuid        NOT NULL,
    cause        text        NOT NULL,
    -- Whether any trigger coalesced here was manual (those run with auto-sync off).
    manual       boolean     NOT NULL,
    -- The attempt number the next run of this job will have.
    attempt      integer     NOT NULL DEFAULT 1,
    coalesced    integer     NOT NULL DEFAULT 0,
    requested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (sync_id, operation)
);

-- The last runs of each sync (trimmed to the configured number). Counts and requests,
-- never a key's value.
CREATE TABLE IF NOT EXISTS sync_runs (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sync_id        uuid        NOT NULL REFERENCES syncs (id) ON DELETE CASCADE,
    job_id         uuid        NOT NULL,
    operation      text        NOT NULL,
    cause          text        NOT NULL,
    worker         text        NOT NULL,
    attempt        integer     NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    finished_at    timestamptz,
    outcome        text        NOT NULL
        CHECK (outcome IN ('running', 'succeeded', 'failed', 'lease-expired')),
    message        text,
    created        integer     NOT NULL DEFAULT 0,
    updated        integer     NOT NULL DEFAULT 0,
    deleted        integer     NOT NULL DEFAULT 0,
    unchanged      integer     NOT NULL DEFAULT 0,
    imported       integer     NOT NULL DEFAULT 0,
    failed         integer     NOT NULL DEFAULT 0,
    unconfirmed    integer     NOT NULL DEFAULT 0,
    not_attempted  integer     NOT NULL DEFAULT 0,
    skipped        integer     NOT NULL DEFAULT 0,
    requests_get    bigint     NOT NULL DEFAULT 0,
    requests_post   bigint     NOT NULL DEFAULT 0,
    requests_put    bigint     NOT NULL DEFAULT 0,
    requests_patch  bigint     NOT NULL DEFAULT 0,
    requests_delete bigint     NOT NULL DEFAULT 0,
    requests_other  bigint     NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sync_runs_sync ON sync_runs (sync_id, id DESC);
