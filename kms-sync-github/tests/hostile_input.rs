//! Hostile list bodies (see `kms_sync_testkit::hostile`) against the GitHub destination's
//! parsers: an answer or a clear error, never a panic.

use kms_sync_github::fake::FakeTarget;

const FIELDS: &[&str] = &[
    "total_count",
    "secrets",
    "name",
    "created_at",
    "updated_at",
    "visibility",
    "selected_repositories_url",
    "key_id",
    "key",
    "message",
    "documentation_url",
    "errors",
];

mod repository {
    use super::{FakeTarget, FIELDS};
    kms_sync_testkit::hostile_input_suite!(FakeTarget::repository, FIELDS);
}

mod organization {
    use super::{FakeTarget, FIELDS};
    kms_sync_testkit::hostile_input_suite!(FakeTarget::organization, FIELDS);
}
