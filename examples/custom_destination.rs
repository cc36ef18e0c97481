//! A destination written outside kms-sync, proved with the conformance suite.
//!
//! Run: `cargo run --example custom_destination`; the conformance suite runs it with one line
//! in `tests/custom_destination.rs`: `kms_sync_testkit::conformance_suite!(target);`.
//!
//! The "service" here is a key-value vault that never returns values (like a secrets
//! manager's write-only API): one call per key, identifier keys, non-empty values. A destination says
//! what it is (`info`, `rules`), lists what it holds, and writes one change at a time; the
//! engine does the rest (ordering, concurrency, progress, deadline, ledger).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kms_sync::{
    async_trait, count_request, Applied, Capabilities, Change, ChangeKind, Destination,
    DestinationInfo, Error, ErrorKind, KeyRule, KeyRules, PerKeyWriter, RemoteEntry, RemoteValue,
    RequestCounter, RequestStats, Result, Snapshot, StandardRules, Writer,
};
use kms_sync_testkit::ConformanceTarget;

/// The service: its entries, keys it refuses, and its own request log.
#[derive(Debug, Default)]
pub struct Vault {
    entries: Mutex<BTreeMap<String, String>>,
    refused: Mutex<Vec<String>>,
    received: RequestCounter,
}

impl Vault {
    fn call(&self, method: &str) {
        self.received.record(method);
        count_request(method); // counted against the sync run making the call
    }
}

#[derive(Debug, Clone)]
pub struct VaultDestination {
    vault: Arc<Vault>,
    info: DestinationInfo,
    rules: StandardRules,
}

fn locked<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>> {
    m.lock()
        .map_err(|_| Error::unexpected("vault lock poisoned"))
}

#[async_trait]
impl Destination for VaultDestination {
    fn info(&self) -> &DestinationInfo {
        &self.info
    }
    fn rules(&self) -> &dyn KeyRules {
        &self.rules
    }
    async fn list(&self) -> Result<Snapshot> {
        self.vault.call("GET");
        let entries = locked(&self.vault.entries)?
            .keys()
            .map(|k| RemoteEntry::new(k.clone(), RemoteValue::Hidden).with_id(k.clone()))
            .collect();
        Ok(Snapshot::new(entries))
    }
    fn writer(&self) -> Writer<'_> {
        Writer::PerKey(self)
    }
}

#[async_trait]
impl PerKeyWriter for VaultDestination {
    async fn write(&self, change: &Change) -> Result<Applied> {
        let delete = change.kind == ChangeKind::Delete;
        self.vault.call(if delete { "DELETE" } else { "PUT" });
        if locked(&self.vault.refused)?.contains(&change.key) {
            return Err(Error::new(ErrorKind::PermissionDenied, "the vault refused"));
        }
        let mut entries = locked(&self.vault.entries)?;
        if delete {
            entries.remove(&change.key);
        } else {
            let value = change.value_or_error()?.expose_secret().to_owned();
            entries.insert(change.key.clone(), value);
        }
        Ok(Applied::with_id(change.key.clone()))
    }
}

#[async_trait]
impl ConformanceTarget for VaultDestination {
    fn destination(&self) -> Arc<dyn Destination> {
        Arc::new(self.clone())
    }
    async fn seed(&self, key: &str, value: &str) -> Result<()> {
        locked(&self.vault.entries)?.insert(key.into(), value.into());
        Ok(())
    }
    async fn contents(&self) -> Result<BTreeMap<String, String>> {
        Ok(locked(&self.vault.entries)?.clone())
    }
    async fn fail_writes_to(&self, key: &str) -> Result<()> {
        locked(&self.vault.refused)?.push(key.into());
        Ok(())
    }
    fn page_size(&self) -> usize {
        10
    }
    fn max_entries(&self) -> usize {
        usize::MAX
    }
    fn requests_received(&self) -> RequestStats {
        self.vault.received.snapshot()
    }
    fn credentials(&self) -> Vec<String> {
        Vec::new()
    }
}

pub async fn target() -> VaultDestination {
    let caps = Capabilities::new().with_default_concurrency(4);
    VaultDestination {
        vault: Arc::default(),
        info: DestinationInfo::new("vault", "example", caps),
        rules: StandardRules::new(KeyRule::Identifier).non_empty_values(),
    }
}

#[allow(dead_code)]
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let vault = target().await;
    let source = kms_sync::StaticSource::new(kms_sync::SecretSet::new("dev").with("API_KEY", "v"));
    let syncer = kms_sync::Syncer::builder()
        .source(Arc::new(source))
        .destination(Arc::new(vault))
        .build()?;
    println!("{}", syncer.sync().await?);
    println!("conformance suite: cargo test --test custom_destination");
    Ok(())
}
