//! Forwarding a request to the upstream as it came, and the answer as data the actions can
//! bend before it becomes a response.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;

/// Headers that belong to one connection, not to the message: never copied across.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "content-length",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn end_to_end(headers: &HeaderMap) -> HeaderMap {
    let mut kept = headers.clone();
    for name in HOP_BY_HOP {
        kept.remove(*name);
    }
    kept
}

/// A request as it reached the proxy, body read whole.
#[derive(Clone)]
pub(super) struct Incoming {
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Incoming {
    /// Reads the request; `None` when its body cannot be read (the client went away).
    pub async fn read(request: Request) -> Option<Incoming> {
        let (parts, body) = request.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.ok()?;
        Some(Incoming {
            method: parts.method,
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: parts.headers,
            body,
        })
    }

    /// The path with `?query`, as rules match it.
    pub fn target(&self) -> String {
        match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        }
    }
}

/// An answer on its way to the client: the upstream's, or one the proxy made up.
pub(super) struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// Whether the connection is dropped instead of sending the answer.
    pub drop_connection: bool,
}

impl Answer {
    /// An answer with one content type.
    pub fn new(status: u16, content_type: &str, body: Vec<u8>) -> Answer {
        let mut headers = HeaderMap::new();
        if let Ok(value) = HeaderValue::from_str(content_type) {
            headers.insert("content-type", value);
        }
        Answer {
            status,
            headers,
            body,
            drop_connection: false,
        }
    }

    /// Sets a header; a name or value that is not valid HTTP is ignored.
    pub fn set_header(&mut self, name: &str, value: &str) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            self.headers.insert(name, value);
        }
    }

    /// The response: the answer, or a body that breaks off (the connection drops).
    pub fn into_response(self) -> Response {
        if self.drop_connection {
            let broken = futures::stream::once(async {
                Err::<Bytes, std::io::Error>(std::io::Error::other("dropped by the proxy"))
            });
            let mut response = Response::new(Body::from_stream(broken));
            response
                .headers_mut()
                .insert("content-length", HeaderValue::from_static("100"));
            return response;
        }
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_GATEWAY);
        *response.headers_mut() = self.headers;
        response
    }
}

/// The upstream: a client that follows no redirect (the proxy passes them on as they are).
#[derive(Debug)]
pub(super) struct Upstream {
    client: reqwest::Client,
    base_url: String,
}

impl Upstream {
    /// A client for `base_url`.
    ///
    /// # Panics
    ///
    /// If no HTTP client can be built (the test cannot run).
    pub fn new(base_url: String) -> Upstream {
        let built = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build();
        let client = match built {
            Ok(client) => client,
            Err(e) => panic!("cannot build the proxy's HTTP client: {e}"),
        };
        Upstream {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Sends the request on; a failure to reach the upstream is a `502`.
    pub async fn send(&self, incoming: &Incoming) -> Answer {
        let url = format!("{}{}", self.base_url, incoming.target());
        let sent = self
            .client
            .request(incoming.method.clone(), url)
            .headers(end_to_end(&incoming.headers))
            .body(incoming.body.clone())
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(_) => return Answer::new(502, "text/plain", b"upstream unreachable".to_vec()),
        };
        let status = response.status().as_u16();
        let headers = end_to_end(response.headers());
        match response.bytes().await {
            Ok(body) => Answer {
                status,
                headers,
                body: body.to_vec(),
                drop_connection: false,
            },
            Err(_) => Answer::new(502, "text/plain", b"upstream answer cut off".to_vec()),
        }
    }
}
