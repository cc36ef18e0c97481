//! Where in GitHub to sync ([`GithubConfig`], the KMS's `destinationConfig`) and the limits
//! GitHub documents for each scope.

use kms_sync_core::{parse_json, DestinationIdentity, Error, Result};
use serde::Deserialize;

/// Who may read an organization secret: the KMS's `visibility`.
///
/// ```
/// use kms_sync_github::Visibility;
/// assert_eq!(Visibility::Selected.as_str(), "selected");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Visibility {
    /// Every repository of the organization (public ones only on plans without private
    /// repository secrets).
    All,
    /// Private and internal repositories too (a paid plan).
    Private,
    /// Only the repositories listed in `selectedRepositoryIds`.
    Selected,
}

impl Visibility {
    /// The value GitHub's API takes.
    pub fn as_str(self) -> &'static str {
        match self {
            Visibility::All => "all",
            Visibility::Private => "private",
            Visibility::Selected => "selected",
        }
    }
}

/// The KMS's `destinationConfig`, discriminated on `scope`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    tag = "scope",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
enum ScopeBody {
    Organization {
        org: String,
        visibility: Visibility,
        #[serde(default)]
        selected_repository_ids: Option<Vec<u64>>,
    },
    Repository {
        owner: String,
        repo: String,
    },
    RepositoryEnvironment {
        owner: String,
        repo: String,
        env: String,
    },
}

/// Where in GitHub to sync: a repository's Actions secrets, one of its environments'
/// secrets, or an organization's secrets with a visibility.
///
/// The KMS's `destinationConfig`, a union on `scope`:
///
/// | `scope` | fields |
/// |---|---|
/// | `repository` | `owner`, `repo` |
/// | `repository-environment` | `owner`, `repo`, `env` (the environment's name) |
/// | `organization` | `org`, `visibility` (`all`, `private`, `selected`), `selectedRepositoryIds` (numbers; required and not empty with `selected`, refused otherwise) |
///
/// Unknown fields are refused (the KMS drops them silently; here a typo is an error).
///
/// ```
/// use kms_sync_github::{GithubConfig, Visibility};
/// let repo = GithubConfig::from_kms_json(r#"{"scope":"repository","owner":"acme","repo":"api"}"#)?;
/// assert_eq!(repo.target(), "acme/api");
/// let org = GithubConfig::organization("acme", Visibility::Selected).with_selected_repositories([42, 7]);
/// assert_eq!(org.target(), "orgs/acme");
/// assert_eq!(org.max_secrets(), 1_000);
/// let err = GithubConfig::from_kms_json(r#"{"scope":"organization","org":"acme","visibility":"selected"}"#).unwrap_err();
/// assert!(err.to_string().contains("selectedRepositoryIds"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubConfig {
    scope: ScopeBody,
}

/// GitHub's documented limit on repository secrets per repository.
pub const MAX_REPOSITORY_SECRETS: usize = 100;
/// GitHub's documented limit on secrets per environment.
pub const MAX_ENVIRONMENT_SECRETS: usize = 100;
/// GitHub's documented limit on organization secrets.
pub const MAX_ORGANIZATION_SECRETS: usize = 1_000;

impl GithubConfig {
    /// The Actions secrets of repository `owner/repo`.
    pub fn repository(owner: impl Into<String>, repo: impl Into<String>) -> Self {
        GithubConfig {
            scope: ScopeBody::Repository {
                owner: owner.into(),
                repo: repo.into(),
            },
        }
    }

    /// The secrets of environment `env` of repository `owner/repo`.
    pub fn environment(
        owner: impl Into<String>,
        repo: impl Into<String>,
        env: impl Into<String>,
    ) -> Self {
        GithubConfig {
            scope: ScopeBody::RepositoryEnvironment {
                owner: owner.into(),
                repo: repo.into(),
                env: env.into(),
            },
        }
    }

    /// The Actions secrets of organization `org`, written with `visibility`.
    pub fn organization(org: impl Into<String>, visibility: Visibility) -> Self {
        GithubConfig {
            scope: ScopeBody::Organization {
                org: org.into(),
                visibility,
                selected_repository_ids: None,
            },
        }
    }

    /// The repository ids an organization secret of visibility `selected` is shared with,
    /// sent as given. No effect on the other scopes.
    pub fn with_selected_repositories(mut self, ids: impl IntoIterator<Item = u64>) -> Self {
        if let ScopeBody::Organization {
            selected_repository_ids,
            ..
        } = &mut self.scope
        {
            *selected_repository_ids = Some(ids.into_iter().collect());
        }
        self
    }

    /// Reads the KMS's `destinationConfig` and validates it.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for invalid JSON, an unknown scope or
    /// field, or a bad value, naming the field.
    pub fn from_kms_json(json: &str) -> Result<Self> {
        let scope: ScopeBody = parse_json(json, "GitHub destinationConfig")?;
        let config = GithubConfig { scope };
        config.validate()?;
        Ok(config)
    }

    /// Checks the names and the organization's repository selection.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) naming the bad field.
    pub fn validate(&self) -> Result<()> {
        for (field, value) in self.names() {
            check_name(field, value)?;
        }
        if let ScopeBody::Organization {
            visibility,
            selected_repository_ids,
            ..
        } = &self.scope
        {
            check_selection(*visibility, selected_repository_ids.as_deref())?;
        }
        Ok(())
    }

    fn names(&self) -> Vec<(&'static str, &str)> {
        match &self.scope {
            ScopeBody::Organization { org, .. } => vec![("org", org)],
            ScopeBody::Repository { owner, repo } => vec![("owner", owner), ("repo", repo)],
            ScopeBody::RepositoryEnvironment { owner, repo, env } => {
                vec![("owner", owner), ("repo", repo), ("env", env)]
            }
        }
    }

    /// `owner/repo`, `owner/repo/environments/<env>` or `orgs/<org>`.
    pub fn target(&self) -> String {
        match &self.scope {
            ScopeBody::Organization { org, .. } => format!("orgs/{org}"),
            ScopeBody::Repository { owner, repo } => format!("{owner}/{repo}"),
            ScopeBody::RepositoryEnvironment { owner, repo, env } => {
                format!("{owner}/{repo}/environments/{env}")
            }
        }
    }

    /// How many secrets GitHub lets this scope hold: [`MAX_REPOSITORY_SECRETS`],
    /// [`MAX_ENVIRONMENT_SECRETS`] or [`MAX_ORGANIZATION_SECRETS`].
    pub fn max_secrets(&self) -> usize {
        match &self.scope {
            ScopeBody::Organization { .. } => MAX_ORGANIZATION_SECRETS,
            ScopeBody::Repository { .. } => MAX_REPOSITORY_SECRETS,
            ScopeBody::RepositoryEnvironment { .. } => MAX_ENVIRONMENT_SECRETS,
        }
    }

    /// Which GitHub scope this config picks, value-free: what a ledger is bound to. Owner,
    /// repository and organization are lowercased (GitHub reads them regardless of case);
    /// an environment name is kept as written.
    ///
    /// ```
    /// use kms_sync_github::GithubConfig;
    /// let config = GithubConfig::environment("Acme", "API", "Production");
    /// assert_eq!(config.identity().to_string(), "github:owner=acme,repo=api,environment=Production");
    /// ```
    pub fn identity(&self) -> DestinationIdentity {
        let base = DestinationIdentity::new("github");
        let lower = |s: &str| s.trim().to_ascii_lowercase();
        match &self.scope {
            ScopeBody::Organization { org, .. } => base.with("org", lower(org)),
            ScopeBody::Repository { owner, repo } => {
                base.with("owner", lower(owner)).with("repo", lower(repo))
            }
            ScopeBody::RepositoryEnvironment { owner, repo, env } => base
                .with("owner", lower(owner))
                .with("repo", lower(repo))
                .with("environment", env.trim()),
        }
    }

    /// The organization's visibility and selected repositories, for an organization scope.
    pub(crate) fn org_sharing(&self) -> Option<(Visibility, Option<&[u64]>)> {
        match &self.scope {
            ScopeBody::Organization {
                visibility,
                selected_repository_ids,
                ..
            } => Some((*visibility, selected_repository_ids.as_deref())),
            _ => None,
        }
    }

    /// The path under the API of this scope's secrets, its segments percent-encoded.
    pub(crate) fn secrets_path(&self) -> String {
        use kms_sync_core::http::encode_segment as seg;
        match &self.scope {
            ScopeBody::Organization { org, .. } => format!("/orgs/{}/actions/secrets", seg(org)),
            ScopeBody::Repository { owner, repo } => {
                format!("/repos/{}/{}/actions/secrets", seg(owner), seg(repo))
            }
            ScopeBody::RepositoryEnvironment { owner, repo, env } => format!(
                "/repos/{}/{}/environments/{}/secrets",
                seg(owner),
                seg(repo),
                seg(env)
            ),
        }
    }
}

fn check_name(field: &str, value: &str) -> Result<()> {
    let slash_ok = field == "env";
    if value.trim().is_empty() || value.trim() != value {
        return Err(Error::config(format!(
            "GitHub destinationConfig.{field} `{value}` must not be empty or padded with spaces"
        )));
    }
    if (!slash_ok && value.contains('/')) || value.chars().any(char::is_control) {
        return Err(Error::config(format!(
            "GitHub destinationConfig.{field} `{value}` must be a single name: no `/` or control characters"
        )));
    }
    Ok(())
}

fn check_selection(visibility: Visibility, ids: Option<&[u64]>) -> Result<()> {
    let listed = ids.is_some_and(|ids| !ids.is_empty());
    match visibility {
        Visibility::Selected if !listed => Err(Error::config(
            "GitHub destinationConfig.selectedRepositoryIds: visibility `selected` needs at least one repository id",
        )),
        Visibility::All | Visibility::Private if listed => Err(Error::config(format!(
            "GitHub destinationConfig.selectedRepositoryIds is only for visibility `selected`, not `{}`",
            visibility.as_str()
        ))),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_scope_reads_the_kms_fields() -> Result<()> {
        let env = GithubConfig::from_kms_json(
            r#"{"scope":"repository-environment","owner":"acme","repo":"api","env":"prod/eu"}"#,
        )?;
        assert_eq!(env, GithubConfig::environment("acme", "api", "prod/eu"));
        assert_eq!(
            env.secrets_path(),
            "/repos/acme/api/environments/prod%2Feu/secrets"
        );
        let org = GithubConfig::from_kms_json(
            r#"{"scope":"organization","org":"acme","visibility":"selected","selectedRepositoryIds":[3,1]}"#,
        )?;
        assert_eq!(
            org.org_sharing(),
            Some((Visibility::Selected, Some(&[3u64, 1][..])))
        );
        assert_eq!(org.secrets_path(), "/orgs/acme/actions/secrets");
        Ok(())
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (r#"{"scope":"repository","owner":"","repo":"api"}"#, "owner"),
            (
                r#"{"scope":"repository","owner":"a/b","repo":"api"}"#,
                "owner",
            ),
            (
                r#"{"scope":"repository","owner":"acme"}"#,
                "missing field `repo`",
            ),
            (
                r#"{"scope":"repository","owner":"acme","repo":"api","env":"x"}"#,
                "unknown field `env`",
            ),
            (
                r#"{"scope":"project","owner":"acme"}"#,
                "unknown variant `project`",
            ),
            (
                r#"{"scope":"organization","org":"acme","visibility":"public"}"#,
                "unknown variant `public`",
            ),
            (
                r#"{"scope":"organization","org":"acme","visibility":"all","selectedRepositoryIds":[1]}"#,
                "only for visibility `selected`",
            ),
            (
                r#"{"scope":"organization","org":"acme","visibility":"selected","selectedRepositoryIds":[]}"#,
                "at least one repository id",
            ),
        ];
        for (json, expected) in cases {
            let err = GithubConfig::from_kms_json(json).expect_err(json);
            assert!(err.to_string().contains(expected), "{json}: {err}");
        }
    }
}
