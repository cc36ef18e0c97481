//! Logs on stderr through `tracing-subscriber`: `RUST_LOG` (an `EnvFilter`) when set,
//! otherwise a level from `-v`/`-q`; lines are written around the progress bar.

use std::io::IsTerminal;
use std::sync::Arc;

use tracing::Level;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::progress::{write_stderr, BarSlot, PaceLayer, PaceSignal};

/// The crates whose events `-v` turns up; everything else stays at `warn`.
const OURS: [&str; 7] = [
    "kms_sync",
    "kms_sync_core",
    "kms_sync_bitbucket",
    "kms_sync_checkly",
    "kms_sync_octopus",
    "kms_sync_hanzo",
    "kms_sync_fleet",
];

/// The default filter for `-v` (counted) and `-q` (counted).
fn default_filter(verbose: u8, quiet: u8) -> String {
    let ours = match (quiet, verbose) {
        (q, _) if q >= 2 => "error",
        (_, 0) => "warn",
        (_, 1) => "info",
        (_, 2) => "debug",
        _ => "trace",
    };
    let base = if quiet >= 2 { "error" } else { "warn" };
    let mut directives: Vec<String> = std::iter::once(base.to_owned())
        .chain(OURS.iter().map(|c| format!("{c}={ours}")))
        .collect();
    if verbose == 0 {
        // The syncer warns when an operation fails before writing; the tool prints that
        // error itself, once.
        directives.push("kms_sync_core::engine::syncer=error".to_owned());
    }
    directives.join(",")
}

/// A writer of whole log lines to stderr that suspends the progress bar while it writes.
#[derive(Clone)]
struct StderrAroundBar(BarSlot);

impl std::io::Write for StderrAroundBar {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write_stderr(&self.0, buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for StderrAroundBar {
    type Writer = StderrAroundBar;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Installs the subscriber: formatted logs per `RUST_LOG` or `-v`/`-q`, and the pacing
/// watcher (the HTTP client's debug events, whatever is shown).
pub fn init(verbose: u8, quiet: u8, slot: BarSlot, pace: Arc<PaceSignal>) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => EnvFilter::new(directives),
        _ => EnvFilter::new(default_filter(verbose, quiet)),
    };
    let logs = tracing_subscriber::fmt::layer()
        .with_writer(StderrAroundBar(slot))
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(filter);
    let pacing = PaceLayer(pace)
        .with_filter(Targets::new().with_target("kms_sync_core::http", Level::DEBUG));
    // A second init (never in this program) would fail harmlessly: logs go where they went.
    let _ = tracing_subscriber::registry()
        .with(logs)
        .with(pacing)
        .try_init();
}
