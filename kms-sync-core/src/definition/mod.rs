//! The KMS's own JSON: the create-sync body ([`SecretSyncDefinition`]) and the
//! create-connection body ([`AppConnectionDefinition`]). They live in the core, beside the
//! [`DestinationRegistry`](crate::DestinationRegistry) that checks and builds them, so every
//! crate that stores or serves syncs (the fleet, a service's API) reads them the same way.

mod connection;
mod sync;

pub use connection::AppConnectionDefinition;
pub use sync::{SecretSyncDefinition, SyncOptionsDefinition};
