//! The counters and histograms a fleet worker records through the [`metrics`] crate's
//! facade: install any exporter (Prometheus, StatsD, OpenTelemetry, …) with its recorder and
//! they appear; without one they cost next to nothing. Every metric carries a `worker`
//! label (the worker id); [`describe`] gives each its unit and help text.
//!
//! | name | kind | labels | what |
//! | --- | --- | --- | --- |
//! | [`RUNS`] | counter | `worker`, `operation`, `outcome` | runs ended: `succeeded`, `failed`, `lost` (the lease was taken over or expired: nothing recorded), `unrecorded` (the end could not be recorded: the sync was deleted, or the database stayed away past the lease), `released` (given back at shutdown) |
//! | [`RUN_DURATION`] | histogram (seconds) | `worker`, `operation` | claim to recorded end |
//! | [`REQUESTS`] | counter | `worker`, `method` | destination requests of the runs, from their reports |
//! | [`RATE_LIMITED`] | counter | `worker` | keys or runs that ended rate limited (HTTP 429 after the retries) |
//! | [`TAKEOVERS`] | counter | `worker` | runs this worker took over from a worker whose lease expired |
//! | [`CLAIMS`] | counter | `worker` | syncs claimed |
//! | [`DB_ERRORS`] | counter | `worker`, `during` | database failures the worker rode out (`claim`, `heartbeat`, `finish`, `listen`, `poll`) |
//! | [`POLL_ROUNDS`] | counter | `worker` | poll rounds this worker ran |
//! | [`SOURCE_READS`] | counter | `worker` | KMS reads (`revision()` calls) of the rounds |
//! | [`ROUND_READS`] | histogram | `worker` | reads per round: the number of distinct sources |
//! | [`SOURCE_CHANGES`] | counter | `worker` | sources found changed (their syncs were triggered) |
//! | [`SOURCE_ERRORS`] | counter | `worker` | source reads that failed (nothing triggered for them) |
//!
//! ```
//! assert_eq!(kms_sync_fleet::metrics::RUNS, "kms_sync_fleet_runs_total");
//! kms_sync_fleet::metrics::describe(); // once, after installing your recorder
//! ```

/// Runs ended, by `operation` and `outcome`.
///
/// ```
/// assert!(kms_sync_fleet::metrics::RUNS.starts_with("kms_sync_fleet_"));
/// ```
pub const RUNS: &str = "kms_sync_fleet_runs_total";
/// Seconds from claim to the recorded end of a run, by `operation`.
///
/// ```
/// assert!(kms_sync_fleet::metrics::RUN_DURATION.starts_with("kms_sync_fleet_"));
/// ```
pub const RUN_DURATION: &str = "kms_sync_fleet_run_duration_seconds";
/// Destination requests made by runs, by `method`.
///
/// ```
/// assert!(kms_sync_fleet::metrics::REQUESTS.starts_with("kms_sync_fleet_"));
/// ```
pub const REQUESTS: &str = "kms_sync_fleet_requests_total";
/// Keys (or whole runs) that ended rate limited.
///
/// ```
/// assert!(kms_sync_fleet::metrics::RATE_LIMITED.starts_with("kms_sync_fleet_"));
/// ```
pub const RATE_LIMITED: &str = "kms_sync_fleet_rate_limited_total";
/// Runs taken over after another worker's lease expired.
///
/// ```
/// assert!(kms_sync_fleet::metrics::TAKEOVERS.starts_with("kms_sync_fleet_"));
/// ```
pub const TAKEOVERS: &str = "kms_sync_fleet_lease_takeovers_total";
/// Syncs claimed.
///
/// ```
/// assert!(kms_sync_fleet::metrics::CLAIMS.starts_with("kms_sync_fleet_"));
/// ```
pub const CLAIMS: &str = "kms_sync_fleet_claims_total";
/// Database failures the worker rode out, by `during`.
///
/// ```
/// assert!(kms_sync_fleet::metrics::DB_ERRORS.starts_with("kms_sync_fleet_"));
/// ```
pub const DB_ERRORS: &str = "kms_sync_fleet_database_errors_total";
/// Poll rounds run.
///
/// ```
/// assert!(kms_sync_fleet::metrics::POLL_ROUNDS.starts_with("kms_sync_fleet_"));
/// ```
pub const POLL_ROUNDS: &str = "kms_sync_fleet_poll_rounds_total";
/// KMS reads made by poll rounds.
///
/// ```
/// assert!(kms_sync_fleet::metrics::SOURCE_READS.starts_with("kms_sync_fleet_"));
/// ```
pub const SOURCE_READS: &str = "kms_sync_fleet_source_reads_total";
/// KMS reads per poll round.
///
/// ```
/// assert!(kms_sync_fleet::metrics::ROUND_READS.starts_with("kms_sync_fleet_"));
/// ```
pub const ROUND_READS: &str = "kms_sync_fleet_poll_round_reads";
/// Sources found changed.
///
/// ```
/// assert!(kms_sync_fleet::metrics::SOURCE_CHANGES.starts_with("kms_sync_fleet_"));
/// ```
pub const SOURCE_CHANGES: &str = "kms_sync_fleet_source_changes_total";
/// Source reads that failed.
///
/// ```
/// assert!(kms_sync_fleet::metrics::SOURCE_ERRORS.starts_with("kms_sync_fleet_"));
/// ```
pub const SOURCE_ERRORS: &str = "kms_sync_fleet_source_errors_total";

/// Registers each metric's unit and description with the installed recorder. Call it once
/// after installing yours (a recorder installed later misses the descriptions, nothing
/// else).
///
/// ```
/// kms_sync_fleet::metrics::describe();
/// ```
pub fn describe() {
    use ::metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!(
        RUNS,
        Unit::Count,
        "Sync runs ended, by operation and outcome"
    );
    describe_histogram!(
        RUN_DURATION,
        Unit::Seconds,
        "Seconds from the claim to the recorded end of a run"
    );
    describe_counter!(REQUESTS, Unit::Count, "Destination requests made by runs");
    describe_counter!(
        RATE_LIMITED,
        Unit::Count,
        "Keys or runs that ended rate limited (HTTP 429)"
    );
    describe_counter!(
        TAKEOVERS,
        Unit::Count,
        "Runs taken over after another worker's lease expired"
    );
    describe_counter!(CLAIMS, Unit::Count, "Syncs claimed");
    describe_counter!(DB_ERRORS, Unit::Count, "Database failures ridden out");
    describe_counter!(POLL_ROUNDS, Unit::Count, "Source poll rounds run");
    describe_counter!(SOURCE_READS, Unit::Count, "KMS reads made by poll rounds");
    describe_histogram!(ROUND_READS, Unit::Count, "KMS reads per poll round");
    describe_counter!(SOURCE_CHANGES, Unit::Count, "Sources found changed");
    describe_counter!(SOURCE_ERRORS, Unit::Count, "Source reads that failed");
}

/// Counts a database failure the worker rode out.
pub(crate) fn db_error(worker: &str, during: &'static str) {
    ::metrics::counter!(DB_ERRORS, "worker" => worker.to_owned(), "during" => during).increment(1);
}
