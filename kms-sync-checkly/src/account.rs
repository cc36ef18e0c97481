//! The account's environment variables: listed in pages, written one request per key.

use kms_sync_core::{
    async_trait, create_or_update, Applied, Change, ChangeKind, Destination, DestinationInfo,
    ErrorKind, KeyRules, PerKeyWriter, Result, SecretValue, Snapshot, Writer,
};

use crate::destination::Common;
use crate::listed::Listed;
use crate::model::Account;

/// The scope named in the errors of an incomplete read.
const SCOPE: &str = "the account's variables";

/// Syncs to the account's environment variables (`/v1/variables`): listed in pages, written
/// one request per key. A create answered 409 (created elsewhere meanwhile) becomes an
/// update and an update answered 404 (deleted meanwhile) a create
/// ([`create_or_update`]); a delete answered 404 is done. Built by
/// [`ChecklyDestinationBuilder::build`](crate::ChecklyDestinationBuilder::build) for a config
/// without a group; clones share the client.
///
/// ```
/// use kms_sync_checkly::{ChecklyConfig, ChecklyConnection, ChecklyDestination};
/// use kms_sync_core::{Destination, WriteMode};
/// let connection = ChecklyConnection::new("cu_example")?;
/// let built = ChecklyDestination::builder(connection, ChecklyConfig::account("3c90c3cc-0d44-4b50-8888-8dd25736052a")).build()?;
/// let ChecklyDestination::Account(account) = built else { unreachable!("no group configured") };
/// assert_eq!(account.writer().mode(), WriteMode::PerKey);
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct AccountVariables {
    common: Common,
}

impl AccountVariables {
    pub(crate) fn new(common: Common) -> Self {
        AccountVariables { common }
    }

    /// As [`ChecklyDestination::validate_connection`](crate::ChecklyDestination::validate_connection).
    ///
    /// # Errors
    ///
    /// As [`ChecklyDestination::validate_connection`](crate::ChecklyDestination::validate_connection).
    pub async fn validate_connection(&self) -> Result<Account> {
        self.common.validate_connection().await
    }

    /// Every account variable, all pages. Secret values are hidden; a non-secret variable
    /// must be replaced (written again as secret).
    async fn list_inner(&self) -> Result<Snapshot> {
        let entries = self
            .common
            .client
            .variables()
            .await?
            .iter()
            .map(|raw| Listed::from_json(raw, SCOPE).map(Listed::entry))
            .collect::<Result<Vec<_>>>()?;
        Ok(Snapshot::new(entries))
    }

    async fn create(&self, key: &str, value: &SecretValue) -> Result<Applied> {
        self.common.client.create(key, value).await?;
        Ok(Applied::with_id(key))
    }

    async fn update(&self, key: &str, value: &SecretValue) -> Result<Applied> {
        self.common.client.update(key, value).await?;
        Ok(Applied::with_id(key))
    }

    /// A delete; answered 404, already done.
    async fn delete(&self, key: &str) -> Result<Applied> {
        match self.common.client.delete(key).await {
            Ok(()) => Ok(Applied::default()),
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Ok(Applied::default().noted("already gone"))
            }
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl Destination for AccountVariables {
    fn info(&self) -> &DestinationInfo {
        &self.common.info
    }

    fn rules(&self) -> &dyn KeyRules {
        &self.common.rules
    }

    async fn list(&self) -> Result<Snapshot> {
        self.list_inner()
            .await
            .map_err(|e| e.with_destination(self.common.info.to_string()))
    }

    fn writer(&self) -> Writer<'_> {
        Writer::PerKey(self)
    }
}

#[async_trait]
impl PerKeyWriter for AccountVariables {
    async fn write(&self, change: &Change) -> Result<Applied> {
        let key = change.key.as_str();
        let result = match change.kind {
            ChangeKind::Delete => self.delete(key).await,
            kind => {
                let value = change.value_or_error()?;
                let create = || self.create(key, value);
                create_or_update(kind, create, || self.update(key, value)).await
            }
        };
        result.map_err(|e| e.with_key(key))
    }
}
