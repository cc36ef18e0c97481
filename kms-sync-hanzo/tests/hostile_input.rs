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

fn runtime() -> tokio::runtime::Runtime {
    match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => panic!("a runtime: {e}"),
    }
}

fn started(rt: &tokio::runtime::Runtime) -> FakeKms {
    let fake = rt.block_on(FakeKms::start());
    fake.set("dev", "/", "DATABASE_URL", "postgres://db");
    fake
}

/// Serves `body` once at `path` and loads: the answer is a set, or a short `Source` error.
async fn load_survives(fake: &FakeKms, path: &str, what: &str, body: Vec<u8>) {
    let source = fake.source("dev", "/");
    fake.faults().reset();
    fake.faults()
        .push_aimed(Aim::Prefix(path.to_owned()), Fault::Body(body));
    let result = source.load().await;
    let served = fake.faults().log().iter().any(|r| r.path == path);
    fake.faults().reset();
    assert!(served, "{what}: {path} was never requested");
    match result {
        // A login answer the source cannot use is refused; the source logs in once more on
        // the next request, which the fake answers.
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
    let rt = runtime();
    let fake = started(&rt);
    for path in [SECRETS, LOGIN] {
        for (what, body) in nasty_bodies() {
            rt.block_on(load_survives(&fake, path, what, body));
        }
    }
}

#[test]
fn random_secret_lists_never_panic() {
    let rt = runtime();
    let fake = started(&rt);
    random_bodies(FIELDS, 256, |body| {
        rt.block_on(load_survives(&fake, SECRETS, "a random secrets body", body));
    });
}

#[test]
fn random_login_answers_never_panic() {
    let rt = runtime();
    let fake = started(&rt);
    random_bodies(FIELDS, 256, |body| {
        rt.block_on(load_survives(&fake, LOGIN, "a random login body", body));
    });
}
