//! The WebSocket connection state machine. (being written)
