//! The `kms-sync` command-line tool, run as a real child process against the in-process
//! fakes: every subcommand, every exit code it promises, its flags and environment, its
//! output (see `cli_common` for how the binary is found).

mod cli_common;

use cli_common::*;
use kms_sync_bitbucket::fake::{FakeBitbucket, FAKE_EMAIL, FAKE_TOKEN, REPOSITORY, WORKSPACE};
use kms_sync_checkly::fake::{FakeChecklyServer, ACCOUNT_ID, FAKE_API_KEY};

const STATE_KEY: &str = "cli-test-state-key-0123456789abcdef";

fn bitbucket_connection(scratch: &Scratch) -> String {
    scratch.write(
        "connection.json",
        &format!(
            r#"{{"name": "bb", "method": "api-token", "credentials": {{"email": "{FAKE_EMAIL}", "apiToken": "{FAKE_TOKEN}"}}}}"#
        ),
    )
}

fn bitbucket_definition(
    scratch: &Scratch,
    name: &str,
    extra: &str,
    schema: Option<&str>,
) -> String {
    let options = schema
        .map(|s| format!(r#", "syncOptions": {{"keySchema": "{s}"}}"#))
        .unwrap_or_default();
    scratch.write(
        &format!("{name}.json"),
        &format!(
            r#"{{"name": "{name}", "environment": "prod", "secretPath": "/", "destination": "bitbucket"{extra}{options},
                "destinationConfig": {{"workspaceSlug": "{WORKSPACE}", "repositorySlug": "{REPOSITORY}"}}}}"#
        ),
    )
}

/// The flags of one sync against the fake Bitbucket with a dotenv source.
struct Setup {
    scratch: Scratch,
    fake: FakeBitbucket,
    definition: String,
    connection: String,
    dotenv: String,
    base: String,
}

impl Setup {
    async fn new(name: &str, schema: Option<&str>, dotenv: &str) -> Setup {
        let scratch = Scratch::new();
        let fake = FakeBitbucket::start().await;
        let definition = bitbucket_definition(&scratch, name, "", schema);
        let connection = bitbucket_connection(&scratch);
        let dotenv = scratch.write(".env", dotenv);
        let base = fake.base_url();
        Setup {
            scratch,
            fake,
            definition,
            connection,
            dotenv,
            base,
        }
    }

    fn args<'a>(&'a self, command: &'a str) -> Vec<&'a str> {
        vec![
            command,
            "--definition",
            &self.definition,
            "--connection",
            &self.connection,
            "--dotenv",
            &self.dotenv,
            "--base-url",
            &self.base,
        ]
    }

    /// validate-connection's arguments: no source.
    fn target_args(&self) -> Vec<&str> {
        vec![
            "validate-connection",
            "--definition",
            &self.definition,
            "--connection",
            &self.connection,
            "--base-url",
            &self.base,
        ]
    }

    fn state_dir(&self) -> String {
        self.scratch.path("state-home")
    }

    /// Runs `command` with extra flags, the ledger key and a private state directory.
    async fn run(&self, command: &str, extra: &[&str]) -> Run {
        let mut args = self.args(command);
        args.extend_from_slice(extra);
        let state_dir = self.state_dir();
        kms_sync(
            &args,
            &[
                ("KMS_SYNC_STATE_KEY", STATE_KEY),
                ("XDG_STATE_HOME", &state_dir),
            ],
        )
        .await
    }

    fn variables(&self) -> std::collections::BTreeMap<String, (String, bool)> {
        self.fake.variables(WORKSPACE, REPOSITORY, None)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_version_and_usage_errors_exit_before_reading_anything() {
    let help = kms_sync(&["--help"], &[]).await.expect(0, "--help");
    for part in [
        "plan",
        "sync",
        "remove",
        "watch",
        "validate-connection",
        "Exit codes:",
        "KMS_SYNC_STATE_KEY",
    ] {
        assert!(help.stdout.contains(part), "--help lacks {part}: {help:#?}");
    }
    kms_sync(&["-h"], &[]).await.expect(0, "-h");
    let sync_help = kms_sync(&["help", "sync"], &[])
        .await
        .expect(0, "help sync");
    for flag in [
        "--allow-empty-source",
        "--max-delete-share",
        "--concurrency",
        "--rate-budget",
        "--destination",
        "--state",
        "[env: KMS_CLIENT_ID",
        "[env: KMS_CLIENT_SECRET]",
        "[env: KMS_ACCESS_TOKEN]",
        "[env: KMS_SYNC_STATE_KEY]",
    ] {
        assert!(sync_help.stdout.contains(flag), "help sync lacks {flag}");
    }
    let version = kms_sync(&["--version"], &[]).await.expect(0, "--version");
    assert!(version.stdout.starts_with("kms-sync "), "{version:#?}");

    // Usage errors: exit 2 before any file is read (these files do not exist).
    for args in [
        vec![],
        vec!["deploy"],
        vec!["sync", "--definition", "missing.json"],
        vec![
            "sync",
            "--definition",
            "missing.json",
            "--connection",
            "c.json",
            "--stat",
            "s.json",
        ],
        vec![
            "sync",
            "--definition",
            "missing.json",
            "--connection",
            "c.json",
            "--dotnev",
            ".env",
        ],
        vec![
            "sync",
            "--definition",
            "d.json",
            "--connection",
            "c.json",
            "--max-delete-share",
            "2",
        ],
        vec![
            "sync",
            "--definition",
            "d.json",
            "--connection",
            "c.json",
            "--rate-budget",
            "lots",
        ],
    ] {
        let run = kms_sync(&args, &[])
            .await
            .expect(USAGE, &format!("{args:?}"));
        assert!(
            !run.stderr.contains("cannot read"),
            "{args:?} read a file: {run:#?}"
        );
    }
    // A configuration error is 2 as well.
    let run = kms_sync(
        &[
            "plan",
            "--definition",
            "missing.json",
            "--connection",
            "c.json",
        ],
        &[],
    )
    .await
    .expect(USAGE, "a missing definition file");
    assert!(
        run.stderr.contains("cannot read --definition missing.json"),
        "{run:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_sync_resync_remove_and_their_exit_codes() {
    let s = Setup::new("cli-sync", Some("KMS_{{secretKey}}"), "A=1\nB=2\n").await;
    let state = s.scratch.path("state.json");
    let with_state = ["--state", state.as_str()];

    kms_sync(&s.target_args(), &[])
        .await
        .expect(APPLIED, "validate-connection, with no source");
    let plan = s
        .run("plan", &with_state)
        .await
        .expect(APPLIED, "a plan with changes");
    assert!(plan.stdout.contains("+ create    KMS_A"), "{plan:#?}");
    assert!(s.variables().is_empty(), "plan writes nothing");

    s.run("sync", &with_state)
        .await
        .expect(APPLIED, "first sync");
    assert_eq!(s.variables().len(), 2);
    let again = s
        .run("sync", &["--state", &state, "--json"])
        .await
        .expect(NOTHING_TO_DO, "the ledger makes the resync a no-op");
    let report: serde_json::Value =
        serde_json::from_str(&again.stdout).unwrap_or_else(|e| panic!("--json: {e}: {again:#?}"));
    assert_eq!(report["counts"]["unchanged"], 2);
    s.run("plan", &with_state)
        .await
        .expect(NOTHING_TO_DO, "nothing to plan");

    s.run("remove", &with_state).await.expect(APPLIED, "remove");
    assert!(s.variables().is_empty());
    s.run("remove", &with_state)
        .await
        .expect(NOTHING_TO_DO, "nothing left to remove");

    std::fs::write(&s.definition, r#"{"name": "x",}"#).unwrap_or_else(|e| panic!("{e}"));
    let run = s
        .run("sync", &with_state)
        .await
        .expect(USAGE, "an invalid definition is a configuration error");
    assert!(run.stderr.contains("trailing comma"), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guard_refusals_exit_4_and_name_the_tool_flags() {
    let keys: String = (1..=12).map(|i| format!("K{i:02}=v{i}\n")).collect();
    let s = Setup::new("cli-guard", Some("APP_{{secretKey}}"), &keys).await;
    s.run("sync", &[]).await.expect(APPLIED, "12 keys");

    // An empty source would delete every managed key.
    std::fs::write(&s.dotenv, "").unwrap_or_else(|e| panic!("{e}"));
    let run = s.run("sync", &[]).await.expect(REFUSED, "an empty source");
    assert!(run.stderr.contains("--allow-empty-source"), "{run:#?}");
    assert!(
        run.stderr.contains("APP_K10 and 2 more"),
        "ten keys, then a count: {run:#?}"
    );
    assert!(
        !run.stderr.contains("DeletionGuard"),
        "no Rust names: {run:#?}"
    );
    s.run("plan", &[])
        .await
        .expect(REFUSED, "plan applies the guard too");
    assert_eq!(s.variables().len(), 12, "nothing deleted");

    // Eleven of twelve deleted: above the default half.
    std::fs::write(&s.dotenv, "K01=v1\n").unwrap_or_else(|e| panic!("{e}"));
    let run = s
        .run("sync", &[])
        .await
        .expect(REFUSED, "too large a share");
    assert!(run.stderr.contains("--max-delete-share"), "{run:#?}");
    assert!(run.stderr.contains("11 of 12 managed keys"), "{run:#?}");
    assert!(!run.stderr.contains("DeletionGuard"), "{run:#?}");
    assert_eq!(s.variables().len(), 12, "nothing deleted");
    s.run("sync", &["--max-delete-share", "100%"])
        .await
        .expect(APPLIED, "the share allowed");
    assert_eq!(s.variables().len(), 1);

    std::fs::write(&s.dotenv, "").unwrap_or_else(|e| panic!("{e}"));
    s.run("sync", &["--allow-empty-source"])
        .await
        .expect(APPLIED, "an empty source allowed");
    assert!(s.variables().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_sync_plans_but_refuses_to_write() {
    let s = Setup::new("cli-disabled", Some("KMS_{{secretKey}}"), "A=1\n").await;
    let definition = bitbucket_definition(
        &s.scratch,
        "cli-disabled",
        r#", "isEnabled": false"#,
        Some("KMS_{{secretKey}}"),
    );
    for command in ["sync", "remove", "watch"] {
        let mut args = s.args(command);
        args[2] = &definition;
        let run = kms_sync(&args, &[]).await.expect(REFUSED, command);
        assert!(run.stderr.contains("\"isEnabled\": false"), "{run:#?}");
        assert!(run.stderr.contains("nothing was written"), "{run:#?}");
    }
    let mut args = s.args("plan");
    args[2] = &definition;
    kms_sync(&args, &[])
        .await
        .expect(APPLIED, "plan is allowed");
    assert!(s.variables().is_empty(), "nothing written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ledger_of_the_old_name_is_neither_ignored_nor_adopted() {
    let s = Setup::new("cli-legacy", Some("KMS_{{secretKey}}"), "A=1\nB=2\n").await;
    let dir = std::path::Path::new(&s.state_dir()).join("kms-sync");
    std::fs::create_dir_all(&dir).expect("state dir");
    let legacy = dir.join("bitbucket-cli-legacy.json");
    let legacy_flag = legacy.display().to_string();
    s.run("sync", &["--state", &legacy_flag])
        .await
        .expect(APPLIED, "a ledger at the old name");
    let written = s.variables();
    let run = s
        .run("sync", &[])
        .await
        .expect(USAGE, "an old ledger, no new one");
    assert!(
        run.stderr.contains("old, destination-blind name"),
        "{run:#?}"
    );
    assert!(run.stderr.contains("nothing was written"), "{run:#?}");
    assert_eq!(s.variables(), written, "nothing written");
    // Renamed to the new name, as the message says, it is this destination's ledger.
    let digest = kms_sync::DestinationIdentity::new("bitbucket")
        .with("workspace", WORKSPACE)
        .with("repository", REPOSITORY)
        .short_digest();
    std::fs::rename(
        &legacy,
        dir.join(format!("bitbucket-cli-legacy-{digest}.json")),
    )
    .expect("rename");
    s.run("sync", &[]).await.expect(
        NOTHING_TO_DO,
        "the renamed ledger is used: it knows both keys",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ledger_lives_in_the_state_directory_when_a_key_is_set() {
    let s = Setup::new("cli-ledger", Some("KMS_{{secretKey}}"), "A=1\nB=2\n").await;
    s.run("sync", &[]).await.expect(APPLIED, "first sync");
    // Named for the sync and its destination (the short digest of its identity).
    let digest = kms_sync::DestinationIdentity::new("bitbucket")
        .with("workspace", WORKSPACE)
        .with("repository", REPOSITORY)
        .short_digest();
    let file = std::path::Path::new(&s.state_dir())
        .join(format!("kms-sync/bitbucket-cli-ledger-{digest}.json"));
    assert!(file.exists(), "no ledger at {}", file.display());
    s.run("sync", &[])
        .await
        .expect(NOTHING_TO_DO, "the default ledger was used");

    // Without a key: said once, and every hidden value is rewritten.
    let run = kms_sync(&s.args("sync"), &[])
        .await
        .expect(APPLIED, "rewrites");
    assert_eq!(
        run.stderr.matches("KMS_SYNC_STATE_KEY is not set").count(),
        1,
        "{run:#?}"
    );
    assert!(run.stdout.contains("2 updated"), "{run:#?}");
    let quiet = kms_sync(&[s.args("sync"), vec!["-q"]].concat(), &[]).await;
    assert!(quiet.stderr.is_empty(), "-q: {quiet:#?}");

    let run = kms_sync(&s.args("sync"), &[("KMS_SYNC_STATE_KEY", "short")])
        .await
        .expect(USAGE, "a key under 16 bytes");
    assert!(run.stderr.contains("KMS_SYNC_STATE_KEY"), "{run:#?}");
    let mut args = s.args("sync");
    let state = s.scratch.path("explicit.json");
    args.extend(["--state", &state]);
    let run = kms_sync(&args, &[])
        .await
        .expect(USAGE, "--state without a key");
    assert!(run.stderr.contains("KMS_SYNC_STATE_KEY"), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dotenv_values_arrive_literally_and_source_errors_write_nothing() {
    let s = Setup::new(
        "cli-dotenv",
        None,
        "\u{feff}PASS=pa$word\nCOPY=${KMS_SYNC_STATE_KEY}\nQUOTED=\"$HOME\"\n",
    )
    .await;
    s.run("sync", &[]).await.expect(APPLIED, "sync");
    let vars = s.variables();
    assert_eq!(vars["PASS"].0, "pa$word");
    assert_eq!(
        vars["COPY"].0, "${KMS_SYNC_STATE_KEY}",
        "never the tool's own secret"
    );
    assert_eq!(vars["QUOTED"].0, "$HOME");
    assert!(!vars.values().any(|(v, _)| v.contains(STATE_KEY)));

    std::fs::write(&s.dotenv, "PASS=1\nOTHER=2\nPASS=3\n").unwrap_or_else(|e| panic!("{e}"));
    let run = s.run("sync", &[]).await.expect(FAILED, "a duplicate key");
    assert!(run.stderr.contains("lines 1 and 3"), "{run:#?}");
    assert!(run.stderr.contains("nothing was written"), "{run:#?}");
    assert_eq!(s.variables()["PASS"].0, "pa$word", "untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_key_schema_the_plan_warns_about_keys_it_never_wrote() {
    let s = Setup::new("cli-noschema", None, "MINE=1\n").await;
    for key in ["DEPLOY_TOKEN", "OTHER_TEAM"] {
        s.fake
            .seed(WORKSPACE, REPOSITORY, None, key, "theirs", true);
    }
    let run = s.run("plan", &[]).await.expect(APPLIED, "plan");
    assert!(run.stdout.contains("warning: no key schema"), "{run:#?}");
    assert!(
        run.stdout.contains("deletes 2 key(s) it never wrote"),
        "{run:#?}"
    );
    assert!(run.stdout.contains("DEPLOY_TOKEN, OTHER_TEAM"), "{run:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_connection_needs_no_source_and_names_missing_scopes() {
    let s = Setup::new("cli-validate", Some("KMS_{{secretKey}}"), "").await;
    let argv = s.target_args();
    let ok = kms_sync(&argv, &[]).await.expect(APPLIED, "all good");
    assert!(
        ok.stdout
            .contains("ok     credentials: accepted, as Fake User"),
        "{ok:#?}"
    );
    assert!(
        ok.stdout
            .contains("a sync needs the API token's scope admin:pipeline:bitbucket"),
        "{ok:#?}"
    );
    assert!(ok.stdout.contains("ok     scope: acme/api"), "{ok:#?}");
    let with_source = [argv.clone(), vec!["--dotenv", ".env"]].concat();
    kms_sync(&with_source, &[])
        .await
        .expect(USAGE, "validate-connection takes no source");

    s.fake.set_scopes(&["read:pipeline:bitbucket"]);
    let run = kms_sync(&argv, &[])
        .await
        .expect(FAILED, "a token without read:user");
    assert!(run.stdout.contains("FAILED credentials"), "{run:#?}");
    assert!(
        run.stdout.contains("read:user:bitbucket"),
        "names the missing scope: {run:#?}"
    );
    assert!(
        run.stdout.contains("admin:workspace:bitbucket"),
        "names the KMS guide's scopes: {run:#?}"
    );
    s.fake.set_scopes(&["read:user:bitbucket"]);
    let run = kms_sync(&argv, &[])
        .await
        .expect(FAILED, "a token that cannot read variables");
    assert!(run.stdout.contains("FAILED scope"), "{run:#?}");
    assert!(run.stdout.contains("read:pipeline:bitbucket"), "{run:#?}");

    let other = s.scratch.write(
        "wrong.json",
        &format!(r#"{{"method": "api-token", "credentials": {{"email": "{FAKE_EMAIL}", "apiToken": "wrong"}}}}"#),
    );
    let mut wrong = argv.clone();
    wrong[4] = &other;
    let run = kms_sync(&wrong, &[]).await.expect(FAILED, "a wrong token");
    assert!(run.stdout.contains("unauthenticated"), "{run:#?}");
    assert!(!format!("{run:?}").contains(FAKE_TOKEN), "never the token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paced_sync_shows_progress_lines_and_the_rate_limit() {
    let keys: String = (1..=20).map(|i| format!("K{i:02}=v{i}\n")).collect();
    let s = Setup::new("cli-paced", Some("PACED_{{secretKey}}"), &keys).await;
    let run = s
        .run(
            "sync",
            &[
                "--rate-budget",
                "5/1s",
                "--progress-interval",
                "500ms",
                "--concurrency",
                "2",
            ],
        )
        .await
        .expect(APPLIED, "a paced sync");
    let lines: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("kms-sync: applying "))
        .collect();
    assert!(lines.len() >= 3, "a line every 500 ms over ~5 s: {run:#?}");
    assert!(
        lines
            .iter()
            .all(|l| l.contains("/20 changes (") && l.contains("ETA")),
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.ends_with("waiting for the rate limit")),
        "{lines:#?}"
    );
    assert_eq!(s.variables().len(), 20);
    // One line of the captured output, for the record.
    eprintln!("captured: {}", lines[lines.len() / 2]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_rust_log_and_verbosity() {
    let s = Setup::new("cli-logs", Some("KMS_{{secretKey}}"), "A=1\n").await;
    let quiet = s.run("sync", &[]).await.expect(APPLIED, "sync");
    assert!(
        !quiet.stderr.contains(" INFO "),
        "default shows warnings only: {quiet:#?}"
    );
    let verbose = s.run("sync", &["-v"]).await;
    assert!(
        verbose.stderr.contains(" INFO "),
        "-v shows info: {verbose:#?}"
    );
    let mut args = s.args("plan");
    args.push("--no-state");
    let debug = kms_sync(&args, &[("RUST_LOG", "kms_sync_core=debug")]).await;
    assert!(debug.stderr.contains("DEBUG"), "RUST_LOG: {debug:#?}");
    // Trace logs, JSON output and errors never show a credential, the ledger key or a value.
    std::fs::write(&s.dotenv, "A=canary-value-0f9e8d\n").unwrap_or_else(|e| panic!("{e}"));
    let trace = s
        .run("sync", &["-vvv", "--json"])
        .await
        .expect(APPLIED, "-vvv");
    assert!(
        trace.stderr.contains("TRACE") || trace.stderr.contains("DEBUG"),
        "{trace:#?}"
    );
    let shown = format!("{trace:?}");
    for secret in [FAKE_TOKEN, STATE_KEY, "canary-value-0f9e8d"] {
        assert!(!shown.contains(secret), "{secret} shown: {trace:#?}");
    }
}

/// Quotes an argument for `sh -c`.
fn quoted(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_gets_a_progress_bar() {
    if std::process::Command::new("script")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("skipped: `script` (util-linux) is not installed to give the tool a terminal");
        return;
    }
    let keys: String = (1..=12).map(|i| format!("K{i:02}=v{i}\n")).collect();
    let s = Setup::new("cli-bar", Some("BAR_{{secretKey}}"), &keys).await;
    let mut args: Vec<String> = s.args("sync").iter().map(|a| quoted(a)).collect();
    args.extend(["--rate-budget", "5/1s", "--no-state"].map(str::to_owned));
    let inner = format!(
        "{} {}",
        quoted(&binary().display().to_string()),
        args.join(" ")
    );
    let mut command = std::process::Command::new("script");
    command
        .args(["-qefc", &inner, "/dev/null"])
        .env("TERM", "xterm")
        .env_remove("KMS_SYNC_STATE_KEY")
        .env_remove("RUST_LOG");
    let run = run(command).await.expect(APPLIED, "a sync on a terminal");
    assert!(
        run.stdout.contains("/12 changes, ") && run.stdout.contains("ETA"),
        "a bar with counts, rate and ETA: {run:#?}"
    );
    assert!(
        run.stdout.contains("waiting for the rate limit"),
        "{run:#?}"
    );
    assert!(
        !run.stdout.contains("kms-sync: applying "),
        "no plain lines on a terminal"
    );
    assert_eq!(s.variables().len(), 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_destination_comes_from_the_definition_or_the_flag() {
    let s = Setup::new("cli-kind", Some("KMS_{{secretKey}}"), "A=1\n").await;
    let bare = s.scratch.write(
        "bare.json",
        &format!(
            r#"{{"name": "cli-kind", "environment": "prod", "secretPath": "/",
                "destinationConfig": {{"workspaceSlug": "{WORKSPACE}", "repositorySlug": "{REPOSITORY}"}}}}"#
        ),
    );
    let mut args = s.args("plan");
    args[2] = &bare;
    let run = kms_sync(&args, &[])
        .await
        .expect(USAGE, "no destination anywhere");
    assert!(run.stderr.contains("name the destination"), "{run:#?}");
    args.extend(["--destination", "bitbucket"]);
    kms_sync(&args, &[]).await.expect(APPLIED, "--destination");
    // With the definition's own field, no flag is needed; a wrong flag overrides and fails.
    kms_sync(&s.args("plan"), &[])
        .await
        .expect(APPLIED, "from the definition");
    let mut wrong = s.args("plan");
    wrong.extend(["--destination", "vault"]);
    let run = kms_sync(&wrong, &[]).await.expect(USAGE, "an unknown kind");
    assert!(
        run.stderr.contains("unknown destination `vault`"),
        "{run:#?}"
    );
}

/// One sync name on two check groups of one account: two ledger files (named for each
/// destination), so a value changed in the source reaches both groups; and one ledger file
/// named for both (`--state`) is refused for the second group, naming both destinations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_sync_name_on_two_checkly_groups_keeps_two_ledgers() {
    let fake = FakeChecklyServer::start().await;
    let groups = [fake.add_group("API checks"), fake.add_group("Web checks")];
    let scratch = Scratch::new();
    let dotenv = scratch.write(".env", "A=1\n");
    let connection = scratch.write(
        "checkly-connection.json",
        &format!(
            r#"{{"name": "ck", "method": "api-key", "credentials": {{"apiKey": "{FAKE_API_KEY}"}}}}"#
        ),
    );
    let definitions = groups.map(|group| {
        scratch.write(
            &format!("group-{group}.json"),
            &format!(
                r#"{{"name": "shared", "environment": "prod", "secretPath": "/", "destination": "checkly",
                    "syncOptions": {{"keySchema": "KMS_{{{{secretKey}}}}"}},
                    "destinationConfig": {{"accountId": "{ACCOUNT_ID}", "groupId": "{group}"}}}}"#
            ),
        )
    });
    let state_home = scratch.path("state-home");
    let base = fake.base_url();
    let sync = |definition: &str, extra: &[&str]| {
        let mut args = vec![
            "sync",
            "--definition",
            definition,
            "--connection",
            &connection,
            "--dotenv",
            &dotenv,
            "--base-url",
            &base,
        ];
        args.extend_from_slice(extra);
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        let state_home = state_home.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            kms_sync(
                &args,
                &[
                    ("KMS_SYNC_STATE_KEY", STATE_KEY),
                    ("XDG_STATE_HOME", &state_home),
                ],
            )
            .await
        }
    };
    let value = |group: u64| {
        fake.group_variables(group)
            .iter()
            .find(|v| v["key"] == "KMS_A")
            .map(|v| v["value"].clone())
    };
    for definition in &definitions {
        sync(definition, &[]).await.expect(APPLIED, "first sync");
    }
    std::fs::write(&dotenv, "A=2\n").unwrap_or_else(|e| panic!("{e}"));
    for definition in &definitions {
        sync(definition, &[])
            .await
            .expect(APPLIED, "the changed value");
    }
    for group in groups {
        assert_eq!(value(group), Some(serde_json::json!("2")), "group {group}");
    }
    let dir = std::path::Path::new(&state_home).join("kms-sync");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("checkly-shared-") && name.ends_with(".json"))
        .collect();
    files.sort();
    files.dedup();
    assert_eq!(files.len(), 2, "one ledger per destination: {files:?}");

    // One file for both: the second group is refused before any write, naming both.
    let shared = scratch.path("shared.json");
    sync(&definitions[0], &["--state", &shared])
        .await
        .expect(APPLIED, "binds the file");
    std::fs::write(&dotenv, "A=3\n").unwrap_or_else(|e| panic!("{e}"));
    let refused = sync(&definitions[1], &["--state", &shared])
        .await
        .expect(USAGE, "a ledger bound to another group");
    for part in [
        format!("group={}", groups[0]),
        format!("group={}", groups[1]),
        "`shared`".to_owned(),
    ] {
        assert!(refused.stderr.contains(&part), "{part}: {refused:#?}");
    }
    assert_eq!(
        value(groups[1]),
        Some(serde_json::json!("2")),
        "nothing written"
    );
}
