//! Requests to Bitbucket's API: auth, paths, pagination.

use kms_sync_core::http::{
    collect_next_links, encode_segment, ClientSettings, HttpClient, LinkedPage, Request, Response,
    DEFAULT_MAX_PAGES,
};
use kms_sync_core::{Error, ErrorKind, Result, SecretValue};

use crate::config::BitbucketConnection;
use crate::destination::{documented_budget, DEFAULT_BASE_URL};
use crate::error::error_table;
use crate::listed::{page_values, Listed, ListedVariable};
use crate::model::{Environment, Page, User, Variable, VariableBody};

/// The documented maximum page size.
pub const PAGE_LEN: usize = 100;

/// Which variable list: a repository's, or a deployment environment's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scope {
    Repository {
        workspace: String,
        repo: String,
    },
    Deployment {
        workspace: String,
        repo: String,
        environment: String,
    },
}

impl Scope {
    fn collection(&self) -> String {
        match self {
            Scope::Repository { workspace, repo } => format!(
                "/2.0/repositories/{}/{}/pipelines_config/variables",
                encode_segment(workspace),
                encode_segment(repo)
            ),
            Scope::Deployment {
                workspace,
                repo,
                environment,
            } => format!(
                "/2.0/repositories/{}/{}/deployments_config/environments/{}/variables",
                encode_segment(workspace),
                encode_segment(repo),
                encode_segment(environment)
            ),
        }
    }

    fn item(&self, uuid: &str) -> String {
        format!("{}/{}", self.collection(), encode_segment(uuid))
    }
}

/// One page of a Bitbucket list of `what`: `values` (required), `next` and the list's `size`.
fn read_page<T: serde::de::DeserializeOwned>(
    response: &Response,
    what: &str,
) -> Result<LinkedPage<T>> {
    let page: Page<T> = response.json_object()?;
    let values = page_values(page.values, what)?;
    Ok(LinkedPage::new(values, page.next).with_total(page.size))
}

/// A variable write is confirmed only by the documented answer (the variable, with its
/// `uuid` and `key`) about the key written.
fn confirm_key(written: Variable, key: &str) -> Result<Variable> {
    if written.key == key && !written.uuid.trim().is_empty() {
        return Ok(written);
    }
    Err(Error::new(
        ErrorKind::Unconfirmed,
        format!("Bitbucket answered the write of `{key}` with another variable or no uuid; the write is not confirmed"),
    ))
}

/// Bitbucket's endpoints over the shared HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct BitbucketClient {
    pub http: HttpClient,
}

impl BitbucketClient {
    /// A client for a connection: its credentials, Bitbucket's error table and rate-limit
    /// headers, the settings' base URL (default [`DEFAULT_BASE_URL`]).
    pub fn connect(
        connection: &BitbucketConnection,
        settings: &ClientSettings,
        concurrency: usize,
    ) -> Result<BitbucketClient> {
        let http = settings
            .client_builder(
                "bitbucket",
                DEFAULT_BASE_URL,
                documented_budget(),
                concurrency,
            )
            .auth(connection.auth())
            .error_table(error_table)
            .rate_limit_headers(crate::rate_limit::rate_limit_headers)
            .build()?;
        Ok(BitbucketClient { http })
    }

    pub async fn user(&self) -> Result<User> {
        self.http
            .send(Request::get("/2.0/user"))
            .await?
            .json_object()
    }

    pub async fn environments(&self, workspace: &str, repo: &str) -> Result<Vec<Environment>> {
        let first = Request::get(format!(
            "/2.0/repositories/{}/{}/environments",
            encode_segment(workspace),
            encode_segment(repo)
        ))
        .query("pagelen", PAGE_LEN.to_string());
        collect_next_links(&self.http, first, DEFAULT_MAX_PAGES, |r| {
            read_page::<Environment>(r, "deployment environments")
        })
        .await
    }

    /// Every variable of a scope, each complete (refused when its pages hold fewer than the
    /// reported total, or a page or a variable lacks a field: see [`ListedVariable`]).
    pub async fn variables(&self, scope: &Scope) -> Result<Vec<Listed>> {
        let first = Request::get(scope.collection()).query("pagelen", PAGE_LEN.to_string());
        let listed = collect_next_links(&self.http, first, DEFAULT_MAX_PAGES, |r| {
            read_page::<ListedVariable>(r, "variables")
        })
        .await?;
        listed.into_iter().map(ListedVariable::complete).collect()
    }

    pub async fn create(&self, scope: &Scope, key: &str, value: &SecretValue) -> Result<Variable> {
        let body = VariableBody {
            key,
            value: value.expose_secret(),
            secured: true,
        };
        let written: Variable = self
            .http
            .send(Request::post(scope.collection()).json(&body)?)
            .await?
            .json_object()?;
        confirm_key(written, key)
    }

    pub async fn update(
        &self,
        scope: &Scope,
        uuid: &str,
        key: &str,
        value: &SecretValue,
    ) -> Result<Variable> {
        let body = VariableBody {
            key,
            value: value.expose_secret(),
            secured: true,
        };
        let written: Variable = self
            .http
            .send(Request::put(scope.item(uuid)).json(&body)?)
            .await?
            .json_object()?;
        confirm_key(written, key)
    }

    pub async fn delete(&self, scope: &Scope, uuid: &str) -> Result<()> {
        self.http.send(Request::delete(scope.item(uuid))).await?;
        Ok(())
    }
}
