//! A counting global allocator with fault injection. A test binary installs it with
//! `#[global_allocator] static A: CountingAllocator = CountingAllocator;` and then uses
//! [`live_allocations`] and [`fail_allocations_after`].

use core::alloc::{GlobalAlloc, Layout};
use core::cell::Cell;
use std::alloc::System;

std::thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    /// Allocations left before failures start; negative means never fail.
    static FAIL_AFTER: Cell<isize> = const { Cell::new(-1) };
}

pub struct CountingAllocator;

fn may_allocate() -> bool {
    FAIL_AFTER
        .try_with(|f| {
            let n = f.get();
            if n == 0 {
                false
            } else {
                if n > 0 {
                    f.set(n - 1);
                }
                true
            }
        })
        .unwrap_or(true)
}

fn count(delta: isize) {
    let _ = LIVE.try_with(|l| l.set(l.get() + delta));
}

// SAFETY: every method forwards to the system allocator with the caller's arguments unchanged; it
// only adds bookkeeping in thread-local cells and may refuse (return NULL), which GlobalAlloc allows.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if !may_allocate() {
            return core::ptr::null_mut();
        }
        // SAFETY: forwarded with the caller's layout, which meets GlobalAlloc's contract.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(1);
        }
        p
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if !may_allocate() {
            return core::ptr::null_mut();
        }
        // SAFETY: as for alloc.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            count(1);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-1);
        // SAFETY: `ptr` came from this allocator, i.e. from System, with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !may_allocate() {
            return core::ptr::null_mut();
        }
        // SAFETY: `ptr` came from System with `layout`; the caller guarantees new_size's validity.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations made by this thread and not yet freed (meaningful only with [`CountingAllocator`]
/// installed).
pub fn live_allocations() -> isize {
    LIVE.with(|l| l.get())
}

/// Lets the next `n` allocations of this thread succeed and fails every one after; `None` turns
/// fault injection off.
pub fn fail_allocations_after(n: Option<usize>) {
    FAIL_AFTER.with(|f| f.set(n.map_or(-1, |n| n.min(isize::MAX as usize) as isize)));
}
