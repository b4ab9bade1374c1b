//! A `tracing` subscriber that keeps every event as text, so tests can check
//! what the library logs.

use std::fmt::{self, Write as _};
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// The events logged in this process so far, one line each: the level, the
/// target, then `name=value` for every field (the message as `message=`).
///
/// The first call installs the capturing subscriber as the global default;
/// events logged before it are not seen.
pub fn logged_events() -> Vec<String> {
    capture()
        .lines
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone()
}

/// Installs the capturing subscriber (idempotent). Call it before the code
/// whose events a test wants to see.
pub fn capture_logs() {
    let _ = capture();
}

fn capture() -> &'static Capture {
    static CAPTURE: OnceLock<&'static Capture> = OnceLock::new();
    CAPTURE.get_or_init(|| {
        let capture: &'static Capture = Box::leak(Box::new(Capture {
            lines: Mutex::new(Vec::new()),
        }));
        tracing::subscriber::set_global_default(CaptureRef(capture))
            .expect("no other global tracing subscriber in the test binary");
        capture
    })
}

struct Capture {
    lines: Mutex<Vec<String>>,
}

struct CaptureRef(&'static Capture);

impl Subscriber for CaptureRef {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }

    fn record(&self, _: &Id, _: &Record<'_>) {}

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let mut line = format!("{} {}", metadata.level(), metadata.target());
        event.record(&mut Fields(&mut line));
        self.0
            .lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line);
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

struct Fields<'a>(&'a mut String);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }
}
