//! Cross-runtime integration tests for tidings (see `tests/`).
