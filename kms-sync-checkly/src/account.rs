//! The account's environment variables: listed in pages, written one request per key.

use kms_sync_core::{
    async_trait, Applied, Change, ChangeKind, EntryState, ErrorKind, PerKeyWriter, RemoteEntry,
    RemoteValue, Result, SecretValue, Snapshot,
};

use crate::client::ChecklyClient;
use crate::model::Variable;

/// Why a non-secret variable under a managed key is rewritten even when its value is right.
pub(crate) const NOT_SECRET: &str = "stored as non-secret; rewritten as secret";

/// The account's variables (`/v1/variables`).
#[derive(Debug, Clone)]
pub(crate) struct AccountVariables {
    client: ChecklyClient,
}

impl AccountVariables {
    pub fn new(client: ChecklyClient) -> Self {
        AccountVariables { client }
    }

    /// Every account variable, all pages. Secret values are hidden; a non-secret variable
    /// must be replaced (written again as secret).
    pub async fn list(&self) -> Result<Snapshot> {
        let entries = self
            .client
            .variables()
            .await?
            .into_iter()
            .map(entry)
            .collect();
        Ok(Snapshot::new(entries))
    }

    /// A create; answered 409 (created elsewhere meanwhile), an update instead.
    async fn create(&self, key: &str, value: &SecretValue) -> Result<Applied> {
        match self.client.create(key, value).await {
            Ok(()) => Ok(Applied::with_id(key)),
            Err(e) if e.kind() == ErrorKind::Conflict => {
                self.client.update(key, value).await?;
                Ok(Applied::with_id(key).noted("created elsewhere meanwhile; updated instead"))
            }
            Err(e) => Err(e),
        }
    }

    /// An update; answered 404 (deleted elsewhere meanwhile), a create instead.
    async fn update(&self, key: &str, value: &SecretValue) -> Result<Applied> {
        match self.client.update(key, value).await {
            Ok(()) => Ok(Applied::with_id(key)),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.client.create(key, value).await?;
                Ok(Applied::with_id(key).noted("deleted elsewhere meanwhile; created again"))
            }
            Err(e) => Err(e),
        }
    }

    /// A delete; answered 404, already done.
    async fn delete(&self, key: &str) -> Result<Applied> {
        match self.client.delete(key).await {
            Ok(()) => Ok(Applied::default()),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Ok(Applied::default().noted("already gone"))
            }
            Err(e) => Err(e),
        }
    }
}

fn entry(variable: Variable) -> RemoteEntry {
    let value = match (variable.secret, variable.value) {
        (false, Some(value)) => RemoteValue::Known(SecretValue::new(value)),
        _ => RemoteValue::Hidden,
    };
    let entry = RemoteEntry::new(variable.key.clone(), value).with_id(variable.key);
    if variable.secret {
        entry
    } else {
        entry.with_state(EntryState::must_replace(NOT_SECRET))
    }
}

#[async_trait]
impl PerKeyWriter for AccountVariables {
    async fn write(&self, change: &Change) -> Result<Applied> {
        let key = change.key.as_str();
        let result = match change.kind {
            ChangeKind::Create => self.create(key, change.value_or_error()?).await,
            ChangeKind::Update => self.update(key, change.value_or_error()?).await,
            ChangeKind::Delete => self.delete(key).await,
        };
        result.map_err(|e| e.with_key(key))
    }
}
