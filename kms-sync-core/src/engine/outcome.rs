//! What happened to each change of an apply.

use crate::destination::{Applied, Change, ChangeKind};
use crate::error::{Error, ErrorKind, Result};

/// The result of one change.
#[derive(Debug, Clone)]
pub(crate) enum OutcomeStatus {
    /// The service confirmed it.
    Applied(Applied),
    /// Tried and refused or failed; the service holds what it held.
    Failed(Error),
    /// Tried, and the service's answer could not be read (or never came): it may or may not
    /// have been applied.
    Unconfirmed(Error),
    /// Not tried, on purpose: deletes held back after a failed write.
    Skipped(String),
    /// Not tried because the apply stopped (deadline, repeated failures).
    NotAttempted(String),
}

/// One outcome per change.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub key: String,
    pub kind: ChangeKind,
    pub status: OutcomeStatus,
}

impl Outcome {
    fn new(change: &Change, status: OutcomeStatus) -> Self {
        Outcome {
            key: change.key.clone(),
            kind: change.kind,
            status,
        }
    }

    /// The outcome of a writer's result; an error is tagged with the change's key.
    pub fn of(change: &Change, result: Result<Applied>, destination: &str) -> Self {
        match result {
            Ok(applied) => Outcome::new(change, OutcomeStatus::Applied(applied)),
            Err(err) => Outcome::failed(change, err, destination),
        }
    }

    /// A failure, or an unconfirmed write when the error says so.
    pub fn failed(change: &Change, err: Error, destination: &str) -> Self {
        let mut err = err.with_key(&change.key);
        if err.destination().is_none() {
            err = err.with_destination(destination.to_owned());
        }
        let status = if err.kind() == ErrorKind::Unconfirmed {
            OutcomeStatus::Unconfirmed(err)
        } else {
            OutcomeStatus::Failed(err)
        };
        Outcome::new(change, status)
    }

    pub fn skipped(change: &Change, reason: impl Into<String>) -> Self {
        Outcome::new(change, OutcomeStatus::Skipped(reason.into()))
    }

    pub fn not_attempted(change: &Change, reason: impl Into<String>) -> Self {
        Outcome::new(change, OutcomeStatus::NotAttempted(reason.into()))
    }

    pub fn is_applied(&self) -> bool {
        matches!(self.status, OutcomeStatus::Applied(_))
    }
}
