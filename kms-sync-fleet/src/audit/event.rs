//! An audit event: what happened (the KMS's event name), who did it, where, and a
//! value-free metadata object.

use std::time::SystemTime;

use serde_json::{Map, Value};

/// The KMS's audit event names for Secret Syncs and App Connections.
///
/// ```
/// use kms_sync_fleet::AuditEventKind;
/// assert_eq!(AuditEventKind::SecretSyncSyncSecrets.as_str(), "secret-sync-sync-secrets");
/// assert_eq!(AuditEventKind::parse("get-app-connection"), Some(AuditEventKind::GetAppConnection));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuditEventKind {
    /// `get-secret-syncs`: a list of syncs was read.
    GetSecretSyncs,
    /// `get-secret-sync`: one sync was read.
    GetSecretSync,
    /// `create-secret-sync`.
    CreateSecretSync,
    /// `update-secret-sync`.
    UpdateSecretSync,
    /// `delete-secret-sync`.
    DeleteSecretSync,
    /// `secret-sync-sync-secrets`: a sync was queued, or ran.
    SecretSyncSyncSecrets,
    /// `secret-sync-import-secrets`: an import was queued, or ran.
    SecretSyncImportSecrets,
    /// `secret-sync-remove-secrets`: a remove was queued, or ran.
    SecretSyncRemoveSecrets,
    /// `get-app-connections`: a list of connections was read.
    GetAppConnections,
    /// `get-available-app-connections-details`: the connections usable in a project.
    GetAvailableAppConnectionsDetails,
    /// `get-app-connection`: one connection was read.
    GetAppConnection,
    /// `create-app-connection`.
    CreateAppConnection,
    /// `update-app-connection`.
    UpdateAppConnection,
    /// `delete-app-connection`.
    DeleteAppConnection,
}

const NAMES: &[(AuditEventKind, &str)] = &[
    (AuditEventKind::GetSecretSyncs, "get-secret-syncs"),
    (AuditEventKind::GetSecretSync, "get-secret-sync"),
    (AuditEventKind::CreateSecretSync, "create-secret-sync"),
    (AuditEventKind::UpdateSecretSync, "update-secret-sync"),
    (AuditEventKind::DeleteSecretSync, "delete-secret-sync"),
    (
        AuditEventKind::SecretSyncSyncSecrets,
        "secret-sync-sync-secrets",
    ),
    (
        AuditEventKind::SecretSyncImportSecrets,
        "secret-sync-import-secrets",
    ),
    (
        AuditEventKind::SecretSyncRemoveSecrets,
        "secret-sync-remove-secrets",
    ),
    (AuditEventKind::GetAppConnections, "get-app-connections"),
    (
        AuditEventKind::GetAvailableAppConnectionsDetails,
        "get-available-app-connections-details",
    ),
    (AuditEventKind::GetAppConnection, "get-app-connection"),
    (AuditEventKind::CreateAppConnection, "create-app-connection"),
    (AuditEventKind::UpdateAppConnection, "update-app-connection"),
    (AuditEventKind::DeleteAppConnection, "delete-app-connection"),
];

impl AuditEventKind {
    /// The KMS's name.
    ///
    /// ```
    /// assert_eq!(kms_sync_fleet::AuditEventKind::CreateSecretSync.as_str(), "create-secret-sync");
    /// ```
    pub fn as_str(self) -> &'static str {
        NAMES
            .iter()
            .find(|(kind, _)| *kind == self)
            .map_or("unknown", |(_, name)| name)
    }

    /// The kind of a KMS name, if it is one of these.
    ///
    /// ```
    /// assert!(kms_sync_fleet::AuditEventKind::parse("get-cmeks").is_none());
    /// ```
    pub fn parse(name: &str) -> Option<AuditEventKind> {
        NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(kind, _)| *kind)
    }
}

/// One event to record. Build it with [`new`](Self::new) and the setters; `metadata` must
/// hold ids, names, counts and key lists only — never a value or a credential.
///
/// ```
/// use kms_sync_fleet::{AuditEvent, AuditEventKind};
/// let event = AuditEvent::new(AuditEventKind::DeleteSecretSync, "ci")
///     .project("p1")
///     .sync("0b8e1f8e-3c1a-4c4e-9a7e-8d2f0c1b2a3d")
///     .destination("bitbucket")
///     .meta("removeSecrets", false);
/// assert_eq!(event.metadata["removeSecrets"], false);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEvent {
    /// What happened.
    pub kind: AuditEventKind,
    /// Who: the API's principal, or `fleet:<worker>` for a run.
    pub actor: String,
    /// The project, if any.
    pub project_id: Option<String>,
    /// The sync, if any.
    pub sync_id: Option<String>,
    /// The connection, if any.
    pub connection_id: Option<String>,
    /// The destination kind (or app), if any.
    pub destination: Option<String>,
    /// Value-free details: ids, counts, key lists, a run's status.
    pub metadata: Map<String, Value>,
}

impl AuditEvent {
    /// An event of `kind` by `actor`, nothing else set.
    ///
    /// ```
    /// let e = kms_sync_fleet::AuditEvent::new(kms_sync_fleet::AuditEventKind::GetSecretSync, "ci");
    /// assert!(e.project_id.is_none());
    /// ```
    pub fn new(kind: AuditEventKind, actor: impl Into<String>) -> AuditEvent {
        AuditEvent {
            kind,
            actor: actor.into(),
            project_id: None,
            sync_id: None,
            connection_id: None,
            destination: None,
            metadata: Map::new(),
        }
    }

    /// In `project`.
    ///
    /// ```
    /// # use kms_sync_fleet::{AuditEvent, AuditEventKind};
    /// assert_eq!(AuditEvent::new(AuditEventKind::GetSecretSyncs, "a").project("p").project_id.as_deref(), Some("p"));
    /// ```
    pub fn project(mut self, project: impl Into<String>) -> AuditEvent {
        self.project_id = Some(project.into());
        self
    }

    /// In `project`, if any.
    ///
    /// ```
    /// # use kms_sync_fleet::{AuditEvent, AuditEventKind};
    /// assert!(AuditEvent::new(AuditEventKind::GetSecretSyncs, "a").maybe_project(None).project_id.is_none());
    /// ```
    pub fn maybe_project(mut self, project: Option<&str>) -> AuditEvent {
        self.project_id = project.map(str::to_owned);
        self
    }

    /// About sync `id`.
    ///
    /// ```
    /// # use kms_sync_fleet::{AuditEvent, AuditEventKind};
    /// assert_eq!(AuditEvent::new(AuditEventKind::GetSecretSync, "a").sync("s").sync_id.as_deref(), Some("s"));
    /// ```
    pub fn sync(mut self, id: impl Into<String>) -> AuditEvent {
        self.sync_id = Some(id.into());
        self
    }

    /// About connection `id`.
    ///
    /// ```
    /// # use kms_sync_fleet::{AuditEvent, AuditEventKind};
    /// assert!(AuditEvent::new(AuditEventKind::GetAppConnection, "a").connection("c").connection_id.is_some());
    /// ```
    pub fn connection(mut self, id: impl Into<String>) -> AuditEvent {
        self.connection_id = Some(id.into());
        self
    }

    /// Of destination kind (or app) `kind`.
    ///
    /// ```
    /// # use kms_sync_fleet::{AuditEvent, AuditEventKind};
    /// assert!(AuditEvent::new(AuditEventKind::GetSecretSyncs, "a").destination("checkly").destination.is_some());
    /// ```
    pub fn destination(mut self, kind: impl Into<String>) -> AuditEvent {
        self.destination = Some(kind.into());
        self
    }

    /// With a metadata field (an id, a name, a count, a key list — never a value).
    ///
    /// ```
    /// # use kms_sync_fleet::{AuditEvent, AuditEventKind};
    /// let e = AuditEvent::new(AuditEventKind::GetSecretSyncs, "a").meta("count", 3);
    /// assert_eq!(e.metadata["count"], 3);
    /// ```
    pub fn meta(mut self, field: &str, value: impl Into<Value>) -> AuditEvent {
        self.metadata.insert(field.to_owned(), value.into());
        self
    }
}

/// A recorded event, as [`PgAuditSink::list`](crate::PgAuditSink::list) reads it back.
///
/// ```
/// # fn f(r: kms_sync_fleet::AuditRecord) { println!("{} {} by {}", r.id, r.event.kind.as_str(), r.event.actor); }
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// The row's id (grows with time).
    pub id: i64,
    /// When it was recorded.
    pub at: SystemTime,
    /// The event.
    pub event: AuditEvent,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_unique_kms_name_that_parses_back() {
        for (kind, name) in NAMES {
            assert_eq!(kind.as_str(), *name);
            assert_eq!(AuditEventKind::parse(name), Some(*kind));
        }
        let mut names: Vec<&str> = NAMES.iter().map(|(_, n)| *n).collect();
        names.dedup();
        assert_eq!(names.len(), NAMES.len());
    }
}
