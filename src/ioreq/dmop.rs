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
use crate::platform::guest_copy::bytes_at;
use crate::platform::DomainRef;

use super::abi::{
    DMOP_CREATE_SIZE, DMOP_DESTROY_SIZE, DMOP_GET_INFO_SIZE, DMOP_RANGE_SIZE, DMOP_SET_STATE_SIZE,
    XEN_DMOP_CREATE_IOREQ_SERVER, XEN_DMOP_DESTROY_IOREQ_SERVER, XEN_DMOP_GET_IOREQ_SERVER_INFO,
    XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER, XEN_DMOP_NO_GFNS, XEN_DMOP_SET_IOREQ_SERVER_STATE,
    XEN_DMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER,
};
use super::ops::{self, Authority, Pages};
use super::server::BufioreqHandling;
use super::IoreqPlatform;

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(bytes_at(b, off))
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(bytes_at(b, off))
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(bytes_at(b, off))
}
fn put(b: &mut [u8], off: usize, v: &[u8]) {
    if let Some(dst) = off.checked_add(v.len()).and_then(|end| b.get_mut(off..end)) {
        dst.copy_from_slice(v);
    }
}

/// The argument of a DMOP, at least `n` bytes (dm.c copies the whole union in: a shorter buffer
/// is our caller's error, -EFAULT).
fn arg(buf: &mut [u8], n: usize) -> XenResult<&mut [u8]> {
    buf.get_mut(..n).ok_or(Errno::EFAULT)
}

/// `ioreq_server_dm_op(op, d, &const_op)` for `op` 1-6, on `buf` (the union's bytes), as the
/// calling domain `caller`: 0 or -errno; -EOPNOTSUPP for any other op. Returns whether the op
/// leaves the argument unchanged (`const_op`: dm.c copies the union back only when false).
/// create and get_info write their outputs into `buf`.
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

/// create: `handle_bufioreq` 0:1, `pad[3]` 1:3 (zero, else -EINVAL), `id` 4:2 (out).
fn create<P: IoreqPlatform>(d: DomainRef, caller: u16, buf: &mut [u8]) -> XenResult<()> {
    let a = arg(buf, DMOP_CREATE_SIZE)?;
    if bytes_at::<3>(a, 1) != [0; 3] {
        return Err(Errno::EINVAL);
    }
    let handling = BufioreqHandling::from_dmop(bytes_at::<1>(a, 0)[0])?;
    let id = ops::create::<P>(d, caller, false, handling, Pages::OnDemand)?;
    put(a, 4, &id.to_le_bytes());
    Ok(())
}

/// get_info: `id` 0:2, `flags` 2:2 (only `XEN_DMOP_no_gfns`, else -EINVAL), then out:
/// `bufioreq_port` 4:4, `ioreq_gfn` 8:8, `bufioreq_gfn` 16:8, each written only when the server
/// has it to report (the rest keeps the caller's bytes, as in Xen).
fn get_info<P: IoreqPlatform>(d: DomainRef, who: Authority, buf: &mut [u8]) -> XenResult<()> {
    let a = arg(buf, DMOP_GET_INFO_SIZE)?;
    let flags = u16_at(a, 2);
    if flags & !XEN_DMOP_NO_GFNS != 0 {
        return Err(Errno::EINVAL);
    }
    let f = ops::server_info::<P>(d, u16_at(a, 0), who, flags & XEN_DMOP_NO_GFNS == 0)?;
    if let Some(g) = f.ioreq_gfn {
        put(a, 8, &g.to_le_bytes());
    }
    if let Some(g) = f.bufioreq_gfn {
        put(a, 16, &g.to_le_bytes());
    }
    if let Some(p) = f.bufioreq_port {
        put(a, 4, &p.to_le_bytes());
    }
    Ok(())
}

/// map / unmap: `id` 0:2, `pad` 2:2 (zero), `type` 4:4, `start` 8:8, `end` 16:8.
fn range<P: IoreqPlatform>(d: DomainRef, who: Authority, op: u32, buf: &mut [u8]) -> XenResult<()> {
    let a = arg(buf, DMOP_RANGE_SIZE)?;
    if u16_at(a, 2) != 0 {
        return Err(Errno::EINVAL);
    }
    let (id, ty, s, e) = (u16_at(a, 0), u32_at(a, 4), u64_at(a, 8), u64_at(a, 16));
    if op == XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER {
        ops::map_range::<P>(d, id, who, ty, s, e)
    } else {
        ops::unmap_range::<P>(d, id, who, ty, s, e)
    }
}

/// set_state: `id` 0:2, `enabled` 2:1, `pad` 3:1 (zero).
fn set_state<P: IoreqPlatform>(d: DomainRef, who: Authority, buf: &mut [u8]) -> XenResult<()> {
    let a = arg(buf, DMOP_SET_STATE_SIZE)?;
    let [enabled, pad] = bytes_at::<2>(a, 2);
    if pad != 0 {
        return Err(Errno::EINVAL);
    }
    ops::set_state::<P>(d, u16_at(a, 0), enabled != 0, who)
}

/// destroy: `id` 0:2, `pad` 2:2 (zero).
fn destroy<P: IoreqPlatform>(d: DomainRef, who: Authority, buf: &mut [u8]) -> XenResult<()> {
    let a = arg(buf, DMOP_DESTROY_SIZE)?;
    if u16_at(a, 2) != 0 {
        return Err(Errno::EINVAL);
    }
    ops::destroy::<P>(d, u16_at(a, 0), who)
}
