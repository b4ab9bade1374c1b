//! A `tracing` subscriber that keeps every event and every span as text,
//! so tests can check what the library logs and in which span.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use std::sync::{Mutex, OnceLock};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// The events logged in this process so far, one line each: the level, the
/// target, then `name=value` for every field (the message as `message=`),
/// then ` in[...]` for each span the event was logged in (innermost last),
/// as [`logged_spans`] writes them.
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

/// The spans opened in this process so far (once [`capture_logs`] ran), one
/// line each: the span's name, then `name=value` for every field given
/// when it was opened and every value recorded later, in that order.
pub fn logged_spans() -> Vec<String> {
    capture()
        .spans
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
            spans: Mutex::new(Vec::new()),
        }));
        tracing::subscriber::set_global_default(CaptureRef(capture))
            .expect("no other global tracing subscriber in the test binary");
        capture
    })
}

struct Capture {
    lines: Mutex<Vec<String>>,
    /// Span `n`'s text at index `n - 1`.
    spans: Mutex<Vec<String>>,
}

thread_local! {
    /// The spans entered on this thread, innermost last.
    static ENTERED: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

struct CaptureRef(&'static Capture);

impl Subscriber for CaptureRef {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, attributes: &Attributes<'_>) -> Id {
        let mut text = attributes.metadata().name().to_owned();
        attributes.record(&mut Fields(&mut text));
        let mut spans = self.0.spans.lock().unwrap_or_else(|p| p.into_inner());
        spans.push(text);
        Id::from_u64(spans.len() as u64)
    }

    fn record(&self, id: &Id, values: &Record<'_>) {
        let mut spans = self.0.spans.lock().unwrap_or_else(|p| p.into_inner());
        let index = usize::try_from(id.into_u64() - 1).unwrap_or(usize::MAX);
        if let Some(text) = spans.get_mut(index) {
            values.record(&mut Fields(text));
        }
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let mut line = format!("{} {}", metadata.level(), metadata.target());
        event.record(&mut Fields(&mut line));
        let spans = self
            .0
            .spans
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        ENTERED.with(|entered| {
            for id in entered.borrow().iter() {
                let index = usize::try_from(id - 1).unwrap_or(usize::MAX);
                if let Some(span) = spans.get(index) {
                    let _ = write!(line, " in[{span}]");
                }
            }
        });
        self.0
            .lines
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(line);
    }

    fn enter(&self, id: &Id) {
        ENTERED.with(|entered| entered.borrow_mut().push(id.into_u64()));
    }

    fn exit(&self, id: &Id) {
        ENTERED.with(|entered| {
            let mut entered = entered.borrow_mut();
            if let Some(at) = entered
                .iter()
                .rposition(|entered| *entered == id.into_u64())
            {
                entered.remove(at);
            }
        });
    }
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
