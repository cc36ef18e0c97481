//! What a network check of a connection's credentials found
//! ([`DestinationFactory::verify_connection`](crate::DestinationFactory::verify_connection)).

use std::fmt;

/// The answer of a credentials check: not checked (the kind has no network check), or
/// accepted by the service — with, when the service says, whose credentials they are in
/// words (a user's display name, an account's name; never a credential). A refusal is an
/// error ([`Unauthenticated`](crate::ErrorKind::Unauthenticated) or
/// [`PermissionDenied`](crate::ErrorKind::PermissionDenied)), not a `Verification`.
///
/// ```
/// use kms_sync_core::Verification;
/// let found = Verification::accepted_as("Ada Lovelace");
/// assert!(found.is_accepted());
/// assert_eq!(found.to_string(), "accepted, as Ada Lovelace");
/// assert!(!Verification::NotChecked.is_accepted());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verification {
    /// The kind does not check credentials over the network.
    NotChecked,
    /// The service accepted the credentials.
    Accepted {
        /// Whose they are, in words, when the service says.
        who: Option<String>,
    },
}

impl Verification {
    /// Accepted, with no name to show.
    ///
    /// ```
    /// assert_eq!(kms_sync_core::Verification::accepted().to_string(), "accepted by the service");
    /// ```
    pub fn accepted() -> Self {
        Verification::Accepted { who: None }
    }

    /// Accepted as the named user or account (an empty name counts as none).
    ///
    /// ```
    /// use kms_sync_core::Verification;
    /// assert_eq!(Verification::accepted_as(" "), Verification::accepted());
    /// ```
    pub fn accepted_as(who: impl Into<String>) -> Self {
        let who = who.into();
        let who = who.trim();
        Verification::Accepted {
            who: (!who.is_empty()).then(|| who.to_owned()),
        }
    }

    /// Whether the service accepted the credentials.
    ///
    /// ```
    /// assert!(kms_sync_core::Verification::accepted().is_accepted());
    /// ```
    pub fn is_accepted(&self) -> bool {
        matches!(self, Verification::Accepted { .. })
    }
}

impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verification::NotChecked => f.write_str("not checked (no network check for this kind)"),
            Verification::Accepted { who: Some(who) } => write!(f, "accepted, as {who}"),
            Verification::Accepted { who: None } => f.write_str("accepted by the service"),
        }
    }
}
