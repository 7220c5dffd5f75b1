//! A global allocator that counts live and peak heap bytes, shared by the
//! benchmark and the body-cap test (each its own binary).
//!
//! Counting costs two atomic updates per allocation, which the throughput
//! benchmarks would pay unevenly (the layer that allocates more pays more,
//! and contended at 64 in flight): they run inside [`paused`]. Counts are
//! signed, so a block allocated while paused and freed later only lowers
//! the live count; measurements are differences from [`start`].

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

pub struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);
static PAUSED: AtomicBool = AtomicBool::new(false);

fn grow(by: usize) {
    if !PAUSED.load(Ordering::Relaxed) {
        let by = by as isize;
        let live = LIVE.fetch_add(by, Ordering::Relaxed) + by;
        PEAK.fetch_max(live, Ordering::Relaxed);
    }
}

fn shrink(by: usize) {
    if !PAUSED.load(Ordering::Relaxed) {
        LIVE.fetch_sub(by as isize, Ordering::Relaxed);
    }
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        unsafe { System.dealloc(ptr, layout) }
    }
    /// Forwarded, so the program allocates as it does without this wrapper
    /// (the default would allocate, copy and free at every growth of a
    /// `Vec`, where the system allocator grows or remaps the block in place).
    /// Counted as the block's growth; a copy glibc has to make is not seen.
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size >= layout.size() {
            grow(new_size - layout.size());
        } else {
            shrink(layout.size() - new_size);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Starts a measurement: returns the live bytes now and resets the peak to them.
pub fn start() -> isize {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    base
}

/// The peak since `start`, above what was live then.
pub fn peak_since(base: isize) -> usize {
    usize::try_from(PEAK.load(Ordering::Relaxed) - base).unwrap_or(0)
}

/// Live bytes now, above `base`.
#[allow(dead_code)]
pub fn retained_since(base: isize) -> usize {
    usize::try_from(LIVE.load(Ordering::Relaxed) - base).unwrap_or(0)
}

/// Runs `work` with counting off (a benchmark of speed, not of memory).
#[allow(dead_code)]
pub async fn paused<T>(work: impl std::future::Future<Output = T>) -> T {
    PAUSED.store(true, Ordering::Relaxed);
    let out = work.await;
    PAUSED.store(false, Ordering::Relaxed);
    out
}
