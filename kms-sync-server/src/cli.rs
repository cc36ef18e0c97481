//! The command line: `serve`, `migrate`, `check-config`, and their exit codes (0 done, 1
//! failed, 2 a usage or configuration error).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use kms_sync::{ErrorKind, Result};

use crate::config::ServerConfig;
use crate::secrets::{Secrets, SECRETS};
use crate::serve::Parts;

const ENVIRONMENT: &str = "\
Secrets come only from the environment (NAME, or NAME_FILE naming a file) or from files
named under [secret_files] in the config, never from the config itself:
  KMS_SYNC_DATABASE_URL      the PostgreSQL URL
  KMS_SYNC_CREDENTIAL_KEYS   the credential key ring: id:<64 hex digits>, current first,
                             older keys after a comma (for rotation)
  KMS_SYNC_LEDGER_KEY        the ledger's HMAC key, 16+ bytes, the same on every replica
  KMS_URL                    the KMS's base URL (default https://app.kms.hanzo.ai)
  KMS_CLIENT_ID, KMS_CLIENT_SECRET   the KMS machine identity (or KMS_ACCESS_TOKEN)
  KMS_SYNC_API_TOKENS        the API's token file (use KMS_SYNC_API_TOKENS_FILE=<path>)
  KMS_SYNC_ALLOW_ADDRESS     the URL policy's allowlist, comma-separated
  KMS_SYNC_NOTICE_WEBHOOK_URL   where the workers post failure notices (optional)
  KMS_SYNC_NOTICE_SIGNING_KEY   the notices' HMAC key, 16+ bytes (with the URL)
Settings: the TOML file (--config or KMS_SYNC_SERVER_CONFIG), overridden by
KMS_SYNC_SERVER_<SECTION>__<KEY> variables (e.g. KMS_SYNC_SERVER_LOG__FORMAT=json).
RUST_LOG overrides [log] level.

Exit codes: 0 done, 1 failed, 2 usage or configuration error.";

/// The Secret Syncs API and the fleet's workers on PostgreSQL, as one program.
#[derive(Debug, Parser)]
#[command(name = "kms-sync-server", version, after_help = ENVIRONMENT)]
pub struct Cli {
    /// The TOML settings file
    #[arg(
        long,
        short,
        value_name = "FILE",
        env = "KMS_SYNC_SERVER_CONFIG",
        global = true
    )]
    pub config: Option<PathBuf>,
    /// What to do
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API, /healthz, /readyz and /metrics, and run the workers, until SIGTERM
    Serve {
        /// Run the workers only (the ops endpoints are still served)
        #[arg(long, conflicts_with = "no_workers")]
        no_api: bool,
        /// Serve the API only; run no sync
        #[arg(long)]
        no_workers: bool,
    },
    /// Create or upgrade the database schema, then exit
    Migrate,
    /// Check the settings and that every secret is present and well formed; touches
    /// no database
    CheckConfig,
}

/// Exit code: done.
pub const OK: u8 = 0;
/// Exit code: failed.
pub const FAILED: u8 = 1;
/// Exit code: a usage or configuration error.
pub const USAGE: u8 = 2;

/// Parses the command line and runs it; the process's exit code.
///
/// ```no_run
/// fn main() -> std::process::ExitCode {
///     kms_sync_server::cli::main()
/// }
/// ```
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match ServerConfig::load(cli.config.as_deref()) {
        Ok(config) => config,
        Err(e) => return fail(&e),
    };
    crate::logging::init(&config.log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build();
    let runtime = match runtime {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("kms-sync-server: cannot start the async runtime: {e}");
            return ExitCode::from(FAILED);
        }
    };
    match runtime.block_on(run(&config, cli.command)) {
        Ok(()) => ExitCode::from(OK),
        Err(e) => fail(&e),
    }
}

fn fail(e: &kms_sync::Error) -> ExitCode {
    eprintln!("kms-sync-server: {e}");
    ExitCode::from(match e.kind() {
        ErrorKind::Config => USAGE,
        _ => FAILED,
    })
}

async fn run(config: &ServerConfig, command: Command) -> Result<()> {
    match command {
        Command::Serve { no_api, no_workers } => {
            let parts = Parts {
                api: !no_api,
                workers: !no_workers,
            };
            let summary = crate::serve::serve(config, parts, crate::shutdown::terminated()).await?;
            if let Some(s) = summary {
                tracing::info!(
                    runs = s.runs(),
                    succeeded = s.succeeded,
                    failed = s.failed,
                    "stopped"
                );
            }
            Ok(())
        }
        Command::Migrate => {
            let pool = crate::assemble::pool(config, &Secrets::new(config)).await?;
            println!(
                "the schema `{}` is at version {}",
                pool.schema(),
                kms_sync_fleet::SCHEMA_VERSION
            );
            pool.close();
            Ok(())
        }
        Command::CheckConfig => check_config(config),
    }
}

/// Every secret's presence (never its value) and every check that needs no network.
fn check_config(config: &ServerConfig) -> Result<()> {
    let secrets = Secrets::new(config);
    for name in SECRETS {
        let state = match secrets.get(name.key)? {
            Some(_) => "set",
            None => "not set",
        };
        println!("{:<28} {state}", name.variable);
    }
    secrets.require("database_url")?;
    secrets.key_ring()?;
    secrets.ledger_key()?;
    secrets.url_policy()?;
    crate::assemble::auth(&secrets)?;
    crate::destinations::registry(&config.destinations)?;
    config.worker.lease()?;
    let notices = match crate::assemble::notifier(config, &secrets)? {
        Some(_) => "on: the workers post failure notices to the webhook, signed",
        None => "off: set KMS_SYNC_NOTICE_WEBHOOK_URL and KMS_SYNC_NOTICE_SIGNING_KEY",
    };
    println!("{:<28} {notices}", "failure notices");
    let kms = crate::assemble::KmsReads::new(config, &secrets, false)?;
    let checks = match (kms.sources.is_some(), kms.ledger_key.is_some()) {
        (true, true) => "on: sync folders are checked at create; plans use the workers' ledger key",
        (true, false) => "folders checked at create; plans off (no KMS_SYNC_LEDGER_KEY)",
        (false, _) => "off: no KMS identity (KMS_CLIENT_ID/KMS_CLIENT_SECRET or KMS_ACCESS_TOKEN)",
    };
    println!("{:<28} {checks}", "API folder checks and plans");
    println!("the configuration is complete: serve would start (the database is not checked)");
    Ok(())
}
