//! Verifying the KMS's webhook signatures, so an embedding service can trigger a sync when
//! secrets change.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use kms_sync_core::{Error, ErrorKind, Result};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sha2::Sha256;

/// The signature header Hanzo KMS sends.
pub const SIGNATURE_HEADER: &str = "x-kms-signature";
/// The signature header upstream Infisical sends.
pub const INFISICAL_SIGNATURE_HEADER: &str = "x-infisical-signature";

/// What a verified webhook says (it never carries secret values: it is a "fetch now" signal).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct WebhookEvent {
    /// E.g. `secrets.modified`.
    pub event: String,
    /// Milliseconds since the epoch, as signed.
    pub timestamp: u64,
    /// The project and place that changed.
    #[serde(default)]
    pub project: Option<WebhookProject>,
}

/// The project part of a webhook.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebhookProject {
    /// The project id.
    #[serde(default)]
    pub workspace_id: Option<String>,
    /// The environment slug.
    #[serde(default)]
    pub environment: Option<String>,
    /// The folder path.
    #[serde(default)]
    pub secret_path: Option<String>,
}

fn refuse(why: &str) -> Error {
    Error::new(
        ErrorKind::Unauthenticated,
        format!("webhook refused: {why}"),
    )
}

/// Verifies a webhook: `header` is the value of [`SIGNATURE_HEADER`] (or
/// [`INFISICAL_SIGNATURE_HEADER`]), `t=<ms>;<hex HMAC-SHA256 of the raw body>`. The MAC is
/// compared in constant time; `t` must equal the body's `timestamp` and be within `tolerance`
/// of now (replays are refused).
///
/// # Errors
///
/// [`Unauthenticated`](ErrorKind::Unauthenticated) for a malformed header, a wrong signature, a
/// mismatched or stale timestamp, or a body that is not a webhook.
///
/// ```
/// use kms_sync_hanzo::{sign_webhook, verify_webhook};
/// use secrecy::SecretString;
/// use std::time::{Duration, SystemTime, UNIX_EPOCH};
/// let key = SecretString::from("webhook-secret".to_owned());
/// let ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_millis() as u64;
/// let body = format!(r#"{{"event":"secrets.modified","timestamp":{ms}}}"#);
/// let header = sign_webhook(&key, body.as_bytes(), ms);
/// let event = verify_webhook(&key, &header, body.as_bytes(), Duration::from_secs(300))?;
/// assert_eq!(event.event, "secrets.modified");
/// assert!(verify_webhook(&key, &header, b"{\"event\":\"forged\"}", Duration::from_secs(300)).is_err());
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
pub fn verify_webhook(
    key: &SecretString,
    header: &str,
    body: &[u8],
    tolerance: Duration,
) -> Result<WebhookEvent> {
    let (t, signature) = header
        .trim()
        .split_once(';')
        .ok_or_else(|| refuse("the signature header is not `t=<ms>;<hex>`"))?;
    let t: u64 = t
        .trim()
        .strip_prefix("t=")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| refuse("the signature header has no valid `t=`"))?;
    let signature =
        hex::decode(signature.trim()).map_err(|_| refuse("the signature is not hex"))?;
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.expose_secret().as_bytes())
        .map_err(|_| refuse("the webhook key was refused"))?;
    mac.update(body);
    mac.verify_slice(&signature)
        .map_err(|_| refuse("the signature does not match the body"))?;
    let event: WebhookEvent =
        serde_json::from_slice(body).map_err(|_| refuse("the body is not a KMS webhook"))?;
    if event.timestamp != t {
        return Err(refuse("the signed time and the body's timestamp differ"));
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis() as u64;
    if now.abs_diff(t) > u64::try_from(tolerance.as_millis()).unwrap_or(u64::MAX) {
        return Err(refuse(
            "the webhook is too old (or from the future); replays are refused",
        ));
    }
    Ok(event)
}

/// Signs a body as the KMS does (for tests and for relaying): `t=<ms>;<hex>`.
pub fn sign_webhook(key: &SecretString, body: &[u8], timestamp_ms: u64) -> String {
    let signature = <Hmac<Sha256> as Mac>::new_from_slice(key.expose_secret().as_bytes())
        .map(|mut mac| {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        })
        .unwrap_or_default();
    format!("t={timestamp_ms};{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now_ms() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64
    }

    #[test]
    fn forged_tampered_replayed_and_malformed_are_refused() {
        let key = SecretString::from("k".to_owned());
        let ms = now_ms();
        let body = format!(
            r#"{{"event":"secrets.modified","timestamp":{ms},"project":{{"workspaceId":"p","environment":"prod","secretPath":"/"}}}}"#
        );
        let good = sign_webhook(&key, body.as_bytes(), ms);
        let event =
            verify_webhook(&key, &good, body.as_bytes(), Duration::from_secs(60)).expect("valid");
        assert_eq!(
            event.project.and_then(|p| p.environment).as_deref(),
            Some("prod")
        );

        let other_key = SecretString::from("other".to_owned());
        let forged = sign_webhook(&other_key, body.as_bytes(), ms);
        let tampered = body.replace("prod", "dev");
        let old_ms = ms - 3_600_000;
        let old_body = format!(r#"{{"event":"secrets.modified","timestamp":{old_ms}}}"#);
        let old = sign_webhook(&key, old_body.as_bytes(), old_ms);
        let shifted = sign_webhook(&key, body.as_bytes(), ms + 1);
        let cases: [(&str, &str, &str); 6] = [
            (&forged, &body, "does not match"),
            (&good, &tampered, "does not match"),
            (&old, &old_body, "too old"),
            (&shifted, &body, "differ"),
            ("garbage", &body, "not `t=<ms>;<hex>`"),
            ("t=1;zz", &body, "not hex"),
        ];
        for (header, body, expected) in cases {
            let err = verify_webhook(&key, header, body.as_bytes(), Duration::from_secs(60))
                .expect_err(expected);
            assert!(err.to_string().contains(expected), "{err}");
        }
    }
}
