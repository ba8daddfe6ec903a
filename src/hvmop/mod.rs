//! The series' hypercalls: HVMOP 17-22 (`do_hvm_op` cases), each with the common prologue of
//! series §4.13: copy the argument in (-EFAULT), lock the target domain (-ESRCH, -EPERM for the
//! caller itself), HVM only (-EINVAL), XSM device-model privilege (-EPERM), then the helper, then
//! the copy-back rule of the op (create and get_info copy the whole struct back on success only;
//! the others copy nothing).
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

pub mod ffi;

use crate::errno::{Errno, XenResult};
use crate::ioreq::abi::{
    HvmCreateIoreqServer, HvmDestroyIoreqServer, HvmGetIoreqServerInfo, HvmIoRange,
    HvmSetIoreqServerState, HVMOP_CREATE_IOREQ_SERVER, HVMOP_DESTROY_IOREQ_SERVER,
    HVMOP_GET_IOREQ_SERVER_INFO, HVMOP_MAP_IO_RANGE_TO_IOREQ_SERVER, HVMOP_OP_MASK,
    HVMOP_SET_IOREQ_SERVER_STATE, HVMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER,
};
use crate::ioreq::{self, IoreqPlatform};
use crate::platform::{DomainRef, GuestHandle};

/// Copies a `N`-byte argument in.
fn copy_in<P: IoreqPlatform, const N: usize>(arg: GuestHandle) -> XenResult<[u8; N]> {
    let mut b = [0u8; N];
    P::copy_from_guest(&mut b, arg)?;
    Ok(b)
}

/// Locks `domid` for the hypercall `op`, runs `f`, unlocks.
fn with_target<P: IoreqPlatform, R>(
    domid: u16,
    op: u32,
    f: impl FnOnce(DomainRef) -> XenResult<R>,
) -> XenResult<R> {
    let d = P::lock_remote_domain(domid)?;
    let r = if !P::is_hvm(d) {
        Err(Errno::EINVAL)
    } else {
        P::xsm_dm_priv(d, op).and_then(|()| f(d))
    };
    P::unlock_domain(d);
    r
}

fn create<P: IoreqPlatform>(arg: GuestHandle) -> XenResult<()> {
    let mut op = HvmCreateIoreqServer::from_bytes(&copy_in::<P, 6>(arg)?);
    let caller = P::domain_id(P::current_domain());
    with_target::<P, ()>(op.domid, HVMOP_CREATE_IOREQ_SERVER, |d| {
        op.id = ioreq::create_server::<P>(d, caller, false, op.handle_bufioreq != 0)?;
        // The server stays created if the copy-back fails, as in the C.
        P::copy_to_guest(arg, &op.to_bytes())
    })
}

fn get_info<P: IoreqPlatform>(arg: GuestHandle) -> XenResult<()> {
    let mut op = HvmGetIoreqServerInfo::from_bytes(&copy_in::<P, 24>(arg)?);
    with_target::<P, ()>(op.domid, HVMOP_GET_IOREQ_SERVER_INFO, |d| {
        let info = ioreq::get_server_info::<P>(d, op.id)?;
        op.ioreq_pfn = info.ioreq_pfn;
        // Without a ring the caller's own values are echoed back, as in the C.
        if let Some((pfn, port)) = info.bufioreq {
            op.bufioreq_pfn = pfn;
            op.bufioreq_port = port;
        }
        P::copy_to_guest(arg, &op.to_bytes())
    })
}

fn io_range<P: IoreqPlatform>(arg: GuestHandle, op_no: u32) -> XenResult<()> {
    let op = HvmIoRange::from_bytes(&copy_in::<P, 24>(arg)?);
    with_target::<P, ()>(op.domid, op_no, |d| {
        if op_no == HVMOP_MAP_IO_RANGE_TO_IOREQ_SERVER {
            ioreq::map_io_range::<P>(d, op.id, op.type_, op.start, op.end)
        } else {
            ioreq::unmap_io_range::<P>(d, op.id, op.type_, op.start, op.end)
        }
    })
}

fn set_state<P: IoreqPlatform>(arg: GuestHandle) -> XenResult<()> {
    let op = HvmSetIoreqServerState::from_bytes(&copy_in::<P, 6>(arg)?);
    with_target::<P, ()>(op.domid, HVMOP_SET_IOREQ_SERVER_STATE, |d| {
        ioreq::set_server_state::<P>(d, op.id, op.enabled != 0)
    })
}

fn destroy<P: IoreqPlatform>(arg: GuestHandle) -> XenResult<()> {
    let op = HvmDestroyIoreqServer::from_bytes(&copy_in::<P, 4>(arg)?);
    with_target::<P, ()>(op.domid, HVMOP_DESTROY_IOREQ_SERVER, |d| {
        ioreq::destroy_server::<P>(d, op.id)
    })
}

/// Whether `op` (after `& HVMOP_op_mask`) is one of the series' ioreq-server HVMOPs.
pub fn is_ioreq_server_op(op: u64) -> bool {
    let op = (op & HVMOP_OP_MASK) as u32;
    (HVMOP_CREATE_IOREQ_SERVER..=HVMOP_SET_IOREQ_SERVER_STATE).contains(&op)
}

/// `do_hvm_op(op, arg)` for HVMOP 17-22: 0 or -errno; -ENOSYS for any other op.
pub fn ioreq_server_op<P: IoreqPlatform>(op: u64, arg: GuestHandle) -> i64 {
    let r = match (op & HVMOP_OP_MASK) as u32 {
        HVMOP_CREATE_IOREQ_SERVER => create::<P>(arg),
        HVMOP_GET_IOREQ_SERVER_INFO => get_info::<P>(arg),
        n @ (HVMOP_MAP_IO_RANGE_TO_IOREQ_SERVER | HVMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER) => {
            io_range::<P>(arg, n)
        }
        HVMOP_DESTROY_IOREQ_SERVER => destroy::<P>(arg),
        HVMOP_SET_IOREQ_SERVER_STATE => set_state::<P>(arg),
        _ => Err(Errno::ENOSYS),
    };
    match r {
        Ok(()) => 0,
        Err(e) => i64::from(e.to_neg()),
    }
}
