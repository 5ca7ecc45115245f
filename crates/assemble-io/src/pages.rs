//! Fresh memory, made present cheaply.
//!
//! Writing a few megabytes into fresh memory costs a page fault per 4 KiB
//! page; on the VM we measure on that is ~1.8 µs each, more than the copy
//! itself. Asking the kernel to populate a whole range first
//! (`MADV_POPULATE_WRITE`, Linux 5.14) halves that ([`populate`]); memory
//! in 2 MiB transparent huge pages costs a tenth of it or less (one fault
//! and one 2 MiB clear per huge page), which is what [`Region`] is for: a
//! buffer of megabytes written once (an index's text and tables).

use std::io;
use std::mem::MaybeUninit;

/// Makes the pages wholly inside `region` present and writable, as the
/// writes that follow would (a hint: nothing happens where the kernel
/// cannot, or on other systems).
pub fn populate(region: &mut [MaybeUninit<u8>]) {
    #[cfg(target_os = "linux")]
    {
        const PAGE: usize = 4096;
        let start = region.as_mut_ptr() as usize;
        let end = start + region.len();
        let (first, last) = (start.next_multiple_of(PAGE), end / PAGE * PAGE);
        if last > first {
            // SAFETY: the range lies inside `region`, memory this process
            // owns and may write; populating does not change its contents
            // (fresh pages read as zero, which `MaybeUninit` allows).
            unsafe {
                libc::madvise(
                    first as *mut libc::c_void,
                    last - first,
                    libc::MADV_POPULATE_WRITE,
                );
            }
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = region;
}

/// Huge pages are this large (x86-64 and aarch64 with 4 KiB pages).
const HUGE: usize = 2 << 20;

/// A byte buffer of fixed capacity in an anonymous mapping of its own: a
/// `Vec<u8>` that never reallocates, whose memory is advised to be backed
/// by transparent huge pages when it spans at least one (the kernel places
/// mappings of whole huge pages on a huge-page boundary). Where huge pages
/// are not to be had, what is appended is populated first instead.
/// Untouched capacity costs address space only.
pub struct Region {
    map: memmap2::MmapMut,
    len: usize,
    huge: bool,
}

impl Region {
    /// A region for at least `capacity` bytes (rounded up to whole huge
    /// pages when that is one or more), zeroed.
    pub fn with_capacity(capacity: usize) -> io::Result<Region> {
        let size = if capacity >= HUGE {
            capacity
                .checked_next_multiple_of(HUGE)
                .ok_or(io::ErrorKind::OutOfMemory)?
        } else {
            capacity.max(1)
        };
        let map = memmap2::MmapOptions::new().len(size).map_anon()?;
        #[cfg(target_os = "linux")]
        let huge = size >= HUGE && map.advise(memmap2::Advice::HugePage).is_ok();
        #[cfg(not(target_os = "linux"))]
        let huge = false;
        Ok(Region { map, len: 0, huge })
    }

    /// How many bytes it holds at most.
    pub fn capacity(&self) -> usize {
        self.map.len()
    }

    /// How many bytes it holds.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole capacity, for a writer that keeps track of its length
    /// itself (then [`Region::set_len`]); bytes never written read as zero.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// Sets the length: the first `len` bytes are the contents.
    ///
    /// # Panics
    /// When `len` exceeds the capacity.
    pub fn set_len(&mut self, len: usize) {
        assert!(
            len <= self.capacity(),
            "a region's length within its capacity"
        );
        self.len = len;
    }

    /// Appends `bytes`, or returns `false` (and appends nothing) when they
    /// do not fit.
    #[must_use]
    pub fn try_extend(&mut self, bytes: &[u8]) -> bool {
        let end = match self.len.checked_add(bytes.len()) {
            Some(end) if end <= self.capacity() => end,
            _ => return false,
        };
        let dst = &mut self.map[self.len..end];
        if !self.huge {
            // SAFETY: u8 as MaybeUninit<u8>, a view of initialized bytes.
            populate(unsafe { &mut *(std::ptr::from_mut(dst) as *mut [MaybeUninit<u8>]) });
        }
        dst.copy_from_slice(bytes);
        self.len = end;
        true
    }
}

impl std::ops::Deref for Region {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.map[..self.len]
    }
}

impl std::ops::DerefMut for Region {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.map[..self.len]
    }
}

impl AsRef<[u8]> for Region {
    fn as_ref(&self) -> &[u8] {
        self
    }
}

impl std::fmt::Debug for Region {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Region")
            .field("len", &self.len)
            .field("capacity", &self.capacity())
            .field("huge", &self.huge)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn populating_keeps_what_is_there() {
        let mut v: Vec<u8> = (0..=255).cycle().take(3 * 4096 + 100).collect();
        let before = v.clone();
        v.reserve_exact(5 * 4096);
        populate(v.spare_capacity_mut());
        // SAFETY: u8 as MaybeUninit<u8>: a view of the initialized part.
        let init = unsafe {
            std::slice::from_raw_parts_mut(v.as_mut_ptr().cast::<MaybeUninit<u8>>(), v.len())
        };
        populate(init);
        assert_eq!(v, before);
        populate(&mut []);
    }

    #[test]
    fn a_region_holds_what_fits_and_nothing_more() {
        for capacity in [0, 10, 3 * 4096 + 5, HUGE, HUGE + 1] {
            let mut r = Region::with_capacity(capacity).unwrap();
            assert!(r.capacity() >= capacity);
            assert!(r.is_empty());
            let data: Vec<u8> = (0..capacity).map(|i| (i % 251) as u8).collect();
            let (a, b) = data.split_at(capacity / 3);
            assert!(r.try_extend(a) && r.try_extend(b));
            assert_eq!(&r[..], &data[..]);
            let spare = r.capacity() - r.len();
            assert!(!r.try_extend(&vec![1; spare + 1]));
            assert_eq!(r.len(), capacity, "a failed append appends nothing");
            assert!(r.try_extend(&vec![1; spare]));
            r.set_len(capacity / 2);
            assert_eq!(&r[..], &data[..capacity / 2]);
        }
        // Capacity never written reads as zero.
        let mut r = Region::with_capacity(8192).unwrap();
        r.set_len(8192);
        assert!(r.iter().all(|&b| b == 0));
    }
}
