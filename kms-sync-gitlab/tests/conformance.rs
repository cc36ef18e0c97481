//! The conformance suite against the fake GitLab, over real HTTP on loopback: a project's
//! variables of scope `*` (addressed by full path) and a group's of scope `production`
//! (addressed by id), each beside same-key variables of another scope.

mod project_variables {
    use kms_sync_gitlab::fake::FakeTarget;
    async fn target() -> FakeTarget {
        FakeTarget::project().await
    }
    kms_sync_testkit::conformance_suite!(target);
}

mod group_environment_variables {
    use kms_sync_gitlab::fake::FakeTarget;
    async fn target() -> FakeTarget {
        FakeTarget::group_environment().await
    }
    kms_sync_testkit::conformance_suite!(target);
}
