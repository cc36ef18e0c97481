//! The bending proxy against a loopback upstream that describes every request it receives.

use std::time::Duration;

use axum::extract::Request;
use axum::http::HeaderMap;
use axum::{Json, Router};
use kms_sync_testkit::proxy::{Action, BendingProxy, Echo, Methods, Rule, Timing};
use kms_sync_testkit::{run_case, FaultServer};
use serde_json::{json, Value};

/// Answers every request with what it saw: method, path, query, authorization, body.
async fn describe(request: Request) -> (HeaderMap, Json<Value>) {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default();
    let mut headers = HeaderMap::new();
    headers.insert("x-upstream", "yes".parse().unwrap());
    let seen = json!({
        "method": parts.method.as_str(),
        "path": parts.uri.path(),
        "query": parts.uri.query(),
        "authorization": parts.headers.get("authorization").and_then(|v| v.to_str().ok()),
        "body": String::from_utf8_lossy(&body),
        "entries": [{"id": 1, "value": "a"}, {"id": 2, "value": "b"}],
    });
    (headers, Json(seen))
}

async fn upstream() -> FaultServer {
    FaultServer::start(Router::new().fallback(describe)).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn send(method: &str, url: String, body: &str) -> (u16, HeaderMap, String) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let response = client()
        .request(method, url)
        .header("authorization", "Bearer token-1")
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

fn parsed(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

#[test]
fn forwards_everything_untouched_without_rules() {
    run_case(async {
        let upstream = upstream().await;
        let proxy = BendingProxy::start(upstream.base_url()).await;
        let (status, headers, text) = send("PUT", proxy.url("/v1/x?page=2"), "{\"a\":1}").await;
        assert_eq!(status, 200);
        assert_eq!(headers.get("x-upstream").unwrap(), "yes");
        let seen = parsed(&text);
        assert_eq!(seen["method"], "PUT");
        assert_eq!(seen["path"], "/v1/x");
        assert_eq!(seen["query"], "page=2");
        assert_eq!(seen["authorization"], "Bearer token-1");
        assert_eq!(seen["body"], "{\"a\":1}");
        let log = proxy.log();
        assert_eq!(log.len(), 1);
        assert!(log[0].forwarded && !log[0].bent && log[0].is_write());
        assert_eq!(proxy.forwarded_writes(), 1);
        assert_eq!(upstream.faults().count(), 1);
    });
}

#[test]
fn redirects_without_forwarding_to_the_same_host() {
    run_case(async {
        let upstream = upstream().await;
        let proxy = BendingProxy::start(upstream.base_url()).await;
        let location = "/v1/list?marker=1".to_owned();
        proxy.add_rule(Rule::writes(
            "/",
            Action::Redirect {
                status: 303,
                location,
            },
        ));
        let (status, headers, _) = send("DELETE", proxy.url("/v1/x"), "").await;
        assert_eq!(status, 303);
        let expected = proxy.url("/v1/list?marker=1");
        assert_eq!(headers.get("location").unwrap(), expected.as_str());
        assert_eq!(upstream.faults().count(), 0, "a redirect is not forwarded");
        let (status, _, _) = send("GET", proxy.url("/v1/x"), "").await;
        assert_eq!(status, 200, "reads are not matched by a writes rule");
        assert!(!proxy.log()[0].forwarded && proxy.log()[1].forwarded);
    });
}

#[test]
fn replaces_instead_of_or_after_forwarding() {
    run_case(async {
        let upstream = upstream().await;
        let proxy = BendingProxy::start(upstream.base_url()).await;
        proxy.add_rule(Rule::writes("/", Action::html_login_page(Timing::Instead)).once());
        let (status, headers, text) = send("POST", proxy.url("/v1/x"), "{}").await;
        assert_eq!((status, upstream.faults().count()), (200, 0));
        assert!(headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(text.contains("<form"));
        proxy.add_rule(Rule::writes(
            "/",
            Action::html_login_page(Timing::AfterForwarding),
        ));
        let (status, _, text) = send("POST", proxy.url("/v1/x"), "{}").await;
        assert_eq!((status, upstream.faults().count()), (200, 1));
        assert!(text.contains("<form"), "the upstream's answer is replaced");
    });
}

#[test]
fn acts_on_the_nth_match_only() {
    run_case(async {
        let upstream = upstream().await;
        let proxy = BendingProxy::start(upstream.base_url()).await;
        proxy.add_rule(Rule::new(Methods::Any, "/v1/a", Action::Status(503)).nth(2));
        let mut statuses = Vec::new();
        for path in ["/v1/a", "/v1/b", "/v1/a", "/v1/a"] {
            statuses.push(send("GET", proxy.url(path), "").await.0);
        }
        assert_eq!(statuses, [200, 200, 503, 200]);
        assert_eq!(
            upstream.faults().count(),
            4,
            "a status is set after forwarding"
        );
    });
}

#[test]
fn drops_json_paths_and_bends_headers() {
    run_case(async {
        let upstream = upstream().await;
        let proxy = BendingProxy::start(upstream.base_url()).await;
        proxy.add_rule(Rule::get("/", Action::DropJson("entries[*].id".into())));
        proxy.add_rule(Rule::get("/", Action::DropJson("authorization".into())));
        proxy.add_rule(Rule::get("/", Action::RemoveHeader("x-upstream".into())));
        let set = Action::SetHeader {
            name: "x-bent".into(),
            value: "1".into(),
        };
        proxy.add_rule(Rule::get("/", set));
        let (_, headers, text) = send("GET", proxy.url("/v1/x"), "").await;
        let seen = parsed(&text);
        assert_eq!(seen["entries"], json!([{"value": "a"}, {"value": "b"}]));
        assert!(seen.get("authorization").is_none());
        assert_eq!(seen["path"], "/v1/x");
        assert!(headers.get("x-upstream").is_none());
        assert_eq!(headers.get("x-bent").unwrap(), "1");
    });
}

#[test]
fn echoes_the_request_into_an_error_without_forwarding() {
    run_case(async {
        let upstream = upstream().await;
        let proxy = BendingProxy::start(upstream.base_url()).await;
        for form in Echo::ALL {
            proxy.clear_rules();
            proxy.add_rule(Rule::writes("/", Action::EchoRequest(form)));
            let (status, _, text) = send("POST", proxy.url("/v1/x"), r#"{"value":"s3"}"#).await;
            assert_eq!(status, 400, "{form:?}");
            let quoted = match form {
                Echo::Json | Echo::Raw => r#"{"value":"s3"}"#,
                Echo::Fields => "value=s3",
                Echo::UrlEncoded => "%7B%22value%22%3A%22s3%22%7D",
                Echo::Base64 => "eyJ2YWx1ZSI6InMzIn0=",
            };
            let message = match form {
                Echo::Raw => text.clone(),
                _ => parsed(&text)["message"].as_str().unwrap().to_owned(),
            };
            assert_eq!(message, format!("invalid request: {quoted}"), "{form:?}");
        }
        assert_eq!(upstream.faults().count(), 0);
    });
}

#[test]
fn drops_connections_and_delays() {
    run_case(async {
        let upstream = upstream().await;
        let proxy = BendingProxy::start(upstream.base_url()).await;
        proxy.add_rule(Rule::writes("/", Action::DropConnection(Timing::Instead)).once());
        let dropped = client().post(proxy.url("/v1/x")).send().await;
        let read = match dropped {
            Ok(response) => response.bytes().await.is_err(),
            Err(_) => true,
        };
        assert!(read, "the answer breaks off");
        assert_eq!(upstream.faults().count(), 0);
        proxy.add_rule(Rule::writes(
            "/",
            Action::DropConnection(Timing::AfterForwarding),
        ));
        let _ = client().post(proxy.url("/v1/x")).send().await;
        assert_eq!(upstream.faults().count(), 1, "forwarded before the drop");
        proxy.clear_rules();
        proxy.add_rule(Rule::get("/", Action::Delay(Duration::from_millis(1))));
        assert_eq!(send("GET", proxy.url("/v1/x"), "").await.0, 200);
        assert_eq!(proxy.log().last().map(|r| r.status), Some(200));
    });
}

#[test]
fn debug_never_shows_a_body() {
    let action = Action::Replace {
        timing: Timing::Instead,
        status: 200,
        content_type: "text/plain".into(),
        body: b"body-secret-text".to_vec(),
    };
    let set = Action::SetHeader {
        name: "x-token".into(),
        value: "header-secret".into(),
    };
    let shown = format!("{:?} {:?}", Rule::writes("/", action), set);
    assert!(!shown.contains("body-secret-text") && !shown.contains("header-secret"));
    assert!(shown.contains("body_len: 16"), "{shown}");
}
