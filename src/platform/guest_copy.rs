//! Copies between hypervisor memory and a hypercall argument in the caller's memory.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use crate::errno::XenResult;

/// A `XEN_GUEST_HANDLE_PARAM(void)`: the caller's address of a hypercall argument.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct GuestHandle(pub usize);

pub trait GuestCopy {
    /// `copy_from_guest`: fills `dst` from the caller's memory at `src`; -EFAULT on failure.
    fn copy_from_guest(dst: &mut [u8], src: GuestHandle) -> XenResult<()>;
    /// `copy_to_guest`: writes `src` to the caller's memory at `dst`; -EFAULT on failure.
    fn copy_to_guest(dst: GuestHandle, src: &[u8]) -> XenResult<()>;
}
