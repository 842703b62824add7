//! Buffers of long request bodies, kept for the next long body instead of going back to the
//! allocator.
//!
//! A long prompt (hundreds of KB) is written into a buffer of its size at every target. Freed,
//! such a buffer's pages go back to the operating system a few milliseconds later (the
//! allocator purges pages it does not use), and the next body's buffer is faulted in again page
//! by page: with 400 KB prompts, zeroing those pages was a fifth of the client's CPU per
//! request. So a buffer of at least [`KEPT_FROM`] bytes comes back here when the last copy of
//! its bytes is dropped (sent, and no attempt left that needs them), and the next long body
//! takes the smallest kept buffer that holds it. Shorter bodies never come here: their buffers
//! cost no page fault, and they take no lock.

use std::sync::Mutex;

use bytes::Bytes;

/// Bodies of at least this many bytes are written into kept buffers.
pub(crate) const KEPT_FROM: usize = 64 * 1024;

/// At most this many bytes of buffers wait here; a buffer that does not fit is freed.
const KEPT_AT_MOST: usize = 64 * 1024 * 1024;

static KEPT: Mutex<Kept> = Mutex::new(Kept {
    buffers: Vec::new(),
    bytes: 0,
});

/// The buffers waiting, and their capacity in all.
struct Kept {
    buffers: Vec<Vec<u8>>,
    bytes: usize,
}

/// An empty buffer of at least `capacity` bytes: the smallest kept one that is large enough,
/// else a new one.
pub(crate) fn take(capacity: usize) -> Vec<u8> {
    if capacity >= KEPT_FROM {
        if let Ok(mut kept) = KEPT.lock() {
            let fits = kept
                .buffers
                .iter()
                .enumerate()
                .filter(|(_, b)| b.capacity() >= capacity)
                .min_by_key(|(_, b)| b.capacity())
                .map(|(at, _)| at);
            if let Some(at) = fits {
                let buffer = kept.buffers.swap_remove(at);
                kept.bytes -= buffer.capacity();
                return buffer;
            }
        }
    }
    Vec::with_capacity(capacity)
}

/// `buffer`'s bytes. A long buffer comes back to be taken again once the last copy of them is
/// dropped.
pub(crate) fn freeze(buffer: Vec<u8>) -> Bytes {
    if buffer.capacity() >= KEPT_FROM {
        Bytes::from_owner(Returned(buffer))
    } else {
        Bytes::from(buffer)
    }
}

/// A long buffer lent out as `Bytes`, returned when dropped.
struct Returned(Vec<u8>);

impl AsRef<[u8]> for Returned {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Drop for Returned {
    fn drop(&mut self) {
        let mut buffer = std::mem::take(&mut self.0);
        buffer.clear();
        // A poisoned lock (never, as nothing here panics) only costs the buffer.
        if let Ok(mut kept) = KEPT.lock() {
            if kept.bytes + buffer.capacity() <= KEPT_AT_MOST {
                kept.bytes += buffer.capacity();
                kept.buffers.push(buffer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kept buffers are shared by every test of the binary: each test uses its own sizes,
    /// far from the others'.
    fn long(capacity: usize) -> Bytes {
        let mut buffer = take(capacity);
        buffer.resize(capacity, b'x');
        freeze(buffer)
    }

    #[test]
    fn a_long_buffer_is_taken_again_once_its_last_copy_is_dropped() {
        let size = 3 * KEPT_FROM + 17;
        let bytes = long(size);
        let copy = bytes.clone();
        let at = bytes.as_ptr();
        drop(bytes);
        let other = take(size);
        assert_ne!(other.as_ptr(), at, "a copy still holds the bytes: not taken again");
        drop(other);
        assert_eq!(&copy[..3], b"xxx", "the copy's bytes are intact");
        drop(copy);
        let again = take(size);
        assert_eq!(again.as_ptr(), at, "the buffer came back");
        assert!(again.is_empty() && again.capacity() >= size);
    }

    #[test]
    fn a_kept_buffer_is_not_taken_for_a_longer_body() {
        let size = 5 * KEPT_FROM + 3;
        let small = long(size);
        let at = small.as_ptr();
        drop(small);
        let longer = take(size + 1);
        assert!(longer.capacity() > size && longer.as_ptr() != at);
        let fits = take(size);
        assert_eq!(fits.as_ptr(), at, "it waits for a body it holds");
    }
}
