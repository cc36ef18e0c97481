//! Requests to Checkly's API: auth, paths, pagination.

use kms_sync_core::http::{
    collect_numbered_pages, encode_segment, HttpClient, Request, DEFAULT_MAX_PAGES,
};
use kms_sync_core::{Result, SecretValue};
use serde_json::{json, Value};

use crate::model::{Account, Group, VariableBody};

/// The page size kms-sync asks for (the documented maximum; the default is 10).
pub const PAGE_LIMIT: usize = 100;

/// Checkly's endpoints over the shared HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct ChecklyClient {
    pub http: HttpClient,
}

impl ChecklyClient {
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
        self.http
            .send(Request::post("/v1/variables").json(&body)?)
            .await?;
        Ok(())
    }

    pub async fn update(&self, key: &str, value: &SecretValue) -> Result<()> {
        let body = VariableBody {
            key: None,
            value: value.expose_secret(),
            secret: true,
            locked: false,
        };
        self.http
            .send(Request::put(format!("/v1/variables/{}", encode_segment(key))).json(&body)?)
            .await?;
        Ok(())
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
        self.http
            .send(Request::put(format!("/v1/check-groups/{id}")).json(&body)?)
            .await?;
        Ok(())
    }
}
