//! The URL policy at connect time: a guarded client reaches an allowlisted fake, refuses a
//! name whose resolver answers a private address (also when a public one comes first), and
//! refuses the machine's own PostgreSQL port next to the allowed fake.

use std::io;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::routing::get;
use axum::{Json, Router};
use kms_sync_core::http::{HttpClient, Request};
use kms_sync_core::net::{Lookup, UrlGuard, UrlPolicy};
use kms_sync_core::{async_trait, ErrorKind};
use kms_sync_testkit::FaultServer;
use serde_json::{json, Value};

/// Answers fixed addresses for every name, and counts the questions.
struct Fixed {
    addresses: Vec<IpAddr>,
    asked: AtomicUsize,
}

#[async_trait]
impl Lookup for Fixed {
    async fn lookup(&self, _host: &str) -> io::Result<Vec<IpAddr>> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        Ok(self.addresses.clone())
    }
}

fn fixed(addresses: &[&str]) -> Arc<Fixed> {
    Arc::new(Fixed {
        addresses: addresses
            .iter()
            .map(|a| a.parse().expect("an address"))
            .collect(),
        asked: AtomicUsize::new(0),
    })
}

async fn server() -> FaultServer {
    FaultServer::start(Router::new().route("/ping", get(|| async { Json(json!({"ok": true})) })))
        .await
}

#[tokio::test]
async fn an_allowlisted_fake_is_reached_and_its_neighbour_port_is_refused(
) -> kms_sync_core::Result<()> {
    let server = server().await;
    let port = server.addr().port();
    let policy = UrlPolicy::public_only().allow(format!("http://127.0.0.1:{port}").parse()?);
    let guard = UrlGuard::new(policy);
    let client = HttpClient::builder("svc", server.base_url())
        .url_guard(guard.clone())
        .build()?;
    let answer: Value = client.send(Request::get("/ping")).await?.json()?;
    assert_eq!(answer["ok"], true);
    let refused = HttpClient::builder("svc", "http://127.0.0.1:5432")
        .url_guard(guard)
        .build()
        .expect_err("the database port is not on the allowlist");
    assert_eq!(refused.kind(), ErrorKind::Config);
    Ok(())
}

#[tokio::test]
async fn a_name_resolving_to_a_private_address_is_never_connected() -> kms_sync_core::Result<()> {
    let server = server().await;
    let port = server.addr().port();
    // The fake listens on 127.0.0.1; a name that resolves there is refused unless the
    // policy allows the address, whatever the resolver put first.
    for answers in [&["127.0.0.1"][..], &["8.8.8.8", "127.0.0.1"][..]] {
        let lookup = fixed(answers);
        let guard = UrlGuard::with_lookup(UrlPolicy::public_only(), lookup.clone());
        let client = HttpClient::builder("svc", format!("https://fake.example.com:{port}"))
            .url_guard(guard)
            .build()?;
        let err = client
            .send(Request::get("/ping"))
            .await
            .expect_err("refused at connect time");
        assert!(lookup.asked.load(Ordering::SeqCst) >= 1, "{answers:?}");
        assert!(err.to_string().contains("loopback"), "{answers:?}: {err}");
        assert_eq!(
            err.kind(),
            ErrorKind::Config,
            "a refusal is not retried: {err}"
        );
        assert_eq!(server.faults().count(), 0, "nothing reached the server");
    }
    Ok(())
}

#[tokio::test]
async fn an_allowed_network_is_reached_through_a_name() -> kms_sync_core::Result<()> {
    let server = server().await;
    let port = server.addr().port();
    let policy = UrlPolicy::public_only()
        .allow("127.0.0.0/8".parse()?)
        .allow(format!("http://fake.test:{port}").parse()?);
    let guard = UrlGuard::with_lookup(policy, fixed(&["127.0.0.1"]));
    let client = HttpClient::builder("svc", format!("http://fake.test:{port}"))
        .url_guard(guard)
        .build()?;
    let answer: Value = client.send(Request::get("/ping")).await?.json()?;
    assert_eq!(answer["ok"], true);
    Ok(())
}
