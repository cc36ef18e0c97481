//! The guide: everything the README leaves out, one page per topic, rendered by rustdoc (and on
//! docs.rs) with the API it describes. Every Rust example in these pages is compiled, and run
//! unless it needs a server of yours, by `cargo test --workspace --all-features`.
//!
//! Why rustdoc modules and not an mdBook: the pages link to the items they describe, render
//! wherever the API docs do, and their examples are doctests with no tool beyond cargo — an
//! mdBook would need its own binary in CI and its own way of compiling examples against the
//! workspace.
//!
//! | page | for |
//! |---|---|
//! | [`sources`] | what a syncer does; the sources in core; the Hanzo KMS source |
//! | [`destinations`] | Bitbucket, Checkly, Octopus Deploy: connections, configs, limits |
//! | [`github`] | GitHub Actions secrets: connections, scopes, write-only values, limits |
//! | [`gitlab`] | GitLab CI/CD variables: connections, attributes and masking, environment scopes |
//! | [`definitions`] | the KMS's JSON → a syncer; auto-sync; the destination registry |
//! | [`cli`] | the `kms-sync` command-line tool |
//! | [`server`] | `kms-sync-server`: the API and the workers as one program, deployed as replicas |
//! | [`fleet`] | many syncs on several machines, on PostgreSQL |
//! | [`api`] | the KMS's Secret Syncs and App Connections HTTP API |
//! | [`safety`] | what kms-sync promises, and who owns a key |
//! | [`adding_a_destination`] | a destination crate of your own, proved by the conformance suite |
//! | [`reliability`] | the fault matrix, convergence runs and hostile input |
//! | [`benchmarks`] | the figures and how to reproduce them |
//! | [`layout`] | for contributors: where the code is, and where it departs from the design |

#[doc = include_str!("sources.md")]
pub mod sources {}

#[doc = include_str!("destinations.md")]
pub mod destinations {}

#[doc = include_str!("github.md")]
pub mod github {}

#[doc = include_str!("gitlab.md")]
pub mod gitlab {}

#[doc = include_str!("definitions.md")]
pub mod definitions {}

#[doc = include_str!("cli.md")]
pub mod cli {}

#[doc = include_str!("server.md")]
pub mod server {}

#[doc = include_str!("fleet.md")]
pub mod fleet {}

#[doc = include_str!("api.md")]
pub mod api {}

#[doc = include_str!("safety.md")]
pub mod safety {}

#[doc = include_str!("adding_a_destination.md")]
pub mod adding_a_destination {}

#[doc = include_str!("reliability.md")]
pub mod reliability {}

#[doc = include_str!("benchmarks.md")]
pub mod benchmarks {}

#[doc = include_str!("layout.md")]
pub mod layout {}
