//! tidings on the async-std runtime (the adapter arrives with issue #3).
