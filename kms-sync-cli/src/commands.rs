//! The subcommands: plan, sync, remove, watch, validate-connection.

use std::sync::Arc;
use std::time::Duration;

use kms_sync::{
    AutoSync, AutoSyncConfig, Progress, Result, RunRecord, RunStatus, RunTrigger, StopSignal,
    Syncer,
};

use crate::args::{Command, RunArgs, WatchArgs};
use crate::outcome::{
    print_json, report_code, report_error, APPLIED, FAILED, INTERRUPTED, NOTHING_TO_DO, REFUSED,
};
use crate::progress::{write_stderr, BarSlot, Display, Mode, PaceSignal};
use crate::setup::{self, Built, LedgerPlace, Loaded};
use crate::signals::{first_signal, stop_on_signals};
use crate::{generate, validate};

/// What every command shares: how quiet to be, the bar's slot, the pacing signal.
pub struct Shell {
    pub quiet: bool,
    pub slot: BarSlot,
    pub pace: Arc<PaceSignal>,
}

impl Shell {
    /// A note for the user on stderr, unless `-q`.
    fn note(&self, text: &str) {
        if !self.quiet {
            let _ = write_stderr(&self.slot, format!("kms-sync: {text}\n").as_bytes());
        }
    }
}

/// Runs a command; returns the exit code.
pub async fn run(shell: &Shell, command: Command) -> u8 {
    let name = command.name();
    let result = match command {
        Command::ValidateConnection(target) => match setup::load(&target) {
            Ok(loaded) => validate::run(&loaded, setup::settings(&target)).await,
            Err(e) => Err(e),
        },
        Command::Plan(args) | Command::Sync(args) | Command::Remove(args) => {
            operate(shell, name, &args, None).await
        }
        Command::Watch(WatchArgs { run, poll_interval }) => {
            operate(shell, name, &run, Some(poll_interval)).await
        }
        Command::Completions { shell } => Ok(generate::print_completions(shell)),
        Command::Man => Ok(generate::print_man_page()),
    };
    result.unwrap_or_else(|e| report_error(&e))
}

/// `isEnabled: false`: plan is allowed, anything that writes is refused.
fn refuse_disabled(loaded: &Loaded, args: &RunArgs, name: &str) -> Option<u8> {
    if name == "plan" || loaded.definition.is_enabled() {
        return None;
    }
    eprintln!(
        "kms-sync: the sync `{}` is disabled (\"isEnabled\": false in {}): refusing to {name}, nothing was written. \
         `plan` still shows what it would do; set \"isEnabled\": true to run it.",
        loaded.definition.name(),
        args.target.definition.display()
    );
    Some(REFUSED)
}

/// Says once how the ledger is kept, or that there is none and what that costs.
fn announce_ledger(shell: &Shell, built: &Built) {
    let info = built.syncer.destination().info();
    match &built.ledger {
        LedgerPlace::File(path) => {
            tracing::info!(ledger = %path.display(), "keeping the ledger");
        }
        LedgerPlace::None { .. } if info.capabilities.values_readable() => {}
        LedgerPlace::None { asked_off: true } => shell.note(&format!(
            "no ledger (--no-state): {info} hides its values, so every managed value is rewritten on every run"
        )),
        LedgerPlace::None { asked_off: false } => shell.note(&format!(
            "no ledger, because KMS_SYNC_STATE_KEY is not set: {info} hides its values, so every managed value \
             is rewritten on every run. To keep a ledger (a file per sync in the state directory, or --state FILE), \
             set KMS_SYNC_STATE_KEY to 16 or more random bytes and keep it across runs, e.g. \
             `export KMS_SYNC_STATE_KEY=$(openssl rand -hex 32)`"
        )),
    }
}

async fn operate(shell: &Shell, name: &str, args: &RunArgs, watch: Option<Duration>) -> Result<u8> {
    let loaded = setup::load(&args.target)?;
    if let Some(code) = refuse_disabled(&loaded, args, name) {
        return Ok(code);
    }
    let progress = Arc::new(Progress::new());
    let stop = StopSignal::new();
    let built = setup::build(args, &loaded, progress.clone(), stop.clone())?;
    announce_ledger(shell, &built);
    if name == "plan" {
        return plan(&built.syncer, args.output.is_json()).await;
    }
    let mode = Mode::choose(shell.quiet, args.output.progress_interval);
    let budget = built.syncer.destination().info().capabilities.rate_budget();
    let display = Display::start(
        mode,
        progress,
        shell.pace.clone(),
        budget,
        shell.slot.clone(),
    );
    let work = async {
        match (name, watch) {
            (_, Some(poll)) => Ok(watch_until_interrupted(shell, built.syncer, poll).await),
            ("remove", None) => built.syncer.remove().await.map(Done::from),
            _ => built.syncer.sync().await.map(Done::from),
        }
    };
    let announce = || {
        shell.note(
            "stopping: no new write starts; writes in flight get a few seconds; \
             a second signal exits at once (nothing is lost: the ledger holds every claim)",
        )
    };
    let done = stop_on_signals(&stop, announce, work).await;
    display.stop().await;
    exit_code(
        done,
        stop.is_stopped() && watch.is_none(),
        args.output.is_json(),
    )
}

/// Prints what an operation produced and returns its exit code: [`INTERRUPTED`] when a
/// signal stopped a sync or remove (the report, or the error, is still shown).
fn exit_code(done: Result<Done>, interrupted: bool, json: bool) -> Result<u8> {
    match done {
        Ok(done) => done
            .into_code(json)
            .map(|code| if interrupted { INTERRUPTED } else { code }),
        Err(err) if interrupted => {
            report_error(&err);
            Ok(INTERRUPTED)
        }
        Err(err) => Err(err),
    }
}

/// What an operation produced.
enum Done {
    Report(Box<kms_sync::SyncReport>),
    Watched(u8),
}

impl From<kms_sync::SyncReport> for Done {
    fn from(report: kms_sync::SyncReport) -> Self {
        Done::Report(Box::new(report))
    }
}

impl Done {
    fn into_code(self, json: bool) -> Result<u8> {
        match self {
            Done::Watched(code) => Ok(code),
            Done::Report(report) => {
                if json {
                    print_json(&report)?;
                } else {
                    print!("{report}");
                }
                Ok(report_code(&report))
            }
        }
    }
}

async fn plan(syncer: &Syncer, json: bool) -> Result<u8> {
    let plan = syncer.plan().await?;
    if json {
        print_json(&plan)?;
    } else {
        println!("{plan}");
    }
    Ok(if plan.is_empty() {
        NOTHING_TO_DO
    } else {
        APPLIED
    })
}

fn describe_run(run: &RunRecord) -> String {
    let c = run.counts;
    let trigger = match run.trigger {
        RunTrigger::Initial => "initial",
        RunTrigger::Change => "source change",
        RunTrigger::Triggered => "triggered",
        _ => "retry",
    };
    let status = match run.status {
        RunStatus::Succeeded => "succeeded",
        _ => "failed",
    };
    let mut text = format!(
        "watch: {trigger} sync {status}: {} created, {} updated, {} deleted, {} unchanged, {} failed",
        c.created, c.updated, c.deleted, c.unchanged, c.failed
    );
    if let Some(message) = &run.message {
        text.push_str(&format!(" ({message})"));
    }
    text
}

/// Auto-sync until Ctrl-C: prints each run as it ends; exits 0 if the last run succeeded.
async fn watch_until_interrupted(shell: &Shell, syncer: Syncer, poll: Duration) -> Done {
    let handle = AutoSync::spawn(
        Arc::new(syncer),
        AutoSyncConfig::default().with_poll_interval(poll),
    );
    shell.note(&format!(
        "watching; the source is checked every {}; Ctrl-C stops after the running sync",
        humantime::format_duration(poll)
    ));
    let mut shown = 0;
    let stop = first_signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
        shown = print_new_runs(&handle.runs(), shown);
    }
    shell.note("stopping: letting the running sync finish its writes in flight");
    let runs = handle.shutdown().await;
    print_new_runs(&runs, shown);
    Done::Watched(match runs.last() {
        Some(run) if is_interrupted(run) => INTERRUPTED,
        Some(run) if run.status != RunStatus::Succeeded => FAILED,
        _ => APPLIED,
    })
}

/// Whether a watched run was cut short by the stop signal.
fn is_interrupted(run: &RunRecord) -> bool {
    run.message
        .as_deref()
        .is_some_and(|m| m.contains("interrupted"))
}

/// Prints the runs after the first `shown`; returns how many are shown now. (The runner
/// keeps a bounded history; a count that went down starts over.)
fn print_new_runs(runs: &[RunRecord], shown: usize) -> usize {
    let from = if shown > runs.len() { 0 } else { shown };
    for run in &runs[from..] {
        println!("{}", describe_run(run));
    }
    runs.len()
}
