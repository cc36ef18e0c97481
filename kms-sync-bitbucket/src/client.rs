//! Requests to Bitbucket's API: auth, paths, pagination.

use kms_sync_core::http::{
    collect_next_links, encode_segment, HttpClient, Request, DEFAULT_MAX_PAGES,
};
use kms_sync_core::{Error, Result, SecretValue};

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

/// Bitbucket's endpoints over the shared HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct BitbucketClient {
    pub http: HttpClient,
}

impl BitbucketClient {
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
            let page: Page<Environment> = r.json_object()?;
            Ok((page.values, page.next))
        })
        .await
    }

    /// Every variable of a scope. Each page reports the list's total (`size`); fewer
    /// variables than the last page's total means pages went missing (a sequence cut short),
    /// and the list is refused rather than trusted.
    pub async fn variables(&self, scope: &Scope) -> Result<Vec<Variable>> {
        let first = Request::get(scope.collection()).query("pagelen", PAGE_LEN.to_string());
        let mut reported = None;
        let variables = collect_next_links(&self.http, first, DEFAULT_MAX_PAGES, |r| {
            let page: Page<Variable> = r.json_object()?;
            reported = page.size.or(reported);
            Ok((page.values, page.next))
        })
        .await?;
        match reported {
            Some(size) if variables.len() < size => Err(Error::unexpected(format!(
                "Bitbucket reported {size} variables but its pages held {}; the list would be incomplete",
                variables.len()
            ))),
            _ => Ok(variables),
        }
    }

    pub async fn create(&self, scope: &Scope, key: &str, value: &SecretValue) -> Result<Variable> {
        let body = VariableBody {
            key,
            value: value.expose_secret(),
            secured: true,
        };
        self.http
            .send(Request::post(scope.collection()).json(&body)?)
            .await?
            .json_object()
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
        self.http
            .send(Request::put(scope.item(uuid)).json(&body)?)
            .await?
            .json_object()
    }

    pub async fn delete(&self, scope: &Scope, uuid: &str) -> Result<()> {
        self.http.send(Request::delete(scope.item(uuid))).await?;
        Ok(())
    }
}
