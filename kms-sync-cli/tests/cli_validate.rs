//! `validate-connection` checks the credentials of every kind the same way, through its
//! factory's `verify_connection`, and says what a write needs from the factory's facts
//! (GitLab here; Bitbucket in `cli.rs`).

mod cli_common;

use cli_common::*;
use kms_sync_gitlab::fake::{FakeGitlab, FAKE_TOKEN, PROJECT_PATH};

fn definition() -> String {
    format!(
        r#"{{"name": "to-gitlab", "destination": "gitlab", "environment": "dev", "secretPath": "/",
            "syncOptions": {{"initialSyncBehavior": "overwrite-destination"}},
            "destinationConfig": {{"scope": "project", "projectId": "{PROJECT_PATH}"}}}}"#
    )
}

fn connection(token: &str, base: &str) -> String {
    format!(
        r#"{{"name": "gl", "method": "access-token", "credentials":
            {{"accessToken": "{token}", "accessTokenType": "project", "instanceUrl": "{base}"}}}}"#
    )
}

async fn validate(fake: &FakeGitlab, scratch: &Scratch, token: &str) -> Run {
    let base = fake.base_url();
    let definition = scratch.write("sync.json", &definition());
    let connection = scratch.write("connection.json", &connection(token, &base));
    let args = [
        "validate-connection",
        "--definition",
        definition.as_str(),
        "--connection",
        connection.as_str(),
        "--base-url",
        base.as_str(),
    ];
    kms_sync(&args, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gitlab_credentials_are_checked_by_its_factory_and_the_write_need_named() {
    let fake = FakeGitlab::start().await;
    let scratch = Scratch::new();
    let good = validate(&fake, &scratch, FAKE_TOKEN)
        .await
        .expect(APPLIED, "good credentials");
    assert!(
        good.stdout
            .contains("ok     credentials: accepted, as Fake User"),
        "{good:#?}"
    );
    assert!(
        good.stdout
            .contains("a sync needs an access token with the `api` scope"),
        "{good:#?}"
    );

    let wrong = "glpat-not-the-fakes-token";
    let bad = validate(&fake, &scratch, wrong).await;
    assert_ne!(bad.code, APPLIED, "{bad:#?}");
    assert!(bad.stdout.contains("FAILED credentials"), "{bad:#?}");
    assert!(
        !bad.stdout.contains(wrong) && !bad.stderr.contains(wrong),
        "{bad:#?}"
    );
}
