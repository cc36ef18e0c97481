//! GitLab through the facade: the KMS's create-sync body and app connection for GitLab,
//! parsed against `kms_sync::registry()`, built into a syncer and run against the fake.

#![cfg(all(feature = "gitlab", feature = "fake"))]

use std::sync::Arc;

use kms_sync::gitlab::fake::{FakeGitlab, Kind, GROUP_ID};
use kms_sync::{
    build_syncer, parse_definition, AppConnectionDefinition, ErrorKind, SecretSet, StaticSource,
};

const SYNC: &str = r#"{
  "name": "my-gitlab-sync",
  "environment": "dev",
  "secretPath": "/my-secrets",
  "isEnabled": true,
  "syncOptions": {"initialSyncBehavior": "overwrite-destination", "keySchema": "KMS_{{secretKey}}"},
  "destinationConfig": {"scope": "group", "groupId": "7", "groupName": "acme",
                        "targetEnvironment": "production", "shouldProtectSecrets": true}
}"#;

#[tokio::test]
async fn a_kms_gitlab_sync_runs_through_the_registry() -> kms_sync::Result<()> {
    let fake = FakeGitlab::start().await;
    let def = parse_definition(SYNC, Some("gitlab"))?;
    assert_eq!(def.destination(), "gitlab");
    let connection = AppConnectionDefinition::from_json(&format!(
        r#"{{"name": "gl", "method": "access-token", "credentials": {{"accessToken": "{}", "accessTokenType": "project", "instanceUrl": "{}"}}}}"#,
        kms_sync::gitlab::fake::FAKE_TOKEN,
        fake.base_url()
    ))?;
    let source = Arc::new(StaticSource::new(
        SecretSet::new("dev").with("DB_URL", "postgres://db"),
    ));
    let syncer = build_syncer(
        &def,
        &connection,
        source,
        kms_sync_testkit::fake_client_settings(fake.base_url()),
    )?;
    let report = syncer.sync().await?;
    assert_eq!(report.counts.created, 1, "{report}");
    let written = fake
        .variables(Kind::Group, GROUP_ID)
        .into_iter()
        .find(|v| v.key == "KMS_DB_URL")
        .expect("written");
    assert_eq!(written.environment_scope, "production");
    assert!(written.protected);
    Ok(())
}

#[test]
fn the_registry_knows_gitlab_and_its_facts() -> kms_sync::Result<()> {
    let registry = kms_sync::registry();
    let factory = registry.factory("gitlab")?;
    let facts = factory.facts();
    assert_eq!(facts.display_name(), "GitLab");
    assert!(!facts.can_import_secrets());
    assert!(facts.is_public_credential_field("instanceUrl"));
    assert!(!facts.is_public_credential_field("accessToken"));
    assert!(facts.is_display_only_config_field("groupName"));
    let err = parse_definition(&SYNC.replace(r#""groupId": "7", "#, ""), Some("gitlab"))
        .expect_err("no groupId");
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(err.to_string().contains("groupId"), "{err}");
    Ok(())
}
