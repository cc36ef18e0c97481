//! The edge cases: a service that answers oddly — a write answered by a redirect or an HTML
//! page, a list answer missing its list or its entries' ids, an error that echoes the
//! request — met through a [`BendingProxy`](crate::proxy::BendingProxy) in front of the
//! destination's own fake, so every destination (ours and third parties') runs them without
//! writing fault code of its own.
//!
//! A target implements [`EdgeTarget`]: the fake's base URL, the same destination pointed at
//! another base URL (the proxy's), and what its list answer looks like ([`ListAnswer`]).
//! Every [`FakeScope`](crate::fake::FakeScope) is one as soon as it declares
//! [`destination_via`](crate::fake::FakeScope::destination_via) and
//! [`list_answer`](crate::fake::FakeScope::list_answer). Then one line runs them all:
//!
//! ```ignore
//! mod repository {
//!     kms_sync_testkit::edge_suite!(kms_sync_bitbucket::fake::FakeTarget::repository);
//! }
//! ```
//!
//! ```
//! assert!(kms_sync_testkit::edge::CASES.contains(&"error_echo_leaks_nothing"));
//! ```

mod bench;
mod confirm;
mod echo;
mod reads;

use std::sync::Arc;

use kms_sync_core::Destination;

use crate::target::ConformanceTarget;

pub use confirm::{write_answered_by_html_is_unconfirmed, write_redirect_is_unconfirmed};
pub use echo::error_echo_leaks_nothing;
pub use reads::{
    entry_without_id_refuses, entry_without_value_refuses, list_missing_field_refuses,
};

/// What a destination's list answer looks like, so the edge cases can bend it: where it is
/// served, where its entries are, which field of an entry is its id and which its value.
///
/// ```
/// use kms_sync_testkit::edge::ListAnswer;
/// let page = ListAnswer::new("/2.0/repositories/acme/api/pipelines_config/variables", "values", "value")
///     .with_id("uuid");
/// assert_eq!(page.ids_path().as_deref(), Some("values[*].uuid"));
/// assert_eq!(page.values_path(), "values[*].value");
/// let bare = ListAnswer::new("/v1/variables", "", "value");
/// assert_eq!(bare.values_path(), "[*].value");
/// assert!(bare.ids_path().is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListAnswer {
    /// The path of the `GET` that lists the scope (every page of it starts with this).
    pub path: String,
    /// The JSON path of the entry list in the answer: a field (`values`,
    /// `environmentVariables`, `Variables`), or empty when the answer is a bare array.
    pub entries: String,
    /// The field of an entry holding the id a write must send back, if entries have one.
    pub id_field: Option<String>,
    /// The field of an entry holding its value.
    pub value_field: String,
    /// Whether one write replaces the whole set (what the read lacks, the write destroys).
    pub whole_set: bool,
}

impl ListAnswer {
    /// A list served at `path` with its entries at `entries` (empty: a bare array) and each
    /// entry's value in `value_field`; no id field, not a whole set.
    pub fn new(
        path: impl Into<String>,
        entries: impl Into<String>,
        value_field: impl Into<String>,
    ) -> ListAnswer {
        ListAnswer {
            path: path.into(),
            entries: entries.into(),
            id_field: None,
            value_field: value_field.into(),
            whole_set: false,
        }
    }

    /// Entries carry their id in `field`.
    pub fn with_id(mut self, field: impl Into<String>) -> ListAnswer {
        self.id_field = Some(field.into());
        self
    }

    /// One write replaces the whole set.
    pub fn whole_set(mut self) -> ListAnswer {
        self.whole_set = true;
        self
    }

    /// The JSON path of every entry's id (`values[*].uuid`), if entries have one.
    pub fn ids_path(&self) -> Option<String> {
        self.id_field.as_ref().map(|id| self.each(id))
    }

    /// The JSON path of every entry's value (`values[*].value`).
    pub fn values_path(&self) -> String {
        self.each(&self.value_field)
    }

    fn each(&self, field: &str) -> String {
        format!("{}[*].{field}", self.entries)
    }
}

/// A [`ConformanceTarget`] that can be put behind a proxy: the fake's base URL, the same
/// destination pointed at another base URL, and the shape of its list answer. Every
/// [`FakeScope`](crate::fake::FakeScope) that declares the last two is one; any other
/// target implements it directly.
///
/// ```ignore
/// impl EdgeTarget for MyTarget {
///     fn upstream_base_url(&self) -> String {
///         self.fake.base_url()
///     }
///     fn destination_via(&self, base_url: &str) -> Arc<dyn Destination> {
///         Arc::new(MyDestination::new(self.config.clone(), base_url))
///     }
///     fn list_answer(&self) -> ListAnswer {
///         ListAnswer::new("/v1/secrets", "items", "value").with_id("id")
///     }
/// }
/// ```
pub trait EdgeTarget: ConformanceTarget + 'static {
    /// The base URL of the service behind the destination (the fake), which the proxy
    /// forwards to.
    fn upstream_base_url(&self) -> String;

    /// The same destination (same scope, same credentials, the fake's client settings),
    /// pointed at `base_url` instead. Each call builds a new one.
    fn destination_via(&self, base_url: &str) -> Arc<dyn Destination>;

    /// What the destination's list answer looks like.
    fn list_answer(&self) -> ListAnswer;
}

/// Every edge case, by name: the list [`for_each_edge_case!`](crate::for_each_edge_case)
/// declares, from which [`edge_suite!`](crate::edge_suite) generates one test per name.
pub const CASES: &[&str] = crate::for_each_edge_case!(names_of!());

/// Calls a macro with the name of every edge case, the one place the list is declared:
/// `for_each_edge_case!(path::to::callback!(args…))` expands to
/// `path::to::callback! { args… write_redirect_is_unconfirmed, … }` (each name is a function
/// in [`edge`](crate::edge)). [`CASES`](crate::edge::CASES) and
/// [`edge_suite!`](crate::edge_suite) are built from it.
///
/// ```
/// macro_rules! count {
///     ($($case:ident),* $(,)?) => { [$(stringify!($case)),*].len() };
/// }
/// assert_eq!(kms_sync_testkit::for_each_edge_case!(count!()), kms_sync_testkit::edge::CASES.len());
/// ```
#[macro_export]
macro_rules! for_each_edge_case {
    ($($callback:ident)::+ ! ( $($args:tt)* )) => {
        $($callback)::+ ! { $($args)*
            write_redirect_is_unconfirmed,
            write_answered_by_html_is_unconfirmed,
            list_missing_field_refuses,
            entry_without_id_refuses,
            entry_without_value_refuses,
            error_echo_leaks_nothing,
        }
    };
}

/// Generates one `#[test]` per edge case for a target factory: an `async fn` taking no
/// arguments and returning an [`EdgeTarget`](crate::edge::EdgeTarget). Call it inside a
/// module to run the cases for several configurations side by side.
///
/// ```ignore
/// mod group {
///     kms_sync_testkit::edge_suite!(kms_sync_checkly::fake::FakeTarget::group);
/// }
/// ```
#[macro_export]
macro_rules! edge_suite {
    ($factory:path) => {
        $crate::for_each_edge_case!($crate::edge_suite!(@cases $factory;));
    };
    (@cases $factory:path; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::run_case(async {
                    let target = $factory().await;
                    $crate::edge::$case(&target).await;
                });
            }
        )*
    };
}
