//! The fake GitLab answers as GitLab documents: pagination headers, one key in several
//! scopes picked by `filter[environment_scope]` (409 without it), duplicates, masking
//! validation, hidden values, auth.

use kms_sync_core::http::{Auth, ClientSettings, HttpClient, Request};
use kms_sync_core::{ErrorKind, Result};
use kms_sync_gitlab::documented_budget;
use kms_sync_gitlab::fake::{list_path, FakeGitlab, FakeVariable, Kind, FAKE_TOKEN, PROJECT_ID};
use serde_json::{json, Value};

fn client(fake: &FakeGitlab, token: &str) -> Result<HttpClient> {
    ClientSettings::new()
        .with_retry(kms_sync_core::http::RetryConfig::none())
        .client_builder("gitlab", &fake.base_url(), documented_budget(), 4)
        .auth(Auth::header("PRIVATE-TOKEN", token))
        .build()
}

fn items() -> String {
    list_path(Kind::Project, PROJECT_ID)
}

fn item(key: &str) -> String {
    format!("{}/{key}", items())
}

#[tokio::test]
async fn pages_carry_gitlabs_headers() -> Result<()> {
    let fake = FakeGitlab::start().await;
    for i in 0..5 {
        fake.seed(
            Kind::Project,
            PROJECT_ID,
            FakeVariable::plain(&format!("K{i}"), "v", "*"),
        );
    }
    let http = client(&fake, FAKE_TOKEN)?;
    let first = http
        .send(Request::get(items()).query("per_page", "2"))
        .await?;
    let names = [
        "x-total",
        "x-total-pages",
        "x-next-page",
        "x-page",
        "x-per-page",
    ];
    let got: Vec<Option<&str>> = names.iter().map(|n| first.header(n)).collect();
    assert_eq!(got, [Some("5"), Some("3"), Some("2"), Some("1"), Some("2")]);
    assert!(first
        .header("link")
        .is_some_and(|l| l.contains("rel=\"next\"")));
    let last = http
        .send(
            Request::get(items())
                .query("per_page", "2")
                .query("page", "3"),
        )
        .await?;
    assert_eq!(last.header("x-next-page"), Some(""));
    assert_eq!(last.json::<Vec<Value>>()?.len(), 1);
    let default = http.send(Request::get(items())).await?;
    assert_eq!(default.header("x-per-page"), Some("20"));
    Ok(())
}

#[tokio::test]
async fn one_key_in_two_scopes_needs_the_filter() -> Result<()> {
    let fake = FakeGitlab::start().await;
    fake.seed(
        Kind::Project,
        PROJECT_ID,
        FakeVariable::plain("K", "everywhere", "*"),
    );
    fake.seed(
        Kind::Project,
        PROJECT_ID,
        FakeVariable::plain("K", "in-prod", "production"),
    );
    let http = client(&fake, FAKE_TOKEN)?;
    let err = http
        .send(Request::get(item("K")))
        .await
        .expect_err("ambiguous");
    assert_eq!((err.kind(), err.status()), (ErrorKind::Conflict, Some(409)));
    let picked: Value = http
        .send(Request::get(item("K")).query("filter[environment_scope]", "production"))
        .await?
        .json()?;
    assert_eq!(picked["value"], "in-prod");
    let err = http
        .send(Request::delete(item("K")).query("filter[environment_scope]", "staging"))
        .await
        .expect_err("no such scope");
    assert_eq!(err.status(), Some(404));
    Ok(())
}

#[tokio::test]
async fn creates_are_validated_as_gitlab_validates_them() -> Result<()> {
    let fake = FakeGitlab::start().await;
    let http = client(&fake, FAKE_TOKEN)?;
    let post = |body: Value| Request::post(items()).json(&body);
    let created = http.send(post(json!({"key": "K", "value": "v"}))?).await?;
    assert_eq!(created.status(), 201);
    let refused = [
        json!({"key": "K", "value": "again"}),
        json!({"key": "BAD-KEY", "value": "v"}),
        json!({"key": "M", "value": "short", "masked": true}),
        json!({"key": "M", "value": "dollar$sign", "masked": true}),
        json!({"key": "M", "value": "v", "variable_type": "secret"}),
        json!({"value": "v"}),
    ];
    for body in refused {
        let err = http.send(post(body.clone())?).await.expect_err("refused");
        assert_eq!(err.status(), Some(400), "{body}");
    }
    let same_key_other_scope = json!({"key": "K", "value": "v", "environment_scope": "production"});
    assert_eq!(http.send(post(same_key_other_scope)?).await?.status(), 201);
    let raw = json!({"key": "R", "value": "dollar$sign", "masked": true, "raw": true});
    assert_eq!(http.send(post(raw)?).await?.status(), 201);
    Ok(())
}

#[tokio::test]
async fn hidden_values_read_as_null_and_stay_masked() -> Result<()> {
    let fake = FakeGitlab::start().await;
    let http = client(&fake, FAKE_TOKEN)?;
    let body = json!({"key": "H", "value": "hidden-value", "masked_and_hidden": true});
    let created: Value = http
        .send(Request::post(items()).json(&body)?)
        .await?
        .json()?;
    assert_eq!(
        (created["value"].clone(), created["hidden"].clone()),
        (Value::Null, json!(true))
    );
    let listed: Vec<Value> = http.send(Request::get(items())).await?.json()?;
    assert_eq!(listed[0]["value"], Value::Null);
    let unmask = Request::put(item("H")).json(&json!({"value": "other-value", "masked": false}))?;
    let err = http
        .send(unmask)
        .await
        .expect_err("a hidden variable stays masked");
    assert_eq!(err.status(), Some(400));
    Ok(())
}

#[tokio::test]
async fn a_wrong_token_is_401() -> Result<()> {
    let fake = FakeGitlab::start().await;
    let err = client(&fake, "glpat-wrong")?
        .send(Request::get("/api/v4/user"))
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    let err = client(&fake, FAKE_TOKEN)?
        .send(Request::get("/api/v4/projects/999/variables"))
        .await
        .expect_err("no such project");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    Ok(())
}
