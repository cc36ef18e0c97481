//! The edge suite (see `kms_sync_testkit::edge`) against the GitHub fake behind a bending
//! proxy: writes answered by redirects and HTML, incomplete list answers, echoed errors.

mod repository_secrets {
    kms_sync_testkit::edge_suite!(kms_sync_github::fake::FakeTarget::repository);
}

mod environment_secrets {
    kms_sync_testkit::edge_suite!(kms_sync_github::fake::FakeTarget::environment);
}
