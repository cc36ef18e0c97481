//! Bitbucket's JSON types for the paths kms-sync uses.

use serde::{Deserialize, Serialize};

/// A variable as a write answered it: the `uuid` the ledger records and the `key` (both
/// required: an answer without them does not confirm the write). A listed variable is read
/// by [`ListedVariable`](crate::listed::ListedVariable) instead.
#[derive(Deserialize)]
pub(crate) struct Variable {
    pub uuid: String,
    #[allow(dead_code)] // Required so that an answer without it does not confirm a write.
    pub key: String,
}

/// A variable as written. `value` is exposed from a `SecretValue` only here.
#[derive(Serialize)]
pub(crate) struct VariableBody<'a> {
    pub key: &'a str,
    pub value: &'a str,
    pub secured: bool,
}

/// A page of a paginated list: `{values, next?, pagelen?, page?, size?}`. `values` is read
/// as optional only so that its absence can be named: an answer without it is an incomplete
/// read, never an empty page (which would hide the list).
#[derive(Deserialize)]
pub(crate) struct Page<T> {
    pub values: Option<Vec<T>>,
    #[serde(default)]
    pub next: Option<String>,
    /// The total across all pages; optional in the spec, sent by the real service.
    #[serde(default)]
    pub size: Option<usize>,
}

/// A deployment environment (the spec documents `uuid` and `name`; real ones carry `slug`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Environment {
    pub uuid: String,
    pub name: String,
    #[serde(default)]
    pub slug: Option<String>,
}

/// The authenticated user, as `GET /2.0/user` returns it.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// The account's display name.
    #[serde(default)]
    pub display_name: Option<String>,
    /// The account's UUID.
    #[serde(default)]
    pub uuid: Option<String>,
    /// The account id.
    #[serde(default)]
    pub account_id: Option<String>,
}
