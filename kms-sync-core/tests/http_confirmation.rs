//! Writes are confirmed only by what confirms them (issue 22, class 1), and a service's
//! error that echoes the request never carries a value or a credential (class 3). Against
//! a loopback server that counts what it is asked.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response as AxumResponse};
use axum::routing::{any, get};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use kms_sync_core::http::*;
use kms_sync_core::{Error, ErrorKind, Result};
use kms_sync_testkit::FaultServer;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};

const TOKEN: &str = "tok-confirm-8c2f5e71d4";

fn with_type(status: u16, content_type: Option<&str>, body: &'static str) -> AxumResponse {
    let mut response = Body::from(body).into_response();
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    if let Some(t) = content_type {
        response
            .headers_mut()
            .insert("content-type", t.parse().expect("a header value"));
    }
    response
}

fn app() -> Router {
    Router::new()
        .route(
            "/redirect/{status}",
            any(|Path(status): Path<u16>| async move {
                let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SEE_OTHER);
                (code, [("location", "/landing?token=location-query-secret")]).into_response()
            }),
        )
        .route("/landing", any(|| async { Json(json!({"ok": true})) }))
        .route(
            "/loop",
            get(|| async { (StatusCode::FOUND, [("location", "/loop")]).into_response() }),
        )
        .route(
            "/html",
            any(|| async {
                with_type(
                    200,
                    Some("text/html; charset=utf-8"),
                    "<html><body>Sign in</body></html>",
                )
            }),
        )
        .route(
            "/text",
            any(|| async { with_type(200, Some("text/plain"), "OK") }),
        )
        .route(
            "/broken",
            any(|| async { with_type(200, Some("application/json"), "{") }),
        )
        .route("/untyped", any(|| async { with_type(200, None, "done") }))
        .route("/no-content", any(|| async { with_type(204, None, "") }))
        .route(
            "/json",
            any(|| async { with_type(200, Some("application/json"), r#"{"key":"A"}"#) }),
        )
        .route(
            "/problem",
            any(|| async { with_type(200, Some("application/problem+json"), r#"{"key":"A"}"#) }),
        )
        .route("/reject/{form}", any(reject))
}

fn fast() -> RetryConfig {
    RetryConfig::default()
        .with_base_delay(Duration::from_millis(5))
        .with_max_delay(Duration::from_millis(20))
}

fn client(server: &FaultServer) -> HttpClientBuilder {
    HttpClient::builder("svc", server.base_url())
        .auth(Auth::bearer(TOKEN))
        .retry(fast())
}

fn write(method: Method, path: &str) -> Result<Request> {
    Request::new(method, path).json(&json!({"key": "A", "value": "v-123456"}))
}

fn requests_to(server: &FaultServer, path: &str) -> usize {
    server
        .faults()
        .log()
        .iter()
        .filter(|r| r.path == path)
        .count()
}

#[tokio::test]
async fn a_write_answered_by_a_redirect_is_unconfirmed_and_never_followed() -> Result<()> {
    let server = FaultServer::start(app()).await;
    // Even a client that lets reads follow redirects never follows a write's.
    for follow in [false, true] {
        let c = client(&server).follow_read_redirects(follow).build()?;
        for method in [Method::Put, Method::Post, Method::Patch, Method::Delete] {
            for status in [303u16, 307, 308] {
                server.faults().reset();
                let path = format!("/redirect/{status}");
                let err = c
                    .send(write(method, &path)?)
                    .await
                    .expect_err("a redirect does not confirm a write");
                let shown = format!("{err} {err:?}");
                assert_eq!(err.kind(), ErrorKind::Unconfirmed, "{shown}");
                assert_eq!(err.status(), Some(status));
                assert!(shown.contains(&format!("{method} {path}")), "{shown}");
                assert!(shown.contains(&status.to_string()), "{shown}");
                assert!(!shown.contains("location-query-secret"), "{shown}");
                assert_eq!(
                    requests_to(&server, "/landing"),
                    0,
                    "{method} {status} followed"
                );
                assert_eq!(
                    server.faults().count(),
                    1,
                    "{method} {status}: never retried"
                );
            }
        }
    }
    Ok(())
}

#[tokio::test]
async fn a_read_follows_a_same_origin_redirect_only_when_allowed() -> Result<()> {
    let server = FaultServer::start(app()).await;
    let strict = client(&server).build()?;
    let err = strict
        .send(Request::get("/redirect/302"))
        .await
        .expect_err("this client does not follow");
    assert_eq!(err.kind(), ErrorKind::Unexpected, "{err}");
    assert!(
        err.to_string().contains("does not follow redirects"),
        "{err}"
    );
    assert_eq!(requests_to(&server, "/landing"), 0);

    let following = client(&server).follow_read_redirects(true).build()?;
    for status in [301u16, 302, 303, 307, 308] {
        server.faults().reset();
        let body: Value = following
            .send(Request::get(format!("/redirect/{status}")))
            .await?
            .json()?;
        assert_eq!(body["ok"], true);
        let log = server.faults().log();
        let landed = log.iter().find(|r| r.path == "/landing").expect("followed");
        assert!(
            landed.has_header("authorization"),
            "credentials kept at home"
        );
    }
    // A read marked reads_only (a search by POST) follows too.
    server.faults().reset();
    following
        .send(write(Method::Post, "/redirect/303")?.reads_only())
        .await?;
    assert_eq!(requests_to(&server, "/landing"), 1);

    server.faults().reset();
    let err = following
        .send(Request::get("/loop"))
        .await
        .expect_err("a loop of redirects");
    assert!(err.to_string().contains("more than 5"), "{err}");
    assert_eq!(
        server.faults().count(),
        6,
        "the first request and five hops"
    );
    Ok(())
}

#[tokio::test]
async fn a_read_never_follows_a_redirect_to_another_origin() -> Result<()> {
    let elsewhere = FaultServer::start(app()).await;
    let target = elsewhere.url("/landing");
    let home = FaultServer::start(app().route(
        "/away",
        get(move || {
            let target = target.clone();
            async move { (StatusCode::FOUND, [("location", target)]).into_response() }
        }),
    ))
    .await;
    let c = client(&home).follow_read_redirects(true).build()?;
    let err = c
        .send(Request::get("/away"))
        .await
        .expect_err("cross-origin");
    assert!(err.to_string().contains("another origin"), "{err}");
    assert_eq!(
        elsewhere.faults().count(),
        0,
        "nothing reached the other origin"
    );
    Ok(())
}

#[tokio::test]
async fn a_write_is_confirmed_only_by_an_empty_body_or_json_declared_as_json() -> Result<()> {
    let server = FaultServer::start(app()).await;
    let c = client(&server).build()?;
    for path in ["/html", "/text", "/broken", "/untyped"] {
        for method in [Method::Put, Method::Post, Method::Delete] {
            server.faults().reset();
            let err = c
                .send(write(method, path)?)
                .await
                .expect_err("not a confirmation");
            assert_eq!(err.kind(), ErrorKind::Unconfirmed, "{method} {path}: {err}");
            assert_eq!(server.faults().count(), 1, "{method} {path}: never retried");
        }
    }
    for path in ["/no-content", "/json", "/problem"] {
        c.send(write(Method::Put, path)?).await?;
    }
    // A read of a web page is the caller's to judge: it is not a write.
    let page = c.send(Request::get("/html")).await?;
    assert_eq!(page.status(), 200);
    Ok(())
}

/// A 400 that quotes the request in the form the path names.
async fn reject(Path(form): Path<String>, headers: HeaderMap, body: Bytes) -> AxumResponse {
    let raw = String::from_utf8_lossy(&body).into_owned();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let value = parsed["value"].as_str().unwrap_or_default().to_owned();
    let echoed = match form.as_str() {
        "raw" => value,
        "json" => raw,
        "json-ascii" => ascii_json(&raw),
        "percent" => utf8_percent_encode(&value, NON_ALPHANUMERIC).to_string(),
        "form" => url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
        "base64" => STANDARD.encode(&value),
        "base64url" => URL_SAFE_NO_PAD.encode(&value),
        "base64-body" => STANDARD.encode(format!("request={raw}")),
        _ => headers
            .get("authorization")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_owned(),
    };
    let message = format!("invalid request: {echoed}");
    (StatusCode::BAD_REQUEST, Json(json!({"message": message}))).into_response()
}

fn ascii_json(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

/// The error's Display, Debug and every cause's text.
fn everything_shown(err: &Error) -> String {
    let mut shown = format!("{err}\n{err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        shown.push_str(&format!("\n{cause} {cause:?}"));
        source = cause.source();
    }
    shown
}

#[tokio::test]
async fn an_error_that_echoes_the_request_shows_no_value_and_no_credential() -> Result<()> {
    let value = "qu\"ote\\back/slash ünïcødé 🔑 s3cret-Value";
    let server = FaultServer::start(app()).await;
    let basic = format!("me@example.com:{TOKEN}");
    let forbidden = [
        value.to_owned(),
        serde_json::to_string(value).unwrap_or_default(),
        "s3cret-Value".to_owned(),
        utf8_percent_encode(value, NON_ALPHANUMERIC).to_string(),
        STANDARD.encode(value),
        URL_SAFE_NO_PAD.encode(value),
        TOKEN.to_owned(),
        STANDARD.encode(&basic),
    ];
    let forms = [
        "raw",
        "json",
        "json-ascii",
        "percent",
        "form",
        "base64",
        "base64url",
        "base64-body",
        "auth",
    ];
    for auth in [Auth::bearer(TOKEN), Auth::basic("me@example.com", TOKEN)] {
        let c = HttpClient::builder("svc", server.base_url())
            .auth(auth)
            .retry(fast())
            .build()?;
        for form in forms {
            let request = Request::put(format!("/reject/{form}"))
                .json(&json!({"key": "DB_PASSWORD", "value": value, "secured": true}))?;
            let err = c.send(request).await.expect_err("400");
            assert_eq!(err.kind(), ErrorKind::InvalidValue, "{form}");
            let shown = everything_shown(&err);
            assert!(
                shown.contains("invalid request"),
                "the service's message stays: {shown}"
            );
            for needle in &forbidden {
                assert!(
                    !shown.contains(needle.as_str()),
                    "{form} leaked {needle:?}: {shown}"
                );
            }
            assert!(shown.contains("[REDACTED]"), "{form}: {shown}");
        }
    }
    Ok(())
}
