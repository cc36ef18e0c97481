//! The fault matrix: one test per fault a service can throw at a sync, for every destination
//! whose fake is served through a [`FaultServer`](crate::FaultServer).
//!
//! Every cell runs the same story. A clean first sync writes three managed keys next to
//! foreign ones. Then the source changes (one update, one delete, three creates, one key
//! unchanged), a fault is armed, and the sync runs into it. Whatever happens, the cell
//! checks that:
//!
//! - the run either converged to the model or stopped with an error of a kind the fault
//!   explains (a typed error, never a panic or a wrong success);
//! - the report names every key that was not applied (as failed or skipped);
//! - no foreign key was touched;
//! - no delete happened after a failed write;
//! - an error before any write (a list that could not be read) left the destination as it
//!   was, with zero write requests;
//! - with the fault gone, the next sync converges, and the one after writes nothing.
//!
//! Faults the client retries (429 in each `Retry-After` form, 5xx bursts, a dropped or
//! stalled read) must converge in the faulted run itself.
//!
//! ```
//! # use kms_sync_testkit::matrix;
//! assert!(matrix::CELLS.contains(&"write_server_errors"));
//! ```

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kms_sync_core::{
    async_trait, ChangeKind, Destination, ErrorKind, Fingerprinter, KeyStatus, MemoryStateStore,
    SecretSet, StaticSource, SyncReport, Syncer, WriteMode,
};

use crate::fault::{Aim, Fault, Faults};
use crate::target::ConformanceTarget;

/// How a destination reads its scope, which decides what a lying page sequence looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// The whole scope comes in one response (an Octopus variable set, a Checkly group):
    /// there is no page sequence to break.
    OneResponse,
    /// Pages without a total (Checkly's bare arrays): a sequence cut short looks exactly like
    /// the end of the list, so no client can detect it; a repeated page can be.
    Uncounted,
    /// Pages that report the total (Bitbucket's `size`): a short sequence is detectable.
    Counted,
}

/// A [`ConformanceTarget`] whose fake can be made to fail: the fault schedule of the server
/// behind it, and where its list lives.
#[async_trait]
pub trait FaultTarget: ConformanceTarget + 'static {
    /// The fault schedule of the fake's server.
    fn faults(&self) -> &Faults;

    /// The path of the `GET` that lists the destination's entries, as the fake sees it
    /// (every page of the list starts with it).
    fn list_path(&self) -> String;

    /// How the destination reads its scope.
    fn paging(&self) -> Paging;

    /// For paged lists: the body of an empty page from a service that claims `total` entries
    /// overall (where pages carry no total, `total` is ignored). Never called for
    /// [`Paging::OneResponse`].
    fn empty_page(&self, total: usize) -> String;

    /// The per-attempt timeout the destination was built with; a stalled response lasts
    /// longer than this.
    fn attempt_timeout(&self) -> Duration;
}

/// Every cell, by name: the list [`for_each_cell!`](crate::for_each_cell) declares, from
/// which [`fault_matrix!`](crate::fault_matrix) generates one test per name.
pub const CELLS: &[&str] = crate::for_each_cell!(names_of!());

/// Calls a macro with the name of every fault-matrix cell, the one place the list is
/// declared: `for_each_cell!(path::to::callback!(args…))` expands to
/// `path::to::callback! { args… list_rate_limited_seconds, …, race_between_list_and_write, }`
/// (each name is a function in [`matrix`](crate::matrix)). [`CELLS`] and
/// [`fault_matrix!`](crate::fault_matrix) are built from it; adding a cell is one line here
/// and its function.
///
/// ```
/// macro_rules! count {
///     ($($cell:ident),* $(,)?) => { [$(stringify!($cell)),*].len() };
/// }
/// let cells = kms_sync_testkit::for_each_cell!(count!());
/// assert_eq!(cells, kms_sync_testkit::matrix::CELLS.len());
/// ```
#[macro_export]
macro_rules! for_each_cell {
    ($($callback:ident)::+ ! ( $($args:tt)* )) => {
        $($callback)::+ ! { $($args)*
            list_rate_limited_seconds,
            list_rate_limited_date,
            list_rate_limited_bare,
            list_server_errors,
            list_dropped,
            list_stalled,
            list_malformed,
            list_truncated,
            write_rate_limited_seconds,
            write_rate_limited_date,
            write_rate_limited_bare,
            write_server_errors,
            write_dropped,
            write_stalled,
            write_malformed,
            write_truncated,
            write_answered_but_not_applied,
            writes_unavailable_throughout,
            short_page_sequence,
            looping_page_sequence,
            race_between_list_and_write,
        }
    };
}

/// The key schema the cells sync with.
pub const SCHEMA: &str = "KMS_{{secretKey}}";

/// Foreign entries present in every cell: not the schema's, never to be touched.
const FOREIGN: &[(&str, &str)] = &[("THEIRS_TOKEN", "theirs-1"), ("deploy_hook", "theirs-2")];

/// What the faulted run may do.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Must apply everything (the client absorbs the fault).
    Converge,
    /// May converge, or stop with one of these kinds.
    ConvergeOr(&'static [ErrorKind]),
    /// Must not converge; stops with one of these kinds.
    Fail(&'static [ErrorKind]),
}

impl Expect {
    fn allows(self, kind: ErrorKind) -> bool {
        match self {
            Expect::Converge => false,
            Expect::ConvergeOr(kinds) | Expect::Fail(kinds) => kinds.contains(&kind),
        }
    }
}

/// One cell: which faults to arm and what the faulted run may do.
struct Cell {
    name: &'static str,
    faults: Vec<(Aim, Fault)>,
    expect: Expect,
    /// Another writer adds a key we are about to create, and a foreign key, between our
    /// list and our write.
    race: bool,
    /// Foreign filler entries, so the list spans several pages.
    fillers: usize,
    /// Wait this long after the faulted run (a stalled handler may still be sleeping).
    settle: Duration,
    /// The fault cannot be detected by any client (a short page sequence without a total):
    /// a faulted run may report success without reaching the model, but must still touch
    /// nothing foreign, delete nothing it should keep, and heal on the next sync.
    undetectable: bool,
}

impl Cell {
    fn new(name: &'static str, expect: Expect) -> Cell {
        Cell {
            name,
            faults: Vec::new(),
            expect,
            race: false,
            fillers: 0,
            settle: Duration::ZERO,
            undetectable: false,
        }
    }

    fn arm(mut self, aim: Aim, faults: impl IntoIterator<Item = Fault>) -> Cell {
        self.faults
            .extend(faults.into_iter().map(|fault| (aim.clone(), fault)));
        self
    }
}

fn ok<T, E: Debug>(result: Result<T, E>, what: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("{what} failed: {e:?}"),
    }
}

fn set(pairs: &[(&str, &str)]) -> SecretSet {
    let mut s = SecretSet::new("matrix");
    for (k, v) in pairs {
        s.insert(*k, *v);
    }
    s
}

/// The source before the fault: three keys.
fn first_source() -> SecretSet {
    set(&[("KEEP", "keep-1"), ("GONE", "gone-1"), ("STAY", "stay-1")])
}

/// The source the faulted run syncs: KEEP updated, GONE removed, STAY as it was, three new.
fn second_source() -> SecretSet {
    set(&[
        ("KEEP", "keep-2"),
        ("STAY", "stay-1"),
        ("NEW_A", "new-a"),
        ("NEW_B", "new-b"),
        ("NEW_C", "new-c"),
    ])
}

/// The managed part of the destination once the second source is synced.
fn managed_model() -> BTreeMap<String, String> {
    [
        ("KMS_KEEP", "keep-2"),
        ("KMS_STAY", "stay-1"),
        ("KMS_NEW_A", "new-a"),
        ("KMS_NEW_B", "new-b"),
        ("KMS_NEW_C", "new-c"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

fn filler(i: usize) -> (String, String) {
    (format!("FILLER_{i:04}"), format!("filler-{i}"))
}

fn writes_in(faults: &Faults, from: usize) -> Vec<String> {
    faults
        .log()
        .iter()
        .skip(from)
        .filter(|r| r.method != "GET" && r.method != "HEAD")
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

fn fingerprinter() -> Fingerprinter {
    ok(
        Fingerprinter::new(b"fault-matrix-hmac-key-0123456789abcdef".to_vec()),
        "a fingerprinter",
    )
}

/// Runs one cell against a target.
async fn run_cell<T: FaultTarget>(target: Arc<T>, cell: Cell) {
    let name = cell.name;
    let faults = target.faults().clone();
    let batch = target.destination().writer().mode() == WriteMode::Batch;

    // The foreign entries, and fillers to make the list span pages.
    let mut foreign: BTreeMap<String, String> = FOREIGN
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let room = target.max_entries().saturating_sub(20);
    for i in 0..cell.fillers.min(room) {
        let (k, v) = filler(i);
        foreign.insert(k, v);
    }
    for (k, v) in &foreign {
        ok(target.seed(k, v).await, "seeding a foreign entry");
    }

    // A destination that lets another writer in before the faulted run's first apply.
    let armed = Arc::new(AtomicBool::new(false));
    let destination: Arc<dyn Destination> = if cell.race {
        let racer = target.clone();
        let armed = armed.clone();
        Arc::new(crate::before_apply(target.destination(), move |_| {
            let fire = armed.swap(false, Ordering::SeqCst);
            let racer = racer.clone();
            async move {
                if fire {
                    ok(racer.seed("KMS_NEW_A", "raced").await, "the racing write");
                    ok(racer.seed("RACER_KEY", "racer").await, "the racing write");
                }
            }
        }))
    } else {
        target.destination()
    };
    if cell.race {
        foreign.insert("RACER_KEY".to_owned(), "racer".to_owned());
    }

    let source = Arc::new(StaticSource::new(first_source()).named("matrix"));
    let syncer = ok(
        Syncer::builder()
            .id("matrix")
            .source(source.clone())
            .destination(destination)
            .key_schema_template(SCHEMA)
            .state(Arc::new(MemoryStateStore::default()), fingerprinter())
            .build(),
        "building the syncer",
    );
    let first = ok(syncer.sync().await, "the clean first sync");
    assert!(first.is_success(), "[{name}] the clean first sync: {first}");

    let before = ok(target.contents().await, "reading the service");
    ok(source.replace(second_source()), "changing the source");
    for (aim, fault) in cell.faults.iter().cloned() {
        faults.push_aimed(aim, fault);
    }
    armed.store(true, Ordering::SeqCst);
    let mark = faults.count();

    let result = syncer.sync().await;

    let writes = writes_in(&faults, mark);
    faults.reset();
    armed.store(false, Ordering::SeqCst);
    if !cell.settle.is_zero() {
        tokio::time::sleep(cell.settle).await;
    }
    let after = ok(target.contents().await, "reading the service");

    // No foreign key touched, whatever happened.
    for (k, v) in &foreign {
        assert_eq!(
            after.get(k),
            Some(v),
            "[{name}] the foreign key {k} was touched"
        );
    }

    let mut model = managed_model();
    model.extend(foreign.clone());

    match &result {
        Err(e) => {
            assert!(
                cell.expect.allows(e.kind()),
                "[{name}] the sync stopped with an error this fault does not explain: {e:?}"
            );
            assert!(
                writes.is_empty(),
                "[{name}] the sync failed before writing but sent {writes:?}"
            );
            assert_eq!(
                after, before,
                "[{name}] an error before any write changed the destination"
            );
        }
        Ok(report) => check_report(name, &cell, batch, report, &after, &model),
    }
    if matches!(cell.expect, Expect::Converge) {
        match &result {
            Ok(report) if report.is_success() => {}
            other => panic!("[{name}] the client must absorb this fault, got {other:?}"),
        }
    }
    if matches!(cell.expect, Expect::Fail(_)) {
        if let Ok(report) = &result {
            assert!(
                !report.is_success(),
                "[{name}] the fault should have stopped the sync: {report}"
            );
        }
    }

    // With the fault gone, the next sync converges, and the one after writes nothing.
    let healed = ok(syncer.sync().await, "the sync after the fault");
    assert!(
        healed.is_success(),
        "[{name}] the sync after the fault: {healed}"
    );
    let settled = ok(target.contents().await, "reading the service");
    assert_eq!(
        settled, model,
        "[{name}] the destination after the healed sync"
    );
    let mark = faults.count();
    let idle = ok(syncer.sync().await, "the sync after that");
    assert!(idle.is_success(), "[{name}] {idle}");
    assert_eq!(
        idle.counts.applied(),
        0,
        "[{name}] a converged destination needs no writes: {idle}"
    );
    assert_eq!(
        writes_in(&faults, mark),
        Vec::<String>::new(),
        "[{name}] a converged destination got write requests"
    );
}

/// The checks on a faulted run that returned a report.
fn check_report(
    name: &str,
    cell: &Cell,
    batch: bool,
    report: &SyncReport,
    after: &BTreeMap<String, String>,
    model: &BTreeMap<String, String>,
) {
    let expect = cell.expect;
    if cell.undetectable {
        // Only the safe direction is possible: nothing of ours deleted that the source keeps.
        for key in managed_model().keys() {
            if let Some(value) = after.get(key) {
                assert_eq!(Some(value), model.get(key), "[{name}] {key}: {report}");
            }
        }
        return;
    }
    if report.is_success() {
        assert_eq!(
            after, model,
            "[{name}] the report says success but the destination differs from the model: {report}"
        );
        return;
    }
    for key in &report.keys {
        if matches!(key.status, KeyStatus::Failed | KeyStatus::Unconfirmed) {
            let kind = key.error.as_ref().map(|e| e.kind());
            assert!(
                kind.is_some_and(|k| expect.allows(k)),
                "[{name}] {} failed with {kind:?}, which this fault does not explain: {report}",
                key.key
            );
        }
    }
    let not_applied = |key: &str| {
        report.key(key).is_some_and(|k| {
            matches!(
                k.status,
                KeyStatus::Failed
                    | KeyStatus::Unconfirmed
                    | KeyStatus::Skipped
                    | KeyStatus::NotAttempted
            )
        })
    };
    for (key, value) in model {
        if after.get(key) != Some(value) {
            assert!(
                not_applied(key),
                "[{name}] {key} was not applied, and the report does not say so: {report}"
            );
        }
    }
    if after.contains_key("KMS_GONE") {
        assert!(
            not_applied("KMS_GONE"),
            "[{name}] KMS_GONE was not deleted, and the report does not say so: {report}"
        );
    }
    let failed_write = report.keys.iter().any(|k| {
        matches!(k.status, KeyStatus::Failed | KeyStatus::Unconfirmed)
            && matches!(k.change, Some(ChangeKind::Create | ChangeKind::Update))
    });
    // A batch destination writes and deletes in one request: there is no "after" to hold
    // deletes back from, and an unreadable answer fails every key alike.
    if failed_write && !batch {
        assert!(
            after.contains_key("KMS_GONE"),
            "[{name}] a write failed, yet the delete went ahead: {report}"
        );
    }
}

fn list<T: FaultTarget>(target: &T) -> Aim {
    Aim::get(target.list_path())
}

fn stall<T: FaultTarget>(target: &T) -> Duration {
    target.attempt_timeout() + Duration::from_millis(500)
}

fn server_errors() -> [Fault; 3] {
    [Fault::Status(500), Fault::Status(502), Fault::Status(503)]
}

const READ_FAILED: &[ErrorKind] = &[ErrorKind::Unexpected];

/// A list shorter than its reported total is an incomplete read.
const SHORT_READ: &[ErrorKind] = &[ErrorKind::IncompleteRead];

/// A write whose answer cannot be read is unconfirmed, whatever the service did.
const UNCONFIRMED: &[ErrorKind] = &[ErrorKind::Unconfirmed];

/// The list answers 429 with `Retry-After` in seconds once.
pub async fn list_rate_limited_seconds<T: FaultTarget>(target: Arc<T>) {
    let cell = Cell::new("list_rate_limited_seconds", Expect::Converge).arm(
        list(&*target),
        [Fault::RateLimited {
            retry_after_secs: 1,
        }],
    );
    run_cell(target, cell).await;
}

/// The list answers 429 with `Retry-After` as an HTTP date once.
pub async fn list_rate_limited_date<T: FaultTarget>(target: Arc<T>) {
    let cell = Cell::new("list_rate_limited_date", Expect::Converge).arm(
        list(&*target),
        [Fault::RateLimitedUntil(Duration::from_secs(1))],
    );
    run_cell(target, cell).await;
}

/// The list answers 429 without `Retry-After` twice.
pub async fn list_rate_limited_bare<T: FaultTarget>(target: Arc<T>) {
    let cell = Cell::new("list_rate_limited_bare", Expect::Converge).arm(
        list(&*target),
        [Fault::RateLimitedBare, Fault::RateLimitedBare],
    );
    run_cell(target, cell).await;
}

/// The list answers 500, 502 and 503 in a row.
pub async fn list_server_errors<T: FaultTarget>(target: Arc<T>) {
    let cell =
        Cell::new("list_server_errors", Expect::Converge).arm(list(&*target), server_errors());
    run_cell(target, cell).await;
}

/// The connection drops in the middle of the list's answer.
pub async fn list_dropped<T: FaultTarget>(target: Arc<T>) {
    let cell = Cell::new("list_dropped", Expect::Converge).arm(list(&*target), [Fault::Drop]);
    run_cell(target, cell).await;
}

/// The list's answer comes after the per-attempt timeout.
pub async fn list_stalled<T: FaultTarget>(target: Arc<T>) {
    let stall = stall(&*target);
    let mut cell =
        Cell::new("list_stalled", Expect::Converge).arm(list(&*target), [Fault::Stall(stall)]);
    cell.settle = Duration::from_millis(600);
    run_cell(target, cell).await;
}

/// The list's body is not JSON: the sync stops before writing.
pub async fn list_malformed<T: FaultTarget>(target: Arc<T>) {
    let cell = Cell::new("list_malformed", Expect::Fail(READ_FAILED))
        .arm(list(&*target), [Fault::Malformed]);
    run_cell(target, cell).await;
}

/// The list's body stops halfway: the sync stops before writing.
pub async fn list_truncated<T: FaultTarget>(target: Arc<T>) {
    let cell = Cell::new("list_truncated", Expect::Fail(READ_FAILED))
        .arm(list(&*target), [Fault::Truncated]);
    run_cell(target, cell).await;
}

/// A write answers 429 with `Retry-After` in seconds once.
pub async fn write_rate_limited_seconds<T: FaultTarget>(target: Arc<T>) {
    let cell = Cell::new("write_rate_limited_seconds", Expect::Converge).arm(
        Aim::Writes,
        [Fault::RateLimited {
            retry_after_secs: 1,
        }],
    );
    run_cell(target, cell).await;
}

/// A write answers 429 with `Retry-After` as an HTTP date once.
pub async fn write_rate_limited_date<T: FaultTarget>(target: Arc<T>) {
    let cell = Cell::new("write_rate_limited_date", Expect::Converge).arm(
        Aim::Writes,
        [Fault::RateLimitedUntil(Duration::from_secs(1))],
    );
    run_cell(target, cell).await;
}

/// Writes answer 429 without `Retry-After` twice.
pub async fn write_rate_limited_bare<T: FaultTarget>(target: Arc<T>) {
    let cell = Cell::new("write_rate_limited_bare", Expect::Converge).arm(
        Aim::Writes,
        [Fault::RateLimitedBare, Fault::RateLimitedBare],
    );
    run_cell(target, cell).await;
}

/// Writes answer 500, 502 and 503 in a row.
pub async fn write_server_errors<T: FaultTarget>(target: Arc<T>) {
    let cell = Cell::new("write_server_errors", Expect::Converge).arm(Aim::Writes, server_errors());
    run_cell(target, cell).await;
}

/// The connection drops in the middle of a write's answer: a non-idempotent write is not
/// retried (it may have been applied) and is reported unconfirmed.
pub async fn write_dropped<T: FaultTarget>(target: Arc<T>) {
    let cell = Cell::new(
        "write_dropped",
        Expect::ConvergeOr(&[ErrorKind::Unavailable, ErrorKind::Unconfirmed]),
    )
    .arm(Aim::Writes, [Fault::Drop]);
    run_cell(target, cell).await;
}

/// A write's answer comes after the per-attempt timeout: a non-idempotent write is reported
/// unconfirmed (it may have been applied); an idempotent one is retried.
pub async fn write_stalled<T: FaultTarget>(target: Arc<T>) {
    let stall = stall(&*target);
    let mut cell = Cell::new(
        "write_stalled",
        Expect::ConvergeOr(&[ErrorKind::Timeout, ErrorKind::Unconfirmed]),
    )
    .arm(Aim::Writes, [Fault::Stall(stall)]);
    cell.settle = Duration::from_millis(600);
    run_cell(target, cell).await;
}

/// A write is applied but its answer is not JSON.
pub async fn write_malformed<T: FaultTarget>(target: Arc<T>) {
    let cell = Cell::new("write_malformed", Expect::ConvergeOr(UNCONFIRMED))
        .arm(Aim::Writes, [Fault::Malformed]);
    run_cell(target, cell).await;
}

/// A write is applied but its answer stops halfway.
pub async fn write_truncated<T: FaultTarget>(target: Arc<T>) {
    let cell = Cell::new("write_truncated", Expect::ConvergeOr(UNCONFIRMED))
        .arm(Aim::Writes, [Fault::Truncated]);
    run_cell(target, cell).await;
}

/// A write is answered 200 with a body cut short, and the service never applied it (a proxy
/// in between, say). The change must be reported unconfirmed, never applied, and the ledger
/// must not record it: the next sync rewrites it and converges.
pub async fn write_answered_but_not_applied<T: FaultTarget>(target: Arc<T>) {
    let cell = Cell::new("write_answered_but_not_applied", Expect::Fail(UNCONFIRMED)).arm(
        Aim::Writes,
        [Fault::Body(b"{\"variables\": [{\"key".to_vec())],
    );
    run_cell(target, cell).await;
}

/// Every write answers 503 for the whole run: every write fails after its retries, every
/// delete is held back, and the report names each key.
pub async fn writes_unavailable_throughout<T: FaultTarget>(target: Arc<T>) {
    let cell = Cell::new(
        "writes_unavailable_throughout",
        Expect::Fail(&[ErrorKind::Unavailable]),
    )
    .arm(Aim::Writes, std::iter::repeat_n(Fault::Status(503), 400));
    run_cell(target, cell).await;
}

/// The list's second page comes back empty although more entries exist. Where pages carry a
/// total, the sync stops before writing; where they do not (nothing can tell a short sequence
/// from the end), the sync must still touch nothing foreign and converge once the fault goes.
pub async fn short_page_sequence<T: FaultTarget>(target: Arc<T>) {
    let fillers = 2 * target.page_size() + 5;
    let mut cell = match target.paging() {
        Paging::Counted => {
            let total = fillers + FOREIGN.len() + 3;
            Cell::new("short_page_sequence", Expect::Fail(SHORT_READ)).arm(
                list(&*target),
                [
                    Fault::Pass,
                    Fault::Body(target.empty_page(total).into_bytes()),
                ],
            )
        }
        Paging::Uncounted => {
            let mut cell = Cell::new("short_page_sequence", Expect::ConvergeOr(&[])).arm(
                list(&*target),
                [Fault::Pass, Fault::Body(target.empty_page(0).into_bytes())],
            );
            cell.undetectable = true;
            cell
        }
        Paging::OneResponse => Cell::new("short_page_sequence", Expect::Converge),
    };
    cell.fillers = fillers;
    run_cell(target, cell).await;
}

/// After the first page, the service answers every page with the previous one again. Where
/// the list is paged, the sync notices and stops before writing.
pub async fn looping_page_sequence<T: FaultTarget>(target: Arc<T>) {
    let paged = target.paging() != Paging::OneResponse;
    let expect = if paged {
        Expect::Fail(READ_FAILED)
    } else {
        // One response per read: a repeated body is a stale read, which a version check may
        // turn into a lost race.
        Expect::ConvergeOr(&[ErrorKind::Conflict])
    };
    let mut cell = Cell::new("looping_page_sequence", expect).arm(
        list(&*target),
        std::iter::once(Fault::Pass).chain(std::iter::repeat_n(Fault::RepeatPrevious, 50)),
    );
    cell.fillers = 2 * target.page_size() + 5;
    run_cell(target, cell).await;
}

/// Between our list and our write, another writer creates a key we are about to create
/// (a POST answered 409, a stale Octopus `Version`, a Checkly group changed under us) and a
/// foreign key. The sync converges and keeps the foreign key.
pub async fn race_between_list_and_write<T: FaultTarget>(target: Arc<T>) {
    let mut cell = Cell::new("race_between_list_and_write", Expect::Converge);
    cell.race = true;
    run_cell(target, cell).await;
}

/// Generates one `#[test]` per fault-matrix cell for a target factory: an `async fn` taking
/// no arguments and returning a [`FaultTarget`].
///
/// ```ignore
/// mod repository {
///     kms_sync_testkit::fault_matrix!(FakeTarget::repository);
/// }
/// ```
#[macro_export]
macro_rules! fault_matrix {
    ($factory:path) => {
        $crate::for_each_cell!($crate::fault_matrix!(@cells $factory;));
    };
    (@cells $factory:path; $($cell:ident),* $(,)?) => {
        $(
            #[test]
            fn $cell() {
                $crate::run_case(async {
                    let target = ::std::sync::Arc::new($factory().await);
                    $crate::matrix::$cell(target).await;
                });
            }
        )*
    };
}
