//! The command line of the servers among the examples (the echo of each
//! runtime, the chat): `[ADDR] [--tls-cert CERT.pem --tls-key KEY.pem]`,
//! and for the chat also `[--redis redis://HOST:PORT [--node NAME]]`.
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
#[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
pub(crate) use tidings_framework::tls::ServerTls;

/// A build without TLS (neither `ring` nor `aws-lc-rs`): `--tls-cert` is
/// refused, so there is never a certificate to serve.
#[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
pub(crate) enum ServerTls {}

/// The address to bind (`default_addr` unless given) and `config`, with TLS
/// from the PEM files if `--tls-cert` and `--tls-key` were given. Exits
/// with status 2 and the reason on a bad command line or an unusable
/// certificate or key.
#[allow(
    dead_code,
    reason = "not every example that includes this file uses it"
)]
pub(crate) fn server_config(default_addr: &str, config: ServerConfig) -> (String, ServerConfig) {
    let (addr, config, _) = parse(default_addr, config, &[]);
    (addr, config)
}

/// [`server_config`], and the values of the options named in `extra`
/// (each `--name VALUE`), in that order.
#[allow(
    dead_code,
    reason = "not every example that includes this file uses it"
)]
pub(crate) fn parse(
    default_addr: &str,
    config: ServerConfig,
    extra: &[&str],
) -> (String, ServerConfig, Vec<Option<String>>) {
    let parsed = take_tls(std::env::args().skip(1)).and_then(|(rest, tls)| {
        let (rest, values) = take_values(rest.into_iter(), extra)?;
        let mut rest = rest.into_iter();
        let addr = match rest.next() {
            Some(flag) if flag.starts_with("--") => {
                return Err(usage(format!("unknown option {flag}")));
            }
            addr => addr.unwrap_or_else(|| default_addr.to_owned()),
        };
        if let Some(extra) = rest.next() {
            return Err(usage(format!("unexpected argument {extra}")));
        }
        Ok((addr, with_tls(config, tls), values))
    });
    parsed.unwrap_or_else(|error| {
        eprintln!("{error}");
        std::process::exit(2)
    })
}

/// `config`, serving TLS if `tls` is set.
pub(crate) fn with_tls(config: ServerConfig, tls: Option<ServerTls>) -> ServerConfig {
    match tls {
        #[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
        Some(tls) => config.tls(tls),
        #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
        Some(tls) => match tls {},
        None => config,
    }
}

/// Takes `--tls-cert FILE --tls-key FILE` out of `args`: the other
/// arguments, in order, and the TLS the two files make, if given.
pub(crate) fn take_tls(
    args: impl Iterator<Item = String>,
) -> io::Result<(Vec<String>, Option<ServerTls>)> {
    let (rest, mut files) = take_values(args, &["--tls-cert", "--tls-key"])?;
    let (cert, key) = (files[0].take(), files[1].take());
    let tls = match (cert, key) {
        (None, None) => None,
        #[cfg(any(feature = "ring", feature = "aws-lc-rs"))]
        (Some(cert), Some(key)) => Some(ServerTls::from_pem_files(cert, key)?),
        #[cfg(not(any(feature = "ring", feature = "aws-lc-rs")))]
        (Some(_), Some(_)) => {
            return Err(usage(
                "--tls-cert needs a build with TLS (feature `ring` or `aws-lc-rs`)".into(),
            ));
        }
        _ => return Err(usage("--tls-cert and --tls-key go together".into())),
    };
    Ok((rest, tls))
}

/// Takes `--NAME VALUE` for each name of `names` out of `args`: the other
/// arguments, in order, and each name's value, if given.
fn take_values(
    mut args: impl Iterator<Item = String>,
    names: &[&str],
) -> io::Result<(Vec<String>, Vec<Option<String>>)> {
    let (mut rest, mut values) = (Vec::new(), vec![None; names.len()]);
    while let Some(arg) = args.next() {
        let Some(at) = names.iter().position(|name| *name == arg) else {
            rest.push(arg);
            continue;
        };
        values[at] = Some(
            args.next()
                .ok_or_else(|| usage(format!("{arg} needs a value")))?,
        );
    }
    Ok((rest, values))
}

fn usage(problem: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!(
            "{problem}\nusage: [ADDR] [--tls-cert CERT.pem --tls-key KEY.pem] \
             (the chat also: [--redis redis://HOST:PORT [--node NAME]])"
        ),
    )
}
