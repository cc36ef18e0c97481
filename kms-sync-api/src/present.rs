//! Registry records as the KMS answers them.

use std::collections::BTreeMap;
use std::time::SystemTime;

use kms_sync_core::{RunStatus, StatusRecord};
use kms_sync_fleet::{ConnectionRecord, SyncRecord};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::model::{AppConnection, SecretSync, SyncConnection, SyncEnvironment, SyncFolder};

/// The KMS's default environments: slug → name.
pub(crate) fn default_environment_names() -> BTreeMap<String, String> {
    [
        ("dev", "Development"),
        ("staging", "Staging"),
        ("prod", "Production"),
    ]
    .into_iter()
    .map(|(s, n)| (s.to_owned(), n.to_owned()))
    .collect()
}

/// What the answers need beyond the records.
#[derive(Debug, Clone)]
pub(crate) struct Presenter {
    pub org_id: String,
    pub environment_names: BTreeMap<String, String>,
}

/// A time as the KMS writes it: RFC 3339 in UTC with milliseconds.
pub(crate) fn time(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// A stable UUID (version 8) derived from `parts`: the same parts, the same id.
pub(crate) fn derived_id(parts: &[&str]) -> String {
    let mut hash = Sha256::new();
    hash.update(b"kms-sync-api");
    for part in parts {
        hash.update([0u8]);
        hash.update(part.as_bytes());
    }
    let digest = hash.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes)
        .into_uuid()
        .hyphenated()
        .to_string()
}

fn status_text(status: Option<RunStatus>) -> Option<String> {
    status.map(|s| {
        match s {
            RunStatus::Pending => "pending",
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
        }
        .to_owned()
    })
}

fn stored(json: &str) -> Result<Value, ApiError> {
    serde_json::from_str(json).map_err(|_| {
        ApiError::from_kms(&kms_sync_core::Error::unexpected(
            "a stored JSON object cannot be read",
        ))
    })
}

impl Presenter {
    /// A sync as the KMS answers it.
    pub fn sync(&self, record: &SyncRecord) -> Result<SecretSync, ApiError> {
        let project = record.project_id.as_deref().unwrap_or("");
        let folder_id = derived_id(&["folder", project, &record.environment, &record.secret_path]);
        let StatusRecord {
            sync_status,
            last_sync_job_id,
            last_sync_message,
            last_synced_at,
            import_status,
            last_import_job_id,
            last_import_message,
            last_imported_at,
            remove_status,
            last_remove_job_id,
            last_remove_message,
            last_removed_at,
        } = record.status.clone();
        Ok(SecretSync {
            id: record.id.to_string(),
            name: record.name.clone(),
            description: record.description.clone(),
            is_enabled: record.is_enabled,
            is_auto_sync_enabled: record.is_auto_sync_enabled,
            version: record.version,
            project_id: record.project_id.clone(),
            folder_id: folder_id.clone(),
            connection_id: record.connection.id.to_string(),
            created_at: time(record.created_at),
            updated_at: time(record.updated_at),
            sync_status: status_text(sync_status),
            last_sync_job_id,
            last_sync_message,
            last_synced_at: last_synced_at.map(time),
            import_status: status_text(import_status),
            last_import_job_id,
            last_import_message,
            last_imported_at: last_imported_at.map(time),
            remove_status: status_text(remove_status),
            last_remove_job_id,
            last_remove_message,
            last_removed_at: last_removed_at.map(time),
            sync_options: stored(&record.sync_options)?,
            connection: SyncConnection {
                app: record.connection.app.clone(),
                name: record.connection.name.clone(),
                id: record.connection.id.to_string(),
            },
            environment: SyncEnvironment {
                slug: record.environment.clone(),
                name: self
                    .environment_names
                    .get(&record.environment)
                    .cloned()
                    .unwrap_or_else(|| record.environment.clone()),
                id: derived_id(&["environment", project, &record.environment]),
            },
            folder: SyncFolder {
                id: folder_id,
                path: record.secret_path.clone(),
            },
            destination: record.destination.clone(),
            destination_config: stored(&record.destination_config)?,
        })
    }

    /// A connection as the KMS answers it: only the credentials' public fields.
    pub fn connection(&self, record: &ConnectionRecord) -> Result<AppConnection, ApiError> {
        Ok(AppConnection {
            id: record.id.to_string(),
            name: record.name.clone(),
            project_id: record.project_id.clone(),
            description: record.description.clone(),
            version: record.version,
            org_id: self.org_id.clone(),
            created_at: time(record.created_at),
            updated_at: time(record.updated_at),
            is_platform_managed_credentials: false,
            credentials_hash: record.credentials_hash.clone(),
            app: record.app.clone(),
            method: record.method.clone(),
            credentials: stored(&record.credentials)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_uuids() {
        let a = derived_id(&["environment", "p", "dev"]);
        assert_eq!(a, derived_id(&["environment", "p", "dev"]));
        assert_ne!(a, derived_id(&["environment", "p", "prod"]));
        assert_ne!(derived_id(&["a", "bc"]), derived_id(&["ab", "c"]));
        assert!(uuid::Uuid::parse_str(&a).is_ok());
    }

    #[test]
    fn times_have_milliseconds_and_utc() {
        let at = SystemTime::UNIX_EPOCH + std::time::Duration::from_millis(1_745_437_594_831);
        assert_eq!(time(at), "2025-04-23T19:46:34.831Z");
    }
}
