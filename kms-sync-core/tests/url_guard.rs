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

/// A TCP listener on 127.0.0.1 that counts the connections it accepts (and answers none).
async fn counting_listener() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let port = listener.local_addr().expect("its address").port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (port, accepted)
}

#[tokio::test]
async fn a_name_resolving_to_a_private_address_is_never_connected() -> kms_sync_core::Result<()> {
    let (port, accepted) = counting_listener().await;
    // The listener is on 127.0.0.1; a name that resolves there is refused before any
    // connection unless the policy allows the address, whatever the resolver put first.
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
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "no connection was made");
    // The same client without a guard does connect: the count above can fail.
    let unguarded = HttpClient::builder("svc", format!("http://127.0.0.1:{port}")).build()?;
    let _ = unguarded.send(Request::get("/ping")).await;
    assert!(
        accepted.load(Ordering::SeqCst) >= 1,
        "the listener counts connections"
    );
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
