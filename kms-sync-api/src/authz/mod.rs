//! Who may do what: [`Principal`]s with the KMS's subjects, actions and conditions, the
//! [`Authorizer`] an embedder implements (token → principal), and the built-in
//! [`TokenFileAuthorizer`].

mod condition;
mod file;
mod glob;
mod principal;

pub use condition::{Condition, Conditions};
pub use file::TokenFileAuthorizer;
pub use principal::{Action, Grant, Principal, Subject};

use kms_sync_core::async_trait;

/// Turns a bearer token into a [`Principal`], or refuses it (`None`: 401): your KMS's
/// permission service. Compare secrets in constant time; never log the token.
///
/// ```
/// use kms_sync_api::{Action, Auth, Authorizer, Grant, Principal, Subject};
/// struct OneTenant;
/// #[kms_sync_core::async_trait]
/// impl Authorizer for OneTenant {
///     async fn principal(&self, token: &str) -> Option<Principal> {
///         // ask your permission service instead
///         if token != "tenant-token-0123456789" {
///             return None;
///         }
///         let grant = Grant::new(Subject::SecretSyncs, [Action::Read]).ok()?;
///         Some(Principal::new("tenant").grant("p1", grant))
///     }
/// }
/// let auth = Auth::authorizer(OneTenant);
/// ```
#[async_trait]
pub trait Authorizer: Send + Sync {
    /// The principal `token` (the text after `Bearer `) stands for, if any.
    async fn principal(&self, token: &str) -> Option<Principal>;
}
