//! A build without TLS (`--no-default-features`, neither `ring` nor
//! `aws-lc-rs`): `wss://` and `https://` fail at once with an error that
//! says TLS is not compiled in. Run with
//! `cargo test -p tidings-tokio --no-default-features --test no_tls`.
#![cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]

use tidings_tokio::{Error, EventSourceError, TlsErrorKind};

#[tokio::test]
async fn wss_and_https_say_tls_is_not_compiled_in() {
    // Nothing listens on port 1: the error must come before any connect.
    let error = tidings_tokio::connect("wss://127.0.0.1:1/")
        .await
        .unwrap_err();
    let Error::Tls(tls) = &error else {
        panic!("expected Error::Tls, got {error:?}")
    };
    assert_eq!(tls.kind(), TlsErrorKind::NotCompiled);
    assert!(error.to_string().contains("does not include"), "{error}");
    let error = tidings_tokio::connect_events("https://127.0.0.1:1/")
        .await
        .unwrap_err();
    assert!(matches!(error, EventSourceError::TlsUnsupported), "{error}");
    assert!(error.to_string().contains("does not include"), "{error}");
}
