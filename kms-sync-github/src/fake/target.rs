//! One scope of a [`FakeGithub`] as the testkit's suites see it.

use std::collections::BTreeMap;
use std::sync::Arc;

use kms_sync_core::Destination;
use kms_sync_testkit::fake::{must, FakeScope};
use kms_sync_testkit::matrix::Paging;
use kms_sync_testkit::{Faults, ListAnswer};
use serde_json::json;

use super::{FakeGithub, ENVIRONMENT, FAKE_TOKEN, ORG, OWNER, REPO, REPO_ID};
use crate::config::{GithubConfig, Visibility};
use crate::destination::GithubDestination;

/// Secrets per list page of the suites' destinations: small, so that their lists span
/// several pages within GitHub's count limits.
pub const SUITE_PAGE_SIZE: usize = 10;

/// Which list of the fake a target syncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Repository,
    Environment,
    Organization,
}

/// The conformance suite's view of one secrets list of a [`FakeGithub`].
///
/// ```
/// use kms_sync_github::fake::FakeTarget;
/// use kms_sync_testkit::fake::FakeScope;
/// kms_sync_testkit::run_case(async {
///     let target = FakeTarget::environment().await;
///     target.seed("THEIRS", "x");
///     assert_eq!(target.contents().len(), 1);
///     assert_eq!(target.max_entries(), 100);
/// });
/// ```
#[derive(Debug)]
pub struct FakeTarget {
    fake: FakeGithub,
    kind: Kind,
    config: GithubConfig,
    destination: Arc<GithubDestination>,
}

impl FakeTarget {
    /// Repository secrets of `acme/api`.
    pub async fn repository() -> FakeTarget {
        FakeTarget::over(Kind::Repository, GithubConfig::repository(OWNER, REPO)).await
    }

    /// Secrets of the environment `production` of `acme/api`.
    pub async fn environment() -> FakeTarget {
        let config = GithubConfig::environment(OWNER, REPO, ENVIRONMENT);
        FakeTarget::over(Kind::Environment, config).await
    }

    /// Organization secrets of `acme-org`, visibility `selected` with one repository.
    pub async fn organization() -> FakeTarget {
        let config = GithubConfig::organization(ORG, Visibility::Selected)
            .with_selected_repositories([REPO_ID]);
        FakeTarget::over(Kind::Organization, config).await
    }

    async fn over(kind: Kind, config: GithubConfig) -> FakeTarget {
        let fake = FakeGithub::start().await;
        let destination = Arc::new(must(
            FakeTarget::build(&fake, &config, &fake.base_url()),
            "building the destination",
        ));
        FakeTarget {
            fake,
            kind,
            config,
            destination,
        }
    }

    fn build(
        fake: &FakeGithub,
        config: &GithubConfig,
        base_url: &str,
    ) -> kms_sync_core::Result<GithubDestination> {
        GithubDestination::builder(fake.connection(), config.clone())
            .settings(kms_sync_testkit::fake_client_settings(base_url))
            .page_size(SUITE_PAGE_SIZE)
            .build()
    }

    /// The fake behind the target.
    pub fn fake(&self) -> &FakeGithub {
        &self.fake
    }
}

impl FakeScope for FakeTarget {
    fn destination(&self) -> Arc<dyn Destination> {
        self.destination.clone()
    }

    fn faults(&self) -> &Faults {
        self.fake.faults()
    }

    fn seed(&self, key: &str, value: &str) {
        match self.kind {
            Kind::Repository => self.fake.seed_repo(OWNER, REPO, key, value),
            Kind::Environment => self.fake.seed_env(OWNER, REPO, ENVIRONMENT, key, value),
            Kind::Organization => self.fake.seed_org(ORG, key, value),
        }
    }

    fn contents(&self) -> BTreeMap<String, String> {
        match self.kind {
            Kind::Repository => self.fake.repo_secrets(OWNER, REPO),
            Kind::Environment => self.fake.env_secrets(OWNER, REPO, ENVIRONMENT),
            Kind::Organization => self.fake.org_secrets(ORG),
        }
    }

    fn fail_writes_to(&self, key: &str) {
        self.fake.fail_writes_to(key);
    }

    fn credentials(&self) -> Vec<String> {
        vec![FAKE_TOKEN.to_owned()]
    }

    fn page_size(&self) -> usize {
        SUITE_PAGE_SIZE
    }

    fn max_entries(&self) -> usize {
        self.config.max_secrets()
    }

    fn list_path(&self) -> String {
        self.config.secrets_path()
    }

    fn paging(&self) -> Paging {
        Paging::Counted
    }

    fn empty_page(&self, total: usize) -> String {
        json!({"total_count": total, "secrets": []}).to_string()
    }

    fn destination_via(&self, base_url: &str) -> Option<Arc<dyn Destination>> {
        let destination = FakeTarget::build(&self.fake, &self.config, base_url);
        Some(Arc::new(must(destination, "building the destination")))
    }

    fn list_answer(&self) -> Option<ListAnswer> {
        Some(ListAnswer::new(self.list_path(), "secrets", "value"))
    }
}
