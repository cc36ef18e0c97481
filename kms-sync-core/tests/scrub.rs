//! The Scrubber (issue 22, class 3): every form a value travels in, short values as whole
//! tokens, overlaps, unicode; and the engine scrubs every error with the run's values
//! before it reaches an outcome, a report, a status record or a log line.

use std::sync::Arc;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine;
use kms_sync_core::*;
use kms_sync_testkit::LogCapture;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

const VALUE: &str = "p@ss/wörd+\"quoted\"\\ 🔑-42";

/// A JSON string's text without its quotes.
fn inner(json: &str) -> String {
    json[1..json.len() - 1].to_owned()
}

fn forms(value: &str) -> Vec<(&'static str, String)> {
    let json = serde_json::to_string(value).unwrap_or_default();
    vec![
        ("raw", value.to_owned()),
        ("json", inner(&json)),
        (
            "json twice",
            inner(&serde_json::to_string(&inner(&json)).unwrap_or_default()),
        ),
        (
            "percent",
            utf8_percent_encode(value, NON_ALPHANUMERIC).to_string(),
        ),
        (
            "percent lower",
            utf8_percent_encode(value, NON_ALPHANUMERIC)
                .to_string()
                .to_lowercase(),
        ),
        (
            "form",
            url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
        ),
        ("base64", STANDARD.encode(value)),
        ("base64 unpadded", STANDARD_NO_PAD.encode(value)),
        ("base64url", URL_SAFE.encode(value)),
        ("base64url unpadded", URL_SAFE_NO_PAD.encode(value)),
    ]
}

#[test]
fn every_form_of_a_value_is_removed() {
    let scrubber = Scrubber::of([VALUE]);
    for (name, form) in forms(VALUE) {
        let text = format!("error: {form} was refused");
        let clean = scrubber.scrub(&text);
        assert_eq!(clean, "error: [REDACTED] was refused", "{name}: {form}");
    }
}

#[test]
fn a_value_inside_a_longer_base64_text_is_removed() {
    let scrubber = Scrubber::of([VALUE]);
    for prefix in ["", "a", "ab", "abc"] {
        for engine in [&STANDARD, &URL_SAFE_NO_PAD] {
            let blob = engine.encode(format!("{prefix}{{\"value\":{VALUE:?}}} and more"));
            let clean = scrubber.scrub(&blob);
            assert!(clean.contains("[REDACTED]"), "{prefix:?}: {clean}");
            // What is left cannot decode back to the value.
            for piece in clean.split("[REDACTED]") {
                let decoded = engine
                    .decode(piece.trim_end_matches('='))
                    .unwrap_or_default();
                let text = String::from_utf8_lossy(&decoded);
                assert!(!text.contains("s/wörd"), "{prefix:?}: {text}");
            }
        }
    }
}

#[test]
fn short_values_go_only_as_whole_tokens() {
    let scrubber = Scrubber::of(["a", "ok1"]);
    assert_eq!(
        scrubber.scrub("a value, data and ok1: (a)"),
        "[REDACTED] value, data and [REDACTED]: ([REDACTED])"
    );
    assert_eq!(scrubber.scrub("banana ok10 book1"), "banana ok10 book1");
    // Unicode letters are letters: `a` inside `äa` is not a token.
    assert_eq!(scrubber.scrub("äa aé"), "äa aé");
    // A short value's encodings are tokens too.
    let short = Scrubber::of(["k/1"]);
    assert_eq!(short.scrub("x=k%2F1&y=zk%2F1"), "x=[REDACTED]&y=zk%2F1");
}

#[test]
fn overlapping_values_leave_no_piece_of_either() {
    let scrubber = Scrubber::of(["secret-abc", "abcdef-more", "secret-abcdef"]);
    assert_eq!(scrubber.scrub("x secret-abcdef-more y"), "x [REDACTED] y");
    assert_eq!(
        scrubber.scrub("secret-abc secret-abcdef"),
        "[REDACTED] [REDACTED]"
    );
}

#[test]
fn unicode_values_and_texts() {
    let scrubber = Scrubber::of(["пароль-секрет", "🔑🔑🔑"]);
    assert_eq!(
        scrubber.scrub("«пароль-секрет» ключи 🔑🔑🔑🔑"),
        "«[REDACTED]» ключи [REDACTED]"
    );
    let escaped =
        r#"{"v":"\u043f\u0430\u0440\u043e\u043b\u044c-\u0441\u0435\u043a\u0440\u0435\u0442"}"#;
    assert_eq!(scrubber.scrub(escaped), r#"{"v":"[REDACTED]"}"#);
    let upper: String = "пароль-секрет"
        .chars()
        .map(|c| match c.is_ascii() {
            true => c.to_string(),
            false => format!("\\u{:04X}", u32::from(c)),
        })
        .collect();
    assert_eq!(scrubber.scrub(&format!("[{upper}]")), "[[REDACTED]]");
}

#[test]
fn empty_values_are_ignored_and_debug_shows_a_count() {
    let scrubber = Scrubber::of(["", "long-enough-value"]);
    assert_eq!(scrubber.len(), 1);
    assert_eq!(scrubber.scrub("nothing here"), "nothing here");
    let shown = format!("{scrubber:?}");
    assert_eq!(shown, "Scrubber { secrets: 1 }");
    assert!(Scrubber::new().is_empty());
}

#[test]
fn an_error_is_scrubbed_with_its_source_chain() {
    let io = std::io::Error::other(format!("body was {VALUE}"));
    let err = Error::new(ErrorKind::InvalidValue, format!("rejected {VALUE}"))
        .with_key("DB_PASSWORD")
        .with_destination("svc:acme")
        .with_operation("PUT /v1/x")
        .with_status(400)
        .with_source(io);
    let clean = err.scrubbed(&Scrubber::of([VALUE]));
    let mut shown = format!("{clean} {clean:?}");
    if let Some(cause) = std::error::Error::source(&clean) {
        shown.push_str(&cause.to_string());
    }
    assert!(!shown.contains(VALUE), "{shown}");
    assert!(shown.contains("body was [REDACTED]"), "{shown}");
    assert_eq!(clean.kind(), ErrorKind::InvalidValue);
    assert_eq!(clean.status(), Some(400));
    assert_eq!(clean.key(), Some("DB_PASSWORD"));
    assert_eq!(clean.destination(), Some("svc:acme"));
    assert_eq!(clean.operation(), Some("PUT /v1/x"));
}

/// A destination that quotes the values it is given in its errors, as a hand-built error
/// of a third-party destination might.
struct Quoting {
    memory: MemoryDestination,
    fail_list_with: Option<String>,
}

#[async_trait]
impl Destination for Quoting {
    fn info(&self) -> &DestinationInfo {
        self.memory.info()
    }
    fn rules(&self) -> &dyn KeyRules {
        self.memory.rules()
    }
    async fn list(&self) -> Result<Snapshot> {
        match &self.fail_list_with {
            Some(value) => Err(Error::new(
                ErrorKind::Unavailable,
                format!("list failed near {value}"),
            )),
            None => self.memory.list().await,
        }
    }
    fn writer(&self) -> Writer<'_> {
        Writer::PerKey(self)
    }
}

#[async_trait]
impl PerKeyWriter for Quoting {
    async fn write(&self, change: &Change) -> Result<Applied> {
        let value = change.value_or_error()?.expose_secret().to_owned();
        let escaped = serde_json::to_string(&value).unwrap_or_default();
        Err(Error::new(
            ErrorKind::InvalidValue,
            format!("the service refused {{\"value\":{escaped}}} ({value})"),
        )
        .with_source(std::io::Error::other(format!(
            "raw: {value} b64: {}",
            STANDARD.encode(&value)
        ))))
    }
}

fn assert_clean(what: &str, text: &str) {
    for (name, form) in forms(VALUE) {
        assert!(
            !text.contains(&form),
            "{what} holds the {name} form: {text}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn the_engine_scrubs_every_error_of_a_run() -> Result<()> {
    let capture = LogCapture::default();
    let _guard = capture.install();
    let source = Arc::new(StaticSource::new(
        SecretSet::new("prod").with("DB_PASSWORD", VALUE),
    ));
    let fingerprinter = Fingerprinter::new(b"scrub-test-hmac-key-0123456789abcdef".to_vec())?;
    let syncer = Syncer::builder()
        .source(source.clone())
        .destination(Arc::new(Quoting {
            memory: MemoryDestination::builder().build(),
            fail_list_with: None,
        }))
        .state(Arc::new(MemoryStateStore::default()), fingerprinter)
        .build()?;
    let report = syncer.sync().await?;
    assert_eq!(report.counts.failed, 1, "{report:?}");
    let error = report.keys[0].error.as_ref().expect("the key's error");
    assert!(error.message().contains("[REDACTED]"), "{error}");
    assert_clean("the report", &format!("{report:?} {report}"));
    assert_clean(
        "the report's JSON",
        &serde_json::to_string(&report).unwrap_or_default(),
    );
    assert_clean(
        "the error's cause",
        &std::error::Error::source(error)
            .map(ToString::to_string)
            .unwrap_or_default(),
    );
    assert_clean(
        "the status",
        &serde_json::to_string(&syncer.status()).unwrap_or_default(),
    );

    // An error that ends the operation itself is scrubbed too.
    let failing = Syncer::builder()
        .source(source)
        .destination(Arc::new(Quoting {
            memory: MemoryDestination::builder().build(),
            fail_list_with: Some(VALUE.to_owned()),
        }))
        .build()?;
    for result in [
        failing.sync().await.map(|_| ()),
        failing.plan().await.map(|_| ()),
        failing.remove().await.map(|_| ()),
    ] {
        let err = result.expect_err("the list fails");
        assert!(err.message().contains("[REDACTED]"), "{err}");
        assert_clean("the operation's error", &format!("{err} {err:?}"));
    }
    assert_clean(
        "the status",
        &serde_json::to_string(&failing.status()).unwrap_or_default(),
    );
    let logs = capture.text();
    assert!(
        logs.contains("[REDACTED]"),
        "the capture saw the errors: {logs}"
    );
    assert_clean("the logs", &logs);
    Ok(())
}

#[test]
fn a_json_body_echoed_inside_a_url_encoded_text_is_removed() {
    // A service that URL-encodes the JSON body it received: the value arrives JSON-escaped,
    // then percent-encoded (found by the edge suite's echo case against Bitbucket).
    let value = "canary q\"uote \\back & a+b ü€ end";
    let scrubber = Scrubber::of([value]);
    let body = serde_json::json!({"key": "KMS_A", "value": value}).to_string();
    for encoded in [
        utf8_percent_encode(&body, NON_ALPHANUMERIC).to_string(),
        url::form_urlencoded::byte_serialize(body.as_bytes()).collect::<String>(),
    ] {
        let out = scrubber.scrub(&format!("invalid request: {encoded}"));
        assert!(out.contains("[REDACTED]"), "{out}");
        assert!(!out.contains("canary"), "{out}");
    }
}
