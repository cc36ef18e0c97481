-- Ledgers bound to their destination: the identity (kind and every field that picks the
-- scope, never a value or a credential) of the destination a sync's ledger describes, in its
-- canonical text form `kind:name=value,…`. NULL for a ledger written before this migration;
-- the engine binds it on that sync's next update, and refuses a ledger bound to another
-- destination before any write.
--
-- Runs with `search_path` set to the configured schema, inside the migration transaction.

ALTER TABLE ledgers ADD COLUMN IF NOT EXISTS destination text;
