//! The command line of the servers among the examples (the echo of each
//! runtime, the chat): `[ADDR] [--tls-cert CERT.pem --tls-key KEY.pem]`.
//! With both TLS options the server speaks TLS only (`https://`,
//! `wss://`), with that certificate chain and key.
//!
//! Not an example itself: cargo ignores `examples/common/` (no `main.rs`).
//! The tokio examples declare it with `#[path = "../common/args.rs"] mod args;`,
//! the async-std and smol echoes with
//! `#[path = "../../runtime-tokio/examples/common/args.rs"] mod args;`
//! (one parser for every runtime: the server API is the same).

use std::io;

use tidings_framework::server::ServerConfig;
use tidings_framework::tls::ServerTls;

/// The address to bind (`default_addr` unless given) and `config`, with TLS
/// from the PEM files if `--tls-cert` and `--tls-key` were given. Exits
/// with status 2 and the reason on a bad command line or an unusable
/// certificate or key.
pub(crate) fn server_config(default_addr: &str, config: ServerConfig) -> (String, ServerConfig) {
    parse(std::env::args().skip(1), default_addr, config).unwrap_or_else(|error| {
        eprintln!("{error}");
        std::process::exit(2)
    })
}

fn parse(
    mut args: impl Iterator<Item = String>,
    default_addr: &str,
    config: ServerConfig,
) -> io::Result<(String, ServerConfig)> {
    let usage = |problem: String| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{problem}\nusage: [ADDR] [--tls-cert CERT.pem --tls-key KEY.pem]"),
        )
    };
    let (mut addr, mut cert, mut key) = (None, None, None);
    while let Some(arg) = args.next() {
        let slot = match arg.as_str() {
            "--tls-cert" => &mut cert,
            "--tls-key" => &mut key,
            flag if flag.starts_with("--") => return Err(usage(format!("unknown option {flag}"))),
            _ if addr.is_none() => {
                addr = Some(arg);
                continue;
            }
            _ => return Err(usage(format!("unexpected argument {arg}"))),
        };
        *slot = Some(
            args.next()
                .ok_or_else(|| usage(format!("{arg} needs a file")))?,
        );
    }
    let config = match (cert, key) {
        (None, None) => config,
        (Some(cert), Some(key)) => config.tls(ServerTls::from_pem_files(cert, key)?),
        _ => return Err(usage("--tls-cert and --tls-key go together".into())),
    };
    Ok((addr.unwrap_or_else(|| default_addr.to_owned()), config))
}
