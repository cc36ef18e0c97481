//! One scope of a fake as the suites see it: [`FakeScope`], and the
//! [`ConformanceTarget`] and [`FaultTarget`] every scope is.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::{async_trait, Destination, RequestStats, Result};

use crate::edge::{EdgeTarget, ListAnswer};
use crate::matrix::{FaultTarget, Paging};
use crate::{ConformanceTarget, Faults};

/// One scope of a stateful fake (a repository's variables, a Checkly group, an Octopus
/// project and scope) with a destination pointed at it: the service-specific half of a
/// [`ConformanceTarget`] and a [`FaultTarget`]. Every `FakeScope` is both, so the suites'
/// macros (`conformance_suite!`, `fault_matrix!`, `convergence_suite!`,
/// `hostile_input_suite!`) take it as it is.
///
/// The back door is synchronous (a fake's state is behind a lock); the testkit supplies the
/// rest: the request accounting from [`faults`](Self::faults), the per-attempt timeout of
/// [`fake_client_settings`](crate::fake_client_settings), no limit on entries unless said.
/// Declaring [`destination_via`](Self::destination_via) and
/// [`list_answer`](Self::list_answer) makes it an [`EdgeTarget`] too, for
/// [`edge_suite!`](crate::edge_suite).
/// The methods share their names with those of the traits: where all are in scope,
/// call them as `ConformanceTarget::seed(&target, …)`.
///
/// ```
/// use std::collections::BTreeMap;
/// use std::sync::Arc;
/// use axum::Router;
/// use kms_sync_core::{Destination, MemoryDestination};
/// use kms_sync_testkit::fake::{FakeScope, FakeService};
/// use kms_sync_testkit::matrix::{FaultTarget, Paging};
/// use kms_sync_testkit::{ConformanceTarget, Faults};
///
/// /// A toy: the destination keeps its entries in memory, the fake only counts requests.
/// #[derive(Debug)]
/// struct Toy {
///     service: FakeService<()>,
///     memory: MemoryDestination,
/// }
///
/// impl FakeScope for Toy {
///     fn destination(&self) -> Arc<dyn Destination> {
///         Arc::new(self.memory.clone())
///     }
///     fn faults(&self) -> &Faults {
///         self.service.faults()
///     }
///     fn seed(&self, key: &str, value: &str) {
///         self.memory.insert(key, value).unwrap();
///     }
///     fn contents(&self) -> BTreeMap<String, String> {
///         let entries = self.memory.contents().unwrap();
///         entries.into_iter().map(|(k, v)| (k, v.expose_secret().to_owned())).collect()
///     }
///     fn fail_writes_to(&self, key: &str) {
///         self.memory.fail_writes_to(key, kms_sync_core::ErrorKind::PermissionDenied).unwrap();
///     }
///     fn credentials(&self) -> Vec<String> {
///         Vec::new()
///     }
///     fn page_size(&self) -> usize {
///         10
///     }
///     fn list_path(&self) -> String {
///         "/entries".to_owned()
///     }
///     fn paging(&self) -> Paging {
///         Paging::OneResponse
///     }
///     fn empty_page(&self, _total: usize) -> String {
///         "[]".to_owned()
///     }
/// }
///
/// fn suites_take<T: ConformanceTarget + FaultTarget>(_: &T) {}
///
/// kms_sync_testkit::run_case(async {
///     let toy = Toy {
///         service: FakeService::start((), Router::new()).await,
///         memory: MemoryDestination::builder().build(),
///     };
///     suites_take(&toy);
///     assert_eq!(ConformanceTarget::max_entries(&toy), usize::MAX);
/// });
/// ```
pub trait FakeScope: Send + Sync + 'static {
    /// The destination under test, pointed at the fake. Every call returns the same
    /// instance (shared counters).
    fn destination(&self) -> Arc<dyn Destination>;

    /// The fault schedule and request log of the fake's server.
    fn faults(&self) -> &Faults;

    /// Puts an entry into the scope directly, as another writer would.
    fn seed(&self, key: &str, value: &str);

    /// Every entry of the scope, with its true value.
    fn contents(&self) -> BTreeMap<String, String>;

    /// Refuses (non-retryably) every later write of `key`, or of a batch containing it.
    fn fail_writes_to(&self, key: &str);

    /// The credentials the destination sends, in every form they travel in.
    fn credentials(&self) -> Vec<String>;

    /// How many entries one list page holds.
    fn page_size(&self) -> usize;

    /// The most entries the scope holds; no limit unless overridden.
    fn max_entries(&self) -> usize {
        usize::MAX
    }

    /// The path of the `GET` that lists the scope (see [`FaultTarget::list_path`]).
    fn list_path(&self) -> String;

    /// How the destination reads the scope.
    fn paging(&self) -> Paging;

    /// An empty page from a service claiming `total` entries (see
    /// [`FaultTarget::empty_page`]).
    fn empty_page(&self, total: usize) -> String;

    /// The per-attempt timeout the destination was built with; by default that of
    /// [`fake_client_settings`](crate::fake_client_settings).
    fn attempt_timeout(&self) -> Duration {
        crate::FAKE_ATTEMPT_TIMEOUT
    }

    /// The same destination (scope, credentials, the fake's client settings) pointed at
    /// `base_url` instead of the fake: a [`BendingProxy`](crate::proxy::BendingProxy) in
    /// front of it, for [`edge_suite!`](crate::edge_suite). `None` (the default): the scope
    /// cannot be put behind a proxy, and the edge suite says so.
    fn destination_via(&self, base_url: &str) -> Option<Arc<dyn Destination>> {
        let _ = base_url;
        None
    }

    /// What the destination's list answer looks like, for
    /// [`edge_suite!`](crate::edge_suite); `None` by default (see
    /// [`destination_via`](Self::destination_via)).
    fn list_answer(&self) -> Option<ListAnswer> {
        None
    }
}

const NOT_AN_EDGE_TARGET: &str = "to run the edge suite, implement FakeScope::destination_via \
     and FakeScope::list_answer for this scope";

impl<T: FakeScope> EdgeTarget for T {
    fn upstream_base_url(&self) -> String {
        match FakeScope::faults(self).base_url() {
            Some(url) => url,
            None => panic!("the fake's faults belong to no running FaultServer"),
        }
    }

    fn destination_via(&self, base_url: &str) -> Arc<dyn Destination> {
        match FakeScope::destination_via(self, base_url) {
            Some(destination) => destination,
            None => panic!("{NOT_AN_EDGE_TARGET}"),
        }
    }

    fn list_answer(&self) -> ListAnswer {
        match FakeScope::list_answer(self) {
            Some(answer) => answer,
            None => panic!("{NOT_AN_EDGE_TARGET}"),
        }
    }
}

#[async_trait]
impl<T: FakeScope> ConformanceTarget for T {
    fn destination(&self) -> Arc<dyn Destination> {
        FakeScope::destination(self)
    }

    async fn seed(&self, key: &str, value: &str) -> Result<()> {
        FakeScope::seed(self, key, value);
        Ok(())
    }

    async fn contents(&self) -> Result<BTreeMap<String, String>> {
        Ok(FakeScope::contents(self))
    }

    async fn fail_writes_to(&self, key: &str) -> Result<()> {
        FakeScope::fail_writes_to(self, key);
        Ok(())
    }

    fn page_size(&self) -> usize {
        FakeScope::page_size(self)
    }

    fn max_entries(&self) -> usize {
        FakeScope::max_entries(self)
    }

    fn requests_received(&self) -> RequestStats {
        FakeScope::faults(self).request_stats()
    }

    fn credentials(&self) -> Vec<String> {
        FakeScope::credentials(self)
    }
}

impl<T: FakeScope> FaultTarget for T {
    fn faults(&self) -> &Faults {
        FakeScope::faults(self)
    }

    fn list_path(&self) -> String {
        FakeScope::list_path(self)
    }

    fn paging(&self) -> Paging {
        FakeScope::paging(self)
    }

    fn empty_page(&self, total: usize) -> String {
        FakeScope::empty_page(self, total)
    }

    fn attempt_timeout(&self) -> Duration {
        FakeScope::attempt_timeout(self)
    }
}
