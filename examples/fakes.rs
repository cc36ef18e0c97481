//! Try the `kms-sync` command-line tool with no account: starts the embedded fakes — Hanzo
//! KMS, Bitbucket, Checkly, Octopus Deploy, GitHub and GitLab — on 127.0.0.1, writes a sync definition and a
//! connection per destination into a directory, and prints the commands that point the tool
//! at them (install the tool first: `cargo install --path kms-sync-cli`, or run each as
//! `cargo run -p kms-sync-cli -- <command> …`). Ctrl-C stops the fakes.
//!
//! ```text
//! cargo run --features fake --example fakes [-- <DIR>]
//! ```
//!
//! The KMS holds `prod:/` with `DB_URL`, `API_KEY` and `STRIPE_KEY` (project `backend`); the
//! fakes accept only their own credentials, which the connection files carry. Everything is
//! lost when the fakes stop.

use std::path::{Path, PathBuf};

use kms_sync_bitbucket::fake::{FakeBitbucket, FAKE_EMAIL, FAKE_TOKEN, REPOSITORY, WORKSPACE};
use kms_sync_checkly::fake::{FakeChecklyServer, ACCOUNT_ID, ACCOUNT_NAME, FAKE_API_KEY};
use kms_sync_github::fake::{FakeGithub, FAKE_TOKEN as GITHUB_TOKEN, OWNER, REPO};
use kms_sync_gitlab::fake::{
    FakeGitlab, FAKE_TOKEN as GITLAB_TOKEN, PROJECT_ID as GITLAB_PROJECT, PROJECT_PATH,
};
use kms_sync_hanzo::fake::{FakeKms, CLIENT_ID, CLIENT_SECRET, PROJECT_ID, PROJECT_SLUG};
use kms_sync_octopus::fake::{FakeOctopus, FAKE_API_KEY as OCTOPUS_API_KEY, SPACE};
use serde_json::{json, Value};

/// A ledger key for trying things out only; a real one is 16+ random bytes you keep.
const DEMO_STATE_KEY: &str = "fakes-demo-state-key-not-a-secret";

/// The running fakes.
struct Fakes {
    kms: FakeKms,
    bitbucket: FakeBitbucket,
    checkly: FakeChecklyServer,
    octopus: FakeOctopus,
    github: FakeGithub,
    gitlab: FakeGitlab,
    group: u64,
    project: String,
}

async fn start() -> Fakes {
    let kms = FakeKms::start().await;
    for (key, value) in [
        ("DB_URL", "postgres://app@db.internal/app"),
        ("API_KEY", "fake-api-key-value"),
        ("STRIPE_KEY", "sk_test_fake"),
    ] {
        kms.set("prod", "/", key, value);
    }
    let checkly = FakeChecklyServer::start().await;
    let group = checkly.add_group("API checks");
    let octopus = FakeOctopus::start().await;
    let (project, _) = octopus.add_project("Web", false);
    Fakes {
        kms,
        bitbucket: FakeBitbucket::start().await,
        checkly,
        octopus,
        github: FakeGithub::start().await,
        gitlab: FakeGitlab::start().await,
        group,
        project,
    }
}

/// A definition in the KMS's create-sync shape.
fn definition(name: &str, destination: &str, config: Value) -> Value {
    json!({
        "name": name,
        "projectId": PROJECT_ID,
        "environment": "prod",
        "secretPath": "/",
        "isEnabled": true,
        "destination": destination,
        "syncOptions": {"initialSyncBehavior": "overwrite-destination", "keySchema": "KMS_{{secretKey}}"},
        "destinationConfig": config,
    })
}

/// (file stem, definition, connection, `--base-url` if the destination takes one).
fn files(f: &Fakes) -> Vec<(&'static str, Value, Value, Option<String>)> {
    let checkly_connection = json!({"name": "fake-checkly", "method": "api-key", "credentials": {"apiKey": FAKE_API_KEY}});
    vec![
        (
            "bitbucket",
            definition(
                "fake-bitbucket-sync",
                "bitbucket",
                json!({"workspaceSlug": WORKSPACE, "repositorySlug": REPOSITORY}),
            ),
            json!({"name": "fake-bitbucket", "method": "api-token", "credentials": {"email": FAKE_EMAIL, "apiToken": FAKE_TOKEN}}),
            Some(f.bitbucket.base_url()),
        ),
        (
            "checkly",
            definition(
                "fake-checkly-sync",
                "checkly",
                json!({"accountId": ACCOUNT_ID, "accountName": ACCOUNT_NAME}),
            ),
            checkly_connection.clone(),
            Some(f.checkly.base_url()),
        ),
        (
            "checkly-group",
            definition(
                "fake-checkly-group-sync",
                "checkly",
                json!({"accountId": ACCOUNT_ID, "accountName": ACCOUNT_NAME, "groupId": f.group.to_string(), "groupName": "API checks"}),
            ),
            checkly_connection,
            Some(f.checkly.base_url()),
        ),
        (
            "octopus",
            definition(
                "fake-octopus-sync",
                "octopus-deploy",
                json!({"spaceId": SPACE, "scope": "project", "projectId": f.project}),
            ),
            json!({"name": "fake-octopus", "method": "api-key", "credentials": {"instanceUrl": f.octopus.base_url(), "apiKey": OCTOPUS_API_KEY}}),
            None,
        ),
        (
            "github",
            definition(
                "fake-github-sync",
                "github",
                json!({"scope": "repository", "owner": OWNER, "repo": REPO}),
            ),
            json!({"name": "fake-github", "method": "pat", "credentials": {"personalAccessToken": GITHUB_TOKEN}}),
            Some(f.github.base_url()),
        ),
        (
            "gitlab",
            definition(
                "fake-gitlab-sync",
                "gitlab",
                json!({"scope": "project", "projectId": GITLAB_PROJECT, "projectName": PROJECT_PATH}),
            ),
            json!({"name": "fake-gitlab", "method": "access-token", "credentials": {"accessToken": GITLAB_TOKEN, "accessTokenType": "personal"}}),
            Some(f.gitlab.base_url()),
        ),
    ]
}

fn write(path: &Path, value: &Value) -> std::io::Result<()> {
    let text = serde_json::to_string_pretty(value).map_err(std::io::Error::other)?;
    std::fs::write(path, text)
}

/// Writes the files and prints how to use them.
fn describe(f: &Fakes, dir: &Path) -> std::io::Result<()> {
    println!("Fakes on 127.0.0.1 (Ctrl-C stops them):");
    println!(
        "  KMS        {}  project `{PROJECT_SLUG}` ({PROJECT_ID}), prod:/ holds DB_URL, API_KEY, STRIPE_KEY",
        f.kms.base_url()
    );
    println!(
        "  Bitbucket  {}  repository {WORKSPACE}/{REPOSITORY}",
        f.bitbucket.base_url()
    );
    println!(
        "  Checkly    {}  account {ACCOUNT_NAME}, check group `API checks` (id {})",
        f.checkly.base_url(),
        f.group
    );
    println!(
        "  Octopus    {}  space {SPACE}, project Web ({})",
        f.octopus.base_url(),
        f.project
    );
    println!(
        "  GitHub     {}  repository {OWNER}/{REPO} (Actions secrets)",
        f.github.base_url()
    );
    println!(
        "  GitLab     {}  project {PROJECT_PATH} (id {GITLAB_PROJECT}), environment scope *",
        f.gitlab.base_url()
    );
    println!("\nIn a shell:\n");
    println!("export KMS_URL={}", f.kms.base_url());
    println!("export KMS_CLIENT_ID={CLIENT_ID}");
    println!("export KMS_CLIENT_SECRET={CLIENT_SECRET}");
    println!("export KMS_SYNC_STATE_KEY={DEMO_STATE_KEY}");
    // The fake Octopus's instanceUrl is plain HTTP on loopback: allowed by name, nothing else.
    println!(
        "export KMS_SYNC_ALLOW_ADDRESS={}",
        f.octopus.base_url().trim_end_matches('/')
    );
    println!();
    for (stem, def, connection, base_url) in files(f) {
        let def_path = dir.join(format!("{stem}-sync.json"));
        let connection_path = dir.join(format!("{stem}-connection.json"));
        write(&def_path, &def)?;
        write(&connection_path, &connection)?;
        let base = base_url
            .map(|u| format!(" --base-url {u}"))
            .unwrap_or_default();
        let flags = format!(
            "--definition {} --connection {}{base}",
            def_path.display(),
            connection_path.display()
        );
        println!("# {stem}");
        for command in ["validate-connection", "plan", "sync"] {
            println!("kms-sync {command} {flags}");
        }
        println!();
    }
    println!("ready");
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = match std::env::args_os().nth(1) {
        Some(dir) => PathBuf::from(dir),
        None => std::env::temp_dir().join(format!("kms-sync-fakes-{}", std::process::id())),
    };
    std::fs::create_dir_all(&dir)?;
    let fakes = start().await;
    describe(&fakes, &dir)?;
    tokio::signal::ctrl_c().await?;
    eprintln!("stopping the fakes");
    Ok(())
}
