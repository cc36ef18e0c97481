//! Hostile list bodies (see `kms_sync_testkit::hostile`) against the Checkly destination's
//! parsers: an answer or a clear error, never a panic.

use kms_sync_checkly::fake::FakeTarget;

const FIELDS: &[&str] = &[
    "key",
    "value",
    "locked",
    "secret",
    "id",
    "name",
    "environmentVariables",
    "accountId",
    "tags",
];

mod account {
    use super::{FakeTarget, FIELDS};
    kms_sync_testkit::hostile_input_suite!(FakeTarget::account, FIELDS);
}

mod group {
    use super::{FakeTarget, FIELDS};
    kms_sync_testkit::hostile_input_suite!(FakeTarget::group, FIELDS);
}
