//! Randomized convergence (see `kms_sync_testkit::convergence`) against the Checkly fake.
//! `KMS_SYNC_SEEDS=<n>` runs more seeds; `KMS_SYNC_SEED=<s>` replays one.

use kms_sync_checkly::fake::FakeTarget;

mod account {
    use super::FakeTarget;
    kms_sync_testkit::convergence_suite!(FakeTarget::account);
}

mod group {
    use super::FakeTarget;
    kms_sync_testkit::convergence_suite!(FakeTarget::group);
}
