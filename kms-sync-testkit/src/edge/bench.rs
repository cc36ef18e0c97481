//! What every edge case sets up: a proxy in front of the target's fake, the destination
//! pointed at the proxy, a source, a ledger and one syncer over them.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::Arc;

use kms_sync_core::{
    DeletionGuard, Fingerprinter, MemoryStateStore, RequestStats, SecretSet, SecretSource,
    StaticSource, SyncOptions, Syncer,
};

use super::{EdgeTarget, ListAnswer};
use crate::proxy::BendingProxy;

/// The key schema the edge cases sync with.
pub(super) const SCHEMA: &str = "KMS_{{secretKey}}";

/// Entries of someone else, seeded before a case's first sync and never to be touched.
pub(super) const FOREIGN: &[(&str, &str)] = &[("THEIRS_TOKEN", "theirs-1"), ("deploy_hook", "t2")];

pub(super) fn ok<T, E: Debug>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e:?}"),
    }
}

pub(super) fn secrets(pairs: &[(&str, &str)]) -> SecretSet {
    let mut set = SecretSet::new("test");
    for (key, value) in pairs {
        set.insert(*key, *value);
    }
    set
}

/// One case's world: the target, a proxy in front of its fake, and a syncer (with a ledger,
/// no deletion guard) whose destination goes through the proxy.
pub(super) struct Bench<'a, T: EdgeTarget + ?Sized> {
    pub target: &'a T,
    pub proxy: BendingProxy,
    pub source: Arc<StaticSource>,
    pub syncer: Syncer,
    pub answer: ListAnswer,
}

impl<'a, T: EdgeTarget + ?Sized> Bench<'a, T> {
    /// A bench whose source holds `pairs`; the foreign entries are seeded with `seed_foreign`.
    pub async fn new(target: &'a T, pairs: &[(&str, &str)], seed_foreign: bool) -> Self {
        if seed_foreign {
            for (key, value) in FOREIGN {
                ok(target.seed(key, value).await, "seeding a foreign entry");
            }
        }
        let proxy = BendingProxy::start(target.upstream_base_url()).await;
        let source = Arc::new(StaticSource::new(secrets(pairs)).named("edge"));
        let fingerprinter = ok(
            Fingerprinter::new(b"edge-cases-hmac-key-0123456789abcdef".to_vec()),
            "building the fingerprinter",
        );
        let options = SyncOptions::default().with_deletion_guard(DeletionGuard::disabled());
        let syncer = Syncer::builder()
            .id("edge")
            .source(source.clone())
            .destination(target.destination_via(&proxy.base_url()))
            .key_schema_template(SCHEMA)
            .options(options)
            .state(Arc::new(MemoryStateStore::default()), fingerprinter)
            .build();
        Bench {
            target,
            proxy,
            source,
            syncer: ok(syncer, "building the syncer"),
            answer: target.list_answer(),
        }
    }

    /// Every entry at the service, with its true value.
    pub async fn contents(&self) -> BTreeMap<String, String> {
        ok(self.target.contents().await, "reading the service")
    }

    /// What the service should hold: the foreign entries (if seeded) and the source under
    /// the schema.
    pub async fn model(&self, with_foreign: bool) -> BTreeMap<String, String> {
        let mut model: BTreeMap<String, String> = BTreeMap::new();
        if with_foreign {
            for (key, value) in FOREIGN {
                model.insert((*key).to_owned(), (*value).to_owned());
            }
        }
        for (key, value) in ok(self.source.load().await, "reading the source").iter() {
            model.insert(format!("KMS_{key}"), value.expose_secret().to_owned());
        }
        model
    }

    /// The writes the service (the fake) received since `before`.
    pub fn upstream_writes_since(&self, before: &RequestStats) -> u64 {
        self.target.requests_received().since(before).writes()
    }

    /// Whether the destination cannot read values back.
    pub fn hidden(&self) -> bool {
        !self
            .target
            .destination()
            .info()
            .capabilities
            .values_readable()
    }
}
