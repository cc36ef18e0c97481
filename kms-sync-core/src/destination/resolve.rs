//! Finding one item by name in a service's listing (a deployment environment, a check group,
//! an Octopus space or project), with the same rules and wording everywhere.

use crate::error::{Error, ErrorKind, Result};

/// How many names a "not found" or "ambiguous" error lists before it says how many more.
const LISTED: usize = 20;

/// A lookup of one item by the name a user configured, among what the service listed.
///
/// The rules, the same for every destination:
///
/// 1. An item whose name or slug is exactly the wanted name; if there is none,
/// 2. an item whose name or slug equals it regardless of case.
///
/// The first rule that matches anything decides: one match is the answer; several are a
/// [`Config`](ErrorKind::Config) error naming them and the field that names an item by id
/// ("`prod` matches several deployment environments (Prod, PROD); use environmentId"); none
/// is a [`NotFound`](ErrorKind::NotFound) error listing what exists ("no check group named
/// `x` (there are: API checks, Web)", or "(there are: none)"). Long lists are cut after 20
/// names, saying how many more there are.
///
/// ```
/// use kms_sync_core::{ErrorKind, NameLookup};
/// struct Env { name: String, slug: Option<String> }
/// let envs = [
///     Env { name: "Production".into(), slug: Some("production".into()) },
///     Env { name: "Staging".into(), slug: None },
/// ];
/// let lookup = NameLookup::new("deployment environment", "environmentId").within("acme/api");
/// fn names(e: &Env) -> (&str, Option<&str>) {
///     (&e.name, e.slug.as_deref())
/// }
/// assert_eq!(lookup.find(&envs, "production", names)?.name, "Production");
/// assert_eq!(lookup.find(&envs, "STAGING", names)?.name, "Staging");
/// let err = lookup.find(&envs, "dev", names).err().unwrap();
/// assert_eq!(err.kind(), ErrorKind::NotFound);
/// assert_eq!(
///     err.message(),
///     "no deployment environment named `dev` in acme/api (there are: Production, Staging)"
/// );
/// # Ok::<(), kms_sync_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct NameLookup<'a> {
    what: &'a str,
    id_field: &'a str,
    within: Option<&'a str>,
}

impl<'a> NameLookup<'a> {
    /// A lookup of a `what` (singular, e.g. `"check group"`; the plural adds an `s`) that a
    /// configuration can also name by `id_field` (e.g. `"groupId"`), which the ambiguous
    /// error recommends.
    ///
    /// ```
    /// use kms_sync_core::{ErrorKind, NameLookup};
    /// let groups = ["API checks", "api checks"];
    /// let err = NameLookup::new("check group", "groupId")
    ///     .find(&groups, "API CHECKS", |g| (*g, None))
    ///     .err().unwrap();
    /// assert_eq!(err.kind(), ErrorKind::Config);
    /// assert_eq!(
    ///     err.message(),
    ///     "`API CHECKS` matches several check groups (API checks, api checks); use groupId"
    /// );
    /// ```
    pub fn new(what: &'a str, id_field: &'a str) -> Self {
        NameLookup {
            what,
            id_field,
            within: None,
        }
    }

    /// Where the items live, for messages: "no project named `x` in Spaces-1 (…)".
    ///
    /// ```
    /// use kms_sync_core::NameLookup;
    /// let err = NameLookup::new("project", "projectId")
    ///     .within("Spaces-1")
    ///     .find(&[] as &[&str], "Web", |p| (*p, None))
    ///     .err().unwrap();
    /// assert_eq!(err.message(), "no project named `Web` in Spaces-1 (there are: none)");
    /// ```
    pub fn within(mut self, place: &'a str) -> Self {
        self.within = Some(place);
        self
    }

    /// The one item of `items` named `wanted`. `names` reads an item's name and, where the
    /// service has one, its slug; both are matched, the name is what errors list.
    ///
    /// # Errors
    ///
    /// [`NotFound`](ErrorKind::NotFound) when nothing matches, listing the names there are;
    /// [`Config`](ErrorKind::Config) when several match, naming them and the id field.
    ///
    /// ```
    /// use kms_sync_core::NameLookup;
    /// let spaces = [("Spaces-1", "Default", Some("default")), ("Spaces-2", "Ops", None)];
    /// let found = NameLookup::new("Octopus space", "spaceId")
    ///     .find(&spaces, "default", |s| (s.1, s.2))?;
    /// assert_eq!(found.0, "Spaces-1");
    /// # Ok::<(), kms_sync_core::Error>(())
    /// ```
    pub fn find<'i, T, F>(&self, items: &'i [T], wanted: &str, names: F) -> Result<&'i T>
    where
        F: Fn(&T) -> (&str, Option<&str>),
    {
        let matching = |same: &dyn Fn(&str) -> bool| -> Vec<&'i T> {
            items
                .iter()
                .filter(|item| {
                    let (name, slug) = names(item);
                    same(name) || slug.is_some_and(same)
                })
                .collect()
        };
        let mut found = matching(&|name| name == wanted);
        if found.is_empty() {
            let wanted = wanted.to_lowercase();
            found = matching(&|name| name.to_lowercase() == wanted);
        }
        match found.as_slice() {
            [one] => Ok(one),
            [] => Err(self.not_found(wanted, items.iter().map(|i| names(i).0))),
            several => Err(self.ambiguous(wanted, several.iter().map(|i| names(i).0))),
        }
    }

    fn not_found<'n>(&self, wanted: &str, names: impl ExactSizeIterator<Item = &'n str>) -> Error {
        Error::new(
            ErrorKind::NotFound,
            format!(
                "no {} named `{wanted}`{} (there are: {})",
                self.what,
                self.place(),
                listing(names)
            ),
        )
    }

    fn ambiguous<'n>(&self, wanted: &str, names: impl ExactSizeIterator<Item = &'n str>) -> Error {
        Error::config(format!(
            "`{wanted}` matches several {}s{} ({}); use {}",
            self.what,
            self.place(),
            listing(names),
            self.id_field
        ))
    }

    fn place(&self) -> String {
        self.within.map(|p| format!(" in {p}")).unwrap_or_default()
    }
}

/// `a, b, c`, `none`, or the first [`LISTED`] and "and N more".
fn listing<'n>(names: impl ExactSizeIterator<Item = &'n str>) -> String {
    let total = names.len();
    if total == 0 {
        return "none".to_owned();
    }
    let shown: Vec<&str> = names.take(LISTED).collect();
    let mut text = shown.join(", ");
    if total > LISTED {
        text.push_str(&format!(" and {} more", total - LISTED));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup() -> NameLookup<'static> {
        NameLookup::new("thing", "thingId")
    }

    type Item = (&'static str, Option<&'static str>);

    fn by_name(item: &Item) -> (&str, Option<&str>) {
        *item
    }

    #[test]
    fn an_exact_match_wins_over_case_insensitive_ones() -> Result<()> {
        let items = [("Prod", None), ("prod", None), ("PROD", None)];
        assert_eq!(lookup().find(&items, "prod", by_name)?.0, "prod");
        let err = lookup().find(&items, "pRoD", by_name).expect_err("three");
        assert_eq!(err.kind(), ErrorKind::Config);
        assert_eq!(
            err.message(),
            "`pRoD` matches several things (Prod, prod, PROD); use thingId"
        );
        Ok(())
    }

    #[test]
    fn slugs_match_like_names_and_errors_list_names() -> Result<()> {
        let items = [("Production", Some("prod-1")), ("Staging", Some("stage"))];
        assert_eq!(lookup().find(&items, "PROD-1", by_name)?.0, "Production");
        let err = lookup().find(&items, "dev", by_name).expect_err("none");
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(
            err.message(),
            "no thing named `dev` (there are: Production, Staging)"
        );
        // A name equal to another item's slug: two exact matches.
        let clash = [("stage", None), ("Staging", Some("stage"))];
        let err = lookup().find(&clash, "stage", by_name).expect_err("two");
        assert_eq!(err.kind(), ErrorKind::Config);
        Ok(())
    }

    #[test]
    fn case_is_compared_beyond_ascii() -> Result<()> {
        let items = [("Ärzte", None)];
        assert_eq!(lookup().find(&items, "ärzte", by_name)?.0, "Ärzte");
        Ok(())
    }

    #[test]
    fn long_lists_are_cut() {
        let names: Vec<String> = (0..25).map(|i| format!("n{i}")).collect();
        let items: Vec<(&str, Option<&str>)> = names.iter().map(|n| (n.as_str(), None)).collect();
        let err = lookup().find(&items, "missing", |i| *i).expect_err("none");
        assert!(err.message().ends_with("n19 and 5 more)"), "{err}");
        assert!(!err.message().contains("n20"), "{err}");
    }
}
