//! What the servers of the real-browser tests share (the `browser_check`
//! example, tidings-tests' `wt_check`): the check page's results over the
//! `/report` WebSocket, the servers' own checks beside them, and the
//! verdict.
//!
//! The page sends one JSON text message per result,
//! `{"name": "...", "ok": true|false, "detail": "...", "info": false}`, and
//! finally `{"done": true}`. Output lines: `PASS name`, `FAIL name: detail`,
//! `INFO name: detail` (informational results, never a failure), then
//! `NAME: N passed, N failed, N informational`. The pages' side of it is
//! `page_report.js` beside this file, which [`page`] puts into a page.
//!
//! Not an example itself: cargo ignores `examples/common/` (no `main.rs`).
//! `browser_check` declares it with `#[path = "../common/page_report.rs"]`,
//! `wt_check` with
//! `#[path = "../../../runtime-tokio/examples/common/page_report.rs"]`.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use serde::Deserialize;
use tidings_tokio::{Connection, Error};
use tokio::sync::mpsc;

/// The pages' shared script: reporting, the log, step timeouts.
const PAGE_REPORT_JS: &str = include_str!("page_report.js");

/// `page` (a check page's HTML) with the shared script in place of its
/// `/*page_report.js*/` comment.
pub(crate) fn page(page: &str) -> String {
    page.replacen("/*page_report.js*/", PAGE_REPORT_JS, 1)
}

/// How long to wait, once the page is done, for the server's own checks.
const AFTER_DONE: Duration = Duration::from_secs(5);

/// One result from the page (or from the server's own checks).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Report {
    /// The check's name.
    pub(crate) name: String,
    /// Whether it passed.
    pub(crate) ok: bool,
    /// What was seen (failures: what went wrong).
    pub(crate) detail: String,
    /// An informational result: printed, never a failure.
    pub(crate) info: bool,
    /// The page has run every check.
    pub(crate) done: bool,
}

impl Report {
    /// A check the server made.
    pub(crate) fn check(name: &str, ok: bool, detail: String) -> Event {
        Event::Report(Report {
            name: name.to_owned(),
            ok,
            detail,
            ..Report::default()
        })
    }

    /// An informational result of the server's.
    pub(crate) fn info(name: &str, detail: String) -> Event {
        Event::Report(Report {
            name: name.to_owned(),
            detail,
            info: true,
            ..Report::default()
        })
    }
}

/// What the routes tell the verdict.
#[derive(Debug)]
pub(crate) enum Event {
    /// A result from the page or from the server's own checks.
    Report(Report),
    /// The page said it is done.
    Done,
    /// The report socket ended before `done`.
    ReportLost(String),
}

/// Where the routes send their [`Event`]s.
pub(crate) type Events = mpsc::UnboundedSender<Event>;

/// `/report`: the page's results, until `{"done": true}`.
pub(crate) async fn report(events: Events, conn: Connection) -> Result<(), Error> {
    loop {
        let report = match conn.read_json::<Report>().await {
            Ok(report) => report,
            Err(error) => {
                let _ = events.send(Event::ReportLost(error.to_string()));
                return Ok(());
            }
        };
        if report.done {
            let _ = events.send(Event::Done);
            // Keep the socket open until the page goes away, so its closing
            // is not mistaken for a lost report channel.
            let _ = conn.read().await;
            return Ok(());
        }
        let _ = events.send(Event::Report(report));
    }
}

/// Everything reported so far, and what must be.
#[derive(Debug)]
pub(crate) struct Verdict {
    /// Each check by name: passed or not (informational results excluded).
    checks: BTreeMap<String, bool>,
    failures: usize,
    infos: usize,
    done: bool,
    /// Checks the page must report: a `done` without one of them fails, so
    /// a page that silently skips checks cannot pass.
    page_checks: Vec<&'static str>,
    /// Checks the server makes; waited for after `done`.
    server_checks: Vec<&'static str>,
}

impl Verdict {
    pub(crate) fn new(page_checks: Vec<&'static str>, server_checks: Vec<&'static str>) -> Self {
        Verdict {
            checks: BTreeMap::new(),
            failures: 0,
            infos: 0,
            done: false,
            page_checks,
            server_checks,
        }
    }

    fn record(&mut self, report: Report) {
        if report.info {
            println!("INFO {}: {}", report.name, report.detail);
            self.infos += 1;
            return;
        }
        if report.ok {
            println!("PASS {}", report.name);
        } else {
            println!("FAIL {}: {}", report.name, report.detail);
            self.failures += 1;
        }
        if self.checks.insert(report.name.clone(), report.ok).is_some() {
            self.fail(&report.name, "reported twice".to_owned());
        }
    }

    /// Records a failure of the run itself (a timeout, a lost channel).
    fn fail(&mut self, name: &str, detail: String) {
        println!("FAIL {name}: {detail}");
        self.failures += 1;
    }

    fn missing<'a>(&self, required: &[&'a str]) -> Vec<&'a str> {
        required
            .iter()
            .copied()
            .filter(|name| !self.checks.contains_key(*name))
            .collect()
    }

    /// Prints the summary (`program: N passed, ...`) and gives the exit
    /// status.
    pub(crate) fn finish(&mut self, program: &str) -> ExitCode {
        let missing: Vec<&str> = self
            .missing(&self.page_checks)
            .into_iter()
            .chain(self.missing(&self.server_checks))
            .collect();
        for name in &missing {
            self.fail(name, "never reported".to_owned());
        }
        if !self.done {
            self.fail("done", "the page never reported done".to_owned());
        }
        let passed = self.checks.values().filter(|ok| **ok).count();
        println!(
            "{program}: {passed} passed, {} failed, {} informational",
            self.failures, self.infos
        );
        if self.failures == 0 {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }

    /// Records events as [`events`](Self::events) does, for at most
    /// `timeout` (then the run fails with a `timeout` check).
    pub(crate) async fn collect(
        &mut self,
        received: &mut mpsc::UnboundedReceiver<Event>,
        timeout: Duration,
    ) {
        if tokio::time::timeout(timeout, self.events(received))
            .await
            .is_err()
        {
            let detail = format!(
                "the browser did not finish within {} s (done received: {})",
                timeout.as_secs(),
                self.done
            );
            self.fail("timeout", detail);
        }
    }

    /// Records events until the page is done and the server's own checks
    /// are in (waiting at most [`AFTER_DONE`] for those once the page is
    /// done), or the report channel is lost.
    async fn events(&mut self, received: &mut mpsc::UnboundedReceiver<Event>) {
        loop {
            let event = if self.done {
                match tokio::time::timeout(AFTER_DONE, received.recv()).await {
                    Ok(event) => event,
                    Err(_) => return,
                }
            } else {
                received.recv().await
            };
            let Some(event) = event else { return };
            match event {
                Event::Report(report) => self.record(report),
                Event::Done => self.done = true,
                Event::ReportLost(error) => {
                    if !self.done {
                        self.fail(
                            "report",
                            format!("the report socket ended before done: {error}"),
                        );
                        return;
                    }
                }
            }
            if self.done && self.missing(&self.server_checks).is_empty() {
                return;
            }
        }
    }
}
