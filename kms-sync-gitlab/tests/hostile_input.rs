//! Hostile list bodies (see `kms_sync_testkit::hostile`) against the GitLab destination's
//! parsers: an answer or a clear error, never a panic.

use kms_sync_gitlab::fake::FakeTarget;

const FIELDS: &[&str] = &[
    "key",
    "value",
    "environment_scope",
    "variable_type",
    "protected",
    "masked",
    "hidden",
    "raw",
    "description",
    "message",
    "error",
];

mod project {
    use super::{FakeTarget, FIELDS};
    kms_sync_testkit::hostile_input_suite!(FakeTarget::project, FIELDS);
}

mod group_environment {
    use super::{FakeTarget, FIELDS};
    kms_sync_testkit::hostile_input_suite!(FakeTarget::group_environment, FIELDS);
}
