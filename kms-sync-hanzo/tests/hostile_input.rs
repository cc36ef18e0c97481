//! Hostile bodies (see `kms_sync_testkit::hostile`) against the KMS source's parsers: the
//! secrets list and the login answer. A set of secrets or a clear, short `Source` error;
//! never a panic, never a partial set.

use kms_sync_core::{ErrorKind, SecretSource};
use kms_sync_hanzo::fake::FakeKms;
use kms_sync_testkit::hostile::{nasty_bodies, random_bodies};
use kms_sync_testkit::{Aim, Fault};

const SECRETS: &str = "/api/v3/secrets/raw";
const LOGIN: &str = "/api/v1/auth/universal-auth/login";

const FIELDS: &[&str] = &[
    "secrets",
    "imports",
    "secretKey",
    "secretValue",
    "secretPath",
    "environment",
    "type",
    "version",
    "id",
    "workspace",
    "secretValueHidden",
    "accessToken",
    "expiresIn",
    "accessTokenMaxTTL",
    "tokenType",
];

fn started(rt: &tokio::runtime::Runtime) -> FakeKms {
    let fake = rt.block_on(FakeKms::start());
    fake.set("dev", "/", "DATABASE_URL", "postgres://db");
    fake
}

/// Serves `body` once at `path` and loads: the answer is a set, or a short, typed error
/// (always an error when `must_fail`).
async fn load_survives(fake: &FakeKms, path: &str, what: &str, body: Vec<u8>, must_fail: bool) {
    let source = fake.source("dev", "/");
    fake.faults().reset();
    fake.faults()
        .push_aimed(Aim::Prefix(path.to_owned()), Fault::Body(body));
    let result = source.load().await;
    let served = fake.faults().log().iter().any(|r| r.path == path);
    fake.faults().reset();
    assert!(served, "{what}: {path} was never requested");
    if must_fail {
        assert!(
            result.is_err(),
            "{what} at {path}: read as an answer: {result:?}"
        );
    }
    match result {
        // A secrets body that parses is what the KMS said.
        Ok(_) if path == SECRETS => {}
        // A login answer with an unknown token is refused by the KMS; the source logs in
        // once more and reads the fake's one secret.
        Ok(set) => assert_eq!(set.len(), 1, "{what}: a partial or invented set"),
        Err(e) => {
            assert!(
                matches!(
                    e.kind(),
                    ErrorKind::Source | ErrorKind::Unexpected | ErrorKind::Unauthenticated
                ),
                "{what}: an error of the wrong kind: {e:?}"
            );
            assert!(e.to_string().len() < 2_000, "{what}: a sprawling error");
        }
    }
}

#[test]
fn nasty_bodies_get_clear_errors() {
    let rt = kms_sync_testkit::runtime();
    let fake = started(&rt);
    for path in [SECRETS, LOGIN] {
        for body in nasty_bodies() {
            rt.block_on(load_survives(
                &fake,
                path,
                body.name,
                body.bytes,
                body.must_fail,
            ));
        }
    }
}

#[test]
fn random_secret_lists_never_panic() {
    let rt = kms_sync_testkit::runtime();
    let fake = started(&rt);
    random_bodies(FIELDS, 256, |body| {
        rt.block_on(load_survives(
            &fake,
            SECRETS,
            "a random secrets body",
            body,
            false,
        ));
    });
}

#[test]
fn random_login_answers_never_panic() {
    let rt = kms_sync_testkit::runtime();
    let fake = started(&rt);
    random_bodies(FIELDS, 256, |body| {
        rt.block_on(load_survives(
            &fake,
            LOGIN,
            "a random login body",
            body,
            false,
        ));
    });
}
