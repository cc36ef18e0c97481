//! Hostile list bodies (see `kms_sync_testkit::hostile`) against the Bitbucket destination's
//! parsers: an answer or a clear error, never a panic.

use kms_sync_bitbucket::fake::FakeTarget;

const FIELDS: &[&str] = &[
    "values",
    "next",
    "size",
    "page",
    "pagelen",
    "previous",
    "key",
    "value",
    "secured",
    "uuid",
    "type",
    "name",
    "slug",
    "environment_type",
    "account_id",
    "display_name",
];

mod repository {
    use super::{FakeTarget, FIELDS};
    kms_sync_testkit::hostile_input_suite!(FakeTarget::repository, FIELDS);
}

mod deployment {
    use super::{FakeTarget, FIELDS};
    kms_sync_testkit::hostile_input_suite!(FakeTarget::deployment, FIELDS);
}
