//! The `kms-sync` command-line tool, run in-process against the fake Bitbucket with a dotenv
//! source: every exit code it promises.
#![cfg(feature = "full")]

#[path = "../examples/kms_sync_cli.rs"]
mod cli;

use kms_sync_bitbucket::fake::{FakeBitbucket, FAKE_EMAIL, FAKE_TOKEN, REPOSITORY, WORKSPACE};

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test]
async fn plan_sync_resync_guard_and_usage_exit_codes() -> std::io::Result<()> {
    let fake = FakeBitbucket::start().await;
    let dir = tempfile::tempdir()?;
    let path = |name: &str| dir.path().join(name).display().to_string();
    std::fs::write(
        path("sync.json"),
        r#"{"name": "cli-sync", "environment": "prod", "secretPath": "/", "destination": "bitbucket",
            "syncOptions": {"keySchema": "KMS_{{secretKey}}"},
            "destinationConfig": {"workspaceSlug": "acme", "repositorySlug": "api"}}"#,
    )?;
    std::fs::write(
        path("connection.json"),
        format!(
            r#"{{"method": "api-token", "credentials": {{"email": "{FAKE_EMAIL}", "apiToken": "{FAKE_TOKEN}"}}}}"#
        ),
    )?;
    std::fs::write(path(".env"), "A=1\nB=2\n")?;
    // The ledger's HMAC key; no other test in this binary reads it.
    std::env::set_var("KMS_SYNC_STATE_KEY", "cli-test-state-key-0123456789");
    let base = fake.base_url();
    let (definition, connection, dotenv, state) = (
        path("sync.json"),
        path("connection.json"),
        path(".env"),
        path("state.json"),
    );
    let common = |command: &str| {
        args(&[
            command,
            "--definition",
            &definition,
            "--connection",
            &connection,
            "--dotenv",
            &dotenv,
            "--base-url",
            &base,
            "--state",
            &state,
        ])
    };

    assert_eq!(cli::run(&common("validate-connection")).await, cli::APPLIED);
    assert_eq!(
        cli::run(&common("plan")).await,
        cli::APPLIED,
        "a plan with changes"
    );
    assert!(
        fake.variables(WORKSPACE, REPOSITORY, None).is_empty(),
        "plan writes nothing"
    );
    assert_eq!(cli::run(&common("sync")).await, cli::APPLIED);
    assert_eq!(fake.variables(WORKSPACE, REPOSITORY, None).len(), 2);
    let mut json = common("sync");
    json.push("--json".into());
    assert_eq!(
        cli::run(&json).await,
        cli::NOTHING_TO_DO,
        "the ledger makes the resync a no-op"
    );
    assert_eq!(cli::run(&common("plan")).await, cli::NOTHING_TO_DO);

    // An empty source would delete every managed key: the guard refuses.
    std::fs::write(&dotenv, "")?;
    assert_eq!(cli::run(&common("sync")).await, cli::REFUSED);
    assert_eq!(
        fake.variables(WORKSPACE, REPOSITORY, None).len(),
        2,
        "nothing deleted"
    );
    std::fs::write(&dotenv, "A=1\nB=2\n")?;
    assert_eq!(cli::run(&common("remove")).await, cli::APPLIED);
    assert!(fake.variables(WORKSPACE, REPOSITORY, None).is_empty());

    assert_eq!(cli::run(&args(&[])).await, cli::USAGE);
    assert_eq!(cli::run(&common("deploy")).await, cli::USAGE);
    assert_eq!(cli::run(&args(&["sync", "--definition"])).await, cli::USAGE);
    std::fs::write(&definition, r#"{"name": "x",}"#)?;
    assert_eq!(
        cli::run(&common("sync")).await,
        cli::FAILED,
        "an invalid definition"
    );
    Ok(())
}
