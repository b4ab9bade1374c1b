//! The one admission guard: a slot of one of the server's connection limits
//! ([`ServerConfig::max_connections`](super::ServerConfig::max_connections)
//! for WebSocket connections, [`SseConfig::max_connections`](super::SseConfig::max_connections)
//! for SSE streams), held for as long as the connection lives; and of
//! `ServerConfig::max_tls_handshakes`, held during a TLS handshake.

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::Service;

/// One of the service's connection limits: which counter, and its maximum.
pub(crate) trait Limit {
    /// The counter of slots taken.
    fn counter(service: &Service) -> &AtomicUsize;
    /// How many slots there are.
    fn max(service: &Service) -> usize;
}

/// The limit on open WebSocket connections.
pub(crate) struct WebSockets;

impl Limit for WebSockets {
    fn counter(service: &Service) -> &AtomicUsize {
        &service.websockets
    }

    fn max(service: &Service) -> usize {
        service.config.max_connections
    }
}

/// The limit on open Server-Sent Events streams.
pub(crate) struct SseStreams;

impl Limit for SseStreams {
    fn counter(service: &Service) -> &AtomicUsize {
        &service.sse_connections
    }

    fn max(service: &Service) -> usize {
        service.config.sse.max_connections
    }
}

/// The limit on TLS handshakes in progress.
#[cfg(feature = "_tls")]
pub(crate) struct TlsHandshakes;

#[cfg(feature = "_tls")]
impl Limit for TlsHandshakes {
    fn counter(service: &Service) -> &AtomicUsize {
        &service.tls_handshakes
    }

    fn max(service: &Service) -> usize {
        service.config.max_tls_handshakes
    }
}

/// A slot of limit `L`, given back when dropped. The limit is a type
/// parameter, not a field, so the guard is one pointer (it lives in every
/// connection's task).
pub(crate) struct Admission<L: Limit> {
    service: Arc<Service>,
    limit: PhantomData<L>,
}

impl<L: Limit> Admission<L> {
    /// Takes a slot if fewer than the limit's maximum are taken.
    pub(crate) fn acquire(service: &Arc<Service>) -> Option<Self> {
        let max = L::max(service);
        L::counter(service)
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |open| {
                (open < max).then_some(open + 1)
            })
            .ok()
            .map(|_| Admission {
                service: service.clone(),
                limit: PhantomData,
            })
    }

    /// The service whose slot this is.
    pub(crate) fn service(&self) -> &Arc<Service> {
        &self.service
    }
}

impl<L: Limit> Drop for Admission<L> {
    fn drop(&mut self) {
        L::counter(&self.service).fetch_sub(1, Ordering::SeqCst);
    }
}
