//! What a plan is: [`Plan`], its items, warnings and counts, and the [`DeletionGuard`] and
//! [`PlanOptions`] it follows. Keys and actions only, never values.

use std::fmt;

use serde::Serialize;

use super::reason::PlanReason;
use crate::destination::{Change, Version};

/// Refuses plans that would delete too much, the usual sign of a source that came back
/// empty or a schema that changed by mistake.
///
/// Default: refuse deleting every managed key because the source is empty, and refuse
/// deleting more than half of the managed keys when there are at least 10.
///
/// ```
/// use kms_sync_core::DeletionGuard;
/// let strict = DeletionGuard::default().with_max_delete_share(0.2);
/// let off = DeletionGuard::disabled();
/// assert!(off.allows_empty_source());
/// # let _ = strict;
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeletionGuard {
    allow_empty_source: bool,
    max_delete_share: Option<f64>,
    min_managed: usize,
}

impl Default for DeletionGuard {
    fn default() -> Self {
        DeletionGuard {
            allow_empty_source: false,
            max_delete_share: Some(0.5),
            min_managed: 10,
        }
    }
}

impl DeletionGuard {
    /// No guard: every planned delete is allowed.
    pub fn disabled() -> Self {
        DeletionGuard {
            allow_empty_source: true,
            max_delete_share: None,
            min_managed: 0,
        }
    }

    /// Allows an empty source to delete every managed key.
    pub fn with_allow_empty_source(mut self, allow: bool) -> Self {
        self.allow_empty_source = allow;
        self
    }

    /// Refuses plans deleting more than this share (0.0–1.0) of the managed keys; `None`
    /// lifts the limit. Values outside 0–1 are clamped.
    pub fn with_max_delete_share(mut self, share: impl Into<Option<f64>>) -> Self {
        self.max_delete_share = share.into().map(|s| s.clamp(0.0, 1.0));
        self
    }

    /// The share limit applies only when at least this many keys are managed.
    pub fn with_min_managed(mut self, min: usize) -> Self {
        self.min_managed = min;
        self
    }

    /// Whether an empty source may delete everything.
    pub fn allows_empty_source(&self) -> bool {
        self.allow_empty_source
    }

    /// The share limit, if any.
    pub fn max_delete_share(&self) -> Option<f64> {
        self.max_delete_share
    }

    /// How many keys must be managed for the share limit to apply.
    pub fn min_managed(&self) -> usize {
        self.min_managed
    }
}

/// The options [`plan()`](crate::plan()) follows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanOptions {
    /// Never delete at the destination (the KMS's `disableSecretDeletion`).
    pub disable_secret_deletion: bool,
    /// The deletion guard.
    pub deletion_guard: DeletionGuard,
}

/// What the plan does with one destination key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanAction {
    /// Write a new key.
    Create,
    /// Overwrite a key.
    Update,
    /// Remove a key.
    Delete,
    /// Nothing to do.
    Unchanged,
    /// A managed key the plan will not touch; the reason says why.
    Skip,
}

impl fmt::Display for PlanAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PlanAction::Create => "create",
            PlanAction::Update => "update",
            PlanAction::Delete => "delete",
            PlanAction::Unchanged => "unchanged",
            PlanAction::Skip => "skip",
        })
    }
}

/// One line of a plan: a key and an action, never a value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanItem {
    /// The destination key.
    pub key: String,
    /// The source key it comes from (absent for deletes).
    pub source_key: Option<String>,
    /// What happens.
    pub action: PlanAction,
    /// Why (updates and skips).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<PlanReason>,
}

/// A warning about a key the plan will still write, or (with an empty `key`) about the whole
/// plan — such as deletes of keys the sync never wrote when it has no key schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanWarning {
    /// The destination key; empty for a warning about the whole plan.
    pub key: String,
    /// What to know.
    pub message: String,
}

/// Counts of a plan's actions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PlanCounts {
    /// Keys to create.
    pub create: usize,
    /// Keys to update.
    pub update: usize,
    /// Keys to delete.
    pub delete: usize,
    /// Keys already right.
    pub unchanged: usize,
    /// Managed keys skipped.
    pub skip: usize,
    /// Managed destination keys kept because deletion is disabled.
    pub retained: usize,
}

/// A plan: what a sync would change, key by key. It shows keys and actions, never values:
/// `Display` renders a short table, `Serialize` gives JSON.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub(super) source: String,
    pub(super) destination: String,
    pub(super) environment: String,
    pub(super) key_schema: String,
    #[serde(serialize_with = "version_text")]
    pub(super) snapshot_version: Option<Version>,
    pub(super) items: Vec<PlanItem>,
    pub(super) warnings: Vec<PlanWarning>,
    pub(super) counts: PlanCounts,
    #[serde(skip)]
    pub(super) changes: Vec<Change>,
    /// Claims of keys neither at the destination nor wanted, for the ledger to forget.
    #[serde(skip)]
    pub(super) stale_claims: Vec<String>,
}

impl Plan {
    /// The source's description.
    pub fn source(&self) -> &str {
        &self.source
    }
    /// The destination, `kind:target`.
    pub fn destination(&self) -> &str {
        &self.destination
    }
    /// The environment keys were rendered for.
    pub fn environment(&self) -> &str {
        &self.environment
    }
    /// Claims of keys neither at the destination nor wanted, for the ledger to forget.
    pub(crate) fn stale_claims(&self) -> &[String] {
        &self.stale_claims
    }

    /// The destination's version when listed.
    pub fn snapshot_version(&self) -> Option<&Version> {
        self.snapshot_version.as_ref()
    }
    /// Every managed key and its action, sorted by key.
    pub fn items(&self) -> &[PlanItem] {
        &self.items
    }
    /// Warnings about keys that will still be written.
    pub fn warnings(&self) -> &[PlanWarning] {
        &self.warnings
    }
    /// Counts per action.
    pub fn counts(&self) -> PlanCounts {
        self.counts
    }
    /// The changes to apply (creates, updates, deletes), in key order.
    pub fn changes(&self) -> &[Change] {
        &self.changes
    }
    /// Whether the plan changes nothing.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
    /// The item of a destination key.
    pub fn item(&self, key: &str) -> Option<&PlanItem> {
        self.items
            .binary_search_by(|i| i.key.as_str().cmp(key))
            .ok()
            .map(|at| &self.items[at])
    }
}

fn version_text<S: serde::Serializer>(
    v: &Option<Version>,
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.serialize_str(v.as_str()),
        None => s.serialize_none(),
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Plan: {} -> {} (environment `{}`, key schema {})",
            self.source, self.destination, self.environment, self.key_schema
        )?;
        for item in &self.items {
            let mark = match item.action {
                PlanAction::Create => '+',
                PlanAction::Update => '~',
                PlanAction::Delete => '-',
                PlanAction::Skip => '!',
                PlanAction::Unchanged => continue,
            };
            write!(f, "  {mark} {:<9} {}", item.action.to_string(), item.key)?;
            if let Some(reason) = &item.reason {
                write!(f, "  ({reason})")?;
            }
            writeln!(f)?;
        }
        for w in &self.warnings {
            if w.key.is_empty() {
                writeln!(f, "  warning: {}", w.message)?;
            } else {
                writeln!(f, "  warning: {}: {}", w.key, w.message)?;
            }
        }
        let c = self.counts;
        write!(
            f,
            "  {} to create, {} to update, {} to delete, {} unchanged",
            c.create, c.update, c.delete, c.unchanged
        )?;
        if c.skip > 0 {
            write!(f, ", {} skipped", c.skip)?;
        }
        if c.retained > 0 {
            write!(f, ", {} kept (deletion disabled)", c.retained)?;
        }
        Ok(())
    }
}
