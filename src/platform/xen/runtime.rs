//! What a `no_std` staticlib needs inside Xen: the global allocator on Xen's heap and the panic
//! handler. Panics are bugs (no input can reach one); Xen's `panic()` stops the machine.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::{c_char, c_void};
use core::fmt::Write;

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

struct PanicBuf {
    buf: [u8; 160],
    len: usize,
}

impl Write for PanicBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            // Keep one byte for the terminating NUL; truncate the rest.
            if self.len + 1 < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
        Ok(())
    }
}

#[panic_handler]
fn on_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    let mut b = PanicBuf {
        buf: [0; 160],
        len: 0,
    };
    let _ = write!(b, "xen-ioreq-rs: {info}");
    // SAFETY: the buffer is NUL-terminated (len < buf.len() and the array starts zeroed); the
    // format string consumes exactly one `char *` argument.
    unsafe { panic(c"%s\n".as_ptr(), b.buf.as_ptr()) }
}
