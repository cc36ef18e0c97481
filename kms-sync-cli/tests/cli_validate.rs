//! `validate-connection` checks the credentials of every kind: the three with an arm of
//! their own, and every other through its factory's `verify_connection` (GitLab here).

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
async fn a_kind_without_an_arm_of_its_own_has_its_credentials_checked_by_its_factory() {
    let fake = FakeGitlab::start().await;
    let scratch = Scratch::new();
    let good = validate(&fake, &scratch, FAKE_TOKEN)
        .await
        .expect(APPLIED, "good credentials");
    assert!(
        good.stdout
            .contains("ok     credentials: accepted by the service"),
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
