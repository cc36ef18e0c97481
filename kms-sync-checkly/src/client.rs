//! Requests to Checkly's API: auth, paths, pagination.

use kms_sync_core::http::{
    collect_numbered_pages, encode_segment, ClientSettings, HttpClient, Request, DEFAULT_MAX_PAGES,
};
use kms_sync_core::{Error, ErrorKind, Result, SecretValue};
use serde_json::{json, Value};

use crate::config::ChecklyConnection;
use crate::destination::{documented_budget, DEFAULT_BASE_URL};
use crate::error::error_table;
use crate::model::{Account, Group, VariableBody, WrittenGroup, WrittenVariable};

/// The page size kms-sync asks for (the documented maximum; the default is 10).
pub const PAGE_LIMIT: usize = 100;

/// Checkly's endpoints over the shared HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct ChecklyClient {
    pub http: HttpClient,
}

impl ChecklyClient {
    /// A client for a connection: its API key, Checkly's error table, the settings' base
    /// URL (default [`DEFAULT_BASE_URL`]), and — for a destination — the account every
    /// request is for (`X-Checkly-Account`).
    pub fn connect(
        connection: &ChecklyConnection,
        settings: &ClientSettings,
        concurrency: usize,
        account_id: Option<&str>,
    ) -> Result<ChecklyClient> {
        let mut builder = settings
            .client_builder(
                "checkly",
                DEFAULT_BASE_URL,
                documented_budget(),
                concurrency,
            )
            .auth(connection.auth())
            .error_table(error_table);
        if let Some(account_id) = account_id {
            builder = builder.header("X-Checkly-Account", account_id.to_owned());
        }
        Ok(ChecklyClient {
            http: builder.build()?,
        })
    }

    pub async fn accounts(&self) -> Result<Vec<Account>> {
        self.http.send(Request::get("/v1/accounts")).await?.json()
    }

    /// Every account variable, all pages, as the raw JSON each came in (read strictly by
    /// [`Listed`](crate::listed::Listed)).
    pub async fn variables(&self) -> Result<Vec<Value>> {
        collect_numbered_pages(
            &self.http,
            PAGE_LIMIT,
            DEFAULT_MAX_PAGES,
            |page| {
                Request::get("/v1/variables")
                    .query("limit", PAGE_LIMIT.to_string())
                    .query("page", page.to_string())
            },
            |r| r.json(),
        )
        .await
    }

    pub async fn create(&self, key: &str, value: &SecretValue) -> Result<()> {
        let body = VariableBody {
            key: Some(key),
            value: value.expose_secret(),
            secret: true,
            locked: false,
        };
        let written: WrittenVariable = self
            .http
            .send(Request::post("/v1/variables").json(&body)?)
            .await?
            .json_object()?;
        confirm_key(&written, key)
    }

    pub async fn update(&self, key: &str, value: &SecretValue) -> Result<()> {
        let body = VariableBody {
            key: None,
            value: value.expose_secret(),
            secret: true,
            locked: false,
        };
        let written: WrittenVariable = self
            .http
            .send(Request::put(format!("/v1/variables/{}", encode_segment(key))).json(&body)?)
            .await?
            .json_object()?;
        confirm_key(&written, key)
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        self.http
            .send(Request::delete(format!(
                "/v1/variables/{}",
                encode_segment(key)
            )))
            .await?;
        Ok(())
    }

    pub async fn groups(&self) -> Result<Vec<Group>> {
        collect_numbered_pages(
            &self.http,
            PAGE_LIMIT,
            DEFAULT_MAX_PAGES,
            |page| {
                Request::get("/v1/check-groups")
                    .query("limit", PAGE_LIMIT.to_string())
                    .query("page", page.to_string())
            },
            |r| r.json(),
        )
        .await
    }

    pub async fn group(&self, id: u64) -> Result<Group> {
        self.http
            .send(Request::get(format!("/v1/check-groups/{id}")))
            .await?
            .json_object()
    }

    /// Replaces the group's variables; nothing else of the group is sent.
    pub async fn put_group_variables(&self, id: u64, variables: Vec<Value>) -> Result<()> {
        let body = json!({ "environmentVariables": variables });
        let written: WrittenGroup = self
            .http
            .send(Request::put(format!("/v1/check-groups/{id}")).json(&body)?)
            .await?
            .json_object()?;
        if written.id != id {
            return Err(unconfirmed(format!(
                "Checkly answered the PUT of check group {id} with group {}",
                written.id
            )));
        }
        Ok(())
    }
}

/// A variable write is confirmed only by an answer about the key written.
fn confirm_key(written: &WrittenVariable, key: &str) -> Result<()> {
    if written.key == key {
        return Ok(());
    }
    Err(unconfirmed(format!(
        "Checkly answered the write of `{key}` about another key"
    )))
}

fn unconfirmed(message: String) -> Error {
    Error::new(
        ErrorKind::Unconfirmed,
        format!("{message}; the write is not confirmed"),
    )
}
