//! Notices posted to a webhook: JSON with a Slack-compatible `text`, signed with
//! HMAC-SHA256, sent and retried with backoff by a task of its own.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use kms_sync_core::net::is_loopback_url;
use kms_sync_core::{Error, Result};
use secrecy::{ExposeSecret, SecretBox};
use sha2::Sha256;
use tokio::sync::mpsc;

use super::{Notice, Notifier};

/// The header carrying the signature: `t=<unix seconds>,v1=<hex HMAC-SHA256 of
/// "<t>.<body>">` under the webhook's key.
///
/// ```
/// assert_eq!(kms_sync_fleet::SIGNATURE_HEADER, "x-kms-sync-signature");
/// ```
pub const SIGNATURE_HEADER: &str = "x-kms-sync-signature";

/// How many times a notice is tried before it is dropped (and logged).
const ATTEMPTS: u32 = 5;
/// How many notices may wait to be sent; beyond it new ones are dropped (and logged).
const QUEUE: usize = 1024;

/// Posts each notice to a URL, signed; [`notify`](Notifier::notify) only queues it, a
/// background task sends it with retries (5 tries, backoff from 500 ms). Needs a tokio
/// runtime. Its `Debug` shows neither the URL's query nor the key.
///
/// ```no_run
/// # fn f() -> kms_sync_core::Result<()> {
/// let hook = kms_sync_fleet::WebhookNotifier::new("https://hooks.slack.com/services/T/B/X", b"key".to_vec())?;
/// # Ok(()) }
/// ```
pub struct WebhookNotifier {
    queue: mpsc::Sender<Notice>,
}

impl std::fmt::Debug for WebhookNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookNotifier")
    }
}

struct Sender {
    client: reqwest::Client,
    url: reqwest::Url,
    key: SecretBox<[u8]>,
    backoff: Duration,
}

impl WebhookNotifier {
    /// Posts to `url` (https; http only on a loopback address, for a local relay or a
    /// test), signing with `key`.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for a URL that does not parse, is not
    /// https (or http on loopback), or an empty key.
    ///
    /// ```no_run
    /// # fn f() -> kms_sync_core::Result<()> {
    /// let hook = kms_sync_fleet::WebhookNotifier::new("https://example.com/hook", b"k".to_vec())?;
    /// # Ok(()) }
    /// ```
    pub fn new(url: &str, key: Vec<u8>) -> Result<WebhookNotifier> {
        WebhookNotifier::with_backoff(url, key, Duration::from_millis(500))
    }

    /// As [`new`](Self::new), the first retry after `backoff` (doubling).
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new).
    ///
    /// ```no_run
    /// # fn f() -> kms_sync_core::Result<()> {
    /// let hook = kms_sync_fleet::WebhookNotifier::with_backoff("https://example.com/hook", b"k".to_vec(), std::time::Duration::from_millis(50))?;
    /// # Ok(()) }
    /// ```
    pub fn with_backoff(url: &str, key: Vec<u8>, backoff: Duration) -> Result<WebhookNotifier> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|_| Error::config("webhook notifier: the URL does not parse"))?;
        if !(parsed.scheme() == "https" || parsed.scheme() == "http" && is_loopback_url(&parsed)) {
            return Err(Error::config(
                "webhook notifier: the URL must be https (http only on a loopback address)",
            ));
        }
        if key.is_empty() {
            return Err(Error::config("webhook notifier: the signing key is empty"));
        }
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::config(format!("webhook notifier: {e}")))?;
        let sender = Sender {
            client,
            url: parsed,
            key: SecretBox::new(key.into_boxed_slice()),
            backoff,
        };
        let (queue, notices) = mpsc::channel(QUEUE);
        tokio::spawn(sender.run(notices));
        Ok(WebhookNotifier { queue })
    }
}

/// The signature header's value for `body` at `t` under `key`.
pub(crate) fn signature(key: &[u8], t: u64, body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return String::new(),
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

impl Sender {
    async fn run(self, mut notices: mpsc::Receiver<Notice>) {
        while let Some(notice) = notices.recv().await {
            self.deliver(&notice).await;
        }
    }

    /// Tries `notice` until it is accepted (2xx) or the tries run out.
    async fn deliver(&self, notice: &Notice) {
        let body = notice.to_json().to_string().into_bytes();
        let mut wait = self.backoff;
        for attempt in 1..=ATTEMPTS {
            match self.post(&body).await {
                Ok(()) => return,
                Err(why) if attempt == ATTEMPTS => {
                    tracing::warn!(sync = %notice.sync_id, attempts = ATTEMPTS, why = %why,
                        "kms-sync notices: the webhook did not take the notice; dropped");
                }
                Err(why) => {
                    tracing::debug!(sync = %notice.sync_id, attempt, why = %why, "kms-sync notices: retrying");
                    tokio::time::sleep(wait).await;
                    wait = wait.saturating_mul(2);
                }
            }
        }
    }

    async fn post(&self, body: &[u8]) -> std::result::Result<(), String> {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let response = self
            .client
            .post(self.url.clone())
            .header("content-type", "application/json")
            .header(
                SIGNATURE_HEADER,
                signature(self.key.expose_secret(), t, body),
            )
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| {
                format!(
                    "not reached ({})",
                    if e.is_timeout() { "timeout" } else { "connect" }
                )
            })?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(format!("answered {}", response.status().as_u16()))
        }
    }
}

#[kms_sync_core::async_trait]
impl Notifier for WebhookNotifier {
    async fn notify(&self, notice: &Notice) -> Result<()> {
        self.queue.try_send(notice.clone()).map_err(|_| {
            Error::unexpected("webhook notifier: the queue is full or closed; notice dropped")
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        // RFC 4231 test case 2 shape: key "Jefe", data "what do ya want for nothing?".
        let sig = signature(b"Jefe", 0, b"what do ya want for nothing?");
        assert!(sig.starts_with("t=0,v1="));
        let other = signature(b"Jefe", 1, b"what do ya want for nothing?");
        assert_ne!(sig, other, "the time is signed");
        assert_eq!(sig.len(), "t=0,v1=".len() + 64);
    }

    #[test]
    fn a_url_that_is_not_http_is_refused() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
        let Ok(rt) = rt else { return };
        rt.block_on(async {
            assert!(WebhookNotifier::new("ftp://example.com/x", b"k".to_vec()).is_err());
            let plain = WebhookNotifier::new("http://hooks.example.com/x", b"k".to_vec());
            assert!(
                plain.is_err(),
                "a secret URL and its notices never go in the clear"
            );
            assert!(WebhookNotifier::new("http://127.0.0.1:9/x", b"k".to_vec()).is_ok());
            assert!(WebhookNotifier::new("https://hooks.example.com/x", b"k".to_vec()).is_ok());
            assert!(WebhookNotifier::new("https://example.com/x", Vec::new()).is_err());
        });
    }
}
