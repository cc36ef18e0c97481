//! `validate-connection`: the connection's credentials, then the destination's scope, the
//! way the KMS checks them — and no source at all. The same steps for every kind: what
//! differs between services is declared by each destination's factory.
//!
//! 1. Credentials: the factory's `verify_connection` (one authenticated read: Bitbucket
//!    `GET /2.0/user`, Checkly `GET /v1/accounts`, Octopus `GET /api/users/me`, GitHub
//!    `GET /user` or an App's token exchange, GitLab `GET /api/v4/user`).
//! 2. Scope: the destination resolves what the definition names and lists its variables, so
//!    it exists and the credentials can read it.
//!
//! Writing is not tried: nothing is written by a check. What a write needs is named (the
//! factory's [`DestinationFacts::write_access_text`]).

use kms_sync::http::ClientSettings;
use kms_sync::{DestinationFacts, Error, ErrorKind, Result, Verification};

use crate::outcome::{code_for, APPLIED};
use crate::setup::Loaded;

/// Prints a failed step (with the kind's help for refused credentials); returns its exit
/// code.
fn failed(facts: &DestinationFacts, step: &str, err: &Error) -> u8 {
    println!("  FAILED {step}: {err}");
    if matches!(
        err.kind(),
        ErrorKind::Unauthenticated | ErrorKind::PermissionDenied
    ) {
        if let Some(help) = facts.refusal_help_text() {
            println!("         {help}");
        }
    }
    code_for(err.kind())
}

/// The credentials line: who the service accepted, or that the kind cannot check.
fn credentials_line(verification: &Verification) -> String {
    match verification {
        Verification::NotChecked => "  --     credentials: no separate check for this kind".into(),
        accepted => format!("  ok     credentials: {accepted}"),
    }
}

/// Runs the checks, printing one line each; returns the exit code.
pub async fn run(loaded: &Loaded, settings: ClientSettings) -> Result<u8> {
    let registry = kms_sync::registry();
    let def = &loaded.definition;
    let factory = registry.factory(def.destination())?;
    let facts = factory.facts();
    let destination = registry.build_destination(def, &loaded.connection, settings.clone())?;
    println!("{}", destination.info());
    match factory
        .verify_connection(&loaded.connection, settings)
        .await
    {
        Ok(verification) => println!("{}", credentials_line(&verification)),
        Err(err) => return Ok(failed(&facts, "credentials", &err)),
    }
    match destination.list().await {
        Ok(snapshot) => println!(
            "  ok     scope: {} exists and can be read ({} variables)",
            destination.info().target,
            snapshot.len()
        ),
        Err(err) => return Ok(failed(&facts, "scope", &err)),
    }
    println!(
        "  --     writing: not tried (a check writes nothing); a sync needs {}",
        facts.write_access_text()
    );
    Ok(APPLIED)
}
