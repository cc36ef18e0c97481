//! The CLI's URL policy: a connection's URL (Octopus `instanceUrl`) must be public HTTPS
//! without userinfo unless `--allow-address` names it; the allowlisted fake is reached while
//! the database port next to it stays refused.

mod cli_common;

use cli_common::*;
use kms_sync_octopus::fake::{FakeOctopus, FAKE_API_KEY, SPACE};
use serde_json::json;

struct Files {
    scratch: Scratch,
    definition: String,
    dotenv: String,
}

fn files(project: &str) -> Files {
    let scratch = Scratch::new();
    let definition = scratch.write(
        "sync.json",
        &json!({"name": "url-policy", "environment": "prod", "secretPath": "/",
                "destination": "octopus-deploy", "syncOptions": {"keySchema": "KMS_{{secretKey}}"},
                "destinationConfig": {"spaceId": SPACE, "scope": "project", "projectId": project}})
        .to_string(),
    );
    let dotenv = scratch.write(".env", "API_KEY=policy-value-1\n");
    Files {
        scratch,
        definition,
        dotenv,
    }
}

fn connection(files: &Files, instance_url: &str) -> String {
    files.scratch.write(
        "connection.json",
        &json!({"name": "octo", "method": "api-key",
                "credentials": {"instanceUrl": instance_url, "apiKey": FAKE_API_KEY}})
        .to_string(),
    )
}

async fn plan(files: &Files, connection: &str, extra: &[&str]) -> Run {
    let mut args = vec![
        "plan",
        "--definition",
        &files.definition,
        "--connection",
        connection,
        "--dotenv",
        &files.dotenv,
        "--no-state",
    ];
    args.extend_from_slice(extra);
    kms_sync(&args, &[]).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inside_addresses_are_refused_and_the_allowlisted_fake_is_reached() {
    let fake = FakeOctopus::start().await;
    let (project, _) = fake.add_project("Web", false);
    let files = files(&project);
    let base = fake.base_url().trim_end_matches('/').to_owned();
    let allow = format!("--allow-address={base}");

    let at_fake = connection(&files, &base);
    plan(&files, &at_fake, &[&allow])
        .await
        .expect(APPLIED, "the allowlisted fake is reached");
    let reached = fake.faults().count();
    assert!(reached > 0, "the plan read the fake");
    let refused = plan(&files, &at_fake, &[])
        .await
        .expect(USAGE, "plain http to loopback without an allowlist entry");
    assert!(refused.stderr.contains("refused"), "{refused:#?}");

    for url in [
        "http://127.0.0.1:5432",
        "https://169.254.169.254/latest",
        "https://[::ffff:127.0.0.1]:8443",
        "https://2130706433/",
        "https://10.0.0.1/",
    ] {
        let next_door = connection(&files, url);
        let run = plan(&files, &next_door, &[&allow]).await;
        assert_eq!(run.code, USAGE, "{url}: {run:#?}");
        assert!(run.stderr.contains("refused"), "{url}: {run:#?}");
    }

    let with_userinfo = connection(&files, "https://admin:hunter2secret@octopus.example.com");
    let run = plan(&files, &with_userinfo, &[]).await;
    assert_eq!(run.code, USAGE, "{run:#?}");
    for shown in [&run.stdout, &run.stderr] {
        assert!(!shown.contains("hunter2secret"), "{run:#?}");
    }
    assert_eq!(
        fake.faults().count(),
        reached,
        "no refused run reached the fake"
    );
}
