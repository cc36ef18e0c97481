//! Wake-ups: a dedicated connection `LISTEN`ing on the registry's channel, reconnected when
//! it drops (a server restart, a network failure).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::Ctx;

/// Listens until `stop` turns true: every notification wakes the claim loop, `poll` ones
/// the poller too; each (re)connection wakes the claim loop, since notifications sent while
/// the connection was down are lost.
pub(crate) async fn run(
    ctx: Arc<Ctx>,
    wake: Arc<Notify>,
    poll_wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures = 0u32;
    loop {
        if *stop.borrow() {
            return;
        }
        match connect(&ctx).await {
            Ok((client, mut notes)) => {
                if failures > 0 {
                    tracing::info!("the LISTEN connection is back");
                }
                wake.notify_one();
                loop {
                    tokio::select! {
                        _ = stop.changed() => return,
                        note = notes.recv() => match note {
                            Some(note) => {
                                wake.notify_one();
                                if note.payload() == "poll" {
                                    poll_wake.notify_one();
                                }
                            }
                            None => break,
                        }
                    }
                }
                drop(client);
                crate::metrics::db_error(&ctx.id, "listen");
                tracing::warn!("the LISTEN connection ended; reconnecting (claims fall back to polling meanwhile)");
                failures = 1;
            }
            Err(e) => {
                failures += 1;
                crate::metrics::db_error(&ctx.id, "listen");
                if failures <= 2 {
                    tracing::warn!(error = %e, "the LISTEN connection could not be opened; retrying");
                } else {
                    tracing::debug!(error = %e, failures, "the LISTEN connection could not be opened");
                }
            }
        }
        let wait = super::retry_wait(failures, Duration::from_secs(5));
        tokio::select! {
            _ = stop.changed() => return,
            () = tokio::time::sleep(wait) => {}
        }
    }
}

type Notes = tokio::sync::mpsc::UnboundedReceiver<tokio_postgres::Notification>;

async fn connect(ctx: &Ctx) -> kms_sync_core::Result<(tokio_postgres::Client, Notes)> {
    let doing = "listening for triggers";
    let (client, notes) = ctx.registry.pool().listening(doing).await?;
    client
        .batch_execute(&ctx.registry.listen_statement())
        .await
        .map_err(|e| crate::error::db(doing, e))?;
    Ok((client, notes))
}
