//! A `VecDeque` helper for the write queues: [`push_back_small`], which
//! gives a queue room for one item first. A leaf: it uses no other module
//! of the crate.

use std::collections::VecDeque;

/// Pushes onto `queue`, giving an unallocated queue room for one item only
/// (a `VecDeque`'s first allocation is four): most connections never have
/// two messages or chunks waiting, and the room stays allocated while the
/// connection lives.
pub(crate) fn push_back_small<T>(queue: &mut VecDeque<T>, item: T) {
    if queue.capacity() == 0 {
        queue.reserve_exact(1);
    }
    queue.push_back(item);
}
