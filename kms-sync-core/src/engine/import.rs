//! Import: reading what the destination holds back into the source, as its own type.

use tracing::Instrument;

use super::run::Run;
use super::syncer::{unsupported_import, Syncer};
use crate::destination::{RemoteValue, Snapshot};
use crate::engine::options::InitialSyncBehavior;
use crate::engine::report::{KeyReport, KeyStatus, Operation, SyncReport};
use crate::error::{Error, Result};
use crate::plan::ownership::{Claim, Ownership};
use crate::schema::KeySchema;
use crate::secret::{SecretSet, SecretValue};

/// Decides what an import reads: the entries the schema owns (never protected ones), keys
/// stripped of the schema, values only where the destination shows them, and — with
/// `import-prioritize-source` — only keys the source does not have yet.
struct Import<'a> {
    schema: &'a dyn KeySchema,
    prefer_source: bool,
}

/// What an import writes into the source, and the report's lines.
struct Selection {
    values: Vec<(String, SecretValue)>,
    keys: Vec<KeyReport>,
}

impl Import<'_> {
    fn select(&self, source: &SecretSet, snapshot: &Snapshot) -> Selection {
        let env = source.environment();
        let ownership = Ownership::new(self.schema, env);
        let mut values = Vec::new();
        let mut keys = Vec::new();
        for entry in snapshot.entries() {
            if ownership.claim(entry) != Claim::Owned {
                continue;
            }
            let Some(source_key) = self.schema.strip(entry.key(), env) else {
                continue;
            };
            let (status, note) = match entry.value() {
                RemoteValue::Hidden => (KeyStatus::Skipped, Some("value is hidden".to_owned())),
                RemoteValue::Known(_) if self.prefer_source && source.contains_key(&source_key) => {
                    (
                        KeyStatus::Unchanged,
                        Some("kept the source's value".to_owned()),
                    )
                }
                RemoteValue::Known(value) => {
                    values.push((source_key, value.clone()));
                    (KeyStatus::Imported, None)
                }
            };
            keys.push(KeyReport {
                key: entry.key().to_owned(),
                status,
                change: None,
                note,
                error: None,
            });
        }
        keys.sort_by(|a, b| a.key.cmp(&b.key));
        Selection { values, keys }
    }
}

impl Syncer {
    /// Reads the entries the schema owns into the source given to
    /// [`import_into`](crate::SyncerBuilder::import_into), keys stripped of the schema.
    /// With `import-prioritize-source`, keys the source already has are left as they are;
    /// otherwise the destination's value wins. Protected entries are not read.
    ///
    /// # Errors
    ///
    /// [`Unsupported`](crate::ErrorKind::Unsupported) if the destination cannot read values
    /// back (Bitbucket, Checkly and Octopus cannot); [`Config`](crate::ErrorKind::Config)
    /// without an import target; a source or list error.
    pub async fn import(&self) -> Result<SyncReport> {
        let run = Run::start();
        let span = tracing::info_span!("import", sync_id = %self.id, job_id = %run.job_id);
        run.requests
            .scope(self.import_run(&run))
            .instrument(span)
            .await
    }

    async fn import_run(&self, run: &Run) -> Result<SyncReport> {
        let info = self.destination.info();
        if !info.capabilities.import() || !info.capabilities.values_readable() {
            let err = unsupported_import(&info.kind, info.to_string());
            return self.fail(Operation::Import, run, err);
        }
        let Some(sink) = &self.sink else {
            let err = Error::config("import needs a target: call SyncerBuilder::import_into(...)");
            return self.fail(Operation::Import, run, err);
        };
        let read = match self.read(run).await {
            Ok(read) => read,
            Err(err) => return self.fail(Operation::Import, run, err),
        };
        let import = Import {
            schema: &*self.schema,
            prefer_source: self.options.initial_sync_behavior
                != InitialSyncBehavior::ImportPrioritizeDestination,
        };
        let selection = import.select(&read.source, &read.snapshot);
        run.learn(selection.values.iter().map(|(_, value)| value));
        if let Err(err) = sink.write(selection.values).await {
            return self.fail(Operation::Import, run, err);
        }
        let source = self.source.describe();
        Ok(self.finish(Operation::Import, run, source, selection.keys, Vec::new()))
    }
}
