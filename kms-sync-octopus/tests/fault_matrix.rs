//! The fault matrix (see `kms_sync_testkit::matrix`) against the Octopus fake, for unscoped
//! and scoped project variables.

use kms_sync_octopus::fake::FakeTarget;

mod unscoped {
    use super::FakeTarget;
    kms_sync_testkit::fault_matrix!(FakeTarget::unscoped);
}

mod scoped {
    use super::FakeTarget;
    kms_sync_testkit::fault_matrix!(FakeTarget::scoped);
}
