//! Where the fleet's database is and how to talk to it: [`PostgresConfig`], built with
//! [`PostgresConfigBuilder`]. `Debug` and `Display` never show the password.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use kms_sync_core::{Error, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use tokio_postgres::config::{Host, SslMode};

use crate::ident::SchemaName;

/// The schema every table lives in unless configured otherwise.
///
/// ```
/// let config = kms_sync_fleet::PostgresConfig::builder().url("postgres://127.0.0.1/x").build()?;
/// assert_eq!(config.schema(), kms_sync_fleet::DEFAULT_SCHEMA);
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
pub const DEFAULT_SCHEMA: &str = "kms_sync";
/// Connections in a pool unless configured otherwise.
///
/// ```
/// let config = kms_sync_fleet::PostgresConfig::builder().url("postgres://127.0.0.1/x").build()?;
/// assert_eq!(config.pool_size(), kms_sync_fleet::DEFAULT_POOL_SIZE);
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
pub const DEFAULT_POOL_SIZE: usize = 8;
/// How long opening one connection may take unless configured otherwise.
///
/// ```
/// assert_eq!(kms_sync_fleet::DEFAULT_CONNECT_TIMEOUT.as_secs(), 10);
/// ```
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long waiting for a free pooled connection may take unless configured otherwise.
///
/// ```
/// let config = kms_sync_fleet::PostgresConfig::builder().url("postgres://127.0.0.1/x").build()?;
/// assert_eq!(config.acquire_timeout(), kms_sync_fleet::DEFAULT_ACQUIRE_TIMEOUT);
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
pub const DEFAULT_ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest `application_name` PostgreSQL keeps.
const MAX_APPLICATION_NAME: usize = 63;

/// Whether connections are encrypted.
///
/// ```
/// use kms_sync_fleet::{PostgresConfig, TlsMode};
/// let local = PostgresConfig::builder().url("postgres://postgres@127.0.0.1/test").build()?;
/// assert!(!local.encrypted(), "loopback: plain TCP");
/// let managed = PostgresConfig::builder().url("postgres://app@db.example.com/fleet").build()?;
/// assert!(managed.encrypted(), "any other host: verified TLS");
/// let forced = PostgresConfig::builder()
///     .url("postgres://postgres@127.0.0.1/test")
///     .tls(TlsMode::Require)
///     .build()?;
/// assert!(forced.encrypted());
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TlsMode {
    /// From the URL's `sslmode`: `disable` is plain TCP, `require` is verified TLS; without
    /// one (or `prefer`), plain TCP when every host is a loopback address or a Unix socket,
    /// verified TLS for any other host. Never "try TLS, fall back to plain".
    #[default]
    Auto,
    /// Plain TCP.
    Disable,
    /// TLS with the server's certificate verified against the Mozilla root certificates
    /// and any root added with [`PostgresConfigBuilder::tls_root_pem`].
    Require,
}

/// The fleet's database settings, checked.
///
/// ```
/// use kms_sync_fleet::PostgresConfig;
/// let config = PostgresConfig::builder()
///     .url("postgres://fleet:hunter2@127.0.0.1:5432/test")
///     .schema("kms_sync_staging")
///     .pool_size(4)
///     .application_name("kms-sync worker-1")
///     .build()?;
/// assert_eq!(config.schema(), "kms_sync_staging");
/// assert!(!format!("{config:?}").contains("hunter2"));
/// assert!(!config.to_string().contains("hunter2"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Clone)]
pub struct PostgresConfig {
    pg: tokio_postgres::Config,
    schema: SchemaName,
    pool_size: usize,
    application_name: String,
    encrypted: bool,
    roots: Vec<CertificateDer<'static>>,
    acquire_timeout: Duration,
}

impl PostgresConfig {
    /// A builder with the defaults: schema [`DEFAULT_SCHEMA`], [`DEFAULT_POOL_SIZE`]
    /// connections, `application_name` `kms-sync pid <pid>`, [`TlsMode::Auto`].
    ///
    /// ```
    /// let builder = kms_sync_fleet::PostgresConfig::builder();
    /// assert!(builder.build().is_err(), "a URL is required");
    /// ```
    pub fn builder() -> PostgresConfigBuilder {
        PostgresConfigBuilder::default()
    }

    /// The schema holding every table.
    ///
    /// ```
    /// let config = kms_sync_fleet::PostgresConfig::builder().url("postgres://127.0.0.1/x").build()?;
    /// assert_eq!(config.schema(), kms_sync_fleet::DEFAULT_SCHEMA);
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn schema(&self) -> &str {
        self.schema.as_str()
    }

    /// The most connections the pool opens (scope locks use connections of their own).
    ///
    /// ```
    /// let config = kms_sync_fleet::PostgresConfig::builder().url("postgres://127.0.0.1/x").pool_size(2).build()?;
    /// assert_eq!(config.pool_size(), 2);
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn pool_size(&self) -> usize {
        self.pool_size
    }

    /// The `application_name` every connection reports, which names the holder of a scope
    /// lock in a timeout.
    ///
    /// ```
    /// let config = kms_sync_fleet::PostgresConfig::builder().url("postgres://127.0.0.1/x").build()?;
    /// assert!(config.application_name().starts_with("kms-sync pid "));
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn application_name(&self) -> &str {
        &self.application_name
    }

    /// Whether connections use TLS.
    ///
    /// ```
    /// let config = kms_sync_fleet::PostgresConfig::builder().url("postgres://127.0.0.1/x?sslmode=require").build()?;
    /// assert!(config.encrypted());
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn encrypted(&self) -> bool {
        self.encrypted
    }

    /// How long a caller waits for a free pooled connection.
    ///
    /// ```
    /// let config = kms_sync_fleet::PostgresConfig::builder().url("postgres://127.0.0.1/x").build()?;
    /// assert_eq!(config.acquire_timeout(), kms_sync_fleet::DEFAULT_ACQUIRE_TIMEOUT);
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn acquire_timeout(&self) -> Duration {
        self.acquire_timeout
    }

    pub(crate) fn schema_name(&self) -> &SchemaName {
        &self.schema
    }

    pub(crate) fn pg(&self) -> &tokio_postgres::Config {
        &self.pg
    }

    pub(crate) fn extra_roots(&self) -> &[CertificateDer<'static>] {
        &self.roots
    }

    /// The server as `postgres://user@host:port/db`, without the password (for messages).
    ///
    /// ```
    /// let config = kms_sync_fleet::PostgresConfig::builder()
    ///     .url("postgres://fleet:hunter2@db.internal/platform")
    ///     .build()?;
    /// assert_eq!(config.server(), "postgres://fleet@db.internal:5432/platform");
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn server(&self) -> String {
        let ports = self.pg.get_ports();
        let port = |i: usize| match ports {
            [one] => *one,
            _ => ports.get(i).copied().unwrap_or(5432),
        };
        let hosts: Vec<String> = self
            .pg
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| match host {
                Host::Tcp(name) => format!("{name}:{}", port(i)),
                Host::Unix(path) => path.display().to_string(),
            })
            .collect();
        format!(
            "postgres://{}@{}/{}",
            self.pg.get_user().unwrap_or(""),
            hosts.join(","),
            self.pg.get_dbname().unwrap_or("")
        )
    }
}

impl fmt::Display for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (schema {})", self.server(), self.schema)
    }
}

impl fmt::Debug for PostgresConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfig")
            .field("server", &self.server())
            .field("password", &self.pg.get_password().map(|_| "[REDACTED]"))
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("application_name", &self.application_name)
            .field("encrypted", &self.encrypted)
            .field("extra_roots", &self.roots.len())
            .field("acquire_timeout", &self.acquire_timeout)
            .finish()
    }
}

/// Builds a [`PostgresConfig`]; [`build`](PostgresConfigBuilder::build) checks it.
///
/// ```
/// use std::time::Duration;
/// use kms_sync_fleet::{PostgresConfig, TlsMode};
/// let config = PostgresConfig::builder()
///     .url("postgres://fleet@db.internal:5432/platform")
///     .tls(TlsMode::Require)
///     .connect_timeout(Duration::from_secs(5))
///     .build()?;
/// assert!(config.encrypted());
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Clone)]
pub struct PostgresConfigBuilder {
    url: Option<String>,
    schema: String,
    pool_size: usize,
    application_name: Option<String>,
    tls: TlsMode,
    root_pems: Vec<Vec<u8>>,
    connect_timeout: Duration,
    acquire_timeout: Duration,
}

impl Default for PostgresConfigBuilder {
    fn default() -> Self {
        PostgresConfigBuilder {
            url: None,
            schema: DEFAULT_SCHEMA.to_owned(),
            pool_size: DEFAULT_POOL_SIZE,
            application_name: None,
            tls: TlsMode::Auto,
            root_pems: Vec::new(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            acquire_timeout: DEFAULT_ACQUIRE_TIMEOUT,
        }
    }
}

impl fmt::Debug for PostgresConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresConfigBuilder")
            .field("url", &self.url.as_ref().map(|_| "[REDACTED]"))
            .field("schema", &self.schema)
            .field("pool_size", &self.pool_size)
            .field("application_name", &self.application_name)
            .field("tls", &self.tls)
            .field("root_pems", &self.root_pems.len())
            .finish_non_exhaustive()
    }
}

impl PostgresConfigBuilder {
    /// The connection URL (`postgres://user:password@host:port/db?sslmode=require`) or
    /// key-value string (`host=… user=… dbname=…`), as libpq takes them.
    ///
    /// ```
    /// let config = kms_sync_fleet::PostgresConfig::builder()
    ///     .url("host=127.0.0.1 user=postgres dbname=test")
    ///     .build()?;
    /// assert_eq!(config.to_string(), "postgres://postgres@127.0.0.1:5432/test (schema kms_sync)");
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The schema holding every table (default [`DEFAULT_SCHEMA`]); created by the
    /// migrations if missing. Lowercase ASCII letters, digits and `_`.
    ///
    /// ```
    /// let builder = kms_sync_fleet::PostgresConfig::builder().url("postgres://127.0.0.1/x");
    /// assert!(builder.clone().schema("fleet_eu").build().is_ok());
    /// assert!(builder.schema("Fleet; DROP").build().is_err());
    /// ```
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = schema.into();
        self
    }

    /// The most pooled connections (default [`DEFAULT_POOL_SIZE`], at least 1).
    ///
    /// ```
    /// let builder = kms_sync_fleet::PostgresConfig::builder().url("postgres://127.0.0.1/x");
    /// assert!(builder.pool_size(0).build().is_err());
    /// ```
    pub fn pool_size(mut self, size: usize) -> Self {
        self.pool_size = size;
        self
    }

    /// The `application_name` of every connection (default `kms-sync pid <pid>`): name each
    /// worker so a lock timeout says who holds the lock. Printable ASCII, at most 63 bytes.
    ///
    /// ```
    /// let config = kms_sync_fleet::PostgresConfig::builder()
    ///     .url("postgres://127.0.0.1/x")
    ///     .application_name("kms-sync worker-7")
    ///     .build()?;
    /// assert_eq!(config.application_name(), "kms-sync worker-7");
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn application_name(mut self, name: impl Into<String>) -> Self {
        self.application_name = Some(name.into());
        self
    }

    /// Whether to encrypt (default [`TlsMode::Auto`]).
    ///
    /// ```
    /// use kms_sync_fleet::{PostgresConfig, TlsMode};
    /// let config = PostgresConfig::builder().url("postgres://db.example.com/x").tls(TlsMode::Disable).build()?;
    /// assert!(!config.encrypted());
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn tls(mut self, mode: TlsMode) -> Self {
        self.tls = mode;
        self
    }

    /// Trusts the root certificate(s) in `pem` as well as the Mozilla roots: a managed
    /// database's own certificate authority (Amazon RDS, Cloud SQL, Azure).
    ///
    /// ```
    /// let builder = kms_sync_fleet::PostgresConfig::builder().url("postgres://db.example.com/x");
    /// let err = builder.tls_root_pem(b"not a certificate".to_vec()).build().unwrap_err();
    /// assert!(err.to_string().contains("no certificate"));
    /// ```
    pub fn tls_root_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.root_pems.push(pem.into());
        self
    }

    /// How long opening one connection may take (default [`DEFAULT_CONNECT_TIMEOUT`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = kms_sync_fleet::PostgresConfig::builder().url("postgres://127.0.0.1/x");
    /// assert!(builder.connect_timeout(Duration::from_secs(2)).build().is_ok());
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long a caller waits for a free pooled connection (default
    /// [`DEFAULT_ACQUIRE_TIMEOUT`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// let config = kms_sync_fleet::PostgresConfig::builder()
    ///     .url("postgres://127.0.0.1/x")
    ///     .acquire_timeout(Duration::from_secs(3))
    ///     .build()?;
    /// assert_eq!(config.acquire_timeout(), Duration::from_secs(3));
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn acquire_timeout(mut self, timeout: Duration) -> Self {
        self.acquire_timeout = timeout;
        self
    }

    /// Checks everything.
    ///
    /// # Errors
    ///
    /// A [`Config`](kms_sync_core::ErrorKind::Config) error for a missing or invalid URL, a
    /// URL without a host, an unusable schema name, a pool size of 0, an application name
    /// PostgreSQL would mangle, or a root PEM with no certificate.
    ///
    /// ```
    /// let err = kms_sync_fleet::PostgresConfig::builder().url("postgres://127.0.0.1/x?sslmode=bogus").build();
    /// assert!(err.is_err());
    /// ```
    pub fn build(self) -> Result<PostgresConfig> {
        let mut pg = parse_url(self.url.as_deref())?;
        let schema = SchemaName::new(&self.schema)?;
        if self.pool_size == 0 {
            return Err(Error::config("the PostgreSQL pool size must be at least 1"));
        }
        let application_name = application_name(self.application_name)?;
        let encrypted = resolve_tls(self.tls, &pg);
        pg.ssl_mode(if encrypted {
            SslMode::Require
        } else {
            SslMode::Disable
        });
        pg.application_name(application_name.clone())
            .connect_timeout(self.connect_timeout);
        Ok(PostgresConfig {
            pg,
            schema,
            pool_size: self.pool_size,
            application_name,
            encrypted,
            roots: parse_roots(&self.root_pems)?,
            acquire_timeout: self.acquire_timeout,
        })
    }
}

fn parse_url(url: Option<&str>) -> Result<tokio_postgres::Config> {
    let Some(url) = url else {
        return Err(Error::config(
            "no PostgreSQL URL: set one with .url(\"postgres://user@host:5432/db\")",
        ));
    };
    // The parser's messages name options, never their values: no password can leak here.
    let pg = tokio_postgres::Config::from_str(url)
        .map_err(|e| Error::config(format!("the PostgreSQL URL is invalid: {e}")))?;
    if pg.get_hosts().is_empty() {
        return Err(Error::config(
            "the PostgreSQL URL names no host (postgres://user@host:5432/db)",
        ));
    }
    Ok(pg)
}

fn application_name(name: Option<String>) -> Result<String> {
    let name = name.unwrap_or_else(|| format!("kms-sync pid {}", std::process::id()));
    let printable = name.chars().all(|c| c.is_ascii_graphic() || c == ' ');
    if name.is_empty() || name.len() > MAX_APPLICATION_NAME || !printable {
        return Err(Error::config(format!(
            "the PostgreSQL application name must be 1 to {MAX_APPLICATION_NAME} printable \
             ASCII characters (PostgreSQL would mangle it): `{name}`"
        )));
    }
    Ok(name)
}

/// Whether to encrypt, as [`TlsMode`] documents.
fn resolve_tls(mode: TlsMode, pg: &tokio_postgres::Config) -> bool {
    match (mode, pg.get_ssl_mode()) {
        (TlsMode::Disable, _) => false,
        (TlsMode::Require, _) => true,
        (TlsMode::Auto, SslMode::Disable) => false,
        (TlsMode::Auto, SslMode::Require) => true,
        (TlsMode::Auto, _) => !pg.get_hosts().iter().all(is_local),
    }
}

fn is_local(host: &Host) -> bool {
    match host {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name.eq_ignore_ascii_case("localhost")
                || name
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    }
}

fn parse_roots(pems: &[Vec<u8>]) -> Result<Vec<CertificateDer<'static>>> {
    let mut roots = Vec::new();
    for pem in pems {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| Error::config(format!("a TLS root PEM cannot be read: {e}")))?;
        if certs.is_empty() {
            return Err(Error::config(
                "a TLS root PEM holds no certificate (expected -----BEGIN CERTIFICATE-----)",
            ));
        }
        roots.extend(certs);
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(url: &str) -> Result<PostgresConfig> {
        PostgresConfig::builder().url(url).build()
    }

    #[test]
    fn debug_and_display_never_show_the_password() -> Result<()> {
        let url = "postgres://fleet:pa55-CANARY@127.0.0.1:5432/test";
        let config = build(url)?;
        let builder = PostgresConfig::builder().url(url);
        for text in [
            format!("{config:?}"),
            config.to_string(),
            format!("{builder:?}"),
            format!("{config:#?}"),
        ] {
            assert!(!text.contains("pa55-CANARY"), "{text}");
        }
        assert!(format!("{config:?}").contains("[REDACTED]"));
        Ok(())
    }

    #[test]
    fn tls_follows_the_host_and_sslmode() -> Result<()> {
        let cases = [
            ("postgres://u@127.0.0.1/d", false),
            ("postgres://u@localhost/d", false),
            ("postgres://u@[::1]/d", false),
            ("host=/var/run/postgresql user=u dbname=d", false),
            ("postgres://u@db.example.com/d", true),
            ("postgres://u@10.0.0.5/d", true),
            ("postgres://u@db.example.com/d?sslmode=disable", false),
            ("postgres://u@127.0.0.1/d?sslmode=require", true),
            ("postgres://u@127.0.0.1,db.example.com/d", true),
        ];
        for (url, encrypted) in cases {
            assert_eq!(build(url)?.encrypted(), encrypted, "{url}");
        }
        Ok(())
    }

    #[test]
    fn refusals_are_config_errors() {
        let long = "x".repeat(64);
        let cases: [(PostgresConfigBuilder, &str); 6] = [
            (PostgresConfig::builder(), "no PostgreSQL URL"),
            (PostgresConfig::builder().url("postgres:///d"), "no host"),
            (
                PostgresConfig::builder().url("postgres://h/d?bogus=1"),
                "invalid",
            ),
            (
                PostgresConfig::builder().url("postgres://h/d").pool_size(0),
                "pool size",
            ),
            (
                PostgresConfig::builder()
                    .url("postgres://h/d")
                    .application_name(long),
                "application name",
            ),
            (
                PostgresConfig::builder()
                    .url("postgres://h/d")
                    .application_name("wörker"),
                "application name",
            ),
        ];
        for (builder, expected) in cases {
            let err = builder.build().expect_err(expected);
            assert_eq!(err.kind(), kms_sync_core::ErrorKind::Config);
            assert!(err.to_string().contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn the_server_is_described_without_secrets() -> Result<()> {
        let config = PostgresConfig::builder()
            .url("postgres://u:secret@h1:5433/db")
            .schema("fleet")
            .build()?;
        assert_eq!(config.to_string(), "postgres://u@h1:5433/db (schema fleet)");
        Ok(())
    }
}
