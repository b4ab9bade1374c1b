//! The WebSocket opening handshake. (being written)
