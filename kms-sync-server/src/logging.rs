//! Logs on stderr through `tracing-subscriber`: text by default, JSON lines with
//! `[log] format = "json"` (or `KMS_SYNC_SERVER_LOG__FORMAT=json`). `RUST_LOG` wins over
//! `[log] level`. No log line carries a secret: the fleet and the API log ids, kinds and
//! counts, never values or credentials.

use tracing_subscriber::EnvFilter;

use crate::config::LogSection;

/// Installs the process's subscriber (once; a second call changes nothing).
///
/// ```
/// kms_sync_server::logging::init(&kms_sync_server::config::LogSection::default());
/// tracing::info!("logging");
/// ```
pub fn init(section: &LogSection) {
    let level = section.level.as_deref().unwrap_or("info");
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if section.json() {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
}
