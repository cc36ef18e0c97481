//! Requests to Octopus's API.

use kms_sync_core::http::{encode_segment, ClientSettings, HttpClient, Request};
use kms_sync_core::{Error, ErrorKind, Result};
use serde_json::Value;

use crate::config::OctopusConnection;
use crate::destination::assumed_budget;
use crate::error::error_table;
use crate::model::{Project, Space, User};

/// Octopus's endpoints over the shared HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct OctopusClient {
    pub http: HttpClient,
}

impl OctopusClient {
    /// A client for a connection: its instance URL and key, Octopus's error table and
    /// rate-limit headers.
    pub fn connect(
        connection: &OctopusConnection,
        settings: &ClientSettings,
        concurrency: usize,
    ) -> Result<OctopusClient> {
        let http = settings
            .client_builder(
                "octopus-deploy",
                connection.instance_url(),
                assumed_budget(),
                concurrency,
            )
            .auth(connection.auth())
            .error_table(error_table)
            .rate_limit_headers(crate::rate_limit::rate_limit_headers)
            .build()?;
        Ok(OctopusClient { http })
    }

    pub async fn me(&self) -> Result<User> {
        self.http
            .send(Request::get("/api/users/me"))
            .await?
            .json_object()
    }

    pub async fn spaces(&self) -> Result<Vec<Space>> {
        self.http
            .send(Request::get("/api/spaces/all"))
            .await?
            .json()
    }

    pub async fn project(&self, space: &str, id_or_slug: &str) -> Result<Project> {
        self.http
            .send(Request::get(format!(
                "/api/{}/projects/{}",
                encode_segment(space),
                encode_segment(id_or_slug)
            )))
            .await?
            .json_object()
    }

    pub async fn projects(&self, space: &str) -> Result<Vec<Project>> {
        self.http
            .send(Request::get(format!(
                "/api/{}/projects/all",
                encode_segment(space)
            )))
            .await?
            .json()
    }

    /// The variable set, kept as JSON so that every field kms-sync does not manage goes back
    /// unchanged on a PUT. Its shape is checked first: an object with a `Variables` array and
    /// a numeric `Version`. Anything else is an [`IncompleteRead`](ErrorKind::IncompleteRead),
    /// since reading it as "no variables" would plan against a set that is not there.
    pub async fn variable_set(&self, space: &str, set: &str) -> Result<Value> {
        let body: Value = self
            .http
            .send(Request::get(format!(
                "/api/{}/variables/{}",
                encode_segment(space),
                encode_segment(set)
            )))
            .await?
            .json_object()?;
        let has_variables = body.get("Variables").is_some_and(Value::is_array);
        let has_version = body.get("Version").is_some_and(Value::is_number);
        if !has_variables || !has_version {
            return Err(Error::new(
                ErrorKind::IncompleteRead,
                format!(
                    "variable set {set} came back without {}; the PUT that follows sends the whole set back, \
                     so refusing to plan against an incomplete read: nothing was written",
                    match (has_variables, has_version) {
                        (false, false) => "a `Variables` array or a numeric `Version`",
                        (false, true) => "a `Variables` array",
                        _ => "a numeric `Version`",
                    }
                ),
            ));
        }
        Ok(body)
    }

    /// PUTs the whole set (with its `Version`); returns the set as saved. This route's
    /// documented answer is the `VariableSetResource`: anything else (an empty body, `{}`,
    /// a set without a `Variables` array or with another `Id`, a body that is not JSON
    /// declared as JSON) does not confirm the write: [`Unconfirmed`](ErrorKind::Unconfirmed).
    pub async fn put_variable_set(&self, space: &str, set: &str, body: &Value) -> Result<Value> {
        let saved: Value = self
            .http
            .send(
                Request::put(format!(
                    "/api/{}/variables/{}",
                    encode_segment(space),
                    encode_segment(set)
                ))
                .json(body)?,
            )
            .await?
            .json_object()?;
        let has_variables = saved.get("Variables").is_some_and(Value::is_array);
        let same_set = saved.get("Id").and_then(Value::as_str) == Some(set);
        if !has_variables || !same_set {
            return Err(Error::new(
                ErrorKind::Unconfirmed,
                format!(
                    "Octopus answered the PUT of variable set {set} with something other than that set (no `Variables` array, or another `Id`); the write is not confirmed"
                ),
            ));
        }
        Ok(saved)
    }
}
