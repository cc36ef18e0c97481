//! Capturing `tracing` output in a buffer, to prove secrets never reach a log.

use std::io::Write;
use std::sync::{Arc, Mutex};

use tracing_subscriber::fmt::MakeWriter;

/// A buffer that collects everything a `tracing` subscriber writes.
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
    buffer: Arc<Mutex<Vec<u8>>>,
}

/// Keeps a [`LogCapture`] installed for this thread until dropped.
#[must_use = "the capture stops when the guard is dropped"]
pub struct CaptureGuard {
    _guard: tracing::dispatcher::DefaultGuard,
}

impl std::fmt::Debug for CaptureGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CaptureGuard")
    }
}

impl LogCapture {
    /// Installs a TRACE-level subscriber writing into this buffer as the current thread's
    /// default (a current-thread runtime keeps every task of a test on that thread).
    pub fn install(&self) -> CaptureGuard {
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(self.clone())
            .with_ansi(false)
            .finish();
        CaptureGuard {
            _guard: tracing::dispatcher::set_default(&tracing::Dispatch::new(subscriber)),
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

/// The writer handed to the subscriber.
#[derive(Debug)]
pub struct CaptureWriter {
    buffer: Arc<Mutex<Vec<u8>>>,
}

impl Write for CaptureWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut b) = self.buffer.lock() {
            b.extend_from_slice(buf);
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for LogCapture {
    type Writer = CaptureWriter;
    fn make_writer(&'a self) -> Self::Writer {
        CaptureWriter {
            buffer: self.buffer.clone(),
        }
    }
}
