//! The handlers: app connections and Secret Syncs, per destination kind in the URL.

pub(crate) mod access;
pub(crate) mod connections;
pub(crate) mod syncs;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::Path;
use kms_sync_fleet::SyncRegistry;

use crate::body::path;
use crate::error::ApiError;
use crate::present::Presenter;

/// What every handler shares.
#[derive(Clone)]
pub(crate) struct ApiState {
    pub registry: SyncRegistry,
    pub present: Arc<Presenter>,
    /// How often a `DELETE ?removeSecrets=true` looks at its remove job.
    pub removal_poll: Duration,
    /// How long it waits for the remove before leaving the sync in place.
    pub removal_wait: Duration,
}

impl ApiState {
    /// The destination kind the URL names, exactly as the registry names it; 404 (as for a
    /// route that does not exist) for any other word.
    pub fn kind(&self, raw: &str) -> Result<&'static str, ApiError> {
        match self.registry.destinations().factory(raw) {
            Ok(factory) if factory.kind() == raw => Ok(factory.kind()),
            _ => Err(ApiError::not_found(format!(
                "`{}` is not a destination this API serves ({})",
                crate::body::shown(raw),
                self.registry.destinations().kinds().join(", ")
            ))),
        }
    }
}

/// The KMS's display name of a destination kind.
pub(crate) fn display_name(kind: &str) -> String {
    match kind {
        "bitbucket" => "Bitbucket".to_owned(),
        "checkly" => "Checkly".to_owned(),
        "octopus-deploy" => "Octopus Deploy".to_owned(),
        other => other.to_owned(),
    }
}

/// The destination kind (or app) and the id of a `/{kind}/{id}` URL, the id read by
/// `parse`: 404 for a kind this API does not serve, then the id's own error.
pub(crate) fn kind_and_id<T>(
    state: &ApiState,
    params: Result<Path<(String, String)>, PathRejection>,
    parse: fn(&str) -> Result<T, ApiError>,
) -> Result<(&'static str, T), ApiError> {
    let (kind, id) = path(params)?;
    let kind = state.kind(&kind)?;
    Ok((kind, parse(&id)?))
}
