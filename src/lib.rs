pub use kms_sync_core::*;
