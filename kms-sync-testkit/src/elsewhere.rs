//! A destination wrapper that claims another identity: the same service and scope under
//! another name, as a second destination sharing a sync's ledger would look to the engine.

use std::sync::Arc;

use kms_sync_core::{
    async_trait, Destination, DestinationInfo, KeyRules, Result, Snapshot, Writer,
};

/// Delegates everything to `inner` but reports its identity with one more field
/// (`conformance=elsewhere`), so a ledger bound to `inner` is not its ledger.
pub(crate) struct Elsewhere {
    inner: Arc<dyn Destination>,
    info: DestinationInfo,
}

impl Elsewhere {
    pub fn new(inner: Arc<dyn Destination>) -> Elsewhere {
        let mut info = inner.info().clone();
        info.identity = info.identity.clone().with("conformance", "elsewhere");
        Elsewhere { inner, info }
    }
}

#[async_trait]
impl Destination for Elsewhere {
    fn info(&self) -> &DestinationInfo {
        &self.info
    }
    fn rules(&self) -> &dyn KeyRules {
        self.inner.rules()
    }
    async fn list(&self) -> Result<Snapshot> {
        self.inner.list().await
    }
    fn writer(&self) -> Writer<'_> {
        self.inner.writer()
    }
    async fn exclusive_scope(&self) -> Result<Option<String>> {
        self.inner.exclusive_scope().await
    }
}
