//! The fault matrix (see `kms_sync_testkit::matrix`) against the GitLab fake, for project
//! and group variables.

use kms_sync_gitlab::fake::FakeTarget;

mod project {
    use super::FakeTarget;
    kms_sync_testkit::fault_matrix!(FakeTarget::project);
}

mod group_environment {
    use super::FakeTarget;
    kms_sync_testkit::fault_matrix!(FakeTarget::group_environment);
}
