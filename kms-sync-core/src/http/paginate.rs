//! Reading every page of a list, in the three styles the services use. Each helper returns
//! the whole list or an error — never a partial list.

use std::collections::HashSet;

use super::client::HttpClient;
use super::request::{Request, Response};
use crate::error::{Error, ErrorKind, Result};

/// The default most pages a helper reads before it stops with an error.
pub const DEFAULT_MAX_PAGES: usize = 1_000;

fn page_error(client: &HttpClient, page: usize, error: Error) -> Error {
    let message = format!("reading page {page} of a list: {}", error.message());
    let mut out = Error::new(error.kind(), message).with_destination(client.service().to_owned());
    if let Some(status) = error.status() {
        out = out.with_status(status);
    }
    if let Some(op) = error.operation() {
        out = out.with_operation(op.to_owned());
    }
    if let Some(at) = error.retry_at() {
        out = out.with_retry_at(at);
    }
    out
}

fn body_hash(body: &[u8]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    std::hash::Hasher::write(&mut hasher, body);
    std::hash::Hasher::finish(&hasher)
}

fn cap_error(client: &HttpClient, max_pages: usize) -> Error {
    Error::unexpected(format!(
        "{} kept returning pages past the {max_pages}-page cap; stopped rather than read forever",
        client.service()
    ))
    .with_destination(client.service().to_owned())
}

/// One page of a next-link list, as the parser given to [`collect_next_links`] reads it.
///
/// ```
/// use kms_sync_core::http::LinkedPage;
/// let page = LinkedPage::new(vec![1, 2], Some("https://api.example.com/l?page=2".into())).with_total(Some(3));
/// assert_eq!(page.total, Some(3));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LinkedPage<T> {
    /// The page's items.
    pub items: Vec<T>,
    /// The next page's absolute URL; `None` on the last page.
    pub next: Option<String>,
    /// The list's total across all pages, where the service reports one.
    pub total: Option<usize>,
}

impl<T> LinkedPage<T> {
    /// A page without a reported total.
    pub fn new(items: Vec<T>, next: Option<String>) -> Self {
        LinkedPage {
            items,
            next,
            total: None,
        }
    }

    /// Sets the total the service reported (`None`: not reported).
    pub fn with_total(mut self, total: Option<usize>) -> Self {
        self.total = total;
        self
    }
}

/// Follows `next` links from `first` (each page names the next one's URL). `parse` reads each
/// page: its items, its `next` link (absolute URL) and the total the service reports, if any.
///
/// # Errors
///
/// A page that cannot be fetched or parsed; a `next` link seen before (a loop); a `next` link
/// to another origin (not followed, so credentials stay home); more than `max_pages` pages;
/// fewer items than the last page's reported total (pages went missing: the sequence was cut
/// short, and the list would be incomplete).
pub async fn collect_next_links<T, F>(
    client: &HttpClient,
    first: Request,
    max_pages: usize,
    mut parse: F,
) -> Result<Vec<T>>
where
    F: FnMut(&Response) -> Result<LinkedPage<T>>,
{
    let mut seen: HashSet<String> = HashSet::new();
    seen.insert(client.url_for(&first)?.to_string());
    let mut items = Vec::new();
    let mut request = first;
    for page in 1..=max_pages {
        let response = client
            .send(request)
            .await
            .map_err(|e| page_error(client, page, e))?;
        let parsed = parse(&response).map_err(|e| page_error(client, page, e))?;
        items.extend(parsed.items);
        let Some(next) = parsed.next else {
            return match parsed.total {
                Some(total) if items.len() < total => Err(Error::new(
                    ErrorKind::IncompleteRead,
                    format!(
                    "{} reported {total} items but its pages held {}; the list would be incomplete",
                    client.service(),
                    items.len()
                ),
                )
                .with_destination(client.service().to_owned())),
                _ => Ok(items),
            };
        };
        let next_request = Request::get_url(next);
        let url = client
            .url_for(&next_request)
            .map_err(|e| page_error(client, page + 1, e))?
            .to_string();
        if !seen.insert(url) {
            return Err(Error::unexpected(format!(
                "{}: page {page} links back to a page already read; stopped instead of looping",
                client.service()
            ))
            .with_destination(client.service().to_owned()));
        }
        request = next_request;
    }
    Err(cap_error(client, max_pages))
}

/// Requests pages `1, 2, …` of `page_size` items until a short page (bare arrays, no total).
/// `make` builds the request for a page number; `parse` returns a page's items.
///
/// # Errors
///
/// A page that cannot be fetched or parsed; a page holding more than `page_size` items (the
/// service ignored the limit, so a short page may never come); a full page whose body is
/// byte for byte one read before (the service ignores `page` and would be read up to the
/// cap, its items counted twice); more than `max_pages` pages.
pub async fn collect_numbered_pages<T, M, F>(
    client: &HttpClient,
    page_size: usize,
    max_pages: usize,
    mut make: M,
    mut parse: F,
) -> Result<Vec<T>>
where
    M: FnMut(usize) -> Request,
    F: FnMut(&Response) -> Result<Vec<T>>,
{
    let mut items = Vec::new();
    let mut full_pages: HashSet<u64> = HashSet::new();
    for page in 1..=max_pages {
        let response = client
            .send(make(page))
            .await
            .map_err(|e| page_error(client, page, e))?;
        let batch = parse(&response).map_err(|e| page_error(client, page, e))?;
        if batch.len() == page_size && !full_pages.insert(body_hash(response.body())) {
            return Err(Error::unexpected(format!(
                "{}: page {page} repeats a page already read (the service ignores the page number?); stopped instead of looping",
                client.service()
            ))
            .with_destination(client.service().to_owned()));
        }
        if batch.len() > page_size {
            return Err(Error::unexpected(format!(
                "{}: page {page} holds {} items, more than the {page_size} asked for",
                client.service(),
                batch.len()
            ))
            .with_destination(client.service().to_owned()));
        }
        let short = batch.len() < page_size;
        items.extend(batch);
        if short {
            return Ok(items);
        }
    }
    Err(cap_error(client, max_pages))
}

/// Requests `skip`/`take` windows until the reported total is reached (each page reports the
/// list's total).
/// `make` builds the request for a `(skip, take)`; `parse` returns a page's items and the total.
///
/// # Errors
///
/// A page that cannot be fetched or parsed; an empty page before the total is reached (the
/// list shrank or the service miscounts: the list would be incomplete); more than
/// `max_pages` pages.
pub async fn collect_skip_take<T, M, F>(
    client: &HttpClient,
    take: usize,
    max_pages: usize,
    mut make: M,
    mut parse: F,
) -> Result<Vec<T>>
where
    M: FnMut(usize, usize) -> Request,
    F: FnMut(&Response) -> Result<(Vec<T>, usize)>,
{
    let mut items = Vec::new();
    for page in 1..=max_pages {
        let skip = items.len();
        let response = client
            .send(make(skip, take))
            .await
            .map_err(|e| page_error(client, page, e))?;
        let (batch, total) = parse(&response).map_err(|e| page_error(client, page, e))?;
        if batch.is_empty() && skip < total {
            return Err(Error::new(ErrorKind::IncompleteRead, format!(
                "{}: page {page} (skip {skip}) came back empty before the reported total of {total}; the list would be incomplete",
                client.service()
            ))
            .with_destination(client.service().to_owned()));
        }
        items.extend(batch);
        if items.len() >= total {
            return Ok(items);
        }
    }
    Err(cap_error(client, max_pages))
}
