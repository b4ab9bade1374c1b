//! The UDP socket a QUIC endpoint serves on.

use std::io;
use std::net::{SocketAddr, UdpSocket};

/// Binds a UDP socket on `addr` and asks for a receive buffer
/// (`SO_RCVBUF`) of `receive_buffer` bytes (0: the system's default).
///
/// The kernel caps the size at its maximum (on Linux
/// `net.core.rmem_max`) without failing; a system that refuses the option
/// keeps its default buffer, which only costs drops under load.
pub(super) fn bind(addr: SocketAddr, receive_buffer: usize) -> io::Result<UdpSocket> {
    let socket = UdpSocket::bind(addr)?;
    if receive_buffer > 0 {
        let _ = quinn::udp::UdpSocketState::new((&socket).into())
            .and_then(|state| state.set_recv_buffer_size((&socket).into(), receive_buffer));
    }
    Ok(socket)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::bind;

    fn receive_buffer(socket: &std::net::UdpSocket) -> usize {
        quinn::udp::UdpSocketState::new(socket.into())
            .and_then(|state| state.recv_buffer_size(socket.into()))
            .expect("SO_RCVBUF")
    }

    #[test]
    fn asks_for_the_receive_buffer_up_to_the_kernels_maximum() {
        let addr = "127.0.0.1:0".parse().unwrap();
        let default = receive_buffer(&bind(addr, 0).unwrap());
        let asked = 1 << 20;
        let got = receive_buffer(&bind(addr, asked).unwrap());
        let max: usize = std::fs::read_to_string("/proc/sys/net/core/rmem_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);
        // Linux doubles what it is given (its bookkeeping), and gives at
        // most rmem_max.
        assert!(
            got >= default && got >= 2 * asked.min(max),
            "asked {asked}, got {got} (default {default}, rmem_max {max})"
        );
    }
}
