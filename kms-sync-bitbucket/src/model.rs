//! Bitbucket's JSON types for the paths kms-sync uses.

use serde::{Deserialize, Serialize};

/// A repository or deployment variable as listed. Secured variables come without `value`.
#[derive(Deserialize)]
pub(crate) struct Variable {
    pub uuid: String,
    pub key: String,
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub secured: bool,
}

/// A variable as written. `value` is exposed from a `SecretValue` only here.
#[derive(Serialize)]
pub(crate) struct VariableBody<'a> {
    pub key: &'a str,
    pub value: &'a str,
    pub secured: bool,
}

/// A page of a paginated list: `{values, next?, pagelen?, page?, size?}`. `values` is
/// required: an answer without it is not a page, and reading it as an empty one would
/// hide the list.
#[derive(Deserialize)]
pub(crate) struct Page<T> {
    pub values: Vec<T>,
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
