//! The checks the KMS makes when a sync or a connection is created (or changed), beyond
//! the body's shape: the source folder exists, and the connection's credentials work.

use std::fmt;
use std::sync::Arc;

use kms_sync_core::{AppConnectionDefinition, ErrorKind};
use kms_sync_fleet::SourceProvider;

use crate::body::shown;
use crate::error::ApiError;
use crate::routes::ApiState;

/// The source provider folders are looked up with (its `Debug` names no secret).
#[derive(Clone)]
pub(crate) struct Sources(pub Arc<dyn SourceProvider>);

impl fmt::Debug for Sources {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sources([provider])")
    }
}

/// The fleet's ledger key, for planning (its `Debug` is redacted; never logged).
#[derive(Clone)]
pub(crate) struct LedgerKey(Arc<secrecy::SecretBox<[u8]>>);

impl LedgerKey {
    pub fn new(key: Vec<u8>) -> LedgerKey {
        LedgerKey(Arc::new(secrecy::SecretBox::new(key.into_boxed_slice())))
    }

    pub fn expose(&self) -> &[u8] {
        use secrecy::ExposeSecret;
        self.0.expose_secret()
    }
}

impl fmt::Debug for LedgerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LedgerKey([REDACTED])")
    }
}

/// 400 naming the folder unless the source (when the API was given a source provider)
/// finds `secret_path` in `environment` of `project`. Without a provider nothing is
/// checked (the first run reports a missing folder).
pub(crate) async fn folder_exists(
    state: &ApiState,
    project: Option<&str>,
    environment: &str,
    secret_path: &str,
) -> Result<(), ApiError> {
    let Some(sources) = &state.sources else {
        return Ok(());
    };
    let found = match sources.0.source(project, environment, secret_path).await {
        Ok(source) => source.load().await.map(|_| ()),
        Err(e) => Err(e),
    };
    match found {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(ApiError::bad_request(format!(
            "Could not find folder with path \"{}\" in environment \"{}\" of project \"{}\"",
            shown(secret_path),
            shown(environment),
            shown(project.unwrap_or(""))
        ))),
        Err(e) => Err(ApiError::from_kms(&e)),
    }
}

/// Checks over the network that `connection`'s credentials work against `kind`'s service
/// (the factory's `verify_connection`, with the registry's guarded client settings), when
/// the API verifies connections. A factory that cannot verify accepts it "not verified".
/// 400 naming the connection when the service refuses the credentials or cannot be
/// reached; the message is the destination's, which never carries a credential.
pub(crate) async fn credentials_work(
    state: &ApiState,
    kind: &str,
    connection: &AppConnectionDefinition,
) -> Result<bool, ApiError> {
    if !state.verify_connections {
        return Ok(false);
    }
    let factory = state.registry.destinations().factory(kind)?;
    let settings = state.registry.client_settings().clone();
    factory
        .verify_connection(connection, settings)
        .await
        .map_err(|e| {
            ApiError::bad_request(format!(
                "App Connection \"{}\": {} did not accept its credentials: {}",
                shown(connection.name().unwrap_or("")),
                state.display_name(kind),
                e.message()
            ))
        })
        .map(|verification| verification.is_accepted())
}
