//! Xen 4.17's device-model face of the registry: the ioreq-server DMOPs (1-6) as `dm.c` hands
//! them to `ioreq_server_dm_op`, with their argument bytes (a member of `struct xen_dm_op`'s
//! union). Only argument decoding and the DMOP's own checks (pads, flags, `handle_bufioreq`)
//! live here; every operation is the registry's, as the series' HVMOPs reach it. Callers other
//! than the server's emulator get -EPERM ([`Authority::Emulator`]).
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use crate::errno::{Errno, XenResult};
use crate::platform::DomainRef;

use super::abi::{
    DmopCreateIoreqServer, DmopDestroyIoreqServer, DmopGetIoreqServerInfo, DmopIoreqServerRange,
    DmopSetIoreqServerState, FromBytes, Immutable, IntoBytes, XEN_DMOP_CREATE_IOREQ_SERVER,
    XEN_DMOP_DESTROY_IOREQ_SERVER, XEN_DMOP_GET_IOREQ_SERVER_INFO,
    XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER, XEN_DMOP_NO_GFNS, XEN_DMOP_SET_IOREQ_SERVER_STATE,
    XEN_DMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER,
};
use super::ops::{self, Authority, Pages};
use super::server::BufioreqHandling;
use super::IoreqPlatform;

/// A copy of the DMOP argument at the start of `buf` (dm.c copies the whole union in: a shorter
/// buffer is our caller's error, -EFAULT).
#[cfg_attr(feature = "xen", optimize(size))]
fn arg<A: FromBytes>(buf: &[u8]) -> XenResult<A> {
    A::read_from_prefix(buf)
        .map(|(a, _)| a)
        .map_err(|_| Errno::EFAULT)
}

/// Writes the argument back over the start of `buf`.
#[cfg_attr(feature = "xen", optimize(size))]
fn put<A: IntoBytes + Immutable>(buf: &mut [u8], a: &A) -> XenResult<()> {
    a.write_to_prefix(buf).map_err(|_| Errno::EFAULT)
}

/// `ioreq_server_dm_op(op, d, &const_op)` for `op` 1-6, on `buf` (the union's bytes), as the
/// calling domain `caller`: 0 or -errno; -EOPNOTSUPP for any other op. Returns whether the op
/// leaves the argument unchanged (`const_op`: dm.c copies the union back only when false).
/// create and get_info write their outputs into `buf`.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn dm_op<P: IoreqPlatform>(
    d: DomainRef,
    caller: u16,
    op: u32,
    buf: &mut [u8],
) -> (XenResult<()>, bool) {
    let who = Authority::Emulator(caller);
    match op {
        XEN_DMOP_CREATE_IOREQ_SERVER => (create::<P>(d, caller, buf), false),
        XEN_DMOP_GET_IOREQ_SERVER_INFO => (get_info::<P>(d, who, buf), false),
        XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER | XEN_DMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER => {
            (range::<P>(d, who, op, buf), true)
        }
        XEN_DMOP_SET_IOREQ_SERVER_STATE => (set_state::<P>(d, who, buf), true),
        XEN_DMOP_DESTROY_IOREQ_SERVER => (destroy::<P>(d, who, buf), true),
        _ => (Err(Errno::EOPNOTSUPP), true),
    }
}

/// create: `pad` must be zero (-EINVAL); writes `id`.
#[cfg_attr(feature = "xen", optimize(size))]
fn create<P: IoreqPlatform>(d: DomainRef, caller: u16, buf: &mut [u8]) -> XenResult<()> {
    let mut a: DmopCreateIoreqServer = arg(buf)?;
    if a.pad != [0; 3] {
        return Err(Errno::EINVAL);
    }
    let handling = BufioreqHandling::from_dmop(a.handle_bufioreq)?;
    a.id = ops::create::<P>(d, caller, false, handling, Pages::OnDemand)?;
    put(buf, &a)
}

/// get_info: `flags` only `XEN_DMOP_no_gfns` (else -EINVAL); writes `bufioreq_port`,
/// `ioreq_gfn` and `bufioreq_gfn` each only when the server has it to report (the rest keeps the
/// caller's bytes, as in Xen).
#[cfg_attr(feature = "xen", optimize(size))]
fn get_info<P: IoreqPlatform>(d: DomainRef, who: Authority, buf: &mut [u8]) -> XenResult<()> {
    let mut a: DmopGetIoreqServerInfo = arg(buf)?;
    if a.flags & !XEN_DMOP_NO_GFNS != 0 {
        return Err(Errno::EINVAL);
    }
    let f = ops::server_info::<P>(d, a.id, who, a.flags & XEN_DMOP_NO_GFNS == 0)?;
    if let Some(g) = f.ioreq_gfn {
        a.ioreq_gfn = g;
    }
    if let Some(g) = f.bufioreq_gfn {
        a.bufioreq_gfn = g;
    }
    if let Some(p) = f.bufioreq_port {
        a.bufioreq_port = p;
    }
    put(buf, &a)
}

/// map / unmap: `pad` must be zero (-EINVAL).
#[cfg_attr(feature = "xen", optimize(size))]
fn range<P: IoreqPlatform>(d: DomainRef, who: Authority, op: u32, buf: &[u8]) -> XenResult<()> {
    let a: DmopIoreqServerRange = arg(buf)?;
    if a.pad != 0 {
        return Err(Errno::EINVAL);
    }
    if op == XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER {
        ops::map_range::<P>(d, a.id, who, a.type_, a.start, a.end)
    } else {
        ops::unmap_range::<P>(d, a.id, who, a.type_, a.start, a.end)
    }
}

/// set_state: `pad` must be zero (-EINVAL).
#[cfg_attr(feature = "xen", optimize(size))]
fn set_state<P: IoreqPlatform>(d: DomainRef, who: Authority, buf: &[u8]) -> XenResult<()> {
    let a: DmopSetIoreqServerState = arg(buf)?;
    if a.pad != 0 {
        return Err(Errno::EINVAL);
    }
    ops::set_state::<P>(d, a.id, a.enabled != 0, who)
}

/// destroy: `pad` must be zero (-EINVAL).
#[cfg_attr(feature = "xen", optimize(size))]
fn destroy<P: IoreqPlatform>(d: DomainRef, who: Authority, buf: &[u8]) -> XenResult<()> {
    let a: DmopDestroyIoreqServer = arg(buf)?;
    if a.pad != 0 {
        return Err(Errno::EINVAL);
    }
    ops::destroy::<P>(d, a.id, who)
}
