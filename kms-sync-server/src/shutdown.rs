//! The one wait for "stop": Ctrl-C (SIGINT) or, on Unix, SIGTERM (as a service manager or
//! Kubernetes stops a process). The server, the `server` and `fleet` examples share it.

/// Resolves on the first SIGINT or SIGTERM.
///
/// ```no_run
/// # async fn run() {
/// kms_sync_server::shutdown::terminated().await;
/// println!("stopping");
/// # }
/// ```
pub async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
