//! `kms-sync-server`: see the crate's documentation, or `kms-sync-server --help`.

#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    kms_sync_server::cli::main()
}
