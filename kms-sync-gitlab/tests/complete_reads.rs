//! A list that lacks what the sync needs refuses it before any write: a page that is not an
//! array or holds something other than objects, a variable without its `key` or
//! `environment_scope` (its identity), or a variable of the sync's scope without its
//! `value` (unless hidden), `protected`, `masked` or `variable_type`; pages that hold
//! fewer variables than `x-total` says, or end before `x-total-pages`.

use std::sync::Arc;

use axum::routing::get;
use axum::Router;
use kms_sync_core::{
    Destination, ErrorKind, Fingerprinter, MemoryStateStore, Result, SecretSet, StaticSource,
    Syncer,
};
use kms_sync_gitlab::fake::{list_path, FakeGitlab, FakeVariable, Kind, PROJECT_ID};
use kms_sync_gitlab::{AccessTokenType, GitlabConfig, GitlabConnection, GitlabDestination};
use kms_sync_testkit::{Aim, Fault, FaultServer};
use serde_json::{json, Value};

fn syncer(dest: Arc<dyn Destination>) -> Result<Syncer> {
    Syncer::builder()
        .id("complete-reads")
        .source(Arc::new(StaticSource::new(
            SecretSet::new("prod")
                .with("A", "value-a")
                .with("B", "value-b"),
        )))
        .destination(dest)
        .key_schema_template("KMS_{{secretKey}}")
        .state(
            Arc::new(MemoryStateStore::default()),
            Fingerprinter::new(vec![7; 32])?,
        )
        .build()
}

fn ours(extra: serde_json::Value) -> serde_json::Value {
    let mut v = json!({"key": "KMS_A", "value": "old", "environment_scope": "*", "variable_type": "env_var",
                       "protected": false, "masked": false, "raw": false, "hidden": false});
    if let (Some(v), Some(extra)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in extra {
            if x.is_null() {
                v.remove(k);
            } else {
                v.insert(k.clone(), x.clone());
            }
        }
    }
    v
}

/// Each bent list page, the kind of the refusal, and what it must name.
fn cases() -> Vec<(Value, ErrorKind, &'static str)> {
    vec![
        (
            json!({"message": "not a list"}),
            ErrorKind::Unexpected,
            "not a list of variables",
        ),
        (
            json!([["KMS_A", "old"]]),
            ErrorKind::Unexpected,
            "not an object",
        ),
        (
            json!([ours(json!({"protected": "yes"}))]),
            ErrorKind::Unexpected,
            "of a type GitLab does not send",
        ),
        (
            json!([ours(json!({"key": null}))]),
            ErrorKind::IncompleteRead,
            "`key`",
        ),
        (
            json!([ours(json!({"environment_scope": null}))]),
            ErrorKind::IncompleteRead,
            "`environment_scope`",
        ),
        (
            json!([ours(json!({"value": null}))]),
            ErrorKind::IncompleteRead,
            "`value`",
        ),
        (
            json!([ours(json!({"protected": null}))]),
            ErrorKind::IncompleteRead,
            "`protected`",
        ),
        (
            json!([ours(json!({"masked": null}))]),
            ErrorKind::IncompleteRead,
            "`masked`",
        ),
        (
            json!([ours(json!({"variable_type": null}))]),
            ErrorKind::IncompleteRead,
            "`variable_type`",
        ),
    ]
}

#[tokio::test]
async fn lists_lacking_a_field_are_refused_naming_it_with_zero_writes() -> Result<()> {
    let fake = FakeGitlab::start().await;
    fake.seed(
        Kind::Project,
        PROJECT_ID,
        FakeVariable::plain("THEIRS", "theirs", "*"),
    );
    fake.seed(
        Kind::Project,
        PROJECT_ID,
        FakeVariable::plain("KMS_A", "old", "*"),
    );
    let before = fake.variables(Kind::Project, PROJECT_ID);
    for (page, kind, field) in cases() {
        let stats = fake.faults().request_stats();
        fake.faults().push_aimed(
            Aim::get(list_path(Kind::Project, PROJECT_ID)),
            Fault::Body(page.to_string().into_bytes()),
        );
        let dest = fake.destination(GitlabConfig::project(PROJECT_ID))?;
        let err = syncer(Arc::new(dest))?.sync().await.expect_err(field);
        assert_eq!(err.kind(), kind, "{field}: {err}");
        let shown = err.to_string();
        for part in [field, "gitlab:project 42 [*]"] {
            assert!(
                shown.contains(part),
                "{field}: `{part}` missing from {shown}"
            );
        }
        assert!(!shown.contains("old"), "{shown}");
        assert_eq!(
            fake.faults().request_stats().since(&stats).writes(),
            0,
            "{field}"
        );
        assert_eq!(fake.variables(Kind::Project, PROJECT_ID), before, "{field}");
    }
    Ok(())
}

/// A variable of another scope needs only its identity: what it lacks besides is not ours
/// to judge.
#[tokio::test]
async fn other_scopes_need_only_their_identity() -> Result<()> {
    let fake = FakeGitlab::start().await;
    let page = json!([{"key": "KMS_A", "environment_scope": "staging"}]);
    fake.faults().push_aimed(
        Aim::get(list_path(Kind::Project, PROJECT_ID)),
        Fault::Body(page.to_string().into_bytes()),
    );
    let dest = fake.destination(GitlabConfig::project(PROJECT_ID))?;
    let report = syncer(Arc::new(dest))?.sync().await?;
    assert!(report.is_success(), "{report}");
    assert_eq!(fake.values(Kind::Project, PROJECT_ID, "*").len(), 2);
    Ok(())
}

fn page_server(total: &'static str, next: &'static str) -> Router {
    let page = move || async move {
        (
            [
                ("x-total", total),
                ("x-next-page", next),
                ("content-type", "application/json"),
            ],
            r#"[{"key": "K", "value": "v", "environment_scope": "*", "variable_type": "env_var", "protected": false, "masked": false}]"#,
        )
    };
    Router::new().route("/api/v4/projects/1/variables", get(page))
}

/// The pagination headers are believed only when they add up: fewer variables than
/// `x-total` is an incomplete read, a next page that does not follow is refused, and a
/// `x-total` that is not a number too.
#[tokio::test]
async fn pagination_headers_that_do_not_add_up_are_refused() -> Result<()> {
    for (total, next, kind, says) in [
        ("3", "", ErrorKind::IncompleteRead, "reported 3 variables"),
        ("1", "5", ErrorKind::Unexpected, "does not follow"),
        ("many", "", ErrorKind::Unexpected, "`x-total`"),
    ] {
        let server = FaultServer::start(page_server(total, next)).await;
        let connection = GitlabConnection::access_token(
            Some(&server.base_url()),
            "t",
            AccessTokenType::Personal,
        )?;
        let dest = GitlabDestination::builder(connection, GitlabConfig::project("1"))
            .settings(kms_sync_testkit::fake_client_settings(server.base_url()))
            .build()?;
        let err = dest.list().await.expect_err(says);
        assert_eq!(err.kind(), kind, "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
    Ok(())
}

/// `x-total-pages` is checked as `x-total` is, on the fake's own answers bent by a proxy: a
/// list ending before the reported page count, a page naming a next page its own count calls
/// the last, or a page of variables past the count is an incomplete read with zero writes;
/// without the headers (GitLab drops them for very large lists) the list is read whole.
#[tokio::test]
async fn page_counts_that_do_not_add_up_are_refused_with_zero_writes() -> Result<()> {
    use kms_sync_testkit::proxy::{Action, BendingProxy, Rule};
    let fake = FakeGitlab::start().await;
    for i in 0..150 {
        let key = format!("THEIRS_{i:03}");
        fake.seed(
            Kind::Project,
            PROJECT_ID,
            FakeVariable::plain(&key, "theirs", "*"),
        );
    }
    let proxy = BendingProxy::start(fake.base_url()).await;
    let path = list_path(Kind::Project, PROJECT_ID);
    let set = |name: &str, value: &str| Action::SetHeader {
        name: name.to_owned(),
        value: value.to_owned(),
    };
    let no_total = Rule::get(&path, Action::RemoveHeader("x-total".to_owned()));
    let cases: Vec<(Vec<Rule>, &str)> = vec![
        // Cut short after page 1 (100 of 150): only the page count can tell.
        (
            vec![
                no_total.clone(),
                Rule::get(&path, set("x-next-page", "")).once(),
            ],
            "reported 2 pages (`x-total-pages`) but the list ended after page 1",
        ),
        (
            vec![Rule::get(&path, set("x-total-pages", "3"))],
            "reported 3 pages (`x-total-pages`) but the list ended after page 2",
        ),
        (
            vec![Rule::get(&path, set("x-total-pages", "1")).once()],
            "page 1 names a next page but `x-total-pages` says there are 1 pages",
        ),
        (
            vec![Rule::get(&path, set("x-total-pages", "1")).nth(2)],
            "page 2 holds variables but `x-total-pages` says there are 1 pages",
        ),
    ];
    let before = fake.variables(Kind::Project, PROJECT_ID);
    for (rules, says) in cases {
        proxy.clear_rules();
        for rule in rules {
            proxy.add_rule(rule);
        }
        let stats = fake.faults().request_stats();
        let dest = fake.destination_at(GitlabConfig::project(PROJECT_ID), &proxy.base_url())?;
        let err = syncer(Arc::new(dest))?.sync().await.expect_err(says);
        assert_eq!(err.kind(), ErrorKind::IncompleteRead, "{says}: {err}");
        assert!(err.to_string().contains(says), "{says}: {err}");
        assert_eq!(
            fake.faults().request_stats().since(&stats).writes(),
            0,
            "{says}"
        );
        assert_eq!(fake.variables(Kind::Project, PROJECT_ID), before, "{says}");
    }

    proxy.clear_rules();
    proxy.add_rule(no_total);
    proxy.add_rule(Rule::get(
        &path,
        Action::RemoveHeader("x-total-pages".to_owned()),
    ));
    let dest = fake.destination_at(GitlabConfig::project(PROJECT_ID), &proxy.base_url())?;
    assert_eq!(dest.list().await?.len(), 150, "absent headers are fine");
    Ok(())
}
