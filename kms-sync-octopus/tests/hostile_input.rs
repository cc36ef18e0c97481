//! Hostile list bodies (see `kms_sync_testkit::hostile`) against the Octopus destination's
//! parsers: an answer or a clear error, never a panic.

use kms_sync_octopus::fake::FakeTarget;

const FIELDS: &[&str] = &[
    "Id",
    "OwnerId",
    "Version",
    "Variables",
    "Name",
    "Value",
    "Type",
    "IsSensitive",
    "Scope",
    "Environment",
    "Role",
    "IsEditable",
    "Prompt",
    "ScopeValues",
    "Slug",
    "SpaceId",
    "VariableSetId",
    "IsVersionControlled",
    "PersistenceSettings",
    "IsDefault",
    "Username",
];

mod unscoped {
    use super::{FakeTarget, FIELDS};
    kms_sync_testkit::hostile_input_suite!(FakeTarget::unscoped, FIELDS);
}

mod scoped {
    use super::{FakeTarget, FIELDS};
    kms_sync_testkit::hostile_input_suite!(FakeTarget::scoped, FIELDS);
}
