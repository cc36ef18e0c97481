//! The sources that ship in the core: dotenv, environment, static.

use kms_sync_core::*;

fn value(set: &SecretSet, key: &str) -> Option<String> {
    set.get(key).map(|v| v.expose_secret().to_owned())
}

#[test]
fn dotenv_syntax() -> Result<()> {
    let text = r#"
# a comment
export EXPORTED=yes
PLAIN=plain
SINGLE='single $NOT_EXPANDED'
DOUBLE="line one\nline two"
MULTI="first
second"
ESCAPED="quote \" inside"
EMPTY=
HASH=value # trailing comment
"#;
    let set = DotenvSource::parse_str(text, "prod")?;
    assert_eq!(set.environment(), "prod");
    assert_eq!(value(&set, "EXPORTED").as_deref(), Some("yes"));
    assert_eq!(value(&set, "PLAIN").as_deref(), Some("plain"));
    assert_eq!(
        value(&set, "SINGLE").as_deref(),
        Some("single $NOT_EXPANDED")
    );
    assert_eq!(value(&set, "DOUBLE").as_deref(), Some("line one\nline two"));
    assert_eq!(value(&set, "MULTI").as_deref(), Some("first\nsecond"));
    assert_eq!(value(&set, "ESCAPED").as_deref(), Some("quote \" inside"));
    assert_eq!(value(&set, "EMPTY").as_deref(), Some(""));
    assert_eq!(value(&set, "HASH").as_deref(), Some("value"));
    assert_eq!(set.len(), 8);
    Ok(())
}

#[test]
fn dotenv_errors_say_where_without_echoing_the_line() {
    let err =
        DotenvSource::parse_str("GOOD=1\nBAD LINE=topsecret-value\n", "dev").expect_err("bad line");
    assert_eq!(err.kind(), ErrorKind::Source);
    assert!(
        err.to_string().contains("cannot parse line 2, column 5"),
        "{err}"
    );
    assert!(!format!("{err} {err:?}").contains("topsecret"), "{err:?}");
}

/// Item 11: no value ever comes from the process environment or from another line.
#[test]
fn dotenv_values_are_literal_never_from_the_environment() -> Result<()> {
    // A name only this test sets; edition 2021: `set_var` is a safe call.
    std::env::set_var(
        "KMS_SYNC_DOTENV_LITERAL_TEST_SECRET",
        "from-the-environment",
    );
    let text = "PASSWORD=pa$word\n\
                COPY=${KMS_SYNC_DOTENV_LITERAL_TEST_SECRET}\n\
                BARE=$KMS_SYNC_DOTENV_LITERAL_TEST_SECRET\n\
                QUOTED=\"x ${PASSWORD} $PASSWORD\"\n\
                SINGLE='${PASSWORD}'\n\
                ESCAPED=\"a\\$b\"\n";
    let set = DotenvSource::parse_str(text, "dev")?;
    assert_eq!(value(&set, "PASSWORD").as_deref(), Some("pa$word"));
    assert_eq!(
        value(&set, "COPY").as_deref(),
        Some("${KMS_SYNC_DOTENV_LITERAL_TEST_SECRET}")
    );
    assert_eq!(
        value(&set, "BARE").as_deref(),
        Some("$KMS_SYNC_DOTENV_LITERAL_TEST_SECRET")
    );
    assert_eq!(
        value(&set, "QUOTED").as_deref(),
        Some("x ${PASSWORD} $PASSWORD")
    );
    assert_eq!(value(&set, "SINGLE").as_deref(), Some("${PASSWORD}"));
    assert_eq!(value(&set, "ESCAPED").as_deref(), Some("a$b"));
    for (_, v) in set.iter() {
        assert!(!v.expose_secret().contains("from-the-environment"));
    }
    Ok(())
}

#[test]
fn dotenv_duplicate_keys_name_both_lines() {
    let err = DotenvSource::parse_str(
        "A=1\n# comment\nexport B=first-value\nC=3\nB=\"second\nvalue\"\nB=third\n",
        "dev",
    )
    .expect_err("B is set twice");
    assert_eq!(err.kind(), ErrorKind::Source);
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("`B`"), "{shown}");
    assert!(shown.contains("lines 3 and 5"), "{shown}");
    assert!(!shown.contains("value"), "no value echoed: {shown}");
}

#[tokio::test]
async fn dotenv_accepts_a_byte_order_mark_and_crlf() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::unexpected(e.to_string()))?;
    let path = dir.path().join(".env");
    std::fs::write(&path, b"\xEF\xBB\xBFFIRST=1\r\nSECOND=\"two\"\r\n")
        .map_err(|e| Error::unexpected(e.to_string()))?;
    let set = DotenvSource::new(&path, "dev").load().await?;
    assert_eq!(value(&set, "FIRST").as_deref(), Some("1"));
    assert_eq!(value(&set, "SECOND").as_deref(), Some("two"));
    assert_eq!(set.len(), 2);
    Ok(())
}

#[tokio::test]
async fn dotenv_file_is_read_on_every_load() -> Result<()> {
    let dir = tempfile::tempdir().map_err(|e| Error::unexpected(e.to_string()))?;
    let path = dir.path().join(".env");
    std::fs::write(&path, "A=1\n").map_err(|e| Error::unexpected(e.to_string()))?;
    let source = DotenvSource::new(&path, "dev");
    assert_eq!(value(&source.load().await?, "A").as_deref(), Some("1"));
    std::fs::write(&path, "A=2\n").map_err(|e| Error::unexpected(e.to_string()))?;
    assert_eq!(value(&source.load().await?, "A").as_deref(), Some("2"));
    assert!(source.describe().starts_with("dotenv:"));

    let missing = DotenvSource::new(dir.path().join("nope.env"), "dev");
    let err = missing.load().await.expect_err("missing file");
    assert_eq!(err.kind(), ErrorKind::Source);
    assert!(err.to_string().contains("nope.env"), "{err}");
    Ok(())
}

#[tokio::test]
async fn env_source_reads_by_prefix() -> Result<()> {
    // A prefix unique to this test, so parallel tests cannot interfere.
    let prefix = "KMS_SYNC_ENV_SOURCE_TEST_";
    // Edition 2021: `set_var` is a safe call. No other test reads this prefix.
    std::env::set_var(format!("{prefix}API_KEY"), "k");
    std::env::set_var(format!("{prefix}DB"), "d");
    let stripped = EnvSource::new(prefix, "prod").load().await?;
    assert_eq!(stripped.keys().collect::<Vec<_>>(), ["API_KEY", "DB"]);
    assert_eq!(stripped.environment(), "prod");
    let kept = EnvSource::new(prefix, "prod")
        .keep_prefix(true)
        .load()
        .await?;
    assert!(kept.contains_key(&format!("{prefix}DB")));
    Ok(())
}

#[tokio::test]
async fn static_source_revision_follows_changes() -> Result<()> {
    let source = StaticSource::new(SecretSet::new("dev").with("A", "1"));
    let r1 = source.revision().await?;
    assert_eq!(
        r1,
        source.revision().await?,
        "untouched source keeps its revision"
    );
    source.set("B", "2")?;
    let r2 = source.revision().await?;
    assert_ne!(r1, r2);
    source
        .write(vec![("C".into(), SecretValue::new("3"))])
        .await?;
    assert_ne!(r2, source.revision().await?);
    assert_eq!(source.load().await?.len(), 3);
    Ok(())
}
