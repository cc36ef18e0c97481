//! Connections cannot reach inside: an Octopus Deploy `instanceUrl` that names a loopback,
//! private, link-local (cloud metadata) or CGNAT address in any IPv4 or IPv6 form, plain
//! `http://`, or `user:password@`, is refused at create and at update with 400 naming the
//! rule — never echoing the userinfo — and nothing is stored.

use kms_sync_core::{Error, Result};
use reqwest::Method;
use serde_json::json;

use crate::support::snapshot;
use crate::support::{expect, text};

const CONNS: &str = "/api/v1/app-connections/octopus-deploy";

fn body(name: &str, url: &str) -> String {
    json!({"name": name, "method": "api-key", "projectId": "3c90c3cc-0d44-4b50-8888-8dd25736052a",
           "credentials": {"instanceUrl": url, "apiKey": "API-0123456789ABCDEF"}})
    .to_string()
}

/// Every refused URL, and a word its refusal must name.
const REFUSED: &[(&str, &str)] = &[
    ("http://169.254.169.254/latest/meta-data", "plain http://"),
    (
        "https://169.254.169.254/latest/meta-data",
        "link-local (cloud metadata)",
    ),
    ("http://127.0.0.1:5432", "plain http://"),
    ("https://127.0.0.1:5432", "loopback"),
    ("http://10.0.0.1", "plain http://"),
    ("https://10.0.0.1", "private"),
    ("https://100.64.0.1", "carrier-grade NAT"),
    ("https://[::ffff:127.0.0.1]", "loopback"),
    ("https://[::ffff:a9fe:a9fe]", "link-local"),
    ("https://[::1]:8443", "loopback"),
    ("https://[fd00::1]", "private"),
    ("https://2130706433/", "loopback"),
    ("https://0177.0.0.1/", "loopback"),
    ("https://0x7f.0x0.0x0.0x1/", "loopback"),
    ("https://0x7f000001/", "loopback"),
    ("https://017700000001/", "loopback"),
    ("https://0.0.0.0/", "unspecified"),
    ("https://localhost:8443/", "localhost"),
    (
        "https://admin:pw-hunter2@octopus.example.com",
        "user name or password",
    ),
    (
        "https://:pw-hunter2@octopus.example.com",
        "user name or password",
    ),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_naming_inside_addresses_are_refused_and_not_stored() -> Result<()> {
    let (db, api) = started!("connections_naming_inside_addresses_are_refused_and_not_stored");
    let kept = api
        .post(CONNS, &body("public", "https://acme.octopus.app"))
        .await?;
    expect(&kept, 200, "a public instance")?;
    let kept_url = format!("{CONNS}/{}", text(&kept.body, "/appConnection/id"));
    let before = snapshot(&db, &api).await?;
    for (n, (url, rule)) in REFUSED.iter().enumerate() {
        let created = api.post(CONNS, &body(&format!("inside-{n}"), url)).await?;
        let patch = json!({"credentials": {"instanceUrl": url, "apiKey": "API-0123456789ABCDEF"}})
            .to_string();
        let updated = api.call(Method::PATCH, &kept_url, Some(&patch)).await?;
        for (what, answer) in [("create", &created), ("update", &updated)] {
            let message = text(&answer.body, "/message");
            let shown = answer.body.to_string();
            let ok = answer.status == 400
                && message.contains("credentials.instanceUrl")
                && message.contains("is refused")
                && message.contains(rule)
                && !shown.contains("hunter2")
                && !shown.contains("admin");
            if !ok {
                return Err(Error::unexpected(format!(
                    "{what} {url}: {} {shown}",
                    answer.status
                )));
            }
        }
    }
    if snapshot(&db, &api).await? != before {
        return Err(Error::unexpected(
            "a refused connection changed the registry",
        ));
    }
    Ok(())
}
