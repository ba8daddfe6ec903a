//! The series' hypercalls: HVMOP 17-22 (`do_hvm_op` cases), and the one prologue they share with
//! `HVMOP_pci_hotplug` ([`hvmop_call`]): copy the argument in (-EFAULT), lock the target domain
//! (-ESRCH, -EPERM for the caller itself), HVM only (-EINVAL), XSM device-model privilege
//! (-EPERM), then the op, then its copy-back rule (create and get_info copy the whole struct back
//! on success only; the others copy nothing).
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
use crate::platform::guest_copy::bytes_at;
use crate::platform::{DomainRef, GuestHandle, Platform};

/// Whether the prologue copies the argument back to the caller after the op.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CopyBack {
    Yes,
    No,
}

/// The prologue and epilogue every HVMOP of this crate shares (the series' 17-22 and
/// `HVMOP_pci_hotplug`): copy the `N`-byte argument in (-EFAULT), lock the target domain named
/// by its first field (-ESRCH, -EPERM for the caller itself), HVM only (-EINVAL), XSM
/// device-model privilege for `op` (-EPERM), run `body` on the domain and the argument, then copy
/// the argument back if `body` says so (-EFAULT; what `body` did stays done), unlock.
pub fn hvmop_call<P: Platform, const N: usize>(
    arg: GuestHandle,
    op: u32,
    body: impl FnOnce(DomainRef, &mut [u8; N]) -> XenResult<CopyBack>,
) -> XenResult<()> {
    let mut b = [0u8; N];
    P::copy_from_guest(&mut b, arg)?;
    let d = P::lock_remote_domain(u16::from_le_bytes(bytes_at(&b, 0)))?;
    let r = if !P::is_hvm(d) {
        Err(Errno::EINVAL)
    } else {
        P::xsm_dm_priv(d, op)
            .and_then(|()| body(d, &mut b))
            .and_then(|c| match c {
                CopyBack::Yes => P::copy_to_guest(arg, &b),
                CopyBack::No => Ok(()),
            })
    };
    P::unlock_domain(d);
    r
}

fn create<P: IoreqPlatform>(arg: GuestHandle) -> XenResult<()> {
    let caller = P::domain_id(P::current_domain());
    hvmop_call::<P, { HvmCreateIoreqServer::SIZE }>(arg, HVMOP_CREATE_IOREQ_SERVER, |d, b| {
        let mut op = HvmCreateIoreqServer::from_bytes(b);
        op.id = ioreq::create_server::<P>(d, caller, false, op.handle_bufioreq != 0)?;
        // The server stays created if the copy-back fails, as in the C.
        *b = op.to_bytes();
        Ok(CopyBack::Yes)
    })
}

fn get_info<P: IoreqPlatform>(arg: GuestHandle) -> XenResult<()> {
    hvmop_call::<P, { HvmGetIoreqServerInfo::SIZE }>(arg, HVMOP_GET_IOREQ_SERVER_INFO, |d, b| {
        let mut op = HvmGetIoreqServerInfo::from_bytes(b);
        let info = ioreq::get_server_info::<P>(d, op.id)?;
        op.ioreq_pfn = info.ioreq_pfn;
        // Without a ring the caller's own values are echoed back, as in the C.
        if let Some((pfn, port)) = info.bufioreq {
            op.bufioreq_pfn = pfn;
            op.bufioreq_port = port;
        }
        *b = op.to_bytes();
        Ok(CopyBack::Yes)
    })
}

fn io_range<P: IoreqPlatform>(arg: GuestHandle, op_no: u32) -> XenResult<()> {
    hvmop_call::<P, { HvmIoRange::SIZE }>(arg, op_no, |d, b| {
        let op = HvmIoRange::from_bytes(b);
        if op_no == HVMOP_MAP_IO_RANGE_TO_IOREQ_SERVER {
            ioreq::map_io_range::<P>(d, op.id, op.type_, op.start, op.end)?;
        } else {
            ioreq::unmap_io_range::<P>(d, op.id, op.type_, op.start, op.end)?;
        }
        Ok(CopyBack::No)
    })
}

fn set_state<P: IoreqPlatform>(arg: GuestHandle) -> XenResult<()> {
    hvmop_call::<P, { HvmSetIoreqServerState::SIZE }>(arg, HVMOP_SET_IOREQ_SERVER_STATE, |d, b| {
        let op = HvmSetIoreqServerState::from_bytes(b);
        ioreq::set_server_state::<P>(d, op.id, op.enabled != 0)?;
        Ok(CopyBack::No)
    })
}

fn destroy<P: IoreqPlatform>(arg: GuestHandle) -> XenResult<()> {
    hvmop_call::<P, { HvmDestroyIoreqServer::SIZE }>(arg, HVMOP_DESTROY_IOREQ_SERVER, |d, b| {
        let op = HvmDestroyIoreqServer::from_bytes(b);
        ioreq::destroy_server::<P>(d, op.id)?;
        Ok(CopyBack::No)
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
