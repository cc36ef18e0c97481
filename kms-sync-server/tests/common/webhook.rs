//! A webhook receiver on 127.0.0.1 for the failure notices: it keeps every request's
//! signature header and body, and checks a signature as a receiver would.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// One request the receiver took: its signature header and its body.
#[derive(Debug, Clone)]
pub struct Received {
    pub signature: String,
    pub body: String,
}

/// A running receiver; `url` takes notices (any path under it).
pub struct Receiver {
    pub url: String,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    /// Listens on a free port of 127.0.0.1; `path` is the hook's path.
    pub async fn start(path: &str) -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let app = Router::new()
            .route(path, post(take))
            .with_state(received.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap_or_else(|e| panic!("webhook receiver: {e}"));
        let address = listener
            .local_addr()
            .unwrap_or_else(|e| panic!("webhook receiver: {e}"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{address}{path}"),
            received,
        }
    }

    /// Every request so far.
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

async fn take(
    State(received): State<Arc<Mutex<Vec<Received>>>>,
    headers: HeaderMap,
    body: Bytes,
) -> &'static str {
    let signature = headers
        .get(kms_sync_fleet::SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = String::from_utf8_lossy(&body).into_owned();
    if let Ok(mut list) = received.lock() {
        list.push(Received { signature, body });
    }
    "ok"
}

/// Whether `signature` (`t=<secs>,v1=<hex>`) is the HMAC-SHA256 of `<t>.<body>` under `key`.
pub fn signed_with(key: &[u8], signature: &str, body: &str) -> bool {
    let Some((t, v1)) = signature
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return false;
    };
    mac.update(format!("{t}.{body}").as_bytes());
    hex::encode(mac.finalize().into_bytes()) == v1
}
