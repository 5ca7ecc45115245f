//! A buffer that one thread fills front to back while another reads what
//! is already there: how an index's text is parsed while it is still being
//! inflated (see [`super::parsed::ParsedIndex::build_streamed`]).
//!
//! The writer only ever writes past the published length and publishes
//! with release ordering; readers only ever look below the published
//! length, read with acquire ordering. Published bytes never change again,
//! so a slice of them stays valid for as long as the buffer lives.

use std::io::{self, Read};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use assemble_io::pages::Region;

/// Bytes read from the source between two publications.
const STEP: usize = 64 * 1024;

/// See the module documentation.
pub(crate) struct Filling<S> {
    /// `room + cap` bytes and more, zeroed when mapped.
    region: Region,
    /// The region's first byte (a mapping does not move with its owner).
    ptr: NonNull<u8>,
    /// Bytes kept free before the filled ones (see [`Filling::into_region`]).
    room: usize,
    cap: usize,
    /// How many bytes the writer will write (set once, before the first).
    total: AtomicUsize,
    started: AtomicBool,
    /// Published bytes: `[0, filled)` are final.
    filled: AtomicUsize,
    /// The readers' and writer's shared state, and the signal that it or
    /// the published length changed.
    state: Mutex<S>,
    changed: Condvar,
}

// SAFETY: the buffer is only written through `fill_from` (one writer,
// enforced by `started`) beyond the published length, and only read below
// it; publication is a release store read with acquire loads.
unsafe impl<S: Send> Send for Filling<S> {}
// SAFETY: as above.
unsafe impl<S: Send> Sync for Filling<S> {}

impl<S> Filling<S> {
    /// An empty buffer for at most `cap` bytes, after `room` bytes kept
    /// free, and `spare` bytes more of capacity for whoever takes the
    /// buffer over ([`Filling::into_region`]).
    pub fn new(room: usize, cap: usize, spare: usize, state: S) -> io::Result<Self> {
        let capacity = room
            .checked_add(cap)
            .and_then(|n| n.checked_add(spare))
            .ok_or(io::ErrorKind::OutOfMemory)?;
        let mut region = Region::with_capacity(capacity)?;
        let ptr = NonNull::new(region.as_mut_ptr()).ok_or(io::ErrorKind::OutOfMemory)?;
        Ok(Filling {
            region,
            ptr,
            room,
            cap,
            total: AtomicUsize::new(0),
            started: AtomicBool::new(false),
            filled: AtomicUsize::new(0),
            state: Mutex::new(state),
            changed: Condvar::new(),
        })
    }

    /// Reads exactly `size` bytes from `source` into the buffer, publishing
    /// them as they arrive. Fails when called twice, when `size` is over
    /// the capacity, or when `source` ends early.
    pub fn fill_from(&self, source: &mut dyn Read, size: u64) -> io::Result<()> {
        if self.started.swap(true, Ordering::AcqRel) {
            return Err(io::Error::other("the buffer is filled already"));
        }
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| s <= self.cap)
            .ok_or_else(|| io::Error::other("more bytes than the buffer holds"))?;
        self.total.store(size, Ordering::Release);
        let mut at = 0;
        while at < size {
            let want = (size - at).min(STEP);
            // SAFETY: `[at, at + want)` is inside the allocation and beyond
            // the published length, which no reader looks at; this is the
            // only writer.
            let window = unsafe {
                std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(self.room + at), want)
            };
            let n = match source.read(window) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            at += n;
            self.filled.store(at, Ordering::Release);
            self.signal();
        }
        Ok(())
    }

    /// The bytes published so far.
    pub fn filled(&self) -> &[u8] {
        let n = self.filled.load(Ordering::Acquire);
        // SAFETY: published bytes are initialized and never written again.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(self.room), n) }
    }

    /// The whole buffer: the room (zeros unless written since), then what
    /// was filled; the rest of the capacity is there to append to.
    pub fn into_region(self) -> Region {
        let len = self.room + self.filled.load(Ordering::Acquire);
        let mut region = self.region;
        region.set_len(len);
        region
    }

    /// The announced size (0 before the writer started).
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Acquire)
    }

    /// Locks the shared state.
    pub fn lock(&self) -> MutexGuard<'_, S> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the next [`Filling::signal`] (or a spurious wake-up).
    pub fn wait<'g>(&self, guard: MutexGuard<'g, S>) -> MutexGuard<'g, S> {
        self.changed.wait(guard).unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes the waiters: more bytes, or the state changed.
    pub fn signal(&self) {
        let _guard = self.lock();
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_sees_a_growing_prefix_of_what_is_written() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        let f = Filling::new(3, data.len(), 7, ()).unwrap();
        std::thread::scope(|s| {
            let reader = s.spawn(|| {
                let mut seen = 0;
                while seen < data.len() {
                    let now = f.filled();
                    assert!(now.len() >= seen);
                    assert_eq!(now, &data[..now.len()]);
                    seen = now.len();
                    std::thread::yield_now();
                }
            });
            f.fill_from(&mut &data[..], data.len() as u64).unwrap();
            reader.join().unwrap();
        });
        assert_eq!(f.filled(), &data[..]);
        assert_eq!(f.total(), data.len());
        let mut v = f.into_region();
        assert_eq!(v[..3], [0, 0, 0]);
        assert_eq!(v[3..], data[..]);
        assert!(v.try_extend(&[9; 7]), "the spare capacity is there");
    }

    #[test]
    fn oversized_repeated_and_short_fills_fail() {
        let f = Filling::new(0, 10, 0, ()).unwrap();
        assert!(f.fill_from(&mut &[0u8; 20][..], 20).is_err());
        assert!(f.fill_from(&mut &[0u8; 5][..], 5).is_err(), "a second fill");
        let g = Filling::new(0, 10, 0, ()).unwrap();
        let e = g.fill_from(&mut &[1u8; 3][..], 8).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(g.filled(), &[1, 1, 1]);
    }
}
