//! Randomized convergence (see `kms_sync_testkit::convergence`) against the GitLab fake.
//! `KMS_SYNC_SEEDS=<n>` runs more seeds; `KMS_SYNC_SEED=<s>` replays one.

use kms_sync_gitlab::fake::FakeTarget;

mod project {
    use super::FakeTarget;
    kms_sync_testkit::convergence_suite!(FakeTarget::project);
}

mod group_environment {
    use super::FakeTarget;
    kms_sync_testkit::convergence_suite!(FakeTarget::group_environment);
}
