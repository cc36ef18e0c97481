//! The fault matrix (see `kms_sync_testkit::matrix`) against the GitHub fake, for
//! repository and organization secrets.

use kms_sync_github::fake::FakeTarget;

mod repository {
    use super::FakeTarget;
    kms_sync_testkit::fault_matrix!(FakeTarget::repository);
}

mod organization {
    use super::FakeTarget;
    kms_sync_testkit::fault_matrix!(FakeTarget::organization);
}
