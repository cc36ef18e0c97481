//! Randomized convergence (see `kms_sync_testkit::convergence`) against the Octopus fake.
//! `KMS_SYNC_SEEDS=<n>` runs more seeds; `KMS_SYNC_SEED=<s>` replays one.

use kms_sync_octopus::fake::FakeTarget;

mod unscoped {
    use super::FakeTarget;
    kms_sync_testkit::convergence_suite!(FakeTarget::unscoped);
}

mod scoped {
    use super::FakeTarget;
    kms_sync_testkit::convergence_suite!(FakeTarget::scoped);
}
