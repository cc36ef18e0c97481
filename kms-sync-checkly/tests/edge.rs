//! The edge suite (see `kms_sync_testkit::edge`) against the Checkly fake behind a bending
//! proxy: writes answered by redirects and HTML, incomplete list answers, echoed errors.

mod account_variables {
    kms_sync_testkit::edge_suite!(kms_sync_checkly::fake::FakeTarget::account);
}

mod group_variables {
    kms_sync_testkit::edge_suite!(kms_sync_checkly::fake::FakeTarget::group);
}
