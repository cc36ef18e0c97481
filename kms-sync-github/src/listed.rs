//! A page of a secrets list, read strictly: `total_count` and `secrets` are required (a page
//! without them is not an empty page), every secret needs its `name`, and the next page is
//! the `Link` header's `rel="next"`.

use kms_sync_core::http::{LinkedPage, Response};
use kms_sync_core::{Error, ErrorKind, Result};
use serde::Deserialize;

/// `{total_count, secrets: [{name, created_at, updated_at, …}]}` as it came.
#[derive(Deserialize)]
struct SecretsPage {
    total_count: Option<usize>,
    secrets: Option<Vec<ListedSecret>>,
}

#[derive(Deserialize)]
struct ListedSecret {
    name: Option<String>,
    visibility: Option<String>,
}

/// A listed secret: its name and, for an organization's, who may read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ListedName {
    /// The name as GitHub stores it.
    pub name: String,
    /// `all`, `private` or `selected` for an organization's secret; `None` elsewhere.
    pub visibility: Option<String>,
}

fn incomplete(what: &str) -> Error {
    Error::new(
        ErrorKind::IncompleteRead,
        format!(
            "GitHub's secrets list has {what}; refusing to plan or write from an incomplete read, so nothing was written"
        ),
    )
}

/// One page: the secrets' names (with their visibility), the next page's URL and the list's
/// total.
pub(crate) fn read_page(response: &Response) -> Result<LinkedPage<ListedName>> {
    let page: SecretsPage = response.json_object()?;
    let total = page
        .total_count
        .ok_or_else(|| incomplete("a page without its `total_count`"))?;
    let secrets = page
        .secrets
        .ok_or_else(|| incomplete("a page without its `secrets` list"))?;
    let names = secrets
        .into_iter()
        .map(|s| {
            let name = s.name.filter(|n| !n.trim().is_empty())?;
            Some(ListedName {
                name,
                visibility: s.visibility,
            })
        })
        .collect::<Option<Vec<ListedName>>>()
        .ok_or_else(|| incomplete("a secret without its `name`"))?;

    let next = response.header("link").and_then(next_link);
    Ok(LinkedPage::new(names, next).with_total(Some(total)))
}

/// The `rel="next"` URL of a `Link` header: `<url>; rel="next", <url>; rel="last"`.
pub(crate) fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let mut pieces = part.split(';').map(str::trim);
        let url = pieces.next()?.strip_prefix('<')?.strip_suffix('>')?;
        pieces
            .any(|p| {
                p.strip_prefix("rel=")
                    .map(|r| r.trim_matches('"').split(' ').any(|r| r == "next"))
                    .unwrap_or(false)
            })
            .then(|| url.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        let header = r#"<https://api.github.com/repositories/1/actions/secrets?per_page=2&page=1>; rel="prev", <https://api.github.com/repositories/1/actions/secrets?per_page=2&page=3>; rel="next", <https://api.github.com/repositories/1/actions/secrets?per_page=2&page=5>; rel="last""#;
        assert_eq!(
            next_link(header).as_deref(),
            Some("https://api.github.com/repositories/1/actions/secrets?per_page=2&page=3")
        );
        assert_eq!(next_link(r#"<https://x/?page=1>; rel="first""#), None);
        assert_eq!(next_link("garbage"), None);
        assert_eq!(next_link(""), None);
    }
}
