//! What scripts and shells get from the installed binary: `--output json` on plan and sync
//! (value-free JSON: plan entries with their actions and reasons, report counts and
//! outcomes), the completion scripts and the manual page.

mod cli_common;

use cli_common::*;
use kms_sync_bitbucket::fake::{FakeBitbucket, FAKE_EMAIL, FAKE_TOKEN, REPOSITORY, WORKSPACE};
use serde_json::Value;

const STATE_KEY: &str = "cli-output-state-key-abcdef0123456789";
/// Values no output may show: the source's values and the connection's token.
const VALUE_A: &str = "canary-output-value-a-5c1d";
const VALUE_B: &str = "canary-output-value-b-77e0";

/// One Bitbucket sync with a dotenv source; the common flags of plan and sync.
struct Files {
    scratch: Scratch,
    fake: FakeBitbucket,
    args: Vec<String>,
}

async fn files() -> Files {
    let scratch = Scratch::new();
    let fake = FakeBitbucket::start().await;
    let definition = scratch.write(
        "sync.json",
        &format!(
            r#"{{"name": "cli-output", "environment": "prod", "secretPath": "/", "destination": "bitbucket",
                "destinationConfig": {{"workspaceSlug": "{WORKSPACE}", "repositorySlug": "{REPOSITORY}"}}}}"#
        ),
    );
    let connection = scratch.write(
        "connection.json",
        &format!(
            r#"{{"name": "bb", "method": "api-token", "credentials": {{"email": "{FAKE_EMAIL}", "apiToken": "{FAKE_TOKEN}"}}}}"#
        ),
    );
    let dotenv = scratch.write(".env", &format!("A={VALUE_A}\nB={VALUE_B}\n"));
    let args = [
        "--definition",
        &definition,
        "--connection",
        &connection,
        "--dotenv",
        &dotenv,
        "--base-url",
        &fake.base_url(),
        "--state",
        &scratch.path("ledger.json"),
    ]
    .map(str::to_owned)
    .to_vec();
    Files {
        scratch,
        fake,
        args,
    }
}

impl Files {
    async fn run(&self, command: &str, extra: &[&str]) -> Run {
        let mut argv = vec![command];
        argv.extend(self.args.iter().map(String::as_str));
        argv.extend_from_slice(extra);
        let home = self.scratch.path("state-home");
        kms_sync(
            &argv,
            &[("KMS_SYNC_STATE_KEY", STATE_KEY), ("XDG_STATE_HOME", &home)],
        )
        .await
    }
}

/// Parses stdout as JSON, after checking no secret is anywhere in the run's output.
fn value_free_json(run: &Run) -> Value {
    let shown = format!("{}{}", run.stdout, run.stderr);
    for secret in [VALUE_A, VALUE_B, FAKE_TOKEN, STATE_KEY] {
        assert!(!shown.contains(secret), "{secret} shown: {run:#?}");
    }
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON: {e}: {run:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_and_sync_print_value_free_json() {
    let f = files().await;
    let plan = f.run("plan", &["--output", "json"]).await;
    let plan = value_free_json(&plan.expect(APPLIED, "a plan with changes"));
    let text = plan.to_string();
    for key in ["\"A\"", "\"B\"", "create"] {
        assert!(text.contains(key), "the plan lacks {key}: {plan:#}");
    }
    assert!(
        f.fake.variables(WORKSPACE, REPOSITORY, None).is_empty(),
        "plan wrote"
    );

    let sync = f.run("sync", &["--output", "json"]).await;
    let report = value_free_json(&sync.expect(APPLIED, "the first sync"));
    assert_eq!(report["counts"]["created"], 2, "{report:#}");
    assert_eq!(f.fake.variables(WORKSPACE, REPOSITORY, None).len(), 2);

    let again = f.run("sync", &["--output", "json"]).await;
    let report = value_free_json(&again.expect(NOTHING_TO_DO, "the resync"));
    assert_eq!(report["counts"]["unchanged"], 2, "{report:#}");
    assert_eq!(report["counts"]["created"], 0, "{report:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_stays_the_default_and_a_bad_format_is_a_usage_error() {
    let f = files().await;
    let plan = f.run("plan", &[]).await.expect(APPLIED, "a text plan");
    assert!(
        serde_json::from_str::<Value>(&plan.stdout).is_err(),
        "text by default: {plan:#?}"
    );
    let bad = f
        .run("plan", &["--output", "yaml"])
        .await
        .expect(USAGE, "--output yaml");
    assert!(bad.stderr.contains("yaml"), "names the bad value: {bad:#?}");
    assert!(f.fake.variables(WORKSPACE, REPOSITORY, None).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_and_the_man_page_come_from_the_command_line_definition() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = kms_sync(&["completions", shell], &[])
            .await
            .expect(APPLIED, shell);
        for word in [
            "validate-connection",
            "max-delete-share",
            "progress-interval",
        ] {
            assert!(script.stdout.contains(word), "{shell} lacks {word}");
        }
    }
    kms_sync(&["completions", "tcsh"], &[])
        .await
        .expect(USAGE, "an unknown shell");
    let man = kms_sync(&["man"], &[]).await.expect(APPLIED, "man");
    for part in [".TH kms-sync", "Exit codes", "KMS_URL", "completions"] {
        assert!(man.stdout.contains(part), "the man page lacks {part}");
    }
}
