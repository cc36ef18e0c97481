//! SIGINT and SIGTERM during `sync`, `remove` and `watch`: the first stops the run through
//! the syncer's stop signal (no new writes, writes in flight get their grace, the ledger is
//! saved); the second exits at once — every key the run may have written is already
//! claimed in the ledger, so nothing is lost.

use kms_sync::StopSignal;

use crate::outcome::INTERRUPTED;

/// The process's SIGINT and SIGTERM streams, installed once so no signal falls between two
/// waits.
struct Signals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl Signals {
    fn install() -> Signals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let streams = match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(int), Ok(term)) => Some((int, term)),
                _ => None,
            };
            Signals { streams }
        }
        #[cfg(not(unix))]
        Signals {}
    }

    /// The next SIGINT or SIGTERM (never, if they could not be watched).
    async fn next(&mut self) {
        #[cfg(unix)]
        {
            let Some((int, term)) = &mut self.streams else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// Resolves on the first SIGINT (Ctrl-C) or SIGTERM: how `watch` waits to stop.
pub async fn first_signal() {
    Signals::install().next().await;
}

/// Watches for signals while `work` runs: the first gives `stop` (and calls `on_stop`), the
/// second exits the process at once with [`INTERRUPTED`]. Returns what `work` returns.
pub async fn stop_on_signals<T>(
    stop: &StopSignal,
    on_stop: impl FnOnce(),
    work: impl std::future::Future<Output = T>,
) -> T {
    let mut signals = Signals::install();
    let watch = async {
        signals.next().await;
        stop.stop();
        on_stop();
        signals.next().await;
    };
    tokio::pin!(work);
    tokio::select! {
        biased;
        done = &mut work => done,
        () = watch => {
            eprintln!(
                "kms-sync: second signal: exiting now; every key this run may have written is \
                 already claimed in the ledger, so the next sync finishes the job"
            );
            std::process::exit(i32::from(INTERRUPTED))
        }
    }
}
