//! The edge suite (see `kms_sync_testkit::edge`) against the GitLab fake behind a bending
//! proxy: writes answered by redirects and HTML, list answers without their list or without
//! the entries' `environment_scope` (their identity), echoed errors.

mod project_variables {
    kms_sync_testkit::edge_suite!(kms_sync_gitlab::fake::FakeTarget::project);
}

mod group_environment_variables {
    kms_sync_testkit::edge_suite!(kms_sync_gitlab::fake::FakeTarget::group_environment);
}
