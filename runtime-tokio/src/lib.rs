//! tidings on the tokio runtime (the adapter arrives with issue #3).
