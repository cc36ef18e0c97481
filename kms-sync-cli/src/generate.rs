//! What is generated from the clap definition itself: shell completion scripts
//! (`clap_complete`) and the manual page (`clap_mangen`), so neither can drift from the
//! flags the tool takes.

use std::io::Write;

use clap::CommandFactory;
use clap_complete::Shell;

use crate::args::Cli;
use crate::outcome::{APPLIED, FAILED};

/// Writes the completion script for `shell` to `out`.
pub fn completions(shell: Shell, out: &mut impl Write) {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "kms-sync", out);
}

/// Writes the manual page, in roff, to `out`.
pub fn man_page(out: &mut impl Write) -> std::io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// `kms-sync completions <SHELL>`: the script on stdout; the exit code.
pub fn print_completions(shell: Shell) -> u8 {
    let mut stdout = std::io::stdout().lock();
    completions(shell, &mut stdout);
    finish(stdout.flush())
}

/// `kms-sync man`: the page on stdout; the exit code.
pub fn print_man_page() -> u8 {
    let mut stdout = std::io::stdout().lock();
    let written = man_page(&mut stdout).and_then(|()| stdout.flush());
    finish(written)
}

fn finish(written: std::io::Result<()>) -> u8 {
    match written {
        Ok(()) => APPLIED,
        Err(e) => {
            eprintln!("kms-sync: cannot write to stdout: {e}");
            FAILED
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shell_gets_a_script_naming_every_subcommand() {
        for shell in [
            Shell::Bash,
            Shell::Zsh,
            Shell::Fish,
            Shell::PowerShell,
            Shell::Elvish,
        ] {
            let mut out = Vec::new();
            completions(shell, &mut out);
            let text = String::from_utf8_lossy(&out);
            for subcommand in ["plan", "sync", "remove", "watch", "validate-connection"] {
                assert!(text.contains(subcommand), "{shell}: no {subcommand}");
            }
        }
    }

    #[test]
    fn the_man_page_documents_the_flags_and_exit_codes() {
        let mut out = Vec::new();
        man_page(&mut out).unwrap();
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.starts_with(".ie"),
            "not roff: {}",
            &text[..40.min(text.len())]
        );
        assert!(text.contains(".TH kms-sync"), "no title");
        assert!(text.contains("Exit codes"), "no exit codes");
        assert!(text.contains("KMS_URL"), "no environment");
    }
}
