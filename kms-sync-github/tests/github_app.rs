//! A GitHub App connection against the fake: the RS256 JWT is exchanged for an
//! installation token, which is cached until shortly before it expires, renewed when GitHub
//! refuses it, and never shown — nor is the App's private key.

use std::sync::Arc;

use kms_sync_core::{
    AppConnectionDefinition, DestinationFactory, ErrorKind, Fingerprinter, MemoryStateStore,
    Result, SecretSet, StaticSource, Syncer, Verification,
};
use kms_sync_github::fake::{
    FakeGithub, FAKE_APP_ID, FAKE_APP_KEY_PEM, FAKE_INSTALLATION_ID, OWNER, REPO,
};
use kms_sync_github::{GithubConfig, GithubConnection, GithubFactory};
use kms_sync_testkit::LogCapture;

fn app_json(installation: &str) -> String {
    serde_json::json!({
        "name": "my-github-app",
        "method": "github-app",
        "credentials": {"appId": FAKE_APP_ID, "installationId": installation, "privateKey": FAKE_APP_KEY_PEM},
    })
    .to_string()
}

fn key_body() -> String {
    FAKE_APP_KEY_PEM
        .lines()
        .nth(3)
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn an_app_syncs_with_one_installation_token_across_runs() -> Result<()> {
    let fake = FakeGithub::start().await;
    let dest = Arc::new(fake.destination_with(
        fake.app_connection(),
        GithubConfig::repository(OWNER, REPO),
        &fake.base_url(),
    )?);
    let source = Arc::new(StaticSource::new(SecretSet::new("prod").with("A", "1")));
    let s = Syncer::builder()
        .source(source.clone())
        .destination(dest)
        .state(
            Arc::new(MemoryStateStore::default()),
            Fingerprinter::new(vec![3; 32])?,
        )
        .build()?;
    assert!(s.sync().await?.is_success());
    source.replace(SecretSet::new("prod").with("A", "2"))?;
    assert!(s.sync().await?.is_success());
    assert_eq!(fake.tokens_minted(), 1, "cached between runs");
    assert_eq!(
        fake.repo_secrets(OWNER, REPO).get("A").map(String::as_str),
        Some("2")
    );
    Ok(())
}

#[tokio::test]
async fn a_token_near_its_expiry_is_replaced() -> Result<()> {
    let fake = FakeGithub::start().await;
    // Four minutes: inside the five-minute margin, so every use mints a new one.
    fake.set_token_lifetime(240);
    let dest = fake.destination_with(
        fake.app_connection(),
        GithubConfig::repository(OWNER, REPO),
        &fake.base_url(),
    )?;
    use kms_sync_core::Destination;
    dest.list().await?;
    dest.list().await?;
    assert_eq!(fake.tokens_minted(), 2);
    Ok(())
}

#[tokio::test]
async fn verify_connection_exchanges_the_jwt() -> Result<()> {
    let fake = FakeGithub::start().await;
    let settings = kms_sync_testkit::fake_client_settings(fake.base_url());
    let good = AppConnectionDefinition::from_json(&app_json(FAKE_INSTALLATION_ID))?;
    assert_eq!(
        GithubFactory
            .verify_connection(&good, settings.clone())
            .await?,
        Verification::accepted(),
        "an App's check names no user"
    );
    assert_eq!(fake.tokens_minted(), 1);
    let elsewhere = AppConnectionDefinition::from_json(&app_json("1"))?;
    let err = GithubFactory
        .verify_connection(&elsewhere, settings.clone())
        .await
        .expect_err("not installed there");
    assert_eq!(err.kind(), ErrorKind::NotFound);
    let pat = AppConnectionDefinition::from_json(
        r#"{"method":"pat","credentials":{"personalAccessToken":"github_pat_fake_0123456789abcdef"}}"#,
    )?;
    assert_eq!(
        GithubFactory
            .verify_connection(&pat, settings.clone())
            .await?,
        Verification::accepted_as("fake-user")
    );
    let wrong = AppConnectionDefinition::from_json(
        r#"{"method":"pat","credentials":{"personalAccessToken":"nope"}}"#,
    )?;
    let err = GithubFactory
        .verify_connection(&wrong, settings)
        .await
        .expect_err("wrong");
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    Ok(())
}

/// A JWT signed by another key is refused by GitHub: Unauthenticated, and nothing of
/// either key in the error.
#[tokio::test]
async fn a_jwt_from_another_key_is_refused() -> Result<()> {
    let fake = FakeGithub::start().await;
    let other_key = include_str!("fixtures/other-app-key.pem");
    let conn = GithubConnection::app(FAKE_APP_ID, FAKE_INSTALLATION_ID, other_key)?;
    let dest = fake.destination_with(
        conn,
        GithubConfig::repository(OWNER, REPO),
        &fake.base_url(),
    )?;
    let err = dest.validate_connection().await.expect_err("wrong key");
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    assert_eq!(fake.tokens_minted(), 0);
    Ok(())
}

/// The canary for an App: the private key and the minted token appear in no `Debug`,
/// error, report or log line.
#[tokio::test]
async fn the_app_key_and_tokens_are_never_shown() -> Result<()> {
    let capture = LogCapture::default();
    let _guard = capture.install();
    let fake = FakeGithub::start().await;
    let conn = GithubConnection::from_kms_json(&app_json(FAKE_INSTALLATION_ID))?;
    let dest = Arc::new(fake.destination_with(
        conn.clone(),
        GithubConfig::repository(OWNER, REPO),
        &fake.base_url(),
    )?);
    let source = Arc::new(StaticSource::new(
        SecretSet::new("prod").with("A", "canary-value-1"),
    ));
    let s = Syncer::builder()
        .source(source)
        .destination(dest.clone())
        .build()?;
    let report = s.sync().await?;
    fake.set_read_only(true);
    let failed = s.sync().await?;
    let mut shown = vec![
        format!("{conn:?}"),
        format!("{dest:?}"),
        format!("{report} {report:?}"),
        format!("{failed} {failed:?}"),
        format!("{:?}", s.status()),
        capture.text(),
    ];
    shown.push(serde_json::to_string(&failed).unwrap_or_default());
    let tokens = fake.minted_tokens();
    assert_eq!(tokens.len(), 1);
    for text in &shown {
        assert!(
            !text.contains(&key_body()),
            "the private key leaked: {text}"
        );
        assert!(!text.contains(&tokens[0]), "the token leaked: {text}");
        assert!(!text.contains("canary-value-1"), "the value leaked: {text}");
    }
    Ok(())
}
