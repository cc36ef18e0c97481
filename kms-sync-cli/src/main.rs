//! `kms-sync`: plan, sync, remove, watch or check a Secret Sync described in the KMS's own
//! JSON, from Hanzo KMS (or a dotenv file) to Bitbucket, Checkly, Octopus Deploy, GitHub Actions or GitLab CI/CD.
//!
//! ```text
//! cargo install --path kms-sync-cli      # from a clone; installs `kms-sync`
//! kms-sync --help
//! kms-sync sync --definition sync.json --connection connection.json --kms-project backend
//! kms-sync plan --output json ...         # value-free JSON for scripts
//! kms-sync completions bash               # a completion script; also zsh, fish, ...
//! kms-sync man > kms-sync.1               # the manual page
//! ```
//!
//! Try it with no account: in a clone, `cargo run --features fake --example fakes` starts fake
//! Bitbucket, Checkly, Octopus, GitHub, GitLab and KMS servers on 127.0.0.1 and prints the commands to run.
//!
//! Exit codes: 0 applied (plan: changes to make), 1 failed, 2 usage or configuration error,
//! 3 nothing to do, 4 refused (a deletion guard, a Checkly group holding secrets this sync
//! does not manage, a disabled sync), 130 interrupted (SIGINT or SIGTERM stopped the run;
//! a second signal exits at once; every key it may have written is claimed in the ledger).
//!
//! The modules: `args` (the command line), `setup` (files → source, options, ledger →
//! syncer), `commands` (the subcommands), `validate` (validate-connection), `progress` (bar,
//! lines, the rate-limit state), `logging` (tracing-subscriber), `outcome` (exit codes),
//! `signals` (SIGINT and SIGTERM), `generate` (completions and the man page).

#![forbid(unsafe_code)]
#![warn(missing_docs)]
// The doc comments of `args` are clap's help text, read in a terminal: `<FILE>`-style
// placeholders and bare URLs are meant as they are, not as HTML or links.
#![allow(rustdoc::bare_urls, rustdoc::invalid_html_tags)]

mod args;
mod commands;
mod generate;
mod logging;
mod outcome;
mod progress;
mod setup;
mod signals;
mod validate;

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use clap::Parser;

use crate::args::Cli;
use crate::commands::Shell;
use crate::progress::PaceSignal;

fn main() -> ExitCode {
    // Bad arguments, `--help` and `--version` end here, before any file is read: clap exits
    // with 2 for an error and 0 for help.
    let cli = Cli::parse();
    let shell = Shell {
        quiet: cli.quiet > 0,
        slot: Arc::new(Mutex::new(None)),
        pace: Arc::new(PaceSignal::default()),
    };
    logging::init(
        cli.verbose,
        cli.quiet,
        shell.slot.clone(),
        shell.pace.clone(),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("kms-sync: cannot start the async runtime: {e}");
            return ExitCode::from(outcome::FAILED);
        }
    };
    ExitCode::from(runtime.block_on(commands::run(&shell, cli.command)))
}
