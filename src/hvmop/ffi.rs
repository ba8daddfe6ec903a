//! C entry point of the series' HVMOPs, for `do_hvm_op`.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::ffi::{c_long, c_ulong, c_void};

use crate::platform::{Active, GuestHandle};

/// `do_hvm_op`'s cases HVMOP_create_ioreq_server (17) .. HVMOP_set_ioreq_server_state (22):
/// `arg` is the `XEN_GUEST_HANDLE_PARAM(void)`'s pointer (the caller's address of the argument).
/// Returns 0 or -errno; -ENOSYS for any other op (after `op & HVMOP_op_mask`).
///
/// # Safety
/// Must run in hypercall context; `arg` is only used through the platform's guest-copy checks.
#[no_mangle]
#[allow(clippy::useless_conversion)]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvmop_ioreq_server(op: c_ulong, arg: *mut c_void) -> c_long {
    super::ioreq_server_op::<Active>(u64::from(op), GuestHandle(arg as usize)) as c_long
}
