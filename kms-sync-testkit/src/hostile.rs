//! Hostile input for parsers: random JSON built from the field names a service uses (so the
//! shapes come close to real ones and types get confused), fixed nasty bodies (huge, deeply
//! nested, invalid UTF-8), and a check that runs any body through a destination's real
//! list path — an answer or a clear, short, typed error, never a panic.
//!
//! ```
//! use kms_sync_testkit::hostile;
//! let bodies = hostile::nasty_bodies();
//! assert!(bodies.iter().any(|b| b.name == "invalid UTF-8" && b.must_fail));
//! ```

use proptest::prelude::*;
use serde_json::{Map, Value};

use kms_sync_core::ErrorKind;

use crate::fault::{Aim, Fault};
use crate::matrix::FaultTarget;

/// Random JSON whose object keys are drawn mostly from `fields` (the service's own names),
/// nested up to four levels, with strings, numbers, booleans and nulls in every position.
pub fn json_like(fields: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        "\\PC{0,12}".prop_map(Value::String),
        Just(Value::String("${other.KEY}".to_owned())),
        Just(Value::String("http://203.0.113.9/next?page=2".to_owned())),
    ];
    leaf.prop_recursive(4, 48, 8, move |inner| {
        let key = prop_oneof![
            4 => proptest::sample::select(fields).prop_map(str::to_owned),
            1 => "[a-zA-Z]{1,8}",
        ];
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::vec((key, inner), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// A body no parser should choke on, and whether every reader must refuse it.
#[derive(Debug, Clone)]
pub struct NastyBody {
    /// What it is, for messages.
    pub name: &'static str,
    /// The bytes.
    pub bytes: Vec<u8>,
    /// No list, lookup or login answer can be read from it (`{}` and `[]` can be: an empty
    /// array is an empty Checkly page).
    pub must_fail: bool,
}

/// Bodies no parser should choke on: over the 16 MiB cap, nested 100,000 deep, invalid
/// UTF-8, NUL bytes, empty, and valid JSON of every wrong top-level type.
pub fn nasty_bodies() -> Vec<NastyBody> {
    let deep = {
        let mut s = "[".repeat(100_000);
        s.push_str(&"]".repeat(100_000));
        s.into_bytes()
    };
    let huge = {
        let mut s = String::from("{\"values\": [\"");
        s.push_str(&"x".repeat(17 * 1024 * 1024));
        s.push_str("\"]}");
        s.into_bytes()
    };
    let body = |name, bytes: Vec<u8>, must_fail| NastyBody {
        name,
        bytes,
        must_fail,
    };
    vec![
        body("over the body cap", huge, true),
        body("nested 100,000 deep", deep, true),
        body(
            "invalid UTF-8",
            b"{\"values\": [\"\xff\xfe\xfd\"]}".to_vec(),
            true,
        ),
        body("NUL bytes", b"\0\0\0".to_vec(), true),
        body("empty", Vec::new(), true),
        body("null", b"null".to_vec(), true),
        body("a number", b"42".to_vec(), true),
        body("a string", b"\"values\"".to_vec(), true),
        body("an empty object", b"{}".to_vec(), false),
        body("an empty array", b"[]".to_vec(), false),
    ]
}

/// Serves `body` as the answer to the target's next list request and reads the list: the
/// destination either returns a snapshot or an error that is typed, short and says what
/// went wrong. Retries are not involved (a 200 with a bad body is not retried).
///
/// # Panics
///
/// When the destination panics (the test then fails there) or returns an error that is
/// untyped or sprawling.
pub async fn list_survives<T: FaultTarget + ?Sized>(target: &T, what: &str, body: Vec<u8>) {
    let list = target.list_path();
    survives(target, Aim::get(list.clone()), &list, what, body, false).await;
}

/// As [`list_survives`] for a [`NastyBody`]: one that must fail may not come back as a list.
///
/// # Panics
///
/// As [`list_survives`], and when a body that must fail is read as a list.
pub async fn nasty_list_survives<T: FaultTarget + ?Sized>(target: &T, body: NastyBody) {
    let list = target.list_path();
    survives(
        target,
        Aim::get(list.clone()),
        &list,
        body.name,
        body.bytes,
        body.must_fail,
    )
    .await;
}

/// Serves `body` as the answer to the first request `aim` matches (a request whose path
/// starts with `path` must then have been made), reads the list, and checks the outcome as
/// [`list_survives`] does.
async fn survives<T: FaultTarget + ?Sized>(
    target: &T,
    aim: Aim,
    path: &str,
    what: &str,
    body: Vec<u8>,
    must_fail: bool,
) {
    let faults = target.faults();
    faults.reset();
    faults.push_aimed(aim, Fault::Body(body));
    let result = target.destination().list().await;
    let served = faults.log().iter().any(|r| r.path.starts_with(path));
    faults.reset();
    assert!(served, "{what}: {path} was never requested");
    if must_fail {
        assert!(result.is_err(), "{what}: read as a list: {result:?}");
    }
    if let Err(e) = result {
        let shown = e.to_string();
        assert!(
            // Unexpected: the body is not what the service sends. IncompleteRead: it lacks a
            // list or a field a later write would send back. Conflict and Unsupported:
            // it is, and describes a state kms-sync refuses to write to. Config: it is, and
            // contradicts the configuration (a scope the project does not have). NotFound: it
            // is a lookup's answer without the named environment, group or project.
            matches!(
                e.kind(),
                ErrorKind::Unexpected
                    | ErrorKind::IncompleteRead
                    | ErrorKind::NotFound
                    | ErrorKind::Conflict
                    | ErrorKind::Unsupported
                    | ErrorKind::Config
            ),
            "{what}: an error of the wrong kind: {e:?}"
        );
        assert!(
            shown.len() < 2_000,
            "{what}: the error runs to {} characters",
            shown.len()
        );
    }
}

/// Runs [`list_survives`] for `cases` random bodies from [`json_like`]`(fields)` against one
/// target from `factory`, on its own runtime (see [`random_bodies`]).
///
/// # Panics
///
/// On the first body the destination does not survive (after shrinking).
pub fn random_list_bodies<T, F, Fut>(factory: F, fields: &'static [&'static str], cases: u32)
where
    T: FaultTarget,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let runtime = crate::runtime();
    let target = runtime.block_on(factory());
    random_bodies(fields, cases, |body| {
        runtime.block_on(list_survives(&target, "a random JSON body", body));
    });
}

/// For `cases` random bodies from [`json_like`]`(fields)`: a fresh target from `factory`
/// whose very first request gets the body as its answer — the lookups a destination makes
/// before it lists (a Bitbucket environment, a Checkly group, an Octopus project and space),
/// or the list itself where there are none.
///
/// # Panics
///
/// On the first body the destination does not survive (after shrinking).
pub fn random_first_answers<T, F, Fut>(factory: F, fields: &'static [&'static str], cases: u32)
where
    T: FaultTarget,
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let runtime = crate::runtime();
    random_bodies(fields, cases, |body| {
        runtime.block_on(async {
            let target = factory().await;
            survives(&target, Aim::Any, "/", "a random first answer", body, false).await;
        });
    });
}

/// Calls `check` with `cases` random bodies from [`json_like`]`(fields)`, from a fixed seed
/// (the same bodies every run). `check` panics on a violation; the failing body is then
/// shrunk to the smallest that still fails, and reported.
///
/// ```
/// kms_sync_testkit::hostile::random_bodies(&["key", "value"], 16, |body| {
///     let _ = serde_json::from_slice::<serde_json::Value>(&body);
/// });
/// ```
///
/// # Panics
///
/// When `check` does, after shrinking.
pub fn random_bodies(fields: &'static [&'static str], cases: u32, check: impl Fn(Vec<u8>)) {
    let mut runner = proptest::test_runner::TestRunner::new_with_rng(
        proptest::test_runner::Config {
            cases,
            failure_persistence: None,
            ..proptest::test_runner::Config::default()
        },
        proptest::test_runner::TestRng::deterministic_rng(
            proptest::test_runner::RngAlgorithm::ChaCha,
        ),
    );
    let outcome = runner.run(&json_like(fields), |body| {
        check(body.to_string().into_bytes());
        Ok(())
    });
    if let Err(e) = outcome {
        panic!("{e}");
    }
}

/// Generates the hostile-input tests for a target factory: every body of
/// [`nasty_bodies`] and 256 random bodies built from `fields` (the service's field names),
/// each served as the list's answer, and 128 random bodies as a fresh destination's first
/// answer (its lookups).
///
/// ```ignore
/// kms_sync_testkit::hostile_input_suite!(FakeTarget::repository, &["values", "next", "size"]);
/// ```
#[macro_export]
macro_rules! hostile_input_suite {
    ($factory:path, $fields:expr) => {
        #[test]
        fn nasty_list_bodies_get_clear_errors() {
            $crate::run_case(async {
                let target = $factory().await;
                for body in $crate::hostile::nasty_bodies() {
                    $crate::hostile::nasty_list_survives(&target, body).await;
                }
            });
        }

        #[test]
        fn random_list_bodies_never_panic() {
            $crate::hostile::random_list_bodies($factory, $fields, 256);
        }

        #[test]
        fn random_first_answers_never_panic() {
            $crate::hostile::random_first_answers($factory, $fields, 128);
        }
    };
}
