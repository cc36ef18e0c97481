//! The custom destination example passes the conformance suite, one test per case.

#[path = "../examples/custom_destination.rs"]
mod example;

use example::target;

kms_sync_testkit::conformance_suite!(target);
