//! The server's settings: a TOML file merged with `KMS_SYNC_SERVER_*` environment variables
//! (figment). Nothing secret lives here: a secret pasted into the TOML is refused by name
//! (see [`crate::secrets`] for where secrets come from).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::providers::{Env, Format, Toml};
use figment::Figment;
use kms_sync::{Error, Result};
use serde::Deserialize;

/// The prefix of the environment variables that override the TOML: `KMS_SYNC_SERVER_`, with
/// `__` between a section and its key (`KMS_SYNC_SERVER_WORKER__CONCURRENCY=4`).
pub const ENV_PREFIX: &str = "KMS_SYNC_SERVER_";

/// Keys that name a secret: refused in the TOML (and in `KMS_SYNC_SERVER_*`) with a pointer
/// to the variable or file that carries it instead.
const SECRET_KEYS: [(&str, &str); 12] = [
    ("database_url", "KMS_SYNC_DATABASE_URL"),
    ("credential_keys", "KMS_SYNC_CREDENTIAL_KEYS"),
    ("ledger_key", "KMS_SYNC_LEDGER_KEY"),
    ("client_id", "KMS_CLIENT_ID"),
    ("client_secret", "KMS_CLIENT_SECRET"),
    ("access_token", "KMS_ACCESS_TOKEN"),
    ("token", "KMS_SYNC_API_TOKENS"),
    ("tokens", "KMS_SYNC_API_TOKENS"),
    ("password", "KMS_SYNC_DATABASE_URL"),
    ("webhook_url", "KMS_SYNC_NOTICE_WEBHOOK_URL"),
    ("signing_key", "KMS_SYNC_NOTICE_SIGNING_KEY"),
    ("signing_secret", "KMS_SYNC_NOTICE_SIGNING_KEY"),
];

/// Everything the server reads from its TOML file and `KMS_SYNC_SERVER_*`.
///
/// ```
/// let config = kms_sync_server::config::ServerConfig::from_toml_str("[api]\nlisten = \"127.0.0.1:9000\"\n")?;
/// assert_eq!(config.api.listen.port(), 9000);
/// assert!(kms_sync_server::config::ServerConfig::from_toml_str("database_url = \"postgres://u:p@h/db\"").is_err());
/// # Ok::<(), kms_sync::Error>(())
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// The database's non-secret settings.
    pub database: DatabaseSection,
    /// The HTTP listener: API, `/healthz`, `/readyz`, `/metrics`.
    pub api: ApiSection,
    /// The fleet worker.
    pub worker: WorkerSection,
    /// The KMS the syncs read from.
    pub kms: KmsSection,
    /// Failure notices (their webhook URL and signing key are secrets).
    pub notices: NoticesSection,
    /// Logs.
    pub log: LogSection,
    /// Per destination kind (`bitbucket`, `checkly`, `octopus-deploy`): a base URL for a
    /// proxy, a self-hosted instance or a fake.
    pub destinations: BTreeMap<String, DestinationSection>,
    /// Files holding secrets, by name (see [`crate::secrets::SECRETS`]); the environment
    /// variable, when set, wins.
    pub secret_files: BTreeMap<String, PathBuf>,
}

/// `[database]`: the URL itself is a secret (`KMS_SYNC_DATABASE_URL`).
///
/// ```
/// assert_eq!(kms_sync_server::config::DatabaseSection::default().schema, "kms_sync");
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseSection {
    /// The schema the fleet's tables live in.
    pub schema: String,
    /// Connections in the pool.
    pub pool_size: usize,
}

impl Default for DatabaseSection {
    fn default() -> Self {
        DatabaseSection {
            schema: kms_sync_fleet::DEFAULT_SCHEMA.to_owned(),
            pool_size: kms_sync_fleet::DEFAULT_POOL_SIZE,
        }
    }
}

/// `[api]`: where the HTTP listener binds, and the API's OpenAPI path.
///
/// ```
/// assert_eq!(kms_sync_server::config::ApiSection::default().listen.port(), 8080);
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiSection {
    /// The address to listen on (default `127.0.0.1:8080`).
    pub listen: SocketAddr,
    /// Where the OpenAPI document is served (default `/openapi.json`).
    pub openapi_path: String,
    /// The organization id the API reports.
    pub org_id: Option<String>,
}

impl Default for ApiSection {
    fn default() -> Self {
        ApiSection {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            openapi_path: "/openapi.json".to_owned(),
            org_id: None,
        }
    }
}

/// `[worker]`: durations are humantime text (`30s`, `2m`).
///
/// ```
/// let worker = kms_sync_server::config::WorkerSection::default();
/// assert_eq!(worker.lease()?, kms_sync_fleet::DEFAULT_LEASE);
/// # Ok::<(), kms_sync::Error>(())
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorkerSection {
    /// The worker's id (default: `<host>-<pid>`-like, unique per process).
    pub id: Option<String>,
    /// Syncs run at once.
    pub concurrency: Option<usize>,
    /// How long a claim holds without a heartbeat.
    pub lease: Option<String>,
    /// How often the worker looks for due syncs without a notification.
    pub fallback_poll: Option<String>,
    /// How often the KMS is polled for changes (`off` to never poll).
    pub source_poll: Option<String>,
    /// How long running syncs get to finish at shutdown.
    pub shutdown_grace: Option<String>,
}

impl WorkerSection {
    /// The lease (default [`kms_sync_fleet::DEFAULT_LEASE`]).
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync::ErrorKind::Config) naming `worker.lease` for text that is no
    /// duration.
    pub fn lease(&self) -> Result<Duration> {
        duration(
            "worker.lease",
            self.lease.as_deref(),
            kms_sync_fleet::DEFAULT_LEASE,
        )
    }
}

/// Parses an optional humantime setting named `name`.
pub(crate) fn duration(name: &str, text: Option<&str>, default: Duration) -> Result<Duration> {
    match text {
        None => Ok(default),
        Some(text) => humantime::parse_duration(text.trim()).map_err(|e| {
            Error::config(format!(
                "`{name}` = \"{text}\" is not a duration (e.g. 30s, 2m): {e}"
            ))
        }),
    }
}

/// `[kms]`: the non-secret parts of the KMS source (its URL and identity are secrets).
///
/// ```
/// assert!(kms_sync_server::config::KmsSection::default().project.is_none());
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KmsSection {
    /// The project of syncs that name none (their `projectId`), as an id.
    pub project: Option<String>,
    /// The KMS's read budget per process, as requests a minute (default: the free tier's
    /// 120); kms-sync paces its reads to 90% of it.
    pub requests_per_minute: Option<u32>,
}

/// `[notices]`: failure notices, posted by the workers to the webhook in
/// `KMS_SYNC_NOTICE_WEBHOOK_URL`, signed with `KMS_SYNC_NOTICE_SIGNING_KEY` (both secrets:
/// notices are on when both are set).
///
/// ```
/// let config = kms_sync_server::config::ServerConfig::from_toml_str("[notices]\nretry_backoff = \"2s\"")?;
/// assert_eq!(config.notices.retry_backoff.as_deref(), Some("2s"));
/// # Ok::<(), kms_sync::Error>(())
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NoticesSection {
    /// The wait before a notice's first retry, doubling at each (default `500ms`).
    pub retry_backoff: Option<String>,
}

/// The wait before a failure notice's first retry when `[notices] retry_backoff` is unset.
///
/// ```
/// assert_eq!(kms_sync_server::config::DEFAULT_NOTICE_BACKOFF.as_millis(), 500);
/// ```
pub const DEFAULT_NOTICE_BACKOFF: Duration = Duration::from_millis(500);

/// `[log]`: `format` is `text` (default) or `json`; `level` a `RUST_LOG`-style filter.
///
/// ```
/// assert!(!kms_sync_server::config::LogSection::default().json());
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogSection {
    /// `text` or `json`.
    pub format: Option<String>,
    /// The filter, e.g. `info` or `kms_sync_fleet=debug` (`RUST_LOG` wins when set).
    pub level: Option<String>,
}

impl LogSection {
    /// Whether logs go out as JSON lines.
    pub fn json(&self) -> bool {
        self.format
            .as_deref()
            .is_some_and(|f| f.eq_ignore_ascii_case("json"))
    }
}

/// `[destinations.<kind>]`.
///
/// ```
/// assert!(kms_sync_server::config::DestinationSection::default().base_url.is_none());
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DestinationSection {
    /// The API base URL of this kind (it must also pass the URL policy).
    pub base_url: Option<String>,
}

impl ServerConfig {
    /// Reads `file` (when given) and the `KMS_SYNC_SERVER_*` variables.
    ///
    /// ```no_run
    /// let config = kms_sync_server::config::ServerConfig::load(Some(std::path::Path::new("server.toml")))?;
    /// # Ok::<(), kms_sync::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync::ErrorKind::Config) naming the file and the bad key: a missing
    /// file, bad TOML, an unknown key, a secret in the file.
    pub fn load(file: Option<&Path>) -> Result<ServerConfig> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.is_file() {
                return Err(Error::config(format!(
                    "the config file {} does not exist or is not a file",
                    path.display()
                )));
            }
            figment = figment.merge(Toml::file(path));
        }
        let figment = figment.merge(Env::prefixed(ENV_PREFIX).split("__"));
        Self::extract(figment, file)
    }

    /// Reads settings from TOML text only (for tests and `check-config` of a string).
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn from_toml_str(text: &str) -> Result<ServerConfig> {
        Self::extract(Figment::from(Toml::string(text)), None)
    }

    fn extract(figment: Figment, file: Option<&Path>) -> Result<ServerConfig> {
        let place = file.map_or_else(|| "the config".to_owned(), |p| p.display().to_string());
        if let Some(found) = secret_in(&figment) {
            return Err(found);
        }
        figment
            .extract::<ServerConfig>()
            .map_err(|e| Error::config(format!("{place}: {}", first_error(e))))
    }
}

/// A key that names a secret, anywhere in the merged settings.
fn secret_in(figment: &Figment) -> Option<Error> {
    let value = figment.find_value("").ok()?;
    let dict = value.into_dict()?;
    let mut stack: Vec<(String, figment::value::Value)> = dict.into_iter().collect();
    while let Some((key, value)) = stack.pop() {
        let leaf = key.rsplit('.').next().unwrap_or(&key).to_ascii_lowercase();
        if let Some((_, variable)) = SECRET_KEYS.iter().find(|(name, _)| *name == leaf) {
            if !key.starts_with("secret_files.") {
                return Some(Error::config(format!(
                    "`{key}` is a secret and is never read from the config: set {variable} \
                     (or {variable}_FILE, or a path under [secret_files])"
                )));
            }
        }
        if let Some(inner) = value.into_dict() {
            stack.extend(inner.into_iter().map(|(k, v)| (format!("{key}.{k}"), v)));
        }
    }
    None
}

fn first_error(e: figment::Error) -> String {
    e.into_iter()
        .next()
        .map_or_else(|| "invalid settings".to_owned(), |e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_file_fills_in_the_rest_with_defaults() {
        let config = ServerConfig::from_toml_str(
            "[database]\nschema = \"s1\"\n[worker]\nlease = \"5s\"\n[destinations.bitbucket]\nbase_url = \"http://127.0.0.1:1\"\n",
        )
        .unwrap();
        assert_eq!(config.database.schema, "s1");
        assert_eq!(config.worker.lease().unwrap(), Duration::from_secs(5));
        assert_eq!(config.api.listen.port(), 8080);
        assert!(config.destinations["bitbucket"].base_url.is_some());
    }

    #[test]
    fn secrets_and_unknown_keys_are_refused_by_name() {
        for (text, named) in [
            (
                "[database]\ndatabase_url = \"postgres://u:hunter2@h/d\"",
                "database.database_url",
            ),
            ("ledger_key = \"k\"", "KMS_SYNC_LEDGER_KEY"),
            ("[kms]\nclient_secret = \"s\"", "KMS_CLIENT_SECRET"),
            (
                "[notices]\nwebhook_url = \"https://hooks.example.com/hunter2\"",
                "KMS_SYNC_NOTICE_WEBHOOK_URL",
            ),
            (
                "[notices]\nsigning_key = \"hunter2\"",
                "KMS_SYNC_NOTICE_SIGNING_KEY",
            ),
            ("[api]\nlisten = \"127.0.0.1:1\"\nportt = 3", "portt"),
        ] {
            let err = ServerConfig::from_toml_str(text).unwrap_err().to_string();
            assert!(err.contains(named), "{text}: {err}");
            assert!(!err.contains("hunter2"), "{err}");
        }
    }

    #[test]
    fn a_bad_duration_names_its_key() {
        let config = ServerConfig::from_toml_str("[worker]\nlease = \"soon\"").unwrap();
        let err = config.worker.lease().unwrap_err().to_string();
        assert!(err.contains("worker.lease"), "{err}");
    }
}
