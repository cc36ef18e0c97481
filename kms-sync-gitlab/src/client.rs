//! Requests to GitLab's API: paths, pagination, confirmation.

use std::collections::HashSet;

use kms_sync_core::http::{ClientSettings, HttpClient, Request, Response, DEFAULT_MAX_PAGES};
use kms_sync_core::{Error, ErrorKind, Result, SecretValue};

use crate::config::GitlabConnection;
use crate::destination::documented_budget;
use crate::error::error_table;
use crate::listed::{Listed, ListedVariable};
use crate::model::{User, VariableBody, Written};
use crate::scope::{Attributes, Owner};

/// The documented maximum page size (`per_page`), asked for on every list.
///
/// ```
/// assert_eq!(kms_sync_gitlab::PAGE_LEN, 100);
/// ```
pub const PAGE_LEN: usize = 100;

/// The query parameter that picks one environment scope of a key.
const SCOPE_FILTER: &str = "filter[environment_scope]";

/// GitLab's endpoints over the shared HTTP client.
#[derive(Debug, Clone)]
pub(crate) struct GitlabClient {
    pub http: HttpClient,
}

/// What a write sends.
pub(crate) struct Write<'a> {
    pub key: &'a str,
    pub value: &'a SecretValue,
    pub environment_scope: &'a str,
    pub attributes: Attributes,
}

impl Write<'_> {
    fn body(&self, create: bool) -> VariableBody<'_> {
        let a = &self.attributes;
        VariableBody {
            key: create.then_some(self.key),
            value: self.value.expose_secret(),
            variable_type: a.variable_type.as_str(),
            protected: a.protected,
            masked: a.masked || a.hidden,
            masked_and_hidden: (create && a.hidden).then_some(true),
            raw: a.raw,
            environment_scope: self.environment_scope,
        }
    }
}

/// A write is confirmed only by the documented answer: the variable, with the key and
/// environment scope written, masked as asked, and hidden when asked (a server that ignored
/// `masked_and_hidden`, as those before GitLab 17.4 do, stored the value visible).
fn confirm(response: &Response, write: &Write<'_>, sent: &VariableBody<'_>) -> Result<()> {
    let (key, scope) = (write.key, write.environment_scope);
    let written: Written = response.json_object()?;
    let unconfirmed = |what: &str| {
        Error::new(
            ErrorKind::Unconfirmed,
            format!("GitLab answered the write of `{key}` (environment scope `{scope}`) with {what}; the write is not confirmed"),
        )
    };
    if written.key != key || written.environment_scope != scope {
        return Err(unconfirmed("another variable"));
    }
    // `masked` is a documented field of every answer: missing, it does not confirm a mask.
    if written.masked.map_or(sent.masked, |m| m != sent.masked) {
        return Err(unconfirmed("a variable masked otherwise than asked"));
    }
    if sent.masked_and_hidden == Some(true) && written.hidden != Some(true) {
        return Err(unconfirmed(
            "a variable not hidden (a server before GitLab 17.4 ignores `masked_and_hidden`)",
        ));
    }
    Ok(())
}

impl GitlabClient {
    /// A client for a connection: its instance URL and token, GitLab's error table and
    /// rate-limit headers.
    pub fn connect(
        connection: &GitlabConnection,
        settings: &ClientSettings,
        concurrency: usize,
    ) -> Result<GitlabClient> {
        let http = settings
            .client_builder(
                "gitlab",
                connection.instance_url(),
                documented_budget(),
                concurrency,
            )
            .auth(connection.auth())
            .error_table(error_table)
            .rate_limit_headers(crate::rate_limit::rate_limit_headers)
            .build()?;
        Ok(GitlabClient { http })
    }

    pub async fn user(&self) -> Result<User> {
        self.http
            .send(Request::get("/api/v4/user"))
            .await?
            .json_object()
    }

    /// Every variable of `owner` in `environment_scope`, each complete, read across every
    /// page (see [`Pages`]).
    pub async fn variables(&self, owner: &Owner, environment_scope: &str) -> Result<Vec<Listed>> {
        let listed = self.all_pages(owner).await?;
        let mut ours = Vec::new();
        for variable in listed {
            if variable.identity()?.environment_scope == environment_scope {
                ours.push(variable.complete()?);
            }
        }
        Ok(ours)
    }

    async fn all_pages(&self, owner: &Owner) -> Result<Vec<ListedVariable>> {
        let mut pages = Pages::default();
        for page in 1..=DEFAULT_MAX_PAGES {
            let request = Request::get(owner.collection())
                .query("per_page", PAGE_LEN.to_string())
                .query("page", page.to_string());
            let response = self
                .http
                .send(request)
                .await
                .map_err(|e| e.with_operation(format!("list page {page}")))?;
            if !pages.read(page, &response)? {
                return pages.finish();
            }
        }
        Err(Error::unexpected(format!(
            "GitLab kept returning pages past the {DEFAULT_MAX_PAGES}-page cap; stopped rather than read forever"
        )))
    }

    pub async fn create(&self, owner: &Owner, write: &Write<'_>) -> Result<()> {
        let body = write.body(true);
        let request = Request::post(owner.collection()).json(&body)?;
        let response = self.http.send(request).await?;
        confirm(&response, write, &body)
    }

    pub async fn update(&self, owner: &Owner, write: &Write<'_>) -> Result<()> {
        let body = write.body(false);
        let request = Request::put(owner.item(write.key))
            .query(SCOPE_FILTER, write.environment_scope)
            .json(&body)?;
        let response = self.http.send(request).await?;
        confirm(&response, write, &body)
    }

    /// `DELETE …/:key?filter[environment_scope]=…`: confirmed by GitLab's 204 (or a 200);
    /// any other 2xx (a 202 "accepted", say) does not say the variable is gone.
    pub async fn delete(&self, owner: &Owner, key: &str, environment_scope: &str) -> Result<()> {
        let request = Request::delete(owner.item(key)).query(SCOPE_FILTER, environment_scope);
        match self.http.send(request).await?.status() {
            200 | 204 => Ok(()),
            other => Err(Error::new(
                ErrorKind::Unconfirmed,
                format!("GitLab answered the delete of `{key}` (environment scope `{environment_scope}`) with {other}, not 204; the delete is not confirmed"),
            )),
        }
    }
}

/// The pages of one list as they come: GitLab answers a bare JSON array per page, and says
/// in headers where the list goes on (`x-next-page`, empty on the last page) and how long it
/// is (`x-total` items on `x-total-pages` pages, both left out for very large lists).
///
/// A list is refused when a page is not an array, holds more than [`PAGE_LEN`] items,
/// repeats a full page already read (a service ignoring `page`), names a next page other
/// than the following one, or when the pages hold fewer items than a reported total (a
/// sequence cut short). The pages are checked against `x-total-pages` alike: a page past
/// the count it reports, a next page after what its own count calls the last, or a list
/// ending before the reported count are incomplete reads. Without `x-next-page`, a full
/// page means another one follows.
#[derive(Default)]
struct Pages {
    items: Vec<ListedVariable>,
    total: Option<usize>,
    total_pages: Option<usize>,
    last_read: usize,
    full_pages: HashSet<Vec<u8>>,
}

impl Pages {
    /// Reads page `page`; whether another page follows.
    fn read(&mut self, page: usize, response: &Response) -> Result<bool> {
        let batch = parse_page(page, response)?;
        if batch.len() > PAGE_LEN {
            return Err(page_error(
                page,
                &format!(
                    "holds {} variables, more than the {PAGE_LEN} asked for",
                    batch.len()
                ),
            ));
        }
        let full = batch.len() == PAGE_LEN;
        if full && !self.full_pages.insert(response.body().to_vec()) {
            return Err(page_error(page, "repeats a page already read (the service ignores `page`?); stopped instead of looping"));
        }
        if let Some(total) = header_number(response, "x-total", page)? {
            self.total = Some(self.total.map_or(total, |t| t.max(total)));
        }
        let pages = header_number(response, "x-total-pages", page)?;
        self.last_read = page;
        let more = match response.header("x-next-page").map(str::trim) {
            None => full,
            Some("") => false,
            Some(next) if next == (page + 1).to_string() => true,
            Some(_) => {
                return Err(page_error(
                    page,
                    "names a next page that does not follow it",
                ))
            }
        };
        if let Some(pages) = pages {
            check_page_count(page, pages, !batch.is_empty(), more)?;
            self.total_pages = Some(self.total_pages.map_or(pages, |p| p.max(pages)));
        }
        self.items.extend(batch);
        Ok(more)
    }

    fn finish(self) -> Result<Vec<ListedVariable>> {
        if let Some(total) = self.total.filter(|t| self.items.len() < *t) {
            return Err(incomplete(format!(
                "GitLab reported {total} variables (`x-total`) but its pages held {}",
                self.items.len()
            )));
        }
        if let Some(pages) = self.total_pages.filter(|p| self.last_read < *p) {
            return Err(incomplete(format!(
                "GitLab reported {pages} pages (`x-total-pages`) but the list ended after page {}",
                self.last_read
            )));
        }
        Ok(self.items)
    }
}

/// Page `page` against the `x-total-pages` it reports: a page with items past that count,
/// or one naming a next page when the count makes it the last, does not add up.
fn check_page_count(page: usize, pages: usize, has_items: bool, more: bool) -> Result<()> {
    if has_items && page > pages {
        return Err(incomplete(format!(
            "GitLab's variables list: page {page} holds variables but `x-total-pages` says there are {pages} pages"
        )));
    }
    if more && page >= pages {
        return Err(incomplete(format!(
            "GitLab's variables list: page {page} names a next page but `x-total-pages` says there are {pages} pages"
        )));
    }
    Ok(())
}

/// A list that does not add up: refused whole, before any write.
fn incomplete(what: String) -> Error {
    Error::new(
        ErrorKind::IncompleteRead,
        format!("{what}; the list would be incomplete, so nothing was written"),
    )
}

/// A page's variables: a JSON array of objects, each read as a [`ListedVariable`]. An
/// error names the position and the problem, never the content.
fn parse_page(page: usize, response: &Response) -> Result<Vec<ListedVariable>> {
    let raw: Vec<serde_json::Value> = response.json().map_err(|e| {
        page_error(
            page,
            &format!("is not a list of variables ({})", e.message()),
        )
    })?;
    raw.into_iter()
        .enumerate()
        .map(|(i, item)| {
            if !item.is_object() {
                return Err(page_error(
                    page,
                    &format!("has an item {i} that is not an object"),
                ));
            }
            serde_json::from_value(item).map_err(|_| {
                page_error(
                    page,
                    &format!(
                        "has a variable (item {i}) with a field of a type GitLab does not send"
                    ),
                )
            })
        })
        .collect()
}

fn header_number(response: &Response, name: &str, page: usize) -> Result<Option<usize>> {
    match response.header(name).map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => text
            .parse::<usize>()
            .map(Some)
            .map_err(|_| page_error(page, &format!("has a `{name}` header that is not a number"))),
    }
}

fn page_error(page: usize, what: &str) -> Error {
    Error::unexpected(format!("GitLab's variables list: page {page} {what}"))
}
