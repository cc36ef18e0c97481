//! A GitHub App's authentication: its RSA key, the RS256 JWT it signs (valid for at most
//! ten minutes, as GitHub requires), and the installation token that JWT is exchanged
//! for, cached until shortly before it expires.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use kms_sync_core::{Error, ErrorKind, Result};
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use secrecy::SecretString;
use tokio::sync::Mutex;

/// How long before its expiry an installation token is replaced.
pub(crate) const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// The JWT is dated this far back, for clock drift (as GitHub recommends).
const JWT_BACKDATE: u64 = 60;
/// The JWT's lifetime from its issue time (GitHub allows at most ten minutes).
const JWT_LIFETIME: u64 = 9 * 60;

/// A GitHub App's private key. `Debug` shows nothing of it.
pub(crate) struct AppKey(RsaKeyPair);

impl fmt::Debug for AppKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppKey([REDACTED])")
    }
}

impl AppKey {
    /// Reads a PEM RSA private key: `RSA PRIVATE KEY` (PKCS#1, as GitHub issues them) or
    /// `PRIVATE KEY` (PKCS#8).
    pub fn from_pem(pem: &str) -> Result<AppKey> {
        let refused = || {
            Error::config(
                "GitHub connection: privateKey is not an RSA private key in PEM (`-----BEGIN RSA PRIVATE KEY-----` as GitHub issues it, or PKCS#8)",
            )
        };
        let (label, der) = pem_body(pem).ok_or_else(refused)?;
        let pair = match label.as_str() {
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der),
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der),
            _ => return Err(refused()),
        };
        pair.map(AppKey).map_err(|_| refused())
    }

    /// The public key (PKCS#1 `RSAPublicKey` DER), for a fake to check signatures with.
    #[cfg_attr(not(any(test, feature = "fake")), allow(dead_code))]
    pub fn public_key_der(&self) -> Vec<u8> {
        use ring::signature::KeyPair as _;
        self.0.public_key().as_ref().to_vec()
    }

    /// A JWT for App `app_id`, issued at `now` (seconds since the epoch).
    pub fn jwt(&self, app_id: &str, now: u64) -> Result<SecretString> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        // A numeric App id is sent as a number, a client id as text; both are accepted.
        let issuer = match app_id.parse::<u64>() {
            Ok(n) => serde_json::Value::from(n),
            Err(_) => serde_json::Value::from(app_id),
        };
        let claims = serde_json::json!({
            "iat": now.saturating_sub(JWT_BACKDATE),
            "exp": now + JWT_LIFETIME,
            "iss": issuer,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let mut signature = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| Error::unexpected("signing the GitHub App JWT failed"))?;
        let signature = URL_SAFE_NO_PAD.encode(signature);
        Ok(SecretString::from(format!("{signing_input}.{signature}")))
    }
}

/// The label and decoded body of the first PEM block in `pem`.
fn pem_body(pem: &str) -> Option<(String, Vec<u8>)> {
    let mut lines = pem.lines().map(str::trim).skip_while(|l| l.is_empty());
    let label = lines
        .next()?
        .strip_prefix("-----BEGIN ")?
        .strip_suffix("-----")?
        .to_owned();
    let end = format!("-----END {label}-----");
    let mut body = String::new();
    for line in lines {
        if line == end {
            return STANDARD.decode(body).ok().map(|der| (label, der));
        }
        body.push_str(line);
    }
    None
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// An installation token and when it stops being used.
struct Cached {
    token: SecretString,
    replace_at: SystemTime,
}

/// The installation token of one App installation, minted on first use and again once it
/// is within [`REFRESH_MARGIN`] of its expiry.
#[derive(Default)]
pub(crate) struct TokenCache {
    cached: Mutex<Option<Cached>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenCache([REDACTED])")
    }
}

impl TokenCache {
    /// The cached token, or a new one from `mint` (token, expiry as GitHub wrote it).
    pub async fn get<F, Fut>(&self, mint: F) -> Result<SecretString>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<(SecretString, String)>>,
    {
        let mut cached = self.cached.lock().await;
        if let Some(c) = cached.as_ref().filter(|c| SystemTime::now() < c.replace_at) {
            return Ok(c.token.clone());
        }
        let (token, expires_at) = mint().await?;
        let expires = parse_utc(&expires_at).ok_or_else(|| {
            Error::new(
                ErrorKind::Unexpected,
                // Not echoed: a garbled answer could carry the token in any field.
                "GitHub's installation token answer has an `expires_at` that is not a UTC time",
            )
        })?;
        let replace_at = expires.checked_sub(REFRESH_MARGIN).unwrap_or(UNIX_EPOCH);
        *cached = Some(Cached {
            token: token.clone(),
            replace_at,
        });
        Ok(token)
    }

    /// Forgets the token (GitHub refused it), so the next request mints another.
    pub async fn forget(&self) {
        *self.cached.lock().await = None;
    }

    /// Whether a token is cached (for tests).
    #[cfg(test)]
    pub async fn holds_token(&self) -> bool {
        self.cached.lock().await.is_some()
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` (GitHub's timestamps) as a time.
pub(crate) fn parse_utc(text: &str) -> Option<SystemTime> {
    let b = text.trim().as_bytes();
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<u64> {
        std::str::from_utf8(b.get(from..to)?).ok()?.parse().ok()
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    let valid = (1..=12).contains(&month) && (1..=31).contains(&day) && hour < 24;
    if !valid || minute > 59 || second > 60 || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let days = days_from_civil(year, month, day)?;
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second;
    UNIX_EPOCH.checked_add(Duration::from_secs(secs))
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar (1970 or later).
fn days_from_civil(year: u64, month: u64, day: u64) -> Option<u64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe).checked_sub(719_468)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    const KEY: &str = include_str!("../testdata/fake-app-key.pem");

    #[test]
    fn utc_times_parse() {
        let at = |s: &str| parse_utc(s).and_then(|t| t.duration_since(UNIX_EPOCH).ok());
        assert_eq!(at("1970-01-01T00:00:00Z"), Some(Duration::ZERO));
        assert_eq!(
            at("2016-07-11T22:14:10Z"),
            Some(Duration::from_secs(1_468_275_250))
        );
        assert_eq!(
            at("2024-02-29T12:00:00Z"),
            Some(Duration::from_secs(1_709_208_000))
        );
        for bad in ["2016-07-11 22:14:10Z", "2016-13-11T22:14:10Z", "soon", ""] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_jwt_verifies_with_the_public_key() -> Result<()> {
        let key = AppKey::from_pem(KEY)?;
        let jwt = key.jwt("12345", 1_700_000_000)?;
        let parts: Vec<&str> = jwt.expose_secret().split('.').collect();
        assert_eq!(parts.len(), 3);
        let claims: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(parts[1])
                .map_err(|e| Error::unexpected(e.to_string()))?,
        )
        .map_err(|e| Error::unexpected(e.to_string()))?;
        assert_eq!(
            claims,
            serde_json::json!({"iat": 1_699_999_940u64, "exp": 1_700_000_540u64, "iss": 12345})
        );
        let signature = URL_SAFE_NO_PAD
            .decode(parts[2])
            .map_err(|e| Error::unexpected(e.to_string()))?;
        let public = ring::signature::UnparsedPublicKey::new(
            &ring::signature::RSA_PKCS1_2048_8192_SHA256,
            key.public_key_der(),
        );
        let signed = format!("{}.{}", parts[0], parts[1]);
        assert!(public.verify(signed.as_bytes(), &signature).is_ok());
        assert!(public.verify(b"something else", &signature).is_err());
        Ok(())
    }

    #[test]
    fn bad_keys_are_refused_without_showing_them() {
        let pkcs8_label = KEY.replace("RSA PRIVATE KEY", "PRIVATE KEY");
        for pem in [
            "",
            "SECRET",
            "-----BEGIN RSA PRIVATE KEY-----\nSECRET\n",
            &pkcs8_label,
        ] {
            let err = AppKey::from_pem(pem).expect_err("refused");
            assert!(err.to_string().contains("not an RSA private key"), "{err}");
            assert!(!err.to_string().contains("SECRET"));
        }
        assert_eq!(
            format!("{:?}", AppKey::from_pem(KEY).ok()),
            "Some(AppKey([REDACTED]))"
        );
    }

    #[tokio::test]
    async fn tokens_are_cached_until_near_expiry() -> Result<()> {
        let cache = TokenCache::default();
        let far = "2999-01-01T00:00:00Z".to_owned();
        let first = cache
            .get(|| async { Ok((SecretString::from("t1"), far.clone())) })
            .await?;
        let again = cache
            .get(|| async { Err(Error::unexpected("must not mint again")) })
            .await?;
        assert_eq!((first.expose_secret(), again.expose_secret()), ("t1", "t1"));
        cache.forget().await;
        assert!(!cache.holds_token().await);
        // A token that expires within the margin is used once, then replaced.
        let soon = "1970-01-01T00:04:00Z".to_owned();
        cache
            .get(|| async { Ok((SecretString::from("t2"), soon)) })
            .await?;
        let next = cache
            .get(|| async { Ok((SecretString::from("t3"), far)) })
            .await?;
        assert_eq!(next.expose_secret(), "t3");
        let err = TokenCache::default()
            .get(|| async { Ok((SecretString::from("t4"), "tomorrow".to_owned())) })
            .await
            .expect_err("bad expiry");
        let shown = err.to_string();
        assert!(shown.contains("not a UTC time"), "{shown}");
        assert!(
            !shown.contains("tomorrow"),
            "the answer is not echoed: {shown}"
        );
        Ok(())
    }
}
