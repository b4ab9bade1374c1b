//! Incremental HTTP/1.1 head parsing. (being written)
