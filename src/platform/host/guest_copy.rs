//! Guest memory for hypercall arguments: buffers registered per thread, addressed by handle. A
//! copy that does not fall entirely inside one registered buffer fails with -EFAULT, as a copy
//! from an unmapped guest address does.

use core::cell::RefCell;
use std::vec::Vec;

use super::HostPlatform;
use crate::errno::{Errno, XenResult};
use crate::platform::guest_copy::{GuestCopy, GuestHandle};

/// Handles start here so that 0 and small values are never valid.
const GUEST_BASE: usize = 0x1000_0000;
/// Space between two registered buffers' handles.
const GUEST_STRIDE: usize = 0x10_0000;

std::thread_local! {
    static GUEST: RefCell<Vec<Option<Vec<u8>>>> = const { RefCell::new(Vec::new()) };
}

/// Places `bytes` in fake guest memory and returns the handle of its first byte.
pub fn guest_buffer(bytes: &[u8]) -> GuestHandle {
    assert!(bytes.len() < GUEST_STRIDE);
    GUEST.with(|g| {
        let mut g = g.borrow_mut();
        g.push(Some(bytes.to_vec()));
        GuestHandle(GUEST_BASE + (g.len() - 1) * GUEST_STRIDE)
    })
}

/// Reads back (and releases) a buffer made by [`guest_buffer`].
pub fn take_guest_buffer(h: GuestHandle) -> Vec<u8> {
    GUEST.with(|g| {
        let idx = (h.0 - GUEST_BASE) / GUEST_STRIDE;
        g.borrow_mut()[idx].take().unwrap_or_default()
    })
}

fn locate(h: GuestHandle, len: usize) -> Option<(usize, usize)> {
    let off = h.0.checked_sub(GUEST_BASE)?;
    let (idx, start) = (off / GUEST_STRIDE, off % GUEST_STRIDE);
    let end = start.checked_add(len)?;
    GUEST.with(|g| {
        let g = g.borrow();
        let buf = g.get(idx)?.as_ref()?;
        (end <= buf.len()).then_some((idx, start))
    })
}

impl GuestCopy for HostPlatform {
    fn copy_from_guest(dst: &mut [u8], src: GuestHandle) -> XenResult<()> {
        let (idx, start) = locate(src, dst.len()).ok_or(Errno::EFAULT)?;
        GUEST.with(|g| {
            let g = g.borrow();
            if let Some(Some(buf)) = g.get(idx) {
                dst.copy_from_slice(&buf[start..start + dst.len()]);
            }
        });
        Ok(())
    }

    fn copy_to_guest(dst: GuestHandle, src: &[u8]) -> XenResult<()> {
        let (idx, start) = locate(dst, src.len()).ok_or(Errno::EFAULT)?;
        GUEST.with(|g| {
            if let Some(Some(buf)) = g.borrow_mut().get_mut(idx) {
                buf[start..start + src.len()].copy_from_slice(src);
            }
        });
        Ok(())
    }
}
