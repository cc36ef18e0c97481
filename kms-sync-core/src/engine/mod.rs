//! The engine: a [`Syncer`] runs plan → apply → ledger → report; `apply` decides ordering,
//! concurrency, progress, confirmation, the deadline and the circuit breaker for every
//! destination alike.

mod apply;
pub(crate) mod autosync;
pub(crate) mod claims;
mod execute;
mod import;
mod operations;
pub(crate) mod options;
mod outcome;
pub(crate) mod progress;
pub(crate) mod report;
mod run;
pub(crate) mod scope_lock;
pub(crate) mod stop;
mod syncer;
mod trust;

pub use syncer::{Syncer, SyncerBuilder};
