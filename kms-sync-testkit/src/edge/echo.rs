//! A service whose errors quote the request: nothing of a value or a credential may reach
//! an error, a report, a status record or a log line, in any form.

use base64::Engine as _;
use kms_sync_core::{Error, SyncReport};
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

use super::bench::{ok, Bench};
use super::EdgeTarget;
use crate::capture::LogCapture;
use crate::proxy::{Action, Echo, Rule};

/// A marker no key, path or message holds; alphanumeric, so it reads the same raw,
/// JSON-escaped, URL-encoded and in `Debug`.
fn marker() -> String {
    format!(
        "edgecanary{:012x}",
        u64::from(std::process::id()) ^ 0x00ec_40ec_40ec
    )
}

/// Values whose JSON-escaped, URL-encoded and base64 forms all differ from the raw text.
fn values(marker: &str, round: &str) -> [String; 2] {
    [
        format!("{marker}{round}a q\"uote \\back & a+b ü€ end"),
        format!("{marker}{round}b <tag> 'single' %41 end"),
    ]
}

fn json_escaped(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap_or_default();
    quoted.trim_matches('"').to_owned()
}

/// Every form a value travels in: raw, JSON-escaped (once and twice), URL-encoded (of the
/// raw and of the JSON-escaped text, with `%20` and with `+` for spaces), base64.
fn forms(value: &str) -> Vec<String> {
    let once = json_escaped(value);
    let twice = json_escaped(&once);
    let mut forms = vec![value.to_owned(), once.clone(), twice];
    for text in [value, once.as_str()] {
        let encoded = utf8_percent_encode(text, NON_ALPHANUMERIC).to_string();
        forms.push(encoded.replace("%20", "+"));
        forms.push(encoded);
    }
    forms.push(base64::engine::general_purpose::STANDARD.encode(value));
    forms
}

/// The text hidden in every base64-looking run of `text` (16 characters or more).
fn decoded_base64(text: &str) -> String {
    let is_b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=');
    text.split(|c: char| !is_b64(c))
        .filter(|run| run.len() >= 16)
        .filter_map(|run| {
            let trimmed = &run[..run.len() - run.len() % 4];
            base64::engine::general_purpose::STANDARD
                .decode(trimmed)
                .ok()
        })
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .collect::<Vec<_>>()
        .join("\n")
}

fn json<S: serde::Serialize>(value: &S) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn shown_of_outcome(outcome: &Result<SyncReport, Error>) -> Vec<String> {
    match outcome {
        Ok(report) => {
            let mut shown = vec![format!("{report}\n{report:?}\n{}", json(report))];
            for error in report.keys.iter().filter_map(|k| k.error.as_ref()) {
                shown.push(format!("{error}\n{error:?}\n{}", json(error)));
            }
            shown
        }
        Err(error) => vec![format!("{error}\n{error:?}\n{}", json(error))],
    }
}

/// Syncs once with every write answered `400` quoting the request in `form`; returns every
/// text the run showed (report or error, each key's error, the status record).
async fn echoed_run<T: EdgeTarget + ?Sized>(bench: &Bench<'_, T>, form: Echo) -> Vec<String> {
    bench
        .proxy
        .add_rule(Rule::writes("/", Action::EchoRequest(form)));
    let outcome = bench.syncer.sync().await;
    bench.proxy.clear_rules();
    if let Ok(report) = &outcome {
        assert!(
            !report.is_success(),
            "{form:?}: every write was refused: {report}"
        );
    }
    let mut shown = shown_of_outcome(&outcome);
    let status = bench.syncer.status();
    shown.push(format!("{status:?}\n{}", json(&status)));
    shown
}

fn assert_nothing_leaked(texts: &[String], values: &[String], credentials: &[String]) {
    let marker = marker();
    for (i, text) in texts.iter().enumerate() {
        let hidden = decoded_base64(text);
        for haystack in [text, &hidden] {
            assert!(
                !haystack.contains(&marker),
                "a value leaked into output #{i}:\n{text}"
            );
            for value in values {
                if let Some(form) = forms(value).iter().find(|f| haystack.contains(f.as_str())) {
                    panic!("a value leaked as {form:?} into output #{i}:\n{text}");
                }
            }
            for credential in credentials {
                assert!(
                    !haystack.contains(credential.as_str()),
                    "a credential leaked into output #{i}:\n{text}"
                );
            }
        }
    }
}

/// Every write answered `400` with an error quoting the request — its JSON, its fields raw,
/// its bytes as plain text, URL-encoded, base64 (see [`Echo`]) — in the fields every
/// service's error envelope keeps its message, for creates and then for updates: no value of the
/// source (raw, JSON-escaped, URL-encoded or base64) and no credential appears in the error
/// or report (`Display`, `Debug`, JSON), the status record, or any log line.
pub async fn error_echo_leaks_nothing<T: EdgeTarget + ?Sized>(target: &T) {
    let marker = marker();
    let capture = LogCapture::default();
    let _guard = capture.install();
    let created = values(&marker, "c");
    let bench = Bench::new(target, &[("A", &created[0]), ("B", &created[1])], false).await;
    let mut shown = Vec::new();
    for form in Echo::ALL {
        shown.extend(echoed_run(&bench, form).await);
    }
    let clean = ok(bench.syncer.sync().await, "the clean run");
    assert!(clean.is_success(), "{clean}");
    let updated = values(&marker, "u");
    ok(bench.source.set("A", updated[0].clone()), "changing A");
    ok(bench.source.set("B", updated[1].clone()), "changing B");
    for form in Echo::ALL {
        shown.extend(echoed_run(&bench, form).await);
    }
    let logs = capture.text();
    assert!(
        logs.contains("KMS_A"),
        "the capture works and logs keys:\n{logs}"
    );
    shown.push(logs);
    let credentials: Vec<String> = target
        .credentials()
        .into_iter()
        .filter(|c| !c.is_empty())
        .collect();
    let all_values: Vec<String> = created.into_iter().chain(updated).collect();
    assert_nothing_leaked(&shown, &all_values, &credentials);
}
