//! [`Principal`]: who is calling, and what they may do — the KMS's subjects, actions and
//! conditions, per project and at organization level.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use kms_sync_core::{Error, Result};
use serde::Deserialize;

use super::condition::Conditions;

/// What a grant is about, as the KMS names its permission subjects.
///
/// ```
/// let s: kms_sync_api::Subject = serde_json::from_str(r#""secret-syncs""#)?;
/// assert_eq!(s, kms_sync_api::Subject::SecretSyncs);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Subject {
    /// Secret syncs: `read`, `create`, `edit`, `delete`, `sync-secrets`, `import-secrets`,
    /// `remove-secrets`; conditions on `environment` and `secretPath`.
    SecretSyncs,
    /// App connections: `read`, `create`, `edit`, `delete`, `connect` (use it in a sync).
    AppConnections,
    /// The secrets a sync reads: `read-value` (or the older `read`, or `describe-secret`);
    /// conditions on `environment` and `secretPath`. Creating or moving a sync needs it on
    /// the sync's source folder.
    Secrets,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Subject::SecretSyncs => "secret-syncs",
            Subject::AppConnections => "app-connections",
            Subject::Secrets => "secrets",
        })
    }
}

/// An action on a [`Subject`], as the KMS names it.
///
/// ```
/// let a: kms_sync_api::Action = serde_json::from_str(r#""sync-secrets""#)?;
/// assert_eq!(a, kms_sync_api::Action::SyncSecrets);
/// assert_eq!(a.to_string(), "sync-secrets");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// See it (get, list).
    Read,
    /// Create it.
    Create,
    /// Change it (PATCH).
    Edit,
    /// Delete it.
    Delete,
    /// Trigger a sync.
    SyncSecrets,
    /// Import from the destination.
    ImportSecrets,
    /// Remove what a sync wrote (also `DELETE ?removeSecrets=true`).
    RemoveSecrets,
    /// Use a connection in a sync.
    Connect,
    /// Read secret values (of the source folder).
    ReadValue,
    /// See secrets' keys and metadata.
    DescribeSecret,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Read => "read",
            Action::Create => "create",
            Action::Edit => "edit",
            Action::Delete => "delete",
            Action::SyncSecrets => "sync-secrets",
            Action::ImportSecrets => "import-secrets",
            Action::RemoveSecrets => "remove-secrets",
            Action::Connect => "connect",
            Action::ReadValue => "read-value",
            Action::DescribeSecret => "describe-secret",
        })
    }
}

impl Subject {
    /// Whether `action` is one of this subject's.
    fn has(self, action: Action) -> bool {
        use Action::*;
        match self {
            Subject::SecretSyncs => matches!(
                action,
                Read | Create | Edit | Delete | SyncSecrets | ImportSecrets | RemoveSecrets
            ),
            Subject::AppConnections => matches!(action, Read | Create | Edit | Delete | Connect),
            Subject::Secrets => matches!(action, Read | ReadValue | DescribeSecret),
        }
    }
}

/// One rule: these actions on this subject, where the conditions hold.
///
/// ```
/// use kms_sync_api::{Action, Condition, Conditions, Grant, Subject};
/// let grant = Grant::new(Subject::SecretSyncs, [Action::Read, Action::SyncSecrets])?
///     .when(Conditions::default().environment(Condition::eq("dev")))?;
/// assert!(Grant::new(Subject::SecretSyncs, [Action::Connect]).is_err());
/// assert!(Grant::new(Subject::AppConnections, [Action::Read])?
///     .when(Conditions::default().environment(Condition::eq("dev"))).is_err());
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    subject: Subject,
    actions: BTreeSet<Action>,
    conditions: Conditions,
}

impl Grant {
    /// `actions` on `subject`, unconditionally.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for an action that is not the
    /// subject's, or no action.
    ///
    /// ```
    /// use kms_sync_api::{Action, Grant, Subject};
    /// let g = Grant::new(Subject::AppConnections, [Action::Read, Action::Connect])?;
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn new(subject: Subject, actions: impl IntoIterator<Item = Action>) -> Result<Grant> {
        let actions: BTreeSet<Action> = actions.into_iter().collect();
        if actions.is_empty() {
            return Err(Error::config(format!(
                "a grant on {subject} names no action"
            )));
        }
        if let Some(bad) = actions.iter().find(|a| !subject.has(**a)) {
            return Err(Error::config(format!(
                "`{bad}` is not an action on {subject}"
            )));
        }
        Ok(Grant {
            subject,
            actions,
            conditions: Conditions::default(),
        })
    }

    /// Only where `conditions` hold.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for conditions on app connections
    /// (they have no environment or path) or a condition without an operator.
    ///
    /// ```
    /// use kms_sync_api::{Action, Condition, Conditions, Grant, Subject};
    /// let g = Grant::new(Subject::Secrets, [Action::ReadValue])?
    ///     .when(Conditions::default().secret_path(Condition::glob("/app/**")))?;
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn when(mut self, conditions: Conditions) -> Result<Grant> {
        if self.subject == Subject::AppConnections && !conditions.is_empty() {
            return Err(Error::config(
                "app-connections take no conditions (only secret-syncs and secrets do)",
            ));
        }
        if let Some(field) = conditions.empty_operator() {
            return Err(Error::config(format!(
                "the condition on `{field}` names no operator ($eq, $in, $glob)"
            )));
        }
        self.conditions = conditions;
        Ok(self)
    }

    fn allows(&self, subject: Subject, action: Action, place: Option<(&str, &str)>) -> bool {
        self.subject == subject
            && self.actions.contains(&action)
            && place.is_none_or(|(env, path)| self.conditions.matches(env, path))
    }
}

/// Who is calling: the organization, the grants per project, and the organization-level
/// app-connection actions. Built by your [`Authorizer`](crate::Authorizer), by the
/// [`TokenFileAuthorizer`](crate::TokenFileAuthorizer), or — for
/// [`Auth::bearer_tokens`](crate::Auth::bearer_tokens) — [`Principal::full_access`].
///
/// ```
/// use kms_sync_api::{Action, Grant, Principal, Subject};
/// let tenant = Principal::new("tenant-a")
///     .grant("project-a", Grant::new(Subject::SecretSyncs, [Action::Read])?);
/// assert!(tenant.may_sync(Some("project-a"), Action::Read, "dev", "/"));
/// assert!(!tenant.may_sync(Some("project-b"), Action::Read, "dev", "/"));
/// assert!(!tenant.may_sync(Some("project-a"), Action::Edit, "dev", "/"));
/// assert!(Principal::full_access().may_sync(Some("any"), Action::Delete, "prod", "/"));
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    name: String,
    org_id: Option<String>,
    full_access: bool,
    projects: BTreeMap<String, Vec<Grant>>,
    org_connections: BTreeSet<Action>,
}

impl Principal {
    /// A principal named `name` (shown in logs; never a secret) with no grant yet.
    ///
    /// ```
    /// assert_eq!(kms_sync_api::Principal::new("ci").name(), "ci");
    /// ```
    pub fn new(name: impl Into<String>) -> Principal {
        Principal {
            name: name.into(),
            org_id: None,
            full_access: false,
            projects: BTreeMap::new(),
            org_connections: BTreeSet::new(),
        }
    }

    /// Every action on every project and connection of the organization: what
    /// [`Auth::bearer_tokens`](crate::Auth::bearer_tokens) and
    /// [`Auth::verifier`](crate::Auth::verifier) tokens are.
    ///
    /// ```
    /// assert!(kms_sync_api::Principal::full_access().readable_projects().is_none());
    /// ```
    pub fn full_access() -> Principal {
        Principal {
            full_access: true,
            ..Principal::new("full-access")
        }
    }

    /// The organization the principal belongs to; a principal of another organization
    /// than the API's is refused (401). Default: the API's.
    ///
    /// ```
    /// let p = kms_sync_api::Principal::new("a").in_org("6f03caa1-a5de-43ce-b127-95a145d3464c");
    /// assert_eq!(p.org_id(), Some("6f03caa1-a5de-43ce-b127-95a145d3464c"));
    /// ```
    pub fn in_org(mut self, org_id: impl Into<String>) -> Principal {
        self.org_id = Some(org_id.into());
        self
    }

    /// Adds `grant` in `project`.
    ///
    /// ```
    /// use kms_sync_api::{Action, Grant, Principal, Subject};
    /// let p = Principal::new("a").grant("p1", Grant::new(Subject::AppConnections, [Action::Read])?);
    /// assert!(p.may_connection(Some("p1"), Action::Read));
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn grant(mut self, project: impl Into<String>, grant: Grant) -> Principal {
        self.projects.entry(project.into()).or_default().push(grant);
        self
    }

    /// Organization-level app-connection actions: on connections that belong to no
    /// project.
    ///
    /// # Errors
    ///
    /// [`Config`](kms_sync_core::ErrorKind::Config) for an action that is not an
    /// app-connection action.
    ///
    /// ```
    /// use kms_sync_api::{Action, Principal};
    /// let p = Principal::new("a").org_connections([Action::Read, Action::Connect])?;
    /// assert!(p.may_connection(None, Action::Connect));
    /// assert!(!p.may_connection(None, Action::Delete));
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn org_connections(
        mut self,
        actions: impl IntoIterator<Item = Action>,
    ) -> Result<Principal> {
        for action in actions {
            if !Subject::AppConnections.has(action) {
                return Err(Error::config(format!(
                    "`{action}` is not an action on app-connections"
                )));
            }
            self.org_connections.insert(action);
        }
        Ok(self)
    }

    /// The principal's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The principal's organization, if it names one.
    pub fn org_id(&self) -> Option<&str> {
        self.org_id.as_deref()
    }

    /// The projects it holds any grant in; `None` for every project (full access).
    ///
    /// ```
    /// use kms_sync_api::{Action, Grant, Principal, Subject};
    /// let p = Principal::new("a").grant("p1", Grant::new(Subject::SecretSyncs, [Action::Read])?);
    /// assert_eq!(p.readable_projects(), Some(vec!["p1"]));
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn readable_projects(&self) -> Option<Vec<&str>> {
        (!self.full_access).then(|| self.projects.keys().map(String::as_str).collect())
    }

    fn allows(
        &self,
        project: Option<&str>,
        subject: Subject,
        action: Action,
        place: Option<(&str, &str)>,
    ) -> bool {
        if self.full_access {
            return true;
        }
        let Some(grants) = project.and_then(|p| self.projects.get(p)) else {
            return false;
        };
        grants.iter().any(|g| g.allows(subject, action, place))
    }

    /// Whether it may do `action` on a secret sync of `project` reading `environment` at
    /// `secret_path`. A sync of no project is for full access only.
    pub fn may_sync(
        &self,
        project: Option<&str>,
        action: Action,
        environment: &str,
        secret_path: &str,
    ) -> bool {
        self.allows(
            project,
            Subject::SecretSyncs,
            action,
            Some((environment, secret_path)),
        )
    }

    /// Whether it holds `action` on secret syncs of `project` under any condition (what a
    /// list or a `check-destination` needs before filtering item by item).
    pub fn may_sync_somewhere(&self, project: Option<&str>, action: Action) -> bool {
        self.allows(project, Subject::SecretSyncs, action, None)
    }

    /// Whether it may read the secrets of `environment` at `secret_path` in `project`
    /// (`read-value`, `read` or `describe-secret` on secrets): needed to point a sync
    /// there.
    ///
    /// ```
    /// use kms_sync_api::{Action, Grant, Principal, Subject};
    /// let p = Principal::new("a").grant("p1", Grant::new(Subject::Secrets, [Action::ReadValue])?);
    /// assert!(p.may_read_source(Some("p1"), "dev", "/"));
    /// assert!(!p.may_read_source(Some("p2"), "dev", "/"));
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn may_read_source(
        &self,
        project: Option<&str>,
        environment: &str,
        secret_path: &str,
    ) -> bool {
        [Action::ReadValue, Action::Read, Action::DescribeSecret]
            .into_iter()
            .any(|a| {
                self.allows(
                    project,
                    Subject::Secrets,
                    a,
                    Some((environment, secret_path)),
                )
            })
    }

    /// Whether it may do `action` on an app connection of `project` (`None`: an
    /// organization-level connection).
    pub fn may_connection(&self, project: Option<&str>, action: Action) -> bool {
        match project {
            None => self.full_access || self.org_connections.contains(&action),
            Some(_) => self.allows(project, Subject::AppConnections, action, None),
        }
    }
}
