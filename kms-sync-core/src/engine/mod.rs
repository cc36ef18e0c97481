//! The engine: a [`Syncer`] runs plan → apply → ledger → report; `apply` decides ordering,
//! concurrency, progress, confirmation, the deadline and the circuit breaker for every
//! destination alike.

mod apply;
mod execute;
mod import;
mod operations;
mod outcome;
mod run;
mod syncer;

pub use syncer::{Syncer, SyncerBuilder};
