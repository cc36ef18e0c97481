//! Capturing `tracing` output in a buffer, to prove secrets never reach a log.
//!
//! One global TRACE subscriber is installed per test process (the first time a capture is
//! installed) and writes each event into the buffer of the capture active on the current
//! thread. A global subscriber keeps every callsite enabled: with only thread-scoped
//! subscribers, tests running in parallel can make `tracing` cache a callsite as disabled, and
//! a capture would then silently miss lines — which would make the canary test weaker than it
//! looks.

use std::cell::RefCell;
use std::io::Write;
use std::marker::PhantomData;
use std::sync::{Arc, Mutex, OnceLock};

use tracing_subscriber::fmt::MakeWriter;

type Buffer = Arc<Mutex<Vec<u8>>>;

thread_local! {
    static ACTIVE: RefCell<Option<Buffer>> = const { RefCell::new(None) };
}

static GLOBAL: OnceLock<bool> = OnceLock::new();

/// A buffer that collects everything `tracing` logs on this thread while installed.
///
/// ```
/// use kms_sync_testkit::LogCapture;
/// let capture = LogCapture::default();
/// {
///     let _guard = capture.install();
///     tracing::info!(key = "A", "hello");
/// }
/// assert!(capture.text().contains("hello"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct LogCapture {
    buffer: Buffer,
}

enum Scope {
    Thread(PhantomData<*const ()>),
    Dispatcher {
        _guard: tracing::dispatcher::DefaultGuard,
    },
}

/// Keeps a [`LogCapture`] installed on this thread until dropped.
#[must_use = "the capture stops when the guard is dropped"]
pub struct CaptureGuard {
    scope: Scope,
}

impl std::fmt::Debug for CaptureGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CaptureGuard")
    }
}

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        if let Scope::Thread(_) = self.scope {
            ACTIVE.with(|a| *a.borrow_mut() = None);
        }
    }
}

impl LogCapture {
    /// Captures TRACE-level output of the current thread (a current-thread runtime keeps
    /// every task of a test on it) until the guard is dropped. If another global subscriber
    /// was installed first, falls back to a thread-scoped one.
    pub fn install(&self) -> CaptureGuard {
        let global = *GLOBAL.get_or_init(|| {
            let subscriber = tracing_subscriber::fmt()
                .with_max_level(tracing::Level::TRACE)
                .with_writer(ThreadWriters)
                .with_ansi(false)
                .finish();
            tracing::subscriber::set_global_default(subscriber).is_ok()
        });
        if global {
            ACTIVE.with(|a| *a.borrow_mut() = Some(self.buffer.clone()));
            return CaptureGuard {
                scope: Scope::Thread(PhantomData),
            };
        }
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(self.clone())
            .with_ansi(false)
            .finish();
        CaptureGuard {
            scope: Scope::Dispatcher {
                _guard: tracing::dispatcher::set_default(&tracing::Dispatch::new(subscriber)),
            },
        }
    }

    /// Everything captured so far.
    pub fn text(&self) -> String {
        self.buffer
            .lock()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

/// Writes into one capture's buffer, or into the current thread's active capture.
#[derive(Debug)]
pub struct CaptureWriter {
    buffer: Option<Buffer>,
}

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let target = self
            .buffer
            .clone()
            .or_else(|| ACTIVE.with(|a| a.borrow().clone()));
        if let Some(target) = target {
            if let Ok(mut b) = target.lock() {
                b.extend_from_slice(buf);
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

struct ThreadWriters;

impl<'a> MakeWriter<'a> for ThreadWriters {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> Self::Writer {
        CaptureWriter { buffer: None }
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> Self::Writer {
        CaptureWriter {
            buffer: Some(self.buffer.clone()),
        }
    }
}
