//! The conformance suite against the fake GitHub, over real HTTP on loopback.

mod repository_secrets {
    use kms_sync_github::fake::FakeTarget;
    async fn target() -> FakeTarget {
        FakeTarget::repository().await
    }
    kms_sync_testkit::conformance_suite!(target);
}

mod environment_secrets {
    use kms_sync_github::fake::FakeTarget;
    async fn target() -> FakeTarget {
        FakeTarget::environment().await
    }
    kms_sync_testkit::conformance_suite!(target);
}

mod organization_secrets {
    use kms_sync_github::fake::FakeTarget;
    async fn target() -> FakeTarget {
        FakeTarget::organization().await
    }
    kms_sync_testkit::conformance_suite!(target);
}
