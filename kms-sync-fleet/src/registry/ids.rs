//! The registry's identifiers: UUIDs behind types of their own, written and parsed as the
//! KMS writes them (lowercase, hyphenated).

use std::fmt;
use std::str::FromStr;

use kms_sync_core::{Error, Result};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $example:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub(crate) Uuid);

        impl $name {
            #[allow(dead_code)] // job ids are drawn in batches, in SQL parameters
            pub(crate) fn random() -> $name {
                $name(Uuid::new_v4())
            }

            /// Parses the id from its text, a UUID.
            ///
            /// # Errors
            ///
            /// [`Config`](kms_sync_core::ErrorKind::Config) naming what is not a UUID.
            ///
            /// ```
            #[doc = concat!("use kms_sync_fleet::", stringify!($name), ";")]
            #[doc = concat!("let id = ", stringify!($name), "::parse(\"", $example, "\")?;")]
            #[doc = concat!("assert_eq!(id.to_string(), \"", $example, "\");")]
            #[doc = concat!("assert!(", stringify!($name), "::parse(\"../etc\").is_err());")]
            /// # Ok::<(), kms_sync_core::Error>(())
            /// ```
            pub fn parse(text: &str) -> Result<$name> {
                Uuid::try_parse(text.trim()).map($name).map_err(|_| {
                    let shown: String = text.chars().take(64).collect();
                    Error::config(format!(
                        concat!("`{}` is not a ", $what, " (a UUID such as ", $example, ")"),
                        shown.escape_debug()
                    ))
                })
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(text: &str) -> Result<$name> {
                $name::parse(text)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0.hyphenated())
            }
        }
    };
}

id_type!(
    /// The id of an app connection in the registry (`connectionId`).
    ///
    /// ```
    /// let id: kms_sync_fleet::ConnectionId = "e5d18aca-86f7-4026-a95e-efb8aeb0d8e6".parse()?;
    /// assert_eq!(id.to_string(), "e5d18aca-86f7-4026-a95e-efb8aeb0d8e6");
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    ConnectionId,
    "connection id",
    "e5d18aca-86f7-4026-a95e-efb8aeb0d8e6"
);

id_type!(
    /// The id of a sync in the registry. Its text is also the sync's id in the ledger
    /// ([`PostgresStateStore`](crate::PostgresStateStore)): workers build their `Syncer`
    /// with `.id(sync_id.to_string())`.
    ///
    /// ```
    /// let id: kms_sync_fleet::SyncId = "3c90c3cc-0d44-4b50-8888-8dd25736052a".parse()?;
    /// assert_eq!(id.to_string(), "3c90c3cc-0d44-4b50-8888-8dd25736052a");
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    SyncId,
    "sync id",
    "3c90c3cc-0d44-4b50-8888-8dd25736052a"
);

id_type!(
    /// The id of a job: one requested sync or remove of one sync, from its trigger until
    /// its run finishes (`lastSyncJobId`, `lastRemoveJobId`). Triggers that coalesce share
    /// it; a retry after a failure and a run taken over after a lease expired keep it.
    ///
    /// ```
    /// let id: kms_sync_fleet::JobId = "0b8e1f8e-3c1a-4c4e-9a7e-8d2f0c1b2a3d".parse()?;
    /// assert_eq!(id.to_string(), "0b8e1f8e-3c1a-4c4e-9a7e-8d2f0c1b2a3d");
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    JobId,
    "job id",
    "0b8e1f8e-3c1a-4c4e-9a7e-8d2f0c1b2a3d"
);
