//! The configured schema's name: checked once, quoted wherever it is spliced into SQL.

use std::fmt;

use kms_sync_core::{Error, Result};

/// The longest identifier PostgreSQL keeps (NAMEDATALEN - 1).
const MAX_LEN: usize = 63;

/// A schema name kms-sync may splice into SQL: lowercase ASCII letters, digits and `_`,
/// starting with a letter or `_`, at most 63 bytes, not `pg_…`.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(crate) struct SchemaName(String);

impl SchemaName {
    /// Checks `name`.
    pub fn new(name: &str) -> Result<SchemaName> {
        let starts_well = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
        let rest_ok = name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !starts_well || !rest_ok || name.len() > MAX_LEN || name.starts_with("pg_") {
            return Err(Error::config(format!(
                "`{name}` is not a usable PostgreSQL schema name: use 1 to {MAX_LEN} lowercase \
                 ASCII letters, digits and `_`, starting with a letter or `_`, not `pg_`"
            )));
        }
        Ok(SchemaName(name.to_owned()))
    }

    /// The bare name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The name quoted as an SQL identifier.
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }

    /// `"schema"."table"`.
    pub fn table(&self, table: &str) -> String {
        format!("{}.\"{table}\"", self.quoted())
    }
}

impl fmt::Debug for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for SchemaName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_names_pass_and_are_quoted() -> Result<()> {
        let name = SchemaName::new("kms_sync_2")?;
        assert_eq!(name.quoted(), "\"kms_sync_2\"");
        assert_eq!(name.table("ledgers"), "\"kms_sync_2\".\"ledgers\"");
        assert!(SchemaName::new("_x").is_ok());
        Ok(())
    }

    #[test]
    fn anything_that_would_need_escaping_is_refused() {
        let long = "a".repeat(64);
        for bad in [
            "",
            "Kms",
            "1abc",
            "a-b",
            "a\"b",
            "a;drop",
            "pg_catalog",
            "é",
            &long,
        ] {
            let err = SchemaName::new(bad).expect_err(bad);
            assert!(err.to_string().contains("schema name"), "{bad}: {err}");
        }
    }
}
