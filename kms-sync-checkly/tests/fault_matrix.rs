//! The fault matrix (see `kms_sync_testkit::matrix`) against the Checkly fake, for account
//! variables and a check group's variables.

use kms_sync_checkly::fake::FakeTarget;

mod account {
    use super::FakeTarget;
    kms_sync_testkit::fault_matrix!(FakeTarget::account);
}

mod group {
    use super::FakeTarget;
    kms_sync_testkit::fault_matrix!(FakeTarget::group);
}
