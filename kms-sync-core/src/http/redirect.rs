//! Redirects: the client follows them itself, only for reads, only when the destination
//! allowed it, only to the base URL's origin and at most [`MAX_REDIRECTS`] hops. A write's
//! 3xx is never followed: it does not confirm the write.

use url::Url;

use super::attempt::AttemptError;
use super::client::HttpClient;
use super::request::{Request, Response};
use crate::error::{Error, ErrorKind};

/// The most hops a read follows.
pub(super) const MAX_REDIRECTS: usize = 5;

impl HttpClient {
    /// One attempt, following a read's redirects where allowed. The last answer (a 3xx that
    /// was not followed, too) goes to the judge, which says why it was not.
    pub(super) async fn attempt_following(
        &self,
        request: &Request,
        url: &Url,
        label: &str,
    ) -> Result<Response, AttemptError> {
        let mut response = self.attempt_once(request, url, label, false).await?;
        let mut current = url.clone();
        for _ in 0..MAX_REDIRECTS {
            let Some(next) = self.followable(request, &response, &current) else {
                break;
            };
            // 301, 302 and 303 turn a (read-only) POST into a GET; 307 and 308 keep it.
            let as_get = matches!(response.status, 301..=303);
            let method = if as_get {
                "GET"
            } else {
                request.method.as_str()
            };
            self.inner.counter.record(method);
            crate::stats::count_request(method);
            response = self.attempt_once(request, &next, label, as_get).await?;
            current = next;
        }
        Ok(response)
    }

    /// Where a redirect answer may be followed: a read, on a client that allows it, to a
    /// `Location` with the base URL's origin.
    fn followable(&self, request: &Request, response: &Response, current: &Url) -> Option<Url> {
        if request.is_write() || !self.inner.follow_read_redirects {
            return None;
        }
        if !is_redirect(response.status) {
            return None;
        }
        let next = current.join(response.header("location")?).ok()?;
        let allowed = self
            .inner
            .url_guard
            .as_ref()
            .is_none_or(|guard| guard.policy().check_url(&next).is_ok());
        (next.origin() == self.inner.base.origin() && allowed).then_some(next)
    }

    /// The error of a 3xx answer that was not followed: unconfirmed for a write (it is
    /// never followed, and it does not say the write happened), otherwise why the read
    /// stopped. It names the method, the path and the status, never the `Location`'s path
    /// or query.
    pub(super) fn redirect_error(&self, request: &Request, response: &Response) -> Error {
        let inner = &*self.inner;
        let (service, status, label) = (&inner.service, response.status, &response.label);
        let target = response
            .header("location")
            .and_then(|l| inner.base.join(l).ok());
        let message = if request.is_write() {
            let message = format!(
                "{service} answered {label} with a redirect (HTTP {status}); a write is never followed, so it is not confirmed"
            );
            return Error::new(ErrorKind::Unconfirmed, message).with_status(status);
        } else if let Some(other) = target
            .as_ref()
            .filter(|t| t.origin() != inner.base.origin())
        {
            format!(
                "{service} redirected {label} to another origin ({}); not followed, so credentials stay with {}",
                other.host_str().unwrap_or("?"),
                inner.base.host_str().unwrap_or("?")
            )
        } else if target.is_none() {
            format!("{service} redirected {label} (HTTP {status}) without a usable Location")
        } else if !inner.follow_read_redirects {
            format!(
                "{service} redirected {label} (HTTP {status}); this destination does not follow redirects"
            )
        } else {
            format!("{service} redirected {label} more than {MAX_REDIRECTS} times")
        };
        Error::unexpected(message).with_status(status)
    }
}

/// The statuses that carry a `Location` to follow.
pub(super) fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}
