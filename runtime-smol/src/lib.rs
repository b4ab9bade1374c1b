//! tidings on the smol runtime (the adapter arrives with issue #3).
