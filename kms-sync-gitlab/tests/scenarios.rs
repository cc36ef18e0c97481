//! GitLab scenarios from the issue, against the fake over loopback HTTP: environment-scope
//! identity, attributes set on managed variables and kept on the others, masking refused
//! before any write, hidden variables, the factory's connection check, and no token or
//! value in any `Debug`.

use std::sync::Arc;

use kms_sync_core::{
    AppConnectionDefinition, DestinationFactory, ErrorKind, Fingerprinter, KeyStatus,
    MemoryStateStore, Result, SecretSet, StaticSource, Syncer, Verification,
};
use kms_sync_gitlab::fake::{
    list_path, FakeGitlab, FakeVariable, Kind, FAKE_TOKEN, GROUP_ID, PROJECT_ID, PROJECT_PATH,
};
use kms_sync_gitlab::{Attributes, GitlabConfig, GitlabDestination, GitlabFactory, VariableType};
use kms_sync_testkit::{Aim, Fault};
use serde_json::json;

fn source(pairs: &[(&str, &str)]) -> Arc<StaticSource> {
    let mut set = SecretSet::new("prod");
    for (k, v) in pairs {
        set.insert(*k, *v);
    }
    Arc::new(StaticSource::new(set))
}

fn syncer(source: Arc<StaticSource>, dest: GitlabDestination, ledger: bool) -> Result<Syncer> {
    let builder = Syncer::builder()
        .id("scenario")
        .source(source)
        .destination(Arc::new(dest))
        .key_schema_template("KMS_{{secretKey}}");
    if ledger {
        builder
            .state(
                Arc::new(MemoryStateStore::default()),
                Fingerprinter::new(vec![9; 32])?,
            )
            .build()
    } else {
        builder.build()
    }
}

fn find(fake: &FakeGitlab, kind: Kind, key: &str, scope: &str) -> Option<FakeVariable> {
    fake.variables(kind, id_of(kind))
        .into_iter()
        .find(|v| v.key == key && v.environment_scope == scope)
}

fn id_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Project => PROJECT_ID,
        Kind::Group => GROUP_ID,
    }
}

/// One key in three scopes: a sync of `production` creates, updates and deletes only its
/// own, by (key, environment scope), with `filter[environment_scope]` on every `/:key` call.
#[tokio::test]
async fn a_sync_writes_only_its_environment_scope() -> Result<()> {
    let fake = FakeGitlab::start().await;
    for scope in ["*", "staging"] {
        fake.seed(
            Kind::Project,
            PROJECT_ID,
            FakeVariable::plain("KMS_A", scope, scope),
        );
        fake.seed(
            Kind::Project,
            PROJECT_ID,
            FakeVariable::plain("KMS_GONE", scope, scope),
        );
    }
    fake.seed(
        Kind::Project,
        PROJECT_ID,
        FakeVariable::plain("KMS_GONE", "prod-old", "production"),
    );
    let config = GitlabConfig::project(PROJECT_PATH).with_environment_scope("production");
    let src = source(&[("A", "prod-a")]);
    let report = syncer(src.clone(), fake.destination(config.clone())?, false)?
        .sync()
        .await?;
    assert_eq!(report.keys_with(KeyStatus::Created), ["KMS_A"], "{report}");
    assert_eq!(
        report.keys_with(KeyStatus::Deleted),
        ["KMS_GONE"],
        "{report}"
    );
    src.set("A", "prod-a2")?;
    let report = syncer(src, fake.destination(config)?, false)?
        .sync()
        .await?;
    assert_eq!(report.keys_with(KeyStatus::Updated), ["KMS_A"], "{report}");
    for scope in ["*", "staging"] {
        assert_eq!(
            find(&fake, Kind::Project, "KMS_A", scope).map(|v| v.value),
            Some(scope.to_owned())
        );
        assert!(
            find(&fake, Kind::Project, "KMS_GONE", scope).is_some(),
            "{scope}"
        );
    }
    assert_eq!(
        find(&fake, Kind::Project, "KMS_A", "production").map(|v| v.value),
        Some("prod-a2".to_owned())
    );
    assert!(find(&fake, Kind::Project, "KMS_GONE", "production").is_none());
    let filtered = fake
        .faults()
        .log()
        .iter()
        .filter(|r| r.method == "PUT" || r.method == "DELETE")
        .all(|r| {
            r.query
                .as_deref()
                .is_some_and(|q| q.contains("filter%5Benvironment_scope%5D=production"))
        });
    assert!(filtered, "every PUT and DELETE names its scope");
    Ok(())
}

/// The config's attributes go on every managed variable — a managed one whose attributes
/// differ is written again even when its value is right — and a variable the sync does not
/// manage keeps every attribute.
#[tokio::test]
async fn attributes_are_set_on_managed_variables_and_kept_on_the_others() -> Result<()> {
    let fake = FakeGitlab::start().await;
    let theirs = FakeVariable {
        variable_type: "file".to_owned(),
        protected: false,
        masked: true,
        raw: true,
        ..FakeVariable::plain("THEIRS", "theirs-value!", "*")
    };
    fake.seed(Kind::Group, GROUP_ID, theirs.clone());
    fake.seed(
        Kind::Group,
        GROUP_ID,
        FakeVariable::plain("KMS_SAME", "same-value", "*"),
    );
    let attributes = Attributes {
        protected: true,
        masked: true,
        raw: false,
        variable_type: VariableType::File,
        hidden: false,
    };
    let config = GitlabConfig::group(GROUP_ID).with_attributes(attributes);
    let src = source(&[("SAME", "same-value"), ("NEW", "new-value")]);
    let report = syncer(src.clone(), fake.destination(config.clone())?, false)?
        .sync()
        .await?;
    assert_eq!(
        report.keys_with(KeyStatus::Created),
        ["KMS_NEW"],
        "{report}"
    );
    assert_eq!(
        report.keys_with(KeyStatus::Updated),
        ["KMS_SAME"],
        "attributes differ: {report}"
    );
    for key in ["KMS_SAME", "KMS_NEW"] {
        let v = find(&fake, Kind::Group, key, "*").expect(key);
        assert!(
            v.protected && v.masked && !v.raw && !v.hidden,
            "{key}: {v:?}"
        );
        assert_eq!(v.variable_type, "file", "{key}");
    }
    assert_eq!(find(&fake, Kind::Group, "THEIRS", "*"), Some(theirs));
    let again = syncer(src, fake.destination(config)?, false)?
        .sync()
        .await?;
    assert_eq!(again.requests.writes(), 0, "attributes now agree: {again}");
    Ok(())
}

/// With masking on, a value GitLab cannot mask refuses the whole sync before any write,
/// naming the key and not the value.
#[tokio::test]
async fn a_value_that_cannot_be_masked_is_refused_before_any_write() -> Result<()> {
    let fake = FakeGitlab::start().await;
    let masked = Attributes {
        masked: true,
        ..Attributes::default()
    };
    let config = GitlabConfig::project(PROJECT_ID).with_attributes(masked);
    for bad in ["sh0rt", "has a sp4ce", "d0llar$sign"] {
        let before = fake.faults().request_stats();
        let src = source(&[("GOOD", "c2VjcmV0LXZhbHVl"), ("BAD", bad)]);
        let err = syncer(src, fake.destination(config.clone())?, false)?
            .sync()
            .await
            .expect_err(bad);
        assert_eq!(err.kind(), ErrorKind::InvalidValue, "{err}");
        assert_eq!(err.keys(), ["KMS_BAD"], "{err:?}");
        assert!(!format!("{err} {err:?}").contains(bad), "{err:?}");
        assert!(err.to_string().contains("cannot be masked"), "{err}");
        assert_eq!(
            fake.faults().request_stats().since(&before).writes(),
            0,
            "{bad}"
        );
        assert!(
            fake.variables(Kind::Project, PROJECT_ID).is_empty(),
            "{bad}"
        );
    }
    let raw = Attributes {
        masked: true,
        raw: true,
        ..Attributes::default()
    };
    let config = GitlabConfig::project(PROJECT_ID).with_attributes(raw);
    let src = source(&[("RAW", "dollar$sign")]);
    let report = syncer(src, fake.destination(config)?, false)?
        .sync()
        .await?;
    assert!(
        report.is_success(),
        "raw widens what can be masked: {report}"
    );
    let v = find(&fake, Kind::Project, "KMS_RAW", "*").expect("written");
    assert!(v.masked && v.raw);
    Ok(())
}

/// Hidden variables: created `masked_and_hidden`, listed without a value, left alone by a
/// ledgered resync, and a visible one the sync manages is deleted and created hidden.
#[tokio::test]
async fn hidden_variables_are_created_hidden_and_need_a_ledger() -> Result<()> {
    let fake = FakeGitlab::start().await;
    fake.seed(
        Kind::Project,
        PROJECT_ID,
        FakeVariable::plain("KMS_SHOWN", "shown-value", "*"),
    );
    let hide = Attributes {
        masked: true,
        hidden: true,
        ..Attributes::default()
    };
    let config = GitlabConfig::project(PROJECT_ID).with_attributes(hide);
    let src = source(&[("SHOWN", "shown-value"), ("NEW", "new-hidden-value")]);
    let dest = fake.destination(config.clone())?;
    assert!(!kms_sync_core::Destination::info(&dest)
        .capabilities
        .values_readable());
    let ledgered = syncer(src.clone(), dest, true)?;
    let first = ledgered.sync().await?;
    assert_eq!(first.keys_with(KeyStatus::Created), ["KMS_NEW"], "{first}");
    assert_eq!(
        first.keys_with(KeyStatus::Updated),
        ["KMS_SHOWN"],
        "re-created hidden: {first}"
    );
    for key in ["KMS_SHOWN", "KMS_NEW"] {
        let v = find(&fake, Kind::Project, key, "*").expect(key);
        assert!(v.hidden && v.masked, "{key}: {v:?}");
    }
    let second = ledgered.sync().await?;
    assert_eq!(second.requests.writes(), 0, "{second}");
    let unledgered = syncer(src, fake.destination(config)?, false)?
        .sync()
        .await?;
    assert_eq!(
        unledgered.counts.updated, 2,
        "hidden values are rewritten without a ledger: {unledgered}"
    );
    assert!(find(&fake, Kind::Project, "KMS_NEW", "*").is_some_and(|v| v.hidden));
    Ok(())
}

fn connection(token: &str, instance: &str) -> Result<AppConnectionDefinition> {
    AppConnectionDefinition::from_json(&format!(
        r#"{{"name": "gl", "method": "access-token", "credentials": {{"accessToken": "{token}", "accessTokenType": "personal", "instanceUrl": "{instance}"}}}}"#
    ))
}

/// The factory checks a connection with one authenticated GET, and builds a destination
/// from the KMS's JSON that syncs.
#[tokio::test]
async fn the_factory_verifies_connections_and_builds_from_the_kms_json() -> Result<()> {
    let fake = FakeGitlab::start().await;
    let settings = || kms_sync_testkit::fake_client_settings(fake.base_url());
    let good = connection(FAKE_TOKEN, &fake.base_url())?;
    let before = fake.faults().request_stats();
    assert_eq!(
        GitlabFactory.verify_connection(&good, settings()).await?,
        Verification::accepted_as("Fake User")
    );
    assert_eq!(fake.faults().request_stats().since(&before).total(), 1);
    let bad = connection("glpat-WRONG-TOKEN", &fake.base_url())?;
    let err = GitlabFactory
        .verify_connection(&bad, settings())
        .await
        .expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    assert!(!format!("{err} {err:?}").contains("WRONG"), "{err:?}");
    let config = r#"{"scope": "project", "projectId": "acme/api", "projectName": "api", "targetEnvironment": "review/*", "shouldProtectSecrets": true}"#;
    let dest = GitlabFactory.build(&good, config, settings())?;
    let report = Syncer::builder()
        .source(source(&[("A", "1")]))
        .destination(dest)
        .build()?
        .sync()
        .await?;
    assert!(report.is_success(), "{report}");
    let v = find(&fake, Kind::Project, "A", "review/*").expect("written");
    assert!(v.protected && !v.masked);
    Ok(())
}

/// No token and no value in the `Debug` of a connection, a destination or a report.
#[tokio::test]
async fn debug_output_carries_no_token_or_value() -> Result<()> {
    let fake = FakeGitlab::start().await;
    let dest = fake.destination(GitlabConfig::project(PROJECT_ID))?;
    let report = syncer(source(&[("A", "canary-value-xyz")]), dest.clone(), true)?
        .sync()
        .await?;
    let shown = format!("{:?} {dest:?} {report:?} {report}", fake.connection());
    for secret in [FAKE_TOKEN, "canary-value-xyz"] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    Ok(())
}

/// A hidden variable the sync manages but does not ask to hide stays hidden and masked:
/// its updates keep `masked`, which GitLab would refuse to unset.
#[tokio::test]
async fn a_managed_hidden_variable_stays_hidden() -> Result<()> {
    let fake = FakeGitlab::start().await;
    let hidden = FakeVariable {
        masked: true,
        hidden: true,
        ..FakeVariable::plain("KMS_H", "old-hidden-value", "*")
    };
    fake.seed(Kind::Project, PROJECT_ID, hidden);
    let dest = fake.destination(GitlabConfig::project(PROJECT_ID))?;
    let report = syncer(source(&[("H", "new-hidden-value")]), dest, false)?
        .sync()
        .await?;
    assert_eq!(report.keys_with(KeyStatus::Updated), ["KMS_H"], "{report}");
    let v = find(&fake, Kind::Project, "KMS_H", "*").expect("kept");
    assert!(
        v.hidden && v.masked && v.value == "new-hidden-value",
        "{v:?}"
    );
    Ok(())
}

/// A ledgered sync of one key whose create GitLab answers with `answer` (the fake's handler
/// is not called).
async fn create_answered(
    fake: &FakeGitlab,
    attributes: Attributes,
    answer: serde_json::Value,
) -> Result<kms_sync_core::SyncReport> {
    fake.faults().push_aimed(
        Aim::Request {
            method: "POST".to_owned(),
            prefix: list_path(Kind::Project, PROJECT_ID),
        },
        Fault::Body(answer.to_string().into_bytes()),
    );
    let config = GitlabConfig::project(PROJECT_ID).with_attributes(attributes);
    let source = source(&[("A", "a-masked-value")]);
    syncer(source, fake.destination(config)?, true)?
        .sync()
        .await
}

/// A write is confirmed only by a variable stored as asked: an answer masked otherwise, or
/// not hidden when `masked_and_hidden` was sent (a server before GitLab 17.4 ignores it and
/// stores the value visible), is reported unconfirmed, never as written.
#[tokio::test]
async fn an_answer_stored_otherwise_than_asked_does_not_confirm_the_write() -> Result<()> {
    let fake = FakeGitlab::start().await;
    let masked = Attributes {
        masked: true,
        ..Attributes::default()
    };
    let hidden = Attributes {
        masked: true,
        hidden: true,
        ..Attributes::default()
    };
    let cases = [
        (
            masked,
            json!({"key": "KMS_A", "environment_scope": "*", "masked": false}),
            "masked otherwise",
        ),
        (
            hidden,
            json!({"key": "KMS_A", "environment_scope": "*", "masked": true}),
            "not hidden",
        ),
        (
            hidden,
            json!({"key": "KMS_A", "environment_scope": "*", "masked": true, "hidden": false}),
            "not hidden",
        ),
        (
            masked,
            json!({"key": "KMS_A", "environment_scope": "*"}),
            "masked otherwise",
        ),
    ];
    for (attributes, answer, why) in cases {
        let report = create_answered(&fake, attributes, answer).await?;
        let failed = report
            .key("KMS_A")
            .and_then(|k| k.error.clone())
            .expect(why);
        assert_eq!(failed.kind(), ErrorKind::Unconfirmed, "{why}: {failed}");
        assert!(failed.to_string().contains(why), "{why}: {failed}");
        fake.faults().reset();
    }
    // A server before 17.4 answers without `hidden`: confirmed when hiding was not asked.
    let older = json!({"key": "KMS_A", "environment_scope": "*", "masked": true});
    let report = create_answered(&fake, masked, older).await?;
    assert!(
        report.is_success(),
        "an older server's answer confirms: {report}"
    );
    Ok(())
}

/// A listed key of `..` (a hostile or broken answer) is never turned into a request on
/// another path: with no key schema and no ledger every key is the sync's, so the plan
/// deletes it, and the client refuses the `DELETE` that would have reached the project
/// itself (`/projects/:id/`). The other keys still land.
#[tokio::test]
async fn a_listed_dot_dot_key_never_deletes_the_project() -> Result<()> {
    let fake = FakeGitlab::start().await;
    let listed = json!([{"key": "..", "value": "x", "environment_scope": "*",
        "variable_type": "env_var", "protected": false, "masked": false}]);
    fake.faults().push_aimed(
        Aim::get(list_path(Kind::Project, PROJECT_ID)),
        Fault::Body(listed.to_string().into_bytes()),
    );
    let report = Syncer::builder()
        .id("dot-dot")
        .source(source(&[("A", "a-value")]))
        .destination(Arc::new(
            fake.destination(GitlabConfig::project(PROJECT_ID))?,
        ))
        .build()?
        .sync()
        .await?;
    let refused = report
        .key("..")
        .and_then(|k| k.error.clone())
        .expect("refused");
    assert_eq!(refused.kind(), ErrorKind::InvalidKey, "{refused}");
    assert!(find(&fake, Kind::Project, "A", "*").is_some(), "{report}");
    let deletes: Vec<String> = fake
        .faults()
        .log()
        .into_iter()
        .filter(|r| r.method == "DELETE")
        .map(|r| r.path)
        .collect();
    assert!(deletes.is_empty(), "no DELETE may be sent: {deletes:?}");
    Ok(())
}

/// A variable hidden at GitLab is masked on every write, whatever the config asks; so a new
/// value for it that cannot be masked refuses the sync before any write (naming the key and
/// why), instead of GitLab refusing it halfway through the run.
#[tokio::test]
async fn a_hidden_variable_holds_its_new_value_to_the_masking_rules() -> Result<()> {
    let fake = FakeGitlab::start().await;
    let mut hidden = FakeVariable::plain("KMS_PIN", "c2VjcmV0LXZhbHVl", "*");
    hidden.masked = true;
    hidden.hidden = true;
    fake.seed(Kind::Project, PROJECT_ID, hidden);
    let before = fake.faults().request_stats();
    let src = source(&[("PIN", "s3cr"), ("OTHER", "any value at all")]);
    let err = syncer(
        src,
        fake.destination(GitlabConfig::project(PROJECT_ID))?,
        true,
    )?
    .sync()
    .await
    .expect_err("a hidden variable's value that cannot be masked");
    assert_eq!(err.kind(), ErrorKind::InvalidValue, "{err}");
    assert_eq!(err.keys(), ["KMS_PIN"], "{err:?}");
    assert!(err.to_string().contains("hidden at GitLab"), "{err}");
    assert!(!format!("{err} {err:?}").contains("s3cr"), "{err:?}");
    assert_eq!(fake.faults().request_stats().since(&before).writes(), 0);
    Ok(())
}

/// A delete is confirmed only by GitLab's documented 204 (or a 200): a 202 "accepted" does
/// not say the variable is gone, so the report says unconfirmed, not deleted.
#[tokio::test]
async fn a_delete_answered_202_is_unconfirmed() -> Result<()> {
    let fake = FakeGitlab::start().await;
    for key in ["KMS_A", "KMS_B", "KMS_C", "KMS_OLD"] {
        fake.seed(
            Kind::Project,
            PROJECT_ID,
            FakeVariable::plain(key, "v", "*"),
        );
    }
    fake.faults().push_aimed(
        Aim::Request {
            method: "DELETE".to_owned(),
            prefix: format!("{}/KMS_OLD", list_path(Kind::Project, PROJECT_ID)),
        },
        Fault::Status(202),
    );
    let src = source(&[("A", "v"), ("B", "v"), ("C", "v")]);
    let report = syncer(
        src,
        fake.destination(GitlabConfig::project(PROJECT_ID))?,
        false,
    )?
    .sync()
    .await?;
    let err = report
        .key("KMS_OLD")
        .and_then(|k| k.error.clone())
        .expect("unconfirmed");
    assert_eq!(err.kind(), ErrorKind::Unconfirmed, "{err}");
    assert!(err.to_string().contains("202"), "{err}");
    Ok(())
}
