//! Randomized convergence (see `kms_sync_testkit::convergence`) against the GitHub fake.
//! `KMS_SYNC_SEEDS=<n>` runs more seeds; `KMS_SYNC_SEED=<s>` replays one.

use kms_sync_github::fake::FakeTarget;

mod repository {
    use super::FakeTarget;
    kms_sync_testkit::convergence_suite!(FakeTarget::repository);
}

mod organization {
    use super::FakeTarget;
    kms_sync_testkit::convergence_suite!(FakeTarget::organization);
}
