//! Showing an apply's progress: an `indicatif` bar on a terminal, a plain line every few
//! seconds otherwise (so CI logs show life), and a "waiting for the rate limit" state.
//!
//! The engine's [`Progress`] counts finished changes (done/total). Whether the run is held
//! back by pacing is read from the HTTP client's own debug events (every request reports how
//! long it waited for a pacing token and a concurrency slot, and the status it got): a
//! [`PaceLayer`] on the tracing subscriber watches them, whatever the log level shown.

use std::io::{IsTerminal, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kms_sync::{Progress, RateBudget};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};

/// A request that waited at least this long for its slot counts as paced.
const PACED_WAIT: Duration = Duration::from_millis(200);

/// What the HTTP client's events say about pacing, shared with the display.
#[derive(Debug, Default)]
pub struct PaceSignal {
    state: Mutex<PaceState>,
}

#[derive(Debug, Default)]
struct PaceState {
    waited_at: Option<Instant>,
    waited: Duration,
    limited_at: Option<Instant>,
}

impl PaceSignal {
    fn record(&self, waited: Option<Duration>, status: Option<u64>) {
        let Ok(mut s) = self.state.lock() else { return };
        let now = Instant::now();
        if let Some(waited) = waited.filter(|w| *w >= PACED_WAIT) {
            s.waited_at = Some(now);
            s.waited = waited;
        }
        if status == Some(429) {
            s.limited_at = Some(now);
        }
    }

    /// The state to show beside the counts, if the run is being held back. `rate` is the
    /// apply's changes per second so far; with a `budget`, waits count as pacing only when
    /// the run goes at about the budget's pace (slow answers queueing for a concurrency slot
    /// are not the rate limit).
    fn state(&self, rate: f64, budget: Option<RateBudget>) -> Option<&'static str> {
        let s = self.state.lock().ok()?;
        let now = Instant::now();
        if s.limited_at
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(10))
        {
            return Some("rate limited by the service (HTTP 429), backing off");
        }
        let recent = s
            .waited_at
            .is_some_and(|at| now.duration_since(at) < (s.waited * 2).max(Duration::from_secs(2)));
        let at_pace = budget.is_none_or(|b| {
            let paced = 0.9 * f64::from(b.requests()) / b.per().as_secs_f64().max(1e-9);
            rate >= 0.5 * paced
        });
        (recent && at_pace).then_some("waiting for the rate limit")
    }
}

/// Watches the HTTP client's per-request debug events for pacing waits and 429s.
pub struct PaceLayer(pub Arc<PaceSignal>);

#[derive(Default)]
struct PaceFields {
    waited_ms: Option<u64>,
    status: Option<u64>,
}

impl Visit for PaceFields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        match field.name() {
            "waited_ms" => self.waited_ms = Some(value),
            "status" => self.status = Some(value),
            _ => {}
        }
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        if let Ok(value) = u64::try_from(value) {
            self.record_u64(field, value);
        }
    }
    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

impl<S: Subscriber> Layer<S> for PaceLayer {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = PaceFields::default();
        event.record(&mut fields);
        if fields.waited_ms.is_some() || fields.status.is_some() {
            self.0
                .record(fields.waited_ms.map(Duration::from_millis), fields.status);
        }
    }
}

/// The bar currently drawn, if any: log lines are written around it.
pub type BarSlot = Arc<Mutex<Option<ProgressBar>>>;

/// Writes one log line to stderr, suspending the bar while it does.
pub fn write_stderr(slot: &BarSlot, bytes: &[u8]) -> std::io::Result<()> {
    let bar = slot.lock().ok().and_then(|b| b.clone());
    let write = || std::io::stderr().lock().write_all(bytes);
    match bar {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

/// How progress is shown.
#[derive(Debug, Clone, Copy)]
pub enum Mode {
    /// An indicatif bar (stderr is a terminal).
    Bar,
    /// A plain line every interval (stderr is a file or a pipe).
    Lines(Duration),
    /// Nothing (`-q`).
    Off,
}

impl Mode {
    /// The bar on a terminal, lines elsewhere, nothing when quiet.
    pub fn choose(quiet: bool, interval: Duration) -> Mode {
        if quiet {
            Mode::Off
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines(interval.max(Duration::from_millis(100)))
        }
    }
}

/// Where an apply is.
enum Phase {
    Reading(Duration),
    Applying {
        done: usize,
        total: usize,
        rate: f64,
        fresh: bool,
    },
    Finished,
}

/// Turns successive done/total readings (taken every [`TICK`]) into phases and rates.
struct Tracker {
    started: Instant,
    /// When the current apply was first seen, and how far it was then.
    apply: Option<(Instant, usize)>,
    last: (usize, usize),
}

/// How often the display reads the counters.
const TICK: Duration = Duration::from_millis(100);

impl Tracker {
    fn new() -> Self {
        Tracker {
            started: Instant::now(),
            apply: None,
            last: (0, 0),
        }
    }

    fn observe(&mut self, progress: &Progress) -> Phase {
        let (done, total) = (progress.done(), progress.total());
        let fresh = total > 0 && (total != self.last.1 || done < self.last.0);
        if fresh {
            self.apply = Some((Instant::now(), done));
        }
        self.last = (done, total);
        match self.apply {
            None => Phase::Reading(self.started.elapsed()),
            Some(_) if done >= total => Phase::Finished,
            Some((at, base)) => Phase::Applying {
                done,
                total,
                rate: done.saturating_sub(base) as f64 / at.elapsed().as_secs_f64().max(1e-3),
                fresh,
            },
        }
    }
}

fn seconds(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// `3.5/s, ETA 4s[, waiting for the rate limit]`.
fn rate_eta(done: usize, total: usize, rate: f64, state: Option<&str>) -> String {
    let eta = (rate > 0.0)
        .then(|| Duration::from_secs_f64(total.saturating_sub(done) as f64 / rate))
        .map_or_else(|| "unknown".to_owned(), seconds);
    let mut text = format!("{rate:.1}/s, ETA {eta}");
    if let Some(state) = state {
        text.push_str(", ");
        text.push_str(state);
    }
    text
}

/// One plain progress line.
fn line(done: usize, total: usize, rate: f64, state: Option<&str>) -> String {
    let percent = done * 100 / total.max(1);
    format!(
        "kms-sync: applying {done}/{total} changes ({percent}%), {}",
        rate_eta(done, total, rate, state)
    )
}

/// The running display; [`Display::stop`] ends it and clears the bar.
pub struct Display {
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

impl Display {
    /// Starts showing `progress` in `mode`.
    pub fn start(
        mode: Mode,
        progress: Arc<Progress>,
        pace: Arc<PaceSignal>,
        budget: Option<RateBudget>,
        slot: BarSlot,
    ) -> Display {
        let (stop, stopped) = watch::channel(false);
        let task = match mode {
            Mode::Off => None,
            Mode::Bar => Some(tokio::spawn(bar_loop(
                progress, pace, budget, slot, stopped,
            ))),
            Mode::Lines(every) => Some(tokio::spawn(line_loop(
                progress, pace, budget, slot, every, stopped,
            ))),
        };
        Display { stop, task }
    }

    /// Stops the display and waits for it to clear the bar.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

async fn line_loop(
    progress: Arc<Progress>,
    pace: Arc<PaceSignal>,
    budget: Option<RateBudget>,
    slot: BarSlot,
    every: Duration,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tracker = Tracker::new();
    let mut ticks = tokio::time::interval(TICK);
    let mut printed = Instant::now();
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = ticks.tick() => {}
        }
        let phase = tracker.observe(&progress);
        if printed.elapsed() < every {
            continue;
        }
        printed = Instant::now();
        let text = match phase {
            Phase::Reading(t) => format!(
                "kms-sync: reading the source and the destination ({})",
                seconds(t)
            ),
            Phase::Applying {
                done, total, rate, ..
            } => line(done, total, rate, pace.state(rate, budget)),
            Phase::Finished => continue,
        };
        let _ = write_stderr(&slot, format!("{text}\n").as_bytes());
    }
}

fn bar_style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar())
}

async fn bar_loop(
    progress: Arc<Progress>,
    pace: Arc<PaceSignal>,
    budget: Option<RateBudget>,
    slot: BarSlot,
    mut stopped: watch::Receiver<bool>,
) {
    let mut tracker = Tracker::new();
    let mut ticks = tokio::time::interval(TICK);
    let set_bar = |bar: Option<ProgressBar>| {
        if let Ok(mut s) = slot.lock() {
            *s = bar;
        }
    };
    let mut bar: Option<ProgressBar> = None;
    loop {
        tokio::select! {
            _ = stopped.changed() => break,
            _ = ticks.tick() => {}
        }
        match tracker.observe(&progress) {
            Phase::Reading(_) => {
                let b = bar.get_or_insert_with(|| {
                    let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                    b.set_style(bar_style("{spinner} {msg} ({elapsed})"));
                    b.set_message("reading the source and the destination");
                    set_bar(Some(b.clone()));
                    b
                });
                b.tick();
            }
            Phase::Applying {
                done,
                total,
                rate,
                fresh,
            } => {
                let b = bar.get_or_insert_with(|| {
                    let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
                    set_bar(Some(b.clone()));
                    b
                });
                if fresh {
                    b.reset();
                    b.set_style(bar_style("{spinner} [{bar:30}] {pos}/{len} changes, {msg}"));
                    b.set_length(total as u64);
                }
                b.set_position(done as u64);
                b.set_message(rate_eta(done, total, rate, pace.state(rate, budget)));
            }
            Phase::Finished => {
                if let Some(b) = bar.take() {
                    b.finish_and_clear();
                    set_bar(None);
                }
            }
        }
    }
    if let Some(b) = bar.take() {
        b.finish_and_clear();
        set_bar(None);
    }
}
