//! The edge suite (see `kms_sync_testkit::edge`) against the Octopus fake behind a bending
//! proxy: writes answered by redirects and HTML, incomplete list answers, echoed errors.

mod unscoped_variables {
    kms_sync_testkit::edge_suite!(kms_sync_octopus::fake::FakeTarget::unscoped);
}

mod scoped_variables {
    kms_sync_testkit::edge_suite!(kms_sync_octopus::fake::FakeTarget::scoped);
}
