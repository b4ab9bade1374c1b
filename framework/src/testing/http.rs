//! A bare HTTP/1.1 GET for the test clients.

use core::net::SocketAddr;

use http::Response;

use super::DEFAULT_TIMEOUT;
use crate::io_util::{read_some, with_deadline, write_all};
use crate::runtime::Net;
use tidings_core::head::{HeadLimits, HeadReader};

/// Connects to `addr`, sends `GET path` with `headers`, and reads the
/// response head: the stream, the head, and the body bytes read with it;
/// or what went wrong (the connection failed, or no complete head arrived
/// within [`DEFAULT_TIMEOUT`]), for the caller's panic message.
pub(super) async fn get_head<N: Net>(
    rt: &N,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<(N::Stream, Response<()>, Vec<u8>), String> {
    let mut stream = match N::connect(&addr.ip().to_string(), addr.port()).await {
        Ok(stream) => stream,
        Err(error) => return Err(format!("cannot connect to {addr}: {error}")),
    };
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    let exchange = async {
        write_all(&mut stream, request.as_bytes()).await?;
        let mut reader = HeadReader::new(HeadLimits::default());
        let mut buf = Vec::new();
        loop {
            match reader.read_response(&buf) {
                Ok(Some((response, n))) => return Ok((response, buf.split_off(n))),
                Ok(None) => {}
                Err(error) => {
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, error));
                }
            }
            if read_some(&mut stream, &mut buf, 4096).await? == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
        }
    };
    let deadline = rt.now() + DEFAULT_TIMEOUT;
    match with_deadline(rt, deadline, exchange).await {
        Ok(Ok((response, body))) => Ok((stream, response, body)),
        Ok(Err(error)) => Err(format!("no response head for GET {path}: {error}")),
        Err(_) => Err(format!(
            "no response head for GET {path} within {DEFAULT_TIMEOUT:?}"
        )),
    }
}

/// `GET path`, the whole response (its body by `Content-Length` when it has
/// one, the server keeping the connection alive; else up to the close), or
/// what went wrong.
pub(super) async fn get<N: Net>(
    rt: &N,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Response<Vec<u8>>, String> {
    let (mut stream, response, mut body) = get_head(rt, addr, path, headers).await?;
    let deadline = rt.now() + DEFAULT_TIMEOUT;
    let length = response
        .headers()
        .get(::http::header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok()?.parse::<usize>().ok());
    let read_all = async {
        while length.is_none_or(|length| body.len() < length)
            && read_some(&mut stream, &mut body, 4096).await.unwrap_or(0) > 0
        {}
        if let Some(length) = length {
            body.truncate(length);
        }
    };
    if with_deadline(rt, deadline, read_all).await.is_err() {
        return Err(format!(
            "the body of GET {path} did not end within {DEFAULT_TIMEOUT:?}"
        ));
    }
    Ok(response.map(|()| body))
}
