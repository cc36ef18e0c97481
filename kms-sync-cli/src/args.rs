//! The command line, declared with clap's derive: subcommands, flags, and the environment
//! variables flags can come from.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;
use kms_sync::net::AllowEntry;
use kms_sync::RateBudget;
use secrecy::{ExposeSecret, SecretString};

const EXIT_CODES: &str = "\
Exit codes:
  0  changes applied (plan: changes to make; validate-connection: all checks passed)
  1  failed
  2  usage or configuration error
  3  nothing to do
  4  refused: a deletion guard, a destination that cannot write safely (a Checkly group
     holding secrets this sync does not manage, or an incomplete read: an answer lacking a
     list or an entry's id or value), or a disabled sync (\"isEnabled\": false)
  130  interrupted: SIGINT (Ctrl-C) or SIGTERM stopped sync or remove. No write starts after
     the signal; writes in flight get a few seconds to finish (else they are reported
     unconfirmed); the report lists what was and was not done. Every key the run may have
     written is already claimed in the ledger, so the next sync rewrites it, or deletes it
     if the source dropped it, and remove deletes it. A second signal exits at once (130).
     watch stops on the first signal (0 when its last sync succeeded, 130 if a running
     sync was interrupted).

Environment:
  KMS_CLIENT_ID, KMS_CLIENT_SECRET  the KMS machine identity (Universal Auth)
  KMS_ACCESS_TOKEN                  or a KMS access token
  KMS_SYNC_STATE_KEY                the ledger's HMAC key: 16+ random bytes, kept across runs
  KMS_SYNC_ALLOW_ADDRESS            --allow-address entries, comma-separated
  KMS_URL                           --kms-url: the KMS's base URL
  RUST_LOG                          log filter (e.g. kms_sync_core=debug); overrides -v/-q

Shell completions: `kms-sync completions <SHELL>`; the manual page: `kms-sync man`.

Try it with no account: in a clone of kms-sync, `cargo run --features fake --example fakes`
starts fake Bitbucket, Checkly, Octopus, GitHub, GitLab and KMS servers on 127.0.0.1 and prints the commands
to run.";

/// Plan, sync, remove or watch a Secret Sync described in the KMS's own JSON, from Hanzo KMS
/// (or a dotenv file) to Bitbucket, Checkly, Octopus Deploy, GitHub Actions, GitLab CI/CD or
/// any destination in the registry.
#[derive(Debug, Parser)]
#[command(name = "kms-sync", version, after_help = EXIT_CODES, propagate_version = true)]
pub struct Cli {
    /// More log output on stderr (-v info, -vv debug, -vvv trace)
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Less output: no progress and no notes (-q), not even warnings (-qq)
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "verbose")]
    pub quiet: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show what a sync would change; writes nothing (allowed for a disabled sync)
    Plan(RunArgs),
    /// Make the destination match the source: plan, then apply
    Sync(RunArgs),
    /// Delete from the destination every key this sync manages
    Remove(RunArgs),
    /// Sync now, then again whenever the source changes, until Ctrl-C
    Watch(WatchArgs),
    /// Check the connection's credentials and the destination's scope; needs no source
    ValidateConnection(TargetArgs),
    /// Print a shell completion script for kms-sync on stdout
    #[command(after_help = COMPLETIONS_HELP)]
    Completions {
        /// The shell the script is for
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Print kms-sync's manual page (roff) on stdout, e.g. `kms-sync man > kms-sync.1`
    Man,
}

const COMPLETIONS_HELP: &str = "\
Install, for example:
  bash  kms-sync completions bash > ~/.local/share/bash-completion/completions/kms-sync
  zsh   kms-sync completions zsh > ~/.zfunc/_kms-sync   (with fpath+=~/.zfunc before compinit)
  fish  kms-sync completions fish > ~/.config/fish/completions/kms-sync.fish";

impl Command {
    /// The subcommand's name.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Plan(_) => "plan",
            Command::Sync(_) => "sync",
            Command::Remove(_) => "remove",
            Command::Watch(_) => "watch",
            Command::ValidateConnection(_) => "validate-connection",
            Command::Completions { .. } => "completions",
            Command::Man => "man",
        }
    }
}

/// The sync and where it writes.
#[derive(Debug, Args)]
#[command(next_help_heading = "Sync and destination")]
pub struct TargetArgs {
    /// The KMS's create-sync body (JSON): name, environment, secretPath, isEnabled,
    /// syncOptions, destinationConfig
    #[arg(long, value_name = "FILE")]
    pub definition: PathBuf,
    /// The KMS's app-connection body (JSON) for the destination: method and credentials
    #[arg(long, value_name = "FILE")]
    pub connection: PathBuf,
    /// The destination kind: bitbucket, checkly or octopus-deploy (alias octopus). Default:
    /// the definition's `destination` field (needed when the definition has none, as the KMS
    /// puts it in its URL)
    #[arg(long, value_name = "KIND")]
    pub destination: Option<String>,
    /// The destination's API base URL: a proxy, a self-hosted instance or a fake (Octopus
    /// takes its instance URL from the connection)
    #[arg(long, value_name = "URL")]
    pub base_url: Option<String>,
    /// Lets the connection reach this address although it is not public HTTPS: a network
    /// (`10.0.0.0/8`) or `host:port` (`http://host:port` allows plain HTTP too), for an
    /// on-premises server. Repeat it, or separate entries with commas. Without it a URL in the
    /// connection (Octopus `instanceUrl`) must be HTTPS, carry no user:password, and resolve
    /// only to public addresses. The --base-url given here is allowed as it is
    #[arg(
        long = "allow-address",
        value_name = "ENTRY",
        env = "KMS_SYNC_ALLOW_ADDRESS",
        value_delimiter = ',',
        value_parser = parse_allow_entry
    )]
    pub allow_address: Vec<AllowEntry>,
    /// The destination's request budget, as REQUESTS/WINDOW (e.g. 5000/1h for a higher tier
    /// or a self-hosted instance); kms-sync paces to 90% of it. Default: the documented one
    #[arg(long, value_name = "REQUESTS/WINDOW", value_parser = parse_budget)]
    pub rate_budget: Option<RateBudget>,
    /// Requests in flight at once (default: the destination's, e.g. 8 for Bitbucket)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: Option<u16>,
}

/// Where secrets come from.
#[derive(Debug, Args)]
#[command(next_help_heading = "Source")]
pub struct SourceArgs {
    /// Read the secrets from this dotenv file instead of the KMS (values taken literally)
    #[arg(long, value_name = "FILE", conflicts_with = "kms_project")]
    pub dotenv: Option<PathBuf>,
    /// The KMS project's slug. Default: the definition's `projectId`
    #[arg(long, value_name = "SLUG")]
    pub kms_project: Option<String>,
    /// The KMS's URL, for a self-hosted KMS or a fake [default: https://app.kms.hanzo.ai]
    #[arg(long, value_name = "URL", env = "KMS_URL")]
    pub kms_url: Option<String>,
    /// The KMS machine identity's client id (Universal Auth)
    #[arg(long, value_name = "ID", env = "KMS_CLIENT_ID")]
    pub kms_client_id: Option<String>,
    /// The machine identity's client secret (prefer the variable: a flag shows in `ps`)
    #[arg(
        long,
        value_name = "SECRET",
        env = "KMS_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub kms_client_secret: Option<Secret>,
    /// A KMS access token, instead of a machine identity (prefer the variable)
    #[arg(
        long,
        value_name = "TOKEN",
        env = "KMS_ACCESS_TOKEN",
        hide_env_values = true
    )]
    pub kms_access_token: Option<Secret>,
}

/// The ledger: which keys this sync wrote and fingerprints of their values, so hidden values
/// are not rewritten on every run.
#[derive(Debug, Args)]
#[command(next_help_heading = "Ledger")]
pub struct LedgerArgs {
    /// Keep the ledger in this file. Default with KMS_SYNC_STATE_KEY set: one file per sync
    /// and destination in the state directory ($XDG_STATE_HOME/kms-sync or
    /// ~/.local/state/kms-sync), named <kind>-<name>-<digest>.json, where <digest> stands
    /// for the destination (its account, group, workspace, repository, space, project…), so
    /// two syncs of one name on two destinations never share a ledger. A ledger used against
    /// another destination than the one it describes is refused (exit 2)
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Keep no ledger, even with KMS_SYNC_STATE_KEY set: hidden values are rewritten every run
    #[arg(long, conflicts_with = "state")]
    pub no_state: bool,
    /// The ledger's HMAC key: 16+ random bytes, kept across runs, never stored beside the
    /// ledger (prefer the variable)
    #[arg(
        long,
        value_name = "KEY",
        env = "KMS_SYNC_STATE_KEY",
        hide_env_values = true
    )]
    pub state_key: Option<Secret>,
}

/// The deletion guard and the run's limits.
#[derive(Debug, Args)]
#[command(next_help_heading = "Deletion guard and limits")]
pub struct GuardArgs {
    /// Let an empty source delete every key this sync manages (refused by default: an empty
    /// source is usually a mistake)
    #[arg(long)]
    pub allow_empty_source: bool,
    /// Refuse plans deleting more than this share of the managed keys, as 0–1 or a
    /// percentage (default 0.5, once 10 or more keys are managed; 1 lifts the limit)
    #[arg(long, value_name = "SHARE", value_parser = parse_share)]
    pub max_delete_share: Option<f64>,
    /// The most the whole run may take, e.g. 10m (default: 120 s to read, then 120 s plus
    /// twice the paced time of the planned requests to write)
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub deadline: Option<Duration>,
}

/// How results are shown.
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub struct OutputArgs {
    /// How the plan or the report is printed on stdout: `text` for people, `json` for
    /// scripts (value-free: keys, actions, reasons, counts and outcomes, never a value)
    #[arg(long, value_enum, value_name = "FORMAT", default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
    /// The same as --output json
    #[arg(long)]
    pub json: bool,
    /// How often a progress line is printed when stderr is not a terminal (a terminal gets a
    /// progress bar)
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    pub progress_interval: Duration,
}

impl OutputArgs {
    /// Whether the plan or the report goes out as JSON (`--output json` or `--json`).
    pub fn is_json(&self) -> bool {
        self.json || self.output == OutputFormat::Json
    }
}

/// The format of what `plan`, `sync` and `remove` print on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Lines for people
    Text,
    /// One JSON document, without any secret value
    Json,
}

/// Everything plan, sync and remove take.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub source: SourceArgs,
    #[command(flatten)]
    pub ledger: LedgerArgs,
    #[command(flatten)]
    pub guard: GuardArgs,
    #[command(flatten)]
    pub output: OutputArgs,
}

/// What watch takes.
#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// How often the source is checked for a change
    #[arg(help_heading = "Watch", long, value_name = "DURATION", default_value = "60s", value_parser = humantime::parse_duration)]
    pub poll_interval: Duration,
}

/// A secret from the command line or the environment: `Debug` never shows it.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl FromStr for Secret {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(Secret(SecretString::from(s.to_owned())))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[REDACTED]")
    }
}

/// An allowlist entry of the URL policy (see [`AllowEntry`]).
fn parse_allow_entry(text: &str) -> Result<AllowEntry, String> {
    text.parse::<AllowEntry>()
        .map_err(|e| e.message().to_owned())
}

/// `REQUESTS/WINDOW`, e.g. `1000/1h`, `600/60s`.
fn parse_budget(text: &str) -> Result<RateBudget, String> {
    let (requests, window) = text
        .split_once('/')
        .ok_or("expected REQUESTS/WINDOW, e.g. 1000/1h or 600/60s")?;
    let requests: u32 = requests
        .trim()
        .parse()
        .map_err(|_| format!("`{requests}` is not a number of requests"))?;
    let window = humantime::parse_duration(window.trim())
        .map_err(|e| format!("`{window}` is not a duration (e.g. 1h, 60s): {e}"))?;
    if requests == 0 || window.is_zero() {
        return Err("the budget must allow at least one request in a non-zero window".into());
    }
    Ok(RateBudget::new(requests, window))
}

/// `0.25`, `1`, or `25%`.
fn parse_share(text: &str) -> Result<f64, String> {
    let trimmed = text.trim();
    let share = match trimmed.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
        None => trimmed.parse::<f64>(),
    }
    .map_err(|_| format!("`{text}` is not a share: give 0–1 (e.g. 0.25) or a percentage (25%)"))?;
    if !(0.0..=1.0).contains(&share) {
        return Err(format!("`{text}` is outside 0–1 (0%–100%)"));
    }
    Ok(share)
}
