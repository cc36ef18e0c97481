//! The conformance suite against the memory destination in every mode it can imitate.

use kms_sync_core::{KeyRule, MemoryDestination, WriteMode};
use kms_sync_testkit::{conformance_suite, MemoryTarget};

mod readable_per_key {
    use super::*;
    async fn target() -> MemoryTarget {
        MemoryTarget::new(MemoryDestination::builder().page_size(7).build(), 7)
    }
    conformance_suite!(target);
}

/// Like Bitbucket: secured values, one request per key, identifiers unique regardless of case.
mod hidden_per_key_like_bitbucket {
    use super::*;
    async fn target() -> MemoryTarget {
        let dest = MemoryDestination::builder()
            .readable_values(false)
            .key_rule(KeyRule::Identifier)
            .case_insensitive_keys(true)
            .reject_empty_values(true)
            .page_size(10)
            .concurrency(8)
            .build();
        MemoryTarget::new(dest, 10)
    }
    conformance_suite!(target);
}

/// Like an Octopus variable set or a Checkly group: hidden values, one write for the set.
mod hidden_batch_like_octopus {
    use super::*;
    async fn target() -> MemoryTarget {
        let dest = MemoryDestination::builder()
            .readable_values(false)
            .write_mode(WriteMode::Batch)
            .case_insensitive_keys(true)
            .page_size(1_000)
            .build();
        MemoryTarget::new(dest, 1_000)
    }
    conformance_suite!(target);
}

mod readable_batch {
    use super::*;
    async fn target() -> MemoryTarget {
        let dest = MemoryDestination::builder()
            .write_mode(WriteMode::Batch)
            .reject_empty_values(true)
            .page_size(4)
            .build();
        MemoryTarget::new(dest, 4)
    }
    conformance_suite!(target);
}

/// Like a Checkly group: one write replaces the set, hidden values must be re-sent.
mod hidden_whole_set_like_checkly_group {
    use super::*;
    async fn target() -> MemoryTarget {
        let dest = MemoryDestination::builder()
            .readable_values(false)
            .write_mode(WriteMode::Batch)
            .replaces_whole_set(true)
            .key_rule(KeyRule::Identifier)
            .reject_empty_values(true)
            .build();
        MemoryTarget::new(dest, 100)
    }
    conformance_suite!(target);
}
