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
    FromBytes, HvmCreateIoreqServer, HvmDestroyIoreqServer, HvmGetIoreqServerInfo, HvmIoRange,
    HvmSetIoreqServerState, Immutable, IntoBytes, HVMOP_CREATE_IOREQ_SERVER,
    HVMOP_DESTROY_IOREQ_SERVER, HVMOP_GET_IOREQ_SERVER_INFO, HVMOP_MAP_IO_RANGE_TO_IOREQ_SERVER,
    HVMOP_OP_MASK, HVMOP_SET_IOREQ_SERVER_STATE, HVMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER,
};
use crate::ioreq::{self, IoreqPlatform};
use crate::platform::{DomainRef, GuestHandle, Platform};

/// Whether the prologue copies the argument back to the caller after the op.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CopyBack {
    Yes,
    No,
}

/// An HVMOP's argument: a `#[repr(C)]` struct of the ABI whose `domid` names the target domain.
pub trait HvmopArg: FromBytes + IntoBytes + Immutable {
    fn domid(&self) -> u16;
}

/// Implements [`HvmopArg`] for structs with a `domid: u16` field.
macro_rules! hvmop_arg {
    ($($t:ty),*) => {
        $(impl HvmopArg for $t {
            #[cfg_attr(feature = "xen", optimize(size))]
            fn domid(&self) -> u16 {
                self.domid
            }
        })*
    };
}
pub(crate) use hvmop_arg;

hvmop_arg!(
    HvmCreateIoreqServer,
    HvmGetIoreqServerInfo,
    HvmIoRange,
    HvmSetIoreqServerState,
    HvmDestroyIoreqServer
);

/// The prologue and epilogue every HVMOP of this crate shares (the series' 17-22 and
/// `HVMOP_pci_hotplug`): copy the argument in (-EFAULT), lock the target domain it names
/// (-ESRCH, -EPERM for the caller itself), HVM only (-EINVAL), XSM device-model privilege for
/// `op` (-EPERM), run `body` on the domain and the argument, then copy the argument back if
/// `body` says so (-EFAULT; what `body` did stays done), unlock. The argument is a private copy:
/// the caller's memory is read once and never referenced.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn hvmop_call<P: Platform, A: HvmopArg>(
    arg: GuestHandle,
    op: u32,
    body: impl FnOnce(DomainRef, &mut A) -> XenResult<CopyBack>,
) -> XenResult<()> {
    let mut a = A::new_zeroed();
    P::copy_from_guest(a.as_mut_bytes(), arg)?;
    let d = P::lock_remote_domain(a.domid())?;
    let r = if !P::is_hvm(d) {
        Err(Errno::EINVAL)
    } else {
        P::xsm_dm_priv(d, op)
            .and_then(|()| body(d, &mut a))
            .and_then(|c| match c {
                CopyBack::Yes => P::copy_to_guest(arg, a.as_bytes()),
                CopyBack::No => Ok(()),
            })
    };
    P::unlock_domain(d);
    r
}

#[cfg_attr(feature = "xen", optimize(size))]
fn create<P: IoreqPlatform>(arg: GuestHandle) -> XenResult<()> {
    let caller = P::domain_id(P::current_domain());
    hvmop_call::<P, HvmCreateIoreqServer>(arg, HVMOP_CREATE_IOREQ_SERVER, |d, op| {
        op.id = ioreq::create_server::<P>(d, caller, false, op.handle_bufioreq != 0)?;
        // The server stays created if the copy-back fails, as in the C.
        Ok(CopyBack::Yes)
    })
}

#[cfg_attr(feature = "xen", optimize(size))]
fn get_info<P: IoreqPlatform>(arg: GuestHandle) -> XenResult<()> {
    hvmop_call::<P, HvmGetIoreqServerInfo>(arg, HVMOP_GET_IOREQ_SERVER_INFO, |d, op| {
        let info = ioreq::get_server_info::<P>(d, op.id)?;
        op.ioreq_pfn = info.ioreq_pfn;
        // Without a ring the caller's own values are echoed back, as in the C.
        if let Some((pfn, port)) = info.bufioreq {
            op.bufioreq_pfn = pfn;
            op.bufioreq_port = port;
        }
        Ok(CopyBack::Yes)
    })
}

#[cfg_attr(feature = "xen", optimize(size))]
fn io_range<P: IoreqPlatform>(arg: GuestHandle, op_no: u32) -> XenResult<()> {
    hvmop_call::<P, HvmIoRange>(arg, op_no, |d, op| {
        if op_no == HVMOP_MAP_IO_RANGE_TO_IOREQ_SERVER {
            ioreq::map_io_range::<P>(d, op.id, op.type_, op.start, op.end)?;
        } else {
            ioreq::unmap_io_range::<P>(d, op.id, op.type_, op.start, op.end)?;
        }
        Ok(CopyBack::No)
    })
}

#[cfg_attr(feature = "xen", optimize(size))]
fn set_state<P: IoreqPlatform>(arg: GuestHandle) -> XenResult<()> {
    hvmop_call::<P, HvmSetIoreqServerState>(arg, HVMOP_SET_IOREQ_SERVER_STATE, |d, op| {
        ioreq::set_server_state::<P>(d, op.id, op.enabled != 0)?;
        Ok(CopyBack::No)
    })
}

#[cfg_attr(feature = "xen", optimize(size))]
fn destroy<P: IoreqPlatform>(arg: GuestHandle) -> XenResult<()> {
    hvmop_call::<P, HvmDestroyIoreqServer>(arg, HVMOP_DESTROY_IOREQ_SERVER, |d, op| {
        ioreq::destroy_server::<P>(d, op.id)?;
        Ok(CopyBack::No)
    })
}

/// Whether `op` (after `& HVMOP_op_mask`) is one of the series' ioreq-server HVMOPs.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn is_ioreq_server_op(op: u64) -> bool {
    let op = (op & HVMOP_OP_MASK) as u32;
    (HVMOP_CREATE_IOREQ_SERVER..=HVMOP_SET_IOREQ_SERVER_STATE).contains(&op)
}

/// `do_hvm_op(op, arg)` for HVMOP 17-22: 0 or -errno; -ENOSYS for any other op.
#[cfg_attr(feature = "xen", optimize(size))]
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
