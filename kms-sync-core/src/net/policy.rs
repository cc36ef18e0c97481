//! [`UrlPolicy`]: which URLs a connection or a definition may name, and which addresses
//! their names may resolve to.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;
use url::{Host, Url};

use super::address::AddressClass;
use super::lookup::Lookup;
use crate::error::{Error, Result};

/// One exception to the public-HTTPS-only rule: a network, or one host and port.
///
/// Parsed from `10.0.0.0/8` (a network: any port, HTTPS), `octopus.corp:443` or
/// `[::1]:8080` (one host and port, HTTPS), and `http://127.0.0.1:8080` (one host and port,
/// plain HTTP allowed too).
///
/// ```
/// use kms_sync_core::net::AllowEntry;
/// let fake: AllowEntry = "http://127.0.0.1:8080".parse()?;
/// assert_eq!(fake.to_string(), "http://127.0.0.1:8080");
/// let corp: AllowEntry = "10.20.0.0/16".parse()?;
/// assert_eq!(corp.to_string(), "10.20.0.0/16");
/// assert!("127.0.0.1".parse::<AllowEntry>().is_err()); // a host needs its port
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowEntry {
    /// Addresses in this network may be reached over HTTPS, on any port.
    Network(IpNet),
    /// This host (a name or an address, lower case) on this port.
    Host {
        /// The host as written in URLs (`[...]` for IPv6).
        host: String,
        /// The port.
        port: u16,
        /// Whether plain `http://` is allowed too.
        plain_http: bool,
    },
}

impl FromStr for AllowEntry {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim();
        if let Ok(net) = text.parse::<IpNet>() {
            return Ok(AllowEntry::Network(net.trunc()));
        }
        let (plain_http, rest) = match text.split_once("://") {
            Some(("http", rest)) => (true, rest),
            Some(("https", rest)) => (false, rest),
            Some((scheme, _)) => return Err(bad_entry(text, &format!("scheme `{scheme}`"))),
            None => (false, text),
        };
        let scheme = if plain_http { "http" } else { "https" };
        let url = Url::parse(&format!("{scheme}://{rest}"))
            .map_err(|e| bad_entry(text, &e.to_string()))?;
        // `Url::port` hides a port equal to the scheme's default (`:443`); the entry must
        // still spell one.
        let port = url.port_or_known_default().filter(|_| spells_port(rest));
        let (Some(host), Some(port)) = (url.host_str(), port) else {
            return Err(bad_entry(text, "a host needs its port (`host:port`)"));
        };
        if url.path() != "/" || url.query().is_some() || !url.username().is_empty() {
            return Err(bad_entry(text, "only `host:port` is allowed"));
        }
        Ok(AllowEntry::Host {
            host: host.to_ascii_lowercase(),
            port,
            plain_http,
        })
    }
}

/// Whether `host:port` text (an IPv6 host in brackets) ends with a port.
fn spells_port(text: &str) -> bool {
    let text = text.trim_end_matches('/');
    text.rsplit_once(':').is_some_and(|(host, port)| {
        !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && (!host.starts_with('[') || host.ends_with(']'))
    })
}

fn bad_entry(text: &str, why: &str) -> Error {
    Error::config(format!(
        "`{text}` is not an allowlist entry ({why}); write a network such as `10.0.0.0/8`, \
         or `host:port`, or `http://host:port` to allow plain HTTP"
    ))
}

impl fmt::Display for AllowEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowEntry::Network(net) => write!(f, "{net}"),
            AllowEntry::Host {
                host,
                port,
                plain_http,
            } => {
                let scheme = if *plain_http { "http://" } else { "" };
                write!(f, "{scheme}{host}:{port}")
            }
        }
    }
}

/// Which URLs a tenant may name (an Octopus `instanceUrl`, the KMS's URL, any destination's
/// base URL): HTTPS only, no `user:password@`, and hosts whose every address is public —
/// unless an [`AllowEntry`] says otherwise. Checked when a URL is stored, and again at
/// connect time on every hop through
/// [`HttpClientBuilder::url_guard`](crate::http::HttpClientBuilder::url_guard), where the checked addresses are the ones connected to
/// (no DNS rebinding between check and use).
///
/// ```
/// use kms_sync_core::net::UrlPolicy;
/// let policy = UrlPolicy::public_only().allow("http://127.0.0.1:8080".parse()?);
/// assert!(policy.check_url_str("http://127.0.0.1:8080/api").is_ok());
/// assert!(policy.check_url_str("http://127.0.0.1:5432").is_err());
/// assert!(policy.check_url_str("https://169.254.169.254/latest").is_err());
/// assert!(policy.check_url_str("https://user:pw@octopus.example.com").is_err());
/// assert!(policy.check_url_str("http://octopus.example.com").is_err());
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UrlPolicy {
    allow: Vec<AllowEntry>,
}

impl UrlPolicy {
    /// Public HTTPS hosts only (the default).
    pub fn public_only() -> Self {
        UrlPolicy::default()
    }

    /// Adds an exception.
    pub fn allow(mut self, entry: AllowEntry) -> Self {
        self.allow.push(entry);
        self
    }

    /// The exceptions.
    pub fn allowed(&self) -> &[AllowEntry] {
        &self.allow
    }

    /// Parses and checks `text` (see [`check_url`](Self::check_url)).
    ///
    /// # Errors
    ///
    /// [`Config`](crate::ErrorKind::Config) for a URL that does not parse or is refused.
    pub fn check_url_str(&self, text: &str) -> Result<Url> {
        let url = Url::parse(text.trim())
            .map_err(|e| Error::config(format!("the URL does not parse: {e}")))?;
        self.check_url(&url)?;
        Ok(url)
    }

    /// Checks what can be checked without resolving: no userinfo, HTTPS (or plain HTTP to an
    /// allowed `http://host:port`), and an address literal that is public or allowed. A name
    /// passes here; its addresses are checked by [`resolve`](Self::resolve).
    ///
    /// # Errors
    ///
    /// [`Config`](crate::ErrorKind::Config) naming the URL without its userinfo and the rule
    /// it breaks.
    pub fn check_url(&self, url: &Url) -> Result<()> {
        let shown = shown(url);
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refused(&shown, "it carries a user name or password; pass credentials in the connection's credentials instead"));
        }
        let host = url
            .host()
            .ok_or_else(|| refused(&shown, "it names no host"))?;
        let port = url.port_or_known_default().unwrap_or(0);
        let exact = self.host_entry(&host_text(&host), port);
        match (url.scheme(), exact) {
            ("https", _) => {}
            ("http", Some(true)) => {}
            ("http", _) => {
                return Err(refused(
                    &shown,
                    "plain http:// is allowed only to a host and port on the allowlist",
                ))
            }
            (other, _) => return Err(refused(&shown, &format!("scheme `{other}` is not https"))),
        }
        if exact.is_some() {
            return Ok(());
        }
        if self.names_host(&host_text(&host)) {
            // The resolver trusts an allowed name's addresses whatever the port (it is not
            // told the port), so the name's other ports are refused here.
            return Err(refused(
                &shown,
                "only the port on the allowlist may be reached on this host",
            ));
        }
        match literal_ip(&host) {
            Some(ip) => self.check_address(&shown, ip),
            None if is_local_name(&host_text(&host)) => {
                Err(refused(&shown, "`localhost` names this machine"))
            }
            None => Ok(()),
        }
    }

    /// Resolves `host` with `lookup` and returns its addresses with `port`, refusing the whole
    /// answer if any address is not public (a resolver that answers a public address first and
    /// a private one second is refused) unless the host or address is allowed.
    ///
    /// # Errors
    ///
    /// [`Config`](crate::ErrorKind::Config) naming the host and the class of the refused
    /// address (never the address itself); [`Unavailable`](crate::ErrorKind::Unavailable)
    /// when the name does not resolve.
    pub async fn resolve(
        &self,
        host: &str,
        port: u16,
        lookup: &dyn Lookup,
    ) -> Result<Vec<SocketAddr>> {
        let host = host.to_ascii_lowercase();
        let addresses = lookup.lookup(&host).await.map_err(|e| {
            Error::new(
                crate::ErrorKind::Unavailable,
                format!("cannot resolve `{host}`: {e}"),
            )
        })?;
        if self
            .allow
            .iter()
            .any(|e| matches!(e, AllowEntry::Host { host: h, .. } if *h == host))
        {
            return Ok(addresses
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port))
                .collect());
        }
        for ip in &addresses {
            self.check_address(&format!("`{host}`"), *ip)?;
        }
        Ok(addresses
            .into_iter()
            .map(|ip| SocketAddr::new(ip, port))
            .collect())
    }

    fn check_address(&self, shown: &str, ip: IpAddr) -> Result<()> {
        let class = AddressClass::of(ip);
        if class.is_public() || self.in_allowed_network(ip) {
            return Ok(());
        }
        Err(refused(
            shown,
            &format!("it reaches a {class} address, which connections may not reach unless it is on the allowlist"),
        ))
    }

    fn in_allowed_network(&self, ip: IpAddr) -> bool {
        self.allow
            .iter()
            .any(|e| matches!(e, AllowEntry::Network(net) if net.contains(&ip)))
    }

    /// Whether a host entry names `host` (on any port).
    fn names_host(&self, host: &str) -> bool {
        self.allow
            .iter()
            .any(|e| matches!(e, AllowEntry::Host { host: h, .. } if h == host))
    }

    /// `Some(plain_http)` when `host:port` is an allowed host entry.
    fn host_entry(&self, host: &str, port: u16) -> Option<bool> {
        self.allow.iter().find_map(|e| match e {
            AllowEntry::Host {
                host: h,
                port: p,
                plain_http,
            } if h == host && *p == port => Some(*plain_http),
            _ => None,
        })
    }
}

/// The host as an allowlist entry writes it.
fn host_text(host: &Host<&str>) -> String {
    match host {
        Host::Domain(d) => d.to_ascii_lowercase(),
        Host::Ipv4(ip) => ip.to_string(),
        Host::Ipv6(ip) => format!("[{ip}]"),
    }
}

fn literal_ip(host: &Host<&str>) -> Option<IpAddr> {
    match host {
        Host::Ipv4(ip) => Some(IpAddr::V4(*ip)),
        Host::Ipv6(ip) => Some(IpAddr::V6(*ip)),
        Host::Domain(_) => None,
    }
}

fn is_local_name(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    host == "localhost" || host.ends_with(".localhost")
}

/// The URL as an error may show it: scheme, host and port, never userinfo, path or query.
fn shown(url: &Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("`{}://{host}:{port}`", url.scheme()),
        None => format!("`{}://{host}`", url.scheme()),
    }
}

fn refused(shown: &str, why: &str) -> Error {
    Error::config(format!("the URL {shown} is refused: {why}"))
}
