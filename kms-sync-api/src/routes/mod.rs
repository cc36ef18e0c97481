//! The handlers: app connections and Secret Syncs, per destination kind in the URL.

pub(crate) mod access;
pub(crate) mod audit;
pub(crate) mod available;
pub(crate) mod catalog;
pub(crate) mod connections;
mod doc;
mod extract;
pub(crate) mod history;
pub(crate) mod syncs;

use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::DestinationFacts;
use kms_sync_fleet::SyncRegistry;

use crate::error::ApiError;
use crate::present::Presenter;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub registry: SyncRegistry,
    pub present: Arc<Presenter>,
    /// How often a `DELETE ?removeSecrets=true` looks at its remove job.
    pub removal_poll: Duration,
    /// How long it waits for the remove before leaving the sync in place.
    pub removal_wait: Duration,
    /// Where a sync's source folder is looked up at create (none: not checked).
    pub sources: Option<crate::checks::Sources>,
    /// Whether a connection's credentials are checked against its service when it is
    /// created or its credentials change.
    pub verify_connections: bool,
    /// Where calls are recorded (the registry's audit table unless configured).
    pub audit: crate::audit::Audit,
    /// The fleet's ledger key, for planning (none: the plan route says how to enable it).
    pub ledger_key: Option<crate::checks::LedgerKey>,
}

impl ApiState {
    /// The destination kind the URL names, exactly as the registry names it; 404 (as for a
    /// route that does not exist) for any other word.
    pub fn kind(&self, raw: &str) -> Result<&'static str, ApiError> {
        match self.registry.destinations().factory(raw) {
            Ok(factory) if factory.kind() == raw => Ok(factory.kind()),
            _ => Err(ApiError::not_found(format!(
                "`{}` is not a destination this API serves ({})",
                crate::body::shown(raw),
                self.registry.destinations().kinds().join(", ")
            ))),
        }
    }

    /// What the kind's factory declares about it (display name, import, public and
    /// display-only fields): the one place the API learns anything about a service.
    pub fn facts(&self, kind: &str) -> DestinationFacts {
        match self.registry.destinations().factory(kind) {
            Ok(factory) => factory.facts(),
            Err(_) => DestinationFacts::new("unknown", "Unknown"),
        }
    }

    /// The name people read for a kind, as its factory declares it.
    pub fn display_name(&self, kind: &str) -> &'static str {
        self.facts(kind).display_name()
    }
}
