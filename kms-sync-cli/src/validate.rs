//! `validate-connection`: the connection's credentials, then the destination's scope, the
//! way the KMS checks them — and no source at all.
//!
//! 1. Credentials: Bitbucket `GET /2.0/user`, Checkly `GET /v1/accounts` (the configured
//!    account must be among the key's), Octopus `GET /api/users/me`.
//! 2. Scope: the destination resolves what the definition names (Bitbucket workspace,
//!    repository and deployment environment; Checkly account and check group; Octopus space
//!    and project) and lists its variables, so it exists and the credentials can read it.
//!
//! Writing is not tried: nothing is written by a check. The scopes a write needs are named.

use std::sync::Arc;

use kms_sync::http::ClientSettings;
use kms_sync::{Destination, Error, ErrorKind, Result};
use kms_sync_bitbucket::{
    BitbucketConfig, BitbucketConnection, BitbucketDestination, KMS_DOCUMENTED_SCOPES,
    REQUIRED_SCOPES,
};
use kms_sync_checkly::{ChecklyConfig, ChecklyConnection, ChecklyDestination};
use kms_sync_octopus::{OctopusConfig, OctopusConnection, OctopusDestination};

use crate::outcome::{code_for, APPLIED};
use crate::setup::Loaded;

/// One destination, built, with its kind's credentials check.
enum Checked {
    Bitbucket(BitbucketDestination),
    Checkly(ChecklyDestination),
    Octopus(OctopusDestination),
    /// A kind this tool has no credentials check for: only the scope is checked.
    Other(Arc<dyn Destination>),
}

fn build(loaded: &Loaded, settings: ClientSettings) -> Result<Checked> {
    let def = &loaded.definition;
    let connection = loaded.connection.expose_json();
    let config = def.destination_config();
    Ok(match def.destination() {
        "bitbucket" => Checked::Bitbucket(
            BitbucketDestination::builder(
                BitbucketConnection::from_kms_json(connection)?,
                BitbucketConfig::from_kms_json(config)?,
            )
            .settings(settings)
            .build()?,
        ),
        "checkly" => Checked::Checkly(
            ChecklyDestination::builder(
                ChecklyConnection::from_kms_json(connection)?,
                ChecklyConfig::from_kms_json(config)?,
            )
            .settings(settings)
            .build()?,
        ),
        "octopus-deploy" => Checked::Octopus(
            OctopusDestination::builder(
                OctopusConnection::from_kms_json(connection)?,
                OctopusConfig::from_kms_json(config)?,
            )
            .settings(settings)
            .build()?,
        ),
        _ => Checked::Other(kms_sync::registry().build_destination(
            def,
            &loaded.connection,
            settings,
        )?),
    })
}

impl Checked {
    fn destination(&self) -> &dyn Destination {
        match self {
            Checked::Bitbucket(d) => d,
            Checked::Checkly(d) => d,
            Checked::Octopus(d) => d,
            Checked::Other(d) => d.as_ref(),
        }
    }

    /// Who the credentials belong to, in words.
    async fn credentials(&self) -> Option<Result<String>> {
        Some(match self {
            Checked::Bitbucket(d) => d.validate_connection().await.map(|u| {
                let who = u.display_name.or(u.account_id).unwrap_or_default();
                format!("accepted, as {who}")
            }),
            Checked::Checkly(d) => d
                .validate_connection()
                .await
                .map(|a| format!("accepted; the key can access account {} ({})", a.name, a.id)),
            Checked::Octopus(d) => d.validate_connection().await.map(|u| {
                let who = u.display_name.or(u.username).or(u.id).unwrap_or_default();
                format!("accepted, as {who}")
            }),
            Checked::Other(_) => return None,
        })
    }

    /// What a write needs, which a check cannot prove without writing.
    fn write_needs(&self) -> &'static str {
        match self {
            Checked::Bitbucket(_) => "the API token's scope admin:pipeline:bitbucket",
            Checked::Checkly(_) => "an API key whose role is Read & Write or above",
            Checked::Octopus(_) => "VariableEdit on the project for the key's user",
            Checked::Other(_) => "write access at the destination",
        }
    }

    /// More help for a refused credential.
    fn refusal_help(&self) -> Option<String> {
        match self {
            Checked::Bitbucket(_) => Some(format!(
                "a sync needs the token scopes {}; the KMS's Bitbucket connection guide grants {}",
                REQUIRED_SCOPES.join(", "),
                KMS_DOCUMENTED_SCOPES.join(", ")
            )),
            _ => None,
        }
    }
}

fn failed(checked: &Checked, step: &str, err: &Error) -> u8 {
    println!("  FAILED {step}: {err}");
    if matches!(
        err.kind(),
        ErrorKind::Unauthenticated | ErrorKind::PermissionDenied
    ) {
        if let Some(help) = checked.refusal_help() {
            println!("         {help}");
        }
    }
    code_for(err.kind())
}

/// The kind's own credentials check (`DestinationFactory::verify_connection`), for the kinds
/// this tool has no arm of its own for; `None` when the kind cannot check.
async fn verified_by_factory(loaded: &Loaded, settings: ClientSettings) -> Option<Result<String>> {
    let registry = kms_sync::registry();
    let factory = match registry.factory(loaded.definition.destination()) {
        Ok(factory) => factory,
        Err(e) => return Some(Err(e)),
    };
    match factory
        .verify_connection(&loaded.connection, settings)
        .await
    {
        Ok(true) => Some(Ok("accepted by the service".to_owned())),
        Ok(false) => None,
        Err(e) => Some(Err(e)),
    }
}

/// Runs the checks, printing one line each; returns the exit code.
pub async fn run(loaded: &Loaded, settings: ClientSettings) -> Result<u8> {
    let checked = build(loaded, settings.clone())?;
    let destination = checked.destination();
    println!("{}", destination.info());
    let credentials = match checked.credentials().await {
        Some(answer) => Some(answer),
        None => verified_by_factory(loaded, settings).await,
    };
    match credentials {
        Some(Ok(who)) => println!("  ok     credentials: {who}"),
        Some(Err(err)) => return Ok(failed(&checked, "credentials", &err)),
        None => println!("  --     credentials: no separate check for this kind"),
    }
    match destination.list().await {
        Ok(snapshot) => println!(
            "  ok     scope: {} exists and can be read ({} variables)",
            destination.info().target,
            snapshot.len()
        ),
        Err(err) => return Ok(failed(&checked, "scope", &err)),
    }
    println!(
        "  --     writing: not tried (a check writes nothing); a sync needs {}",
        checked.write_needs()
    );
    Ok(APPLIED)
}
