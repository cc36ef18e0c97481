//! `kms-sync`: plan, sync, remove, watch or check a sync described in the KMS's JSON.
//!
//! ```text
//! cargo run --example kms-sync -- <plan|sync|remove|watch|validate-connection>
//!     --definition sync.json --connection connection.json [--destination bitbucket]
//!     [--dotenv .env | --kms-project <slug>] [--state state.json] [--json]
//!     [--base-url <destination URL>] [--kms-url <KMS URL>] [--poll-seconds 60]
//! ```
//!
//! The source is the KMS (credentials `KMS_CLIENT_ID` + `KMS_CLIENT_SECRET`, or
//! `KMS_ACCESS_TOKEN`; the project from `--kms-project` or the definition's `projectId`) or a
//! dotenv file. `--state` keeps a ledger; its HMAC key comes from `KMS_SYNC_STATE_KEY`.
//!
//! Exit codes: 0 changes applied (or planned), 3 nothing to do, 4 refused by a guard,
//! 1 failed, 2 usage error.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kms_sync::http::ClientSettings;
use kms_sync::{
    parse_definition, syncer_builder, AppConnectionDefinition, AutoSync, AutoSyncConfig,
    DotenvSource, Error,
    ErrorKind, Fingerprinter, JsonFileStateStore, Progress, SecretSource, SecretSyncDefinition,
    SyncReport, Syncer,
};
use kms_sync_hanzo::{HanzoSource, KmsAuth, KmsLocation, ProjectRef};

/// Exit codes.
pub const APPLIED: i32 = 0;
pub const FAILED: i32 = 1;
pub const USAGE: i32 = 2;
pub const NOTHING_TO_DO: i32 = 3;
pub const REFUSED: i32 = 4;

struct Args {
    command: String,
    flags: HashMap<String, String>,
    json: bool,
}

fn parse(args: &[String]) -> Result<Args, String> {
    let mut it = args.iter();
    let command = it
        .next()
        .cloned()
        .ok_or("a command is required: plan, sync, remove, watch or validate-connection")?;
    let (mut flags, mut json) = (HashMap::new(), false);
    while let Some(flag) = it.next() {
        match flag.strip_prefix("--") {
            Some("json") => json = true,
            Some(name) => {
                let value = it.next().ok_or(format!("--{name} needs a value"))?;
                flags.insert(name.to_owned(), value.clone());
            }
            None => return Err(format!("unexpected argument `{flag}`")),
        }
    }
    Ok(Args {
        command,
        flags,
        json,
    })
}

fn read(args: &Args, flag: &str) -> Result<String, Error> {
    let path = args
        .flags
        .get(flag)
        .ok_or_else(|| Error::config(format!("--{flag} <file> is required")))?;
    std::fs::read_to_string(path).map_err(|e| Error::config(format!("cannot read {path}: {e}")))
}

fn source(args: &Args, def: &SecretSyncDefinition) -> Result<Arc<dyn SecretSource>, Error> {
    if let Some(path) = args.flags.get("dotenv") {
        return Ok(Arc::new(DotenvSource::new(path, def.environment().to_owned())));
    }
    let project =
        match (args.flags.get("kms-project"), def.project_id()) {
            (Some(slug), _) => ProjectRef::Slug(slug.clone()),
            (None, Some(id)) => ProjectRef::Id(id.to_owned()),
            (None, None) => return Err(Error::config(
                "give --dotenv <file>, or --kms-project <slug> (or projectId in the definition)",
            )),
        };
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let auth = match (
        env("KMS_CLIENT_ID"),
        env("KMS_CLIENT_SECRET"),
        env("KMS_ACCESS_TOKEN"),
    ) {
        (Some(id), Some(secret), _) => KmsAuth::universal(id, secret),
        (_, _, Some(token)) => KmsAuth::access_token(token),
        _ => {
            return Err(Error::config(
                "set KMS_CLIENT_ID and KMS_CLIENT_SECRET, or KMS_ACCESS_TOKEN",
            ))
        }
    };
    let location = KmsLocation::new(project, def.environment(), def.secret_path())?;
    let mut builder = HanzoSource::builder(auth, location);
    if let Some(url) = args.flags.get("kms-url") {
        builder = builder.with_base_url(url.clone());
    }
    Ok(Arc::new(builder.build()?))
}

fn syncer(args: &Args, progress: Arc<Progress>) -> Result<Syncer, Error> {
    let destination = args.flags.get("destination").map(String::as_str);
    let def = parse_definition(&read(args, "definition")?, destination)?;
    let connection = AppConnectionDefinition::from_json(&read(args, "connection")?)?;
    let mut settings = ClientSettings::new();
    if let Some(url) = args.flags.get("base-url") {
        settings = settings.with_base_url(url.clone());
    }
    let mut builder = syncer_builder(
        &def,
        &connection,
        source(args, &def)?,
        settings,
    )?;
    builder = builder.progress(progress);
    if let Some(state) = args.flags.get("state") {
        let key = std::env::var("KMS_SYNC_STATE_KEY")
            .map_err(|_| Error::config("--state needs KMS_SYNC_STATE_KEY (16+ random bytes)"))?;
        builder = builder.state(
            Arc::new(JsonFileStateStore::new(state)),
            Fingerprinter::new(key.into_bytes())?,
        );
    }
    builder.build()
}

/// Redraws `applying: done/total` on stderr while an apply runs, when stderr is a terminal.
fn show_progress(progress: Arc<Progress>) -> Option<tokio::task::JoinHandle<()>> {
    use std::io::{IsTerminal, Write};
    if !std::io::stderr().is_terminal() {
        return None;
    }
    Some(tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if progress.total() > 0 {
                eprint!(
                    "\rapplying: {}/{} changes",
                    progress.done(),
                    progress.total()
                );
                let _ = std::io::stderr().flush();
            }
        }
    }))
}

fn outcome(report: &SyncReport, json: bool) -> i32 {
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(report).unwrap_or_default()
        );
    } else {
        print!("{report}");
    }
    match (report.is_success(), report.counts.applied()) {
        (false, _) => FAILED,
        (true, 0) => NOTHING_TO_DO,
        (true, _) => APPLIED,
    }
}

fn failure(e: &Error) -> i32 {
    eprintln!("kms-sync: {e}");
    if e.kind() == ErrorKind::Guard {
        REFUSED
    } else {
        FAILED
    }
}

/// Runs the tool with `args` (without the program name); returns the exit code.
pub async fn run(args: &[String]) -> i32 {
    let args = match parse(args) {
        Ok(a) => a,
        Err(why) => {
            eprintln!("kms-sync: {why}");
            return USAGE;
        }
    };
    let progress = Arc::new(Progress::new());
    let syncer = match syncer(&args, progress.clone()) {
        Ok(s) => s,
        Err(e) => return failure(&e),
    };
    let bar = matches!(args.command.as_str(), "sync" | "remove")
        .then(|| show_progress(progress))
        .flatten();
    let result = match args.command.as_str() {
        "plan" => syncer.plan().await.map(|plan| {
            if args.json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&plan).unwrap_or_default()
                );
            } else {
                println!("{plan}");
            }
            if plan.is_empty() {
                NOTHING_TO_DO
            } else {
                APPLIED
            }
        }),
        "sync" => syncer.sync().await.map(|r| outcome(&r, args.json)),
        "remove" => syncer.remove().await.map(|r| outcome(&r, args.json)),
        "validate-connection" => syncer.destination().list().await.map(|snapshot| {
            println!(
                "{}: connected; {} entries in scope",
                syncer.destination().info(),
                snapshot.len()
            );
            APPLIED
        }),
        "watch" => {
            let seconds = args
                .flags
                .get("poll-seconds")
                .and_then(|s| s.parse().ok())
                .unwrap_or(60);
            let handle = AutoSync::spawn(
                Arc::new(syncer),
                AutoSyncConfig::default().with_poll_interval(Duration::from_secs(seconds)),
            );
            let _ = tokio::signal::ctrl_c().await;
            for run in handle.shutdown().await {
                println!(
                    "{:?} {:?} {}",
                    run.trigger,
                    run.status,
                    run.message.unwrap_or_default()
                );
            }
            Ok(APPLIED)
        }
        other => {
            eprintln!("kms-sync: unknown command `{other}`: plan, sync, remove, watch or validate-connection");
            Ok(USAGE)
        }
    };
    if let Some(bar) = bar {
        bar.abort();
        eprintln!();
    }
    result.unwrap_or_else(|e| failure(&e))
}

#[allow(dead_code)]
#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(run(&args).await);
}
