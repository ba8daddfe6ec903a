//! What a `no_std` staticlib needs inside Xen: the global allocator on Xen's heap and the panic
//! handler. Panics are bugs (no input can reach one); Xen's `panic()` stops the machine.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::{c_char, c_int, c_void};

extern "C" {
    fn _xmalloc(size: usize, align: usize) -> *mut c_void;
    fn _xzalloc(size: usize, align: usize) -> *mut c_void;
    fn _xrealloc(ptr: *mut c_void, size: usize, align: usize) -> *mut c_void;
    fn xfree(p: *mut c_void);
    fn panic(fmt: *const c_char, ...) -> !;
}

struct XenHeap;

// SAFETY: Xen's xmalloc family honours size and alignment, returns NULL on failure, and xfree
// accepts any pointer they returned.
unsafe impl GlobalAlloc for XenHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain call into Xen's allocator.
        unsafe { _xmalloc(layout.size(), layout.align()) }.cast()
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: plain call into Xen's allocator.
        unsafe { _xzalloc(layout.size(), layout.align()) }.cast()
    }
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from _xmalloc/_xzalloc/_xrealloc.
        unsafe { xfree(ptr.cast()) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from this allocator; _xrealloc keeps the contents up to the new size.
        unsafe { _xrealloc(ptr.cast(), new_size, layout.align()) }.cast()
    }
}

#[global_allocator]
static HEAP: XenHeap = XenHeap;

/// Prints the panic's location, and its message when that is a plain string, through Xen's
/// `panic()`. Nothing is formatted here: `core::fmt` stays out of the object (README, "Code
/// size"); a formatted message (e.g. an index out of bounds) is named by its location alone.
#[panic_handler]
fn on_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let message = info.message().as_str().unwrap_or("panic");
    let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
    let len = |s: &str| c_int::try_from(s.len()).unwrap_or(c_int::MAX);
    // SAFETY: the format consumes exactly an int and a `char *` (a string of at least that many
    // bytes, `%.*s` reads no further) twice, then an unsigned int.
    unsafe {
        panic(
            c"xen-ioreq-rs: %.*s at %.*s:%u\n".as_ptr(),
            len(message),
            message.as_ptr(),
            len(file),
            file.as_ptr(),
            line,
        )
    }
}
