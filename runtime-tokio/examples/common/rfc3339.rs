//! A tiny RFC 3339 UTC formatter for the examples (Go's
//! `time.Now().Format(time.RFC3339)`, in UTC and to the second), so the
//! examples need no date crate.
//!
//! Not an example itself: cargo ignores `examples/common/` (no `main.rs`).
//! The examples that stamp times declare it at their crate root with
//! `#[path = "../common/rfc3339.rs"] mod rfc3339;` (as the tests do), and
//! their `app.rs` uses `crate::rfc3339`.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time as `YYYY-MM-DDTHH:MM:SSZ`.
pub(crate) fn now() -> String {
    format(SystemTime::now())
}

/// `time` as `YYYY-MM-DDTHH:MM:SSZ` (UTC, whole seconds). Times before 1970
/// are clamped to the epoch: the examples only stamp the present.
pub(crate) fn format(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs());
    let (days, secs_of_day) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    )
}

/// The proleptic Gregorian (year, month, day) of `days` after 1970-01-01
/// (Howard Hinnant's `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01, so leap days end each 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097; // [0, 146096]
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365; // [0, 399]
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100); // [0, 365]
    let mp = (5 * day_of_year + 2) / 153; // [0, 11], March-based month
    let day = day_of_year - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}
