//! The conformance suite against the fake Bitbucket, over real HTTP on loopback.

mod repository_variables {
    use kms_sync_bitbucket::fake::FakeTarget;
    async fn target() -> FakeTarget {
        FakeTarget::repository().await
    }
    kms_sync_testkit::conformance_suite!(target);
}

mod deployment_variables {
    use kms_sync_bitbucket::fake::FakeTarget;
    async fn target() -> FakeTarget {
        FakeTarget::deployment().await
    }
    kms_sync_testkit::conformance_suite!(target);
}
