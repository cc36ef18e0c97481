//! The conformance suite against the fake Checkly, over real HTTP on loopback.

mod account_variables {
    use kms_sync_checkly::fake::FakeTarget;
    async fn target() -> FakeTarget {
        FakeTarget::account().await
    }
    kms_sync_testkit::conformance_suite!(target);
}

mod group_variables {
    use kms_sync_checkly::fake::FakeTarget;
    async fn target() -> FakeTarget {
        FakeTarget::group().await
    }
    kms_sync_testkit::conformance_suite!(target);
}
