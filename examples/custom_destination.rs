//! A destination written outside kms-sync, proved with the conformance suite.
//!
//! Run: `cargo run --example custom_destination`; the conformance suite runs it with one line
//! in `tests/custom_destination.rs`: `kms_sync_testkit::conformance_suite!(target);`.
//!
//! The "service" here is a key-value vault that never returns values (like a secrets
//! manager's write-only API): one call per key, keys `[A-Z0-9_]` only.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kms_sync::{
    apply_each, async_trait, Applied, ApplyContext, Capabilities, Change, ChangeKind, Destination,
    DestinationInfo, Error, ErrorKind, Outcome, RemoteEntry, RemoteValue, RequestCounter,
    RequestStats, Result, SecretValue, Snapshot, Verdict, WriteMode,
};
use kms_sync_testkit::ConformanceTarget;

#[derive(Debug, Default)]
pub struct Vault {
    entries: Mutex<BTreeMap<String, String>>,
    refused: Mutex<Vec<String>>,
}

#[derive(Debug, Default, Clone)]
pub struct VaultDestination {
    vault: Arc<Vault>,
    calls: Arc<RequestCounter>,
}

fn locked<T>(m: &Mutex<T>) -> Result<std::sync::MutexGuard<'_, T>> {
    m.lock()
        .map_err(|_| Error::unexpected("vault lock poisoned"))
}

#[async_trait]
impl Destination for VaultDestination {
    fn info(&self) -> DestinationInfo {
        let caps = Capabilities::new(WriteMode::PerKey)
            .with_key_rule("A-Z, 0-9 and _")
            .with_value_rule("non-empty")
            .with_default_concurrency(4);
        DestinationInfo::new("vault", "example", caps)
    }

    fn validate_key(&self, key: &str) -> Verdict {
        if !key.is_empty()
            && key
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        {
            Verdict::Valid
        } else {
            Verdict::Invalid("only A-Z, 0-9 and _".into())
        }
    }

    fn validate_value(&self, value: &SecretValue) -> Verdict {
        if value.is_empty() {
            Verdict::Invalid("empty".into())
        } else {
            Verdict::Valid
        }
    }

    async fn list(&self) -> Result<Snapshot> {
        self.calls.record("GET");
        let entries = locked(&self.vault.entries)?
            .keys()
            .map(|k| RemoteEntry::new(k.clone(), RemoteValue::Hidden).with_id(k.clone()))
            .collect();
        Ok(Snapshot::new(entries))
    }

    async fn apply(&self, changes: &[Change], context: &ApplyContext) -> Vec<Outcome> {
        apply_each(changes, context, |change| async move {
            self.calls.record(if change.kind == ChangeKind::Delete {
                "DELETE"
            } else {
                "PUT"
            });
            if locked(&self.vault.refused)?.contains(&change.key) {
                return Err(Error::new(ErrorKind::PermissionDenied, "the vault refused")
                    .with_key(&change.key));
            }
            let mut entries = locked(&self.vault.entries)?;
            match change.kind {
                ChangeKind::Delete => {
                    entries.remove(&change.key);
                }
                _ => {
                    entries.insert(
                        change.key.clone(),
                        change.value_or_error()?.expose_secret().to_owned(),
                    );
                }
            }
            Ok(Applied::with_id(change.key.clone()))
        })
        .await
    }

    fn request_stats(&self) -> RequestStats {
        self.calls.snapshot()
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

    fn credentials(&self) -> Vec<String> {
        Vec::new()
    }
}

pub async fn target() -> VaultDestination {
    VaultDestination::default()
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
