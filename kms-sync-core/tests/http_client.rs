//! The shared HTTP client against a loopback server with injected faults. No assertion is
//! about speed; where a wait is checked, it is a lower bound the client must respect.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use kms_sync_core::http::*;
use kms_sync_core::{ErrorKind, RateBudget, Result};
use kms_sync_testkit::{Aim, Fault, FaultServer, LogCapture};
use serde_json::{json, Value};

const TOKEN: &str = "tok-canary-6f1e9d2b7a";

fn host(headers: &HeaderMap) -> String {
    headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_owned()
}

fn app() -> Router {
    let echo = || async { Json(json!({"ok": true})) };
    Router::new()
        .route("/echo", get(echo).post(echo).put(echo).delete(echo))
        .route(
            "/missing",
            get(|| async { (StatusCode::NOT_FOUND, Json(json!({"message": "No such repository here"}))) }),
        )
        .route("/big", get(|| async { "x".repeat(2 * 1024 * 1024) }))
        .route(
            "/big-stream",
            get(|| async {
                let chunks = futures::stream::iter(
                    (0..64).map(|_| Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b'y'; 32 * 1024]))),
                );
                axum::body::Body::from_stream(chunks)
            }),
        )
        .route(
            "/redirect-home",
            get(|| async { (StatusCode::FOUND, [("location", "/echo")]) }),
        )
        .route(
            "/advisory",
            get(|| async { ([("x-svc-remaining", "0"), ("x-svc-wait", "1"), ("x-svc-limit-per-minute", "600")], "{}") }),
        )
        .route(
            "/advisory-long",
            get(|| async { ([("x-svc-remaining", "0"), ("x-svc-wait", "60")], "{}") }),
        )
        .route(
            "/links",
            get(|Query(q): Query<HashMap<String, String>>, headers: HeaderMap| async move {
                let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let next = (page < 3).then(|| format!("http://{}/links?page={}", host(&headers), page + 1));
                Json(json!({"values": [page * 10, page * 10 + 1], "next": next}))
            }),
        )
        .route(
            "/loop",
            get(|headers: HeaderMap| async move {
                Json(json!({"values": [1], "next": format!("http://{}/loop?again=1", host(&headers))}))
            }),
        )
        .route(
            "/numbered",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let page: usize = q.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
                let n = match page { 1 | 2 => 10, 3 => 4, _ => 0 };
                Json((0..n).map(|i| (page - 1) * 10 + i).collect::<Vec<_>>())
            }),
        )
        .route(
            "/skip",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let skip: usize = q.get("skip").and_then(|p| p.parse().ok()).unwrap_or(0);
                let take: usize = q.get("take").and_then(|p| p.parse().ok()).unwrap_or(10);
                let total = if q.contains_key("liar") { 40 } else { 25 };
                let items: Vec<usize> = (skip..(skip + take).min(25)).collect();
                Json(json!({"Items": items, "TotalResults": total}))
            }),
        )
}

fn fast_retry() -> RetryConfig {
    RetryConfig::default()
        .with_base_delay(Duration::from_millis(10))
        .with_max_delay(Duration::from_millis(50))
}

fn client(server: &FaultServer) -> HttpClientBuilder {
    HttpClient::builder("testsvc", server.base_url())
        .auth(Auth::bearer(TOKEN))
        .retry(fast_retry())
}

#[tokio::test]
async fn five_xx_then_success() -> Result<()> {
    let server = FaultServer::start(app()).await;
    server
        .faults()
        .push([Fault::Status(500), Fault::Status(502), Fault::Status(503)]);
    let c = client(&server).build()?;
    let body: Value = c.send(Request::get("/echo")).await?.json()?;
    assert_eq!(body["ok"], true);
    assert_eq!(server.faults().count(), 4);
    assert_eq!(c.request_stats().get, 4);
    Ok(())
}

#[tokio::test]
async fn retry_after_seconds_is_honoured() -> Result<()> {
    let server = FaultServer::start(app()).await;
    server.faults().push([Fault::RateLimited {
        retry_after_secs: 1,
    }]);
    let c = client(&server).build()?;
    c.send(Request::get("/echo")).await?;
    let log = server.faults().log();
    assert_eq!(log.len(), 2);
    assert!(
        log[1].at.duration_since(log[0].at) >= Duration::from_millis(990),
        "waited {:?}",
        log[1].at.duration_since(log[0].at)
    );
    Ok(())
}

#[tokio::test]
async fn retry_after_date_is_honoured() -> Result<()> {
    let server = FaultServer::start(app()).await;
    // An HTTP date has one-second resolution: two seconds ahead is at least one.
    server
        .faults()
        .push([Fault::RateLimitedUntil(Duration::from_secs(2))]);
    let c = client(&server).build()?;
    c.send(Request::get("/echo")).await?;
    let log = server.faults().log();
    assert_eq!(log.len(), 2);
    assert!(log[1].at.duration_since(log[0].at) >= Duration::from_millis(900));
    Ok(())
}

#[tokio::test]
async fn retry_after_beyond_the_cap_stops_with_the_retry_time() -> Result<()> {
    let server = FaultServer::start(app()).await;
    server.faults().push([Fault::RateLimited {
        retry_after_secs: 600,
    }]);
    let c = client(&server)
        .retry(fast_retry().with_max_retry_after(Duration::from_secs(5)))
        .build()?;
    let err = c
        .send(Request::get("/echo"))
        .await
        .expect_err("too long a wait");
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.status(), Some(429));
    let wait = err.retry_after().unwrap_or_default();
    assert!(
        wait > Duration::from_secs(590),
        "retry time carried: {wait:?}"
    );
    assert!(err.to_string().contains("600 s"), "{err}");
    assert_eq!(server.faults().count(), 1);
    Ok(())
}

#[tokio::test]
async fn rate_limit_exhaustion_is_rate_limited_with_a_retry_time() -> Result<()> {
    let server = FaultServer::start(app()).await;
    server.faults().set_always(Some(Fault::RateLimited {
        retry_after_secs: 0,
    }));
    let c = client(&server)
        .retry(fast_retry().with_max_attempts(3))
        .build()?;
    let err = c.send(Request::get("/echo")).await.expect_err("always 429");
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert!(err.retry_at().is_some(), "{err:?}");
    assert!(
        err.to_string().contains("gave up after 3 attempts"),
        "{err}"
    );
    assert_eq!(server.faults().count(), 3);

    // A bare 429 (no Retry-After) backs off and also ends as RateLimited.
    server.faults().set_always(Some(Fault::RateLimitedBare));
    let err = c.send(Request::get("/echo")).await.expect_err("always 429");
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    Ok(())
}

#[tokio::test]
async fn the_deadline_ends_retries() -> Result<()> {
    let server = FaultServer::start(app()).await;
    server.faults().set_always(Some(Fault::Status(503)));
    let c = client(&server)
        .retry(
            RetryConfig::default()
                .with_max_attempts(1_000)
                .with_base_delay(Duration::from_millis(100))
                .with_max_delay(Duration::from_millis(100)),
        )
        .timeouts(TimeoutConfig::default().with_deadline(Duration::from_millis(800)))
        .build()?;
    let err = c.send(Request::get("/echo")).await.expect_err("deadline");
    assert_eq!(err.kind(), ErrorKind::Timeout);
    assert!(err.to_string().contains("operation deadline"), "{err}");
    let n = server.faults().count();
    assert!((2..1_000).contains(&n), "{n} attempts");
    Ok(())
}

#[tokio::test]
async fn timed_out_post_is_not_retried_but_get_is() -> Result<()> {
    let server = FaultServer::start(app()).await;
    let c = client(&server)
        .timeouts(TimeoutConfig::default().with_attempt(Duration::from_millis(300)))
        .build()?;
    server.faults().push([Fault::Stall(Duration::from_secs(2))]);
    let err = c.send(Request::post("/echo")).await.expect_err("timed out");
    // It may have been applied: not retried, and reported as unconfirmed.
    assert_eq!(err.kind(), ErrorKind::Unconfirmed);
    assert!(err.to_string().contains("not idempotent"), "{err}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        server.faults().count(),
        1,
        "exactly one POST reached the server"
    );

    server.faults().reset();
    server.faults().push([Fault::Stall(Duration::from_secs(2))]);
    c.send(Request::get("/echo")).await?;
    // A marked POST may be retried too.
    server.faults().push([Fault::Stall(Duration::from_secs(2))]);
    c.send(Request::post("/echo").idempotent(true)).await?;
    Ok(())
}

#[tokio::test]
async fn a_body_that_trickles_past_the_attempt_timeout_is_retried() -> Result<()> {
    let server = FaultServer::start(app()).await;
    let c = client(&server)
        .timeouts(TimeoutConfig::default().with_attempt(Duration::from_millis(300)))
        .build()?;
    // /links answers ~60 bytes: 4 pieces, 200 ms apart, outlast a 300 ms attempt.
    server
        .faults()
        .push([Fault::SlowBody(Duration::from_millis(200))]);
    let body: Value = c.send(Request::get("/links")).await?.json()?;
    assert_eq!(body["values"], json!([10, 11]));
    assert_eq!(
        server.faults().count(),
        2,
        "the slow attempt timed out and was retried"
    );
    Ok(())
}

#[tokio::test]
async fn never_retried_statuses_make_exactly_one_request() -> Result<()> {
    let server = FaultServer::start(app()).await;
    let c = client(&server).build()?;
    for (status, kind) in [
        (400, ErrorKind::InvalidValue),
        (401, ErrorKind::Unauthenticated),
        (403, ErrorKind::PermissionDenied),
        (404, ErrorKind::NotFound),
        (409, ErrorKind::Conflict),
        (422, ErrorKind::InvalidValue),
    ] {
        server.faults().reset();
        server.faults().push([Fault::Status(status)]);
        let err = c.send(Request::put("/echo")).await.expect_err("refused");
        assert_eq!(err.kind(), kind, "{status}");
        assert_eq!(err.status(), Some(status));
        assert_eq!(server.faults().count(), 1, "{status} must not be retried");
    }
    Ok(())
}

#[tokio::test]
async fn errors_carry_the_services_message_method_and_path_only() -> Result<()> {
    let server = FaultServer::start(app()).await;
    let c = client(&server).build()?;
    let err = c
        .send(Request::get("/missing").query("token", "query-secret"))
        .await
        .expect_err("404");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.operation(), Some("GET /missing"));
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("No such repository here"), "{shown}");
    assert!(!shown.contains("query-secret"), "{shown}");
    Ok(())
}

#[tokio::test]
async fn dropped_connections_are_retried_for_get_only() -> Result<()> {
    let server = FaultServer::start(app()).await;
    let c = client(&server).build()?;
    server.faults().push([Fault::Drop]);
    c.send(Request::get("/echo")).await?;
    assert_eq!(server.faults().count(), 2);

    server.faults().reset();
    server.faults().push([Fault::Drop]);
    let err = c
        .send(Request::post("/echo"))
        .await
        .expect_err("dropped POST");
    // The POST was sent before the connection broke: it may have been applied.
    assert_eq!(err.kind(), ErrorKind::Unconfirmed);
    assert_eq!(server.faults().count(), 1);
    Ok(())
}

#[tokio::test]
async fn a_write_answered_2xx_with_an_unreadable_body_is_unconfirmed() -> Result<()> {
    let server = FaultServer::start(app()).await;
    let c = client(&server).build()?;
    for (fault, method) in [
        (Fault::Malformed, "POST"),
        (Fault::Truncated, "POST"),
        (Fault::Malformed, "PUT"),
    ] {
        server.faults().reset();
        server.faults().push([fault.clone()]);
        let request = if method == "POST" {
            Request::post("/echo")
        } else {
            Request::put("/echo")
        };
        let err = c.send(request).await.expect_err("an unreadable answer");
        assert_eq!(
            err.kind(),
            ErrorKind::Unconfirmed,
            "{fault:?} {method}: {err}"
        );
        assert_eq!(
            server.faults().count(),
            1,
            "{fault:?} {method}: not retried"
        );
    }
    // A read whose body cannot be parsed is just unexpected, never "unconfirmed".
    server.faults().reset();
    server.faults().push([Fault::Malformed]);
    let response = c.send(Request::get("/echo")).await?;
    let err = response.json::<serde_json::Value>().expect_err("not JSON");
    assert_eq!(err.kind(), ErrorKind::Unexpected);
    Ok(())
}

#[tokio::test]
async fn connection_refused_is_retried_then_unavailable() -> Result<()> {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(|e| kms_sync_core::Error::unexpected(e.to_string()))?;
        l.local_addr()
            .map_err(|e| kms_sync_core::Error::unexpected(e.to_string()))?
            .port()
    };
    let c = HttpClient::builder("testsvc", format!("http://127.0.0.1:{port}"))
        .retry(fast_retry().with_max_attempts(3))
        .build()?;
    let err = c
        .send(Request::post("/echo"))
        .await
        .expect_err("nobody listens");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(
        c.request_stats().post,
        3,
        "connect failures are safe to retry, even for POST"
    );
    Ok(())
}

#[tokio::test]
async fn bodies_over_the_cap_are_refused() -> Result<()> {
    let server = FaultServer::start(app()).await;
    let c = client(&server).max_body_bytes(1024 * 1024).build()?;
    for path in ["/big", "/big-stream"] {
        let err = c.send(Request::get(path)).await.expect_err("too big");
        assert_eq!(err.kind(), ErrorKind::Unexpected, "{path}");
        assert!(err.to_string().contains("cap"), "{path}: {err}");
    }
    Ok(())
}

#[tokio::test]
async fn malformed_and_truncated_json_are_clear_errors() -> Result<()> {
    let server = FaultServer::start(app()).await;
    let c = client(&server).build()?;
    for fault in [Fault::Malformed, Fault::Truncated] {
        server.faults().push([fault.clone()]);
        let response = c.send(Request::get("/links")).await?;
        let err = response.json::<Value>().expect_err("not JSON");
        assert_eq!(err.kind(), ErrorKind::Unexpected, "{fault:?}");
        assert!(err.to_string().contains("GET /links"), "{err}");
    }
    Ok(())
}

#[tokio::test]
async fn redirects_stay_home_and_never_carry_credentials_away() -> Result<()> {
    let elsewhere = FaultServer::start(app()).await;
    let target = elsewhere.url("/echo");
    let home = FaultServer::start(app().route(
        "/redirect-away",
        get(move || {
            let target = target.clone();
            async move { (StatusCode::FOUND, [("location", target)]).into_response() }
        }),
    ))
    .await;
    // Following a read's redirect is opt-in (issue 22): this client allows it.
    let c = HttpClient::builder("testsvc", home.base_url())
        .auth(Auth::header("X-Api-Key", TOKEN))
        .retry(fast_retry())
        .follow_read_redirects(true)
        .build()?;
    let err = c
        .send(Request::get("/redirect-away"))
        .await
        .expect_err("cross-origin redirect");
    assert!(err.to_string().contains("another origin"), "{err}");
    assert_eq!(
        elsewhere.faults().count(),
        0,
        "nothing reached the other origin"
    );

    c.send(Request::get("/redirect-home")).await?;
    let log = home.faults().log();
    let followed = log
        .iter()
        .find(|r| r.path == "/echo")
        .expect("same-origin redirect followed");
    assert!(followed.has_header("x-api-key"), "credentials kept at home");
    Ok(())
}

#[tokio::test]
async fn next_link_pagination_and_its_refusals() -> Result<()> {
    let server = FaultServer::start(app()).await;
    let c = client(&server).build()?;
    let parse = |r: &Response| -> Result<LinkedPage<u64>> {
        let v: Value = r.json()?;
        let values = v["values"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        Ok(LinkedPage::new(
            values,
            v["next"].as_str().map(str::to_owned),
        ))
    };
    let all = collect_next_links(&c, Request::get("/links"), DEFAULT_MAX_PAGES, parse).await?;
    assert_eq!(all, [10, 11, 20, 21, 30, 31]);

    let err = collect_next_links(&c, Request::get("/loop"), DEFAULT_MAX_PAGES, parse)
        .await
        .expect_err("loop");
    assert!(err.to_string().contains("already read"), "{err}");

    let err = collect_next_links(&c, Request::get("/links"), 2, parse)
        .await
        .expect_err("cap");
    assert!(err.to_string().contains("2-page cap"), "{err}");

    // Pages that hold fewer items than the total the service reports: cut short, refused.
    let exact = collect_next_links(&c, Request::get("/links"), DEFAULT_MAX_PAGES, |r| {
        Ok(parse(r)?.with_total(Some(6)))
    })
    .await?;
    assert_eq!(exact.len(), 6);
    let err = collect_next_links(&c, Request::get("/links"), DEFAULT_MAX_PAGES, |r| {
        Ok(parse(r)?.with_total(Some(7)))
    })
    .await
    .expect_err("a short sequence");
    assert_eq!(err.kind(), ErrorKind::IncompleteRead);
    assert!(err.to_string().contains("reported 7 items"), "{err}");

    let elsewhere = FaultServer::start(app()).await;
    let foreign = elsewhere.url("/links?page=2");
    let err = collect_next_links(&c, Request::get("/links"), DEFAULT_MAX_PAGES, |r| {
        Ok(LinkedPage::new(parse(r)?.items, Some(foreign.clone())))
    })
    .await
    .expect_err("foreign next");
    assert!(err.to_string().contains("another origin"), "{err}");
    assert_eq!(elsewhere.faults().count(), 0);

    server
        .faults()
        .push_for("/links?page=2", Fault::Status(403));
    let err = collect_next_links(&c, Request::get("/links"), DEFAULT_MAX_PAGES, parse)
        .await
        .expect_err("page 2 refused");
    assert_eq!(err.kind(), ErrorKind::PermissionDenied);
    assert!(err.to_string().contains("page 2"), "{err}");
    Ok(())
}

#[tokio::test]
async fn numbered_and_skip_take_pagination() -> Result<()> {
    let server = FaultServer::start(app()).await;
    let c = client(&server).build()?;
    let items: Vec<u64> = collect_numbered_pages(
        &c,
        10,
        DEFAULT_MAX_PAGES,
        |page| {
            Request::get("/numbered")
                .query("page", page.to_string())
                .query("limit", "10")
        },
        |r| r.json(),
    )
    .await?;
    assert_eq!(items, (0..24).collect::<Vec<_>>());
    let err = collect_numbered_pages(
        &c,
        5,
        DEFAULT_MAX_PAGES,
        |p| Request::get("/numbered").query("page", p.to_string()),
        |r| r.json::<Vec<u64>>(),
    )
    .await
    .expect_err("page larger than asked");
    assert!(err.to_string().contains("more than the 5"), "{err}");

    // A service that ignores `page` answers page 2 with page 1 again: stopped, not read
    // to the cap with every item counted twice.
    server
        .faults()
        .push_aimed(Aim::get("/numbered"), Fault::Pass);
    server
        .faults()
        .push_aimed(Aim::get("/numbered"), Fault::RepeatPrevious);
    let err = collect_numbered_pages(
        &c,
        10,
        DEFAULT_MAX_PAGES,
        |page| {
            Request::get("/numbered")
                .query("page", page.to_string())
                .query("limit", "10")
        },
        |r| r.json::<Vec<u64>>(),
    )
    .await
    .expect_err("a repeated page");
    assert_eq!(err.kind(), ErrorKind::Unexpected);
    assert!(err.to_string().contains("repeats a page"), "{err}");

    let parse = |r: &Response| -> Result<(Vec<u64>, usize)> {
        let v: Value = r.json()?;
        let items = v["Items"]
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_u64).collect())
            .unwrap_or_default();
        Ok((items, v["TotalResults"].as_u64().unwrap_or(0) as usize))
    };
    let items = collect_skip_take(
        &c,
        10,
        DEFAULT_MAX_PAGES,
        |s, t| {
            Request::get("/skip")
                .query("skip", s.to_string())
                .query("take", t.to_string())
        },
        parse,
    )
    .await?;
    assert_eq!(items, (0..25).collect::<Vec<_>>());
    let err = collect_skip_take(
        &c,
        10,
        DEFAULT_MAX_PAGES,
        |s, t| {
            Request::get("/skip")
                .query("skip", s.to_string())
                .query("take", t.to_string())
                .query("liar", "1")
        },
        parse,
    )
    .await
    .expect_err("short list");
    assert!(err.to_string().contains("incomplete"), "{err}");
    Ok(())
}

/// The test service's rate-limit headers: `x-svc-limit-per-minute`, and `x-svc-wait`
/// seconds once `x-svc-remaining` is 0.
fn svc_dialect(headers: &ResponseHeaders) -> Advisory {
    let number = |name: &str| headers.get(name).and_then(|v| v.trim().parse::<f64>().ok());
    let pacing = number("x-svc-limit-per-minute")
        .filter(|n| *n > 0.0)
        .map(|n| Pacing::new(n / 10.0, n / 60.0 * BUDGET_SHARE));
    let pause = number("x-svc-wait")
        .filter(|_| number("x-svc-remaining").is_some_and(|r| r < 1.0))
        .map(Duration::from_secs_f64);
    Advisory::new(pacing, pause)
}

#[tokio::test]
async fn advisory_headers_pause_the_next_request() -> Result<()> {
    let server = FaultServer::start(app()).await;
    let c = client(&server).rate_limit_headers(svc_dialect).build()?;
    c.send(Request::get("/advisory")).await?;
    assert!(c.pacing().is_some(), "the announced policy is adopted");
    c.send(Request::get("/echo")).await?;
    let log = server.faults().log();
    assert!(
        log[1].at.duration_since(log[0].at) >= Duration::from_millis(950),
        "paused for t=1"
    );
    Ok(())
}

#[tokio::test]
async fn without_a_dialect_rate_limit_headers_are_ignored() -> Result<()> {
    let server = FaultServer::start(app()).await;
    let deadline = TimeoutConfig::default().with_deadline(Duration::from_secs(10));
    let plain = client(&server).timeouts(deadline).build()?;
    for _ in 0..2 {
        let response = plain.send(Request::get("/advisory-long")).await?;
        assert_eq!(response.headers().get("X-Svc-Wait"), Some("60"));
    }
    assert_eq!(plain.pacing(), None, "nothing adopted");
    // The same answers with the dialect: a 60 s pause, past the 10 s deadline.
    let advised = client(&server)
        .timeouts(deadline)
        .rate_limit_headers(svc_dialect)
        .build()?;
    advised.send(Request::get("/advisory-long")).await?;
    let err = advised
        .send(Request::get("/echo"))
        .await
        .expect_err("paused past the deadline");
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    Ok(())
}

#[tokio::test]
async fn an_advised_pause_is_capped_at_the_longest_retry_after() -> Result<()> {
    fn long_wait(_: &ResponseHeaders) -> Advisory {
        Advisory::new(None, Some(Duration::from_secs(3_600)))
    }
    let server = FaultServer::start(app()).await;
    let c = client(&server)
        .retry(fast_retry().with_max_retry_after(Duration::from_millis(300)))
        .rate_limit_headers(long_wait)
        .build()?;
    c.send(Request::get("/echo")).await?;
    c.send(Request::get("/echo")).await?;
    let log = server.faults().log();
    let gap = log[1].at.duration_since(log[0].at);
    assert!(
        gap >= Duration::from_millis(250) && gap < Duration::from_secs(30),
        "{gap:?}"
    );
    Ok(())
}

/// 1,000 requests through a client paced at the budget the server enforces: no 429 at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pacing_keeps_a_thousand_requests_under_the_budget() -> Result<()> {
    let server = FaultServer::start(app()).await;
    let window = Duration::from_secs(1);
    server.faults().set_budget(300, window);
    let c = client(&server)
        .rate_budget(RateBudget::new(300, window))
        .retry(RetryConfig::none())
        .concurrency(8)
        .build()?;
    let results =
        futures::future::join_all((0..1_000).map(|_| c.send(Request::get("/echo")))).await;
    let failures = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(
        failures,
        0,
        "first failure: {:?}",
        results.iter().find_map(|r| r.as_ref().err())
    );
    assert_eq!(server.faults().budget_refusals(), 0);
    assert_eq!(server.faults().count(), 1_000);
    Ok(())
}

#[tokio::test]
async fn the_token_never_appears_in_errors_or_logs() -> Result<()> {
    let capture = LogCapture::default();
    let _guard = capture.install();
    let server = FaultServer::start(app()).await;
    let mut shown = Vec::new();
    for auth in [
        Auth::bearer(TOKEN),
        Auth::basic("me@example.com", TOKEN),
        Auth::header("X-Octopus-ApiKey", TOKEN),
    ] {
        shown.push(format!("{auth:?}"));
        let c = HttpClient::builder("testsvc", server.base_url())
            .auth(auth)
            .retry(fast_retry().with_max_attempts(2))
            .timeouts(TimeoutConfig::default().with_attempt(Duration::from_millis(200)))
            .build()?;
        shown.push(format!("{c:?}"));
        for fault in [
            Fault::Status(401),
            Fault::Status(500),
            Fault::Drop,
            Fault::Stall(Duration::from_millis(500)),
            Fault::RateLimited {
                retry_after_secs: 0,
            },
        ] {
            server.faults().set_always(Some(fault));
            if let Err(e) = c
                .send(Request::post("/echo").json(&json!({"value": "body-value"}))?)
                .await
            {
                shown.push(format!("{e} {e:?}"));
            }
        }
        server.faults().set_always(None);
    }
    let logs = capture.text();
    assert!(
        logs.contains("attempt failed"),
        "the capture sees the client's logs"
    );
    for text in shown.iter().chain([&logs]) {
        assert!(!text.contains(TOKEN), "token leaked: {text}");
        assert!(!text.contains("body-value"), "request body leaked: {text}");
    }
    Ok(())
}
