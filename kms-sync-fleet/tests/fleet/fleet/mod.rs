//! The fleet's workers on a real server: exactly-once runs across workers and processes,
//! takeover after a killed worker, shared source reads, metrics and the canary.
//!
//! The destinations are memory destinations kept per target across runs (as a remote
//! service would be) and **instrumented**: each run builds its own destination, which
//! counts itself active from its build to its drop — inside the claim, before the finish —
//! so two runs of one sync at the same time show up as an overlap.

mod canary;
mod interrupted;
mod kit;
mod processes;
mod retarget;
mod round_trips;
mod shared_reads;
mod takeover;
mod workers;

pub use kit::*;
