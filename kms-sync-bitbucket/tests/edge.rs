//! The edge suite (see `kms_sync_testkit::edge`) against the Bitbucket fake behind a bending
//! proxy: writes answered by redirects and HTML, incomplete list answers, echoed errors.

mod repository_variables {
    kms_sync_testkit::edge_suite!(kms_sync_bitbucket::fake::FakeTarget::repository);
}

mod deployment_variables {
    kms_sync_testkit::edge_suite!(kms_sync_bitbucket::fake::FakeTarget::deployment);
}
