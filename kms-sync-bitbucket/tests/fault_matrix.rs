//! The fault matrix (see `kms_sync_testkit::matrix`) against the Bitbucket fake, for
//! repository and deployment variables.

use kms_sync_bitbucket::fake::FakeTarget;

mod repository {
    use super::FakeTarget;
    kms_sync_testkit::fault_matrix!(FakeTarget::repository);
}

mod deployment {
    use super::FakeTarget;
    kms_sync_testkit::fault_matrix!(FakeTarget::deployment);
}
