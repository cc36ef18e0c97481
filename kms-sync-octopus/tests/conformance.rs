//! The conformance suite against the fake Octopus Deploy, over real HTTP on loopback.

mod unscoped_variables {
    use kms_sync_octopus::fake::FakeTarget;
    async fn target() -> FakeTarget {
        FakeTarget::unscoped().await
    }
    kms_sync_testkit::conformance_suite!(target);
}

mod scoped_variables {
    use kms_sync_octopus::fake::FakeTarget;
    async fn target() -> FakeTarget {
        FakeTarget::scoped().await
    }
    kms_sync_testkit::conformance_suite!(target);
}
