//! The codec when the crate is built without the `deflate` feature: a type
//! with no values, so the compression paths of `ws::Connection` are
//! unreachable and compile to nothing (its `deflate` field is always
//! `None`, as [`DeflateParams`] has no values either).

use super::{DeflateConfig, DeflateParams};

/// Why a compressed message could not be inflated (never, without a codec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(
    dead_code,
    reason = "the connection maps both variants; only the codec makes them"
)]
pub(crate) enum InflateError {
    /// The inflated message exceeds the limit; `size` is what it reached.
    TooLarge {
        /// Bytes inflated when the limit was crossed.
        size: usize,
    },
    /// The data is not valid DEFLATE.
    Corrupt,
}

/// No codec: without the `deflate` feature there is none to build.
#[derive(Debug)]
pub(crate) enum Codec {}

impl Codec {
    pub(crate) fn new(params: DeflateParams, _config: &DeflateConfig, _is_server: bool) -> Self {
        match params.never {}
    }

    pub(crate) fn params(&self) -> &DeflateParams {
        match *self {}
    }

    pub(crate) fn accepts_shared(&self, _window_bits: u8) -> bool {
        match *self {}
    }

    pub(crate) fn compress(&mut self, _payload: &[u8], _out: &mut Vec<u8>) -> bool {
        match *self {}
    }

    pub(crate) fn inflate(
        &mut self,
        _payload: &[u8],
        _fin: bool,
        _out: &mut Vec<u8>,
        _limit: usize,
    ) -> Result<(), InflateError> {
        match *self {}
    }
}

/// No shared compressor either (it is public only with the feature).
#[derive(Debug)]
pub(crate) enum SharedCompressor {}

impl SharedCompressor {
    pub(crate) fn compress(&mut self, _message: &[u8]) -> Option<Vec<u8>> {
        match *self {}
    }
}
