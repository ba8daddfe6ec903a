//! Toolstack-side operations: create, destroy, info, ranges, state, vCPUs, teardown, DM domain.
//!
//! Lock order (series §11): domain pause -> registry lock -> (server state, only under the
//! registry lock here) -> the platform's event lock. Where the C takes the registry lock and then
//! pauses (destroy, set_state, set_dm_domain), we look the server up under the read lock first,
//! then pause, then take the write lock and look it up again: same results and no pause when the
//! server does not exist, but a vCPU spinning on the registry lock can never stall the pause.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use alloc::vec::Vec;

use crate::errno::{Errno, XenResult};
use crate::ioreq::abi::NR_IO_RANGE_TYPES;
use crate::platform::domain::{DomainSlot, SlotState};
use crate::platform::{DomainRef, VcpuRef};

use super::ranges::IoRanges;
use super::server::{DomainIoreq, Registry, Server};
use super::{IoreqPlatform, ServerInfo};

/// `hvm_create_ioreq_server`: a secondary server starts disabled; the default server (at most
/// one: -EEXIST) is enabled at once. Returns the new id.
pub fn create_server<P: IoreqPlatform>(
    d: DomainRef,
    emulator: u16,
    is_default: bool,
    handle_bufioreq: bool,
) -> XenResult<u16> {
    let st = DomainIoreq::<P>::get_or_init(d)?;
    P::pause(d);
    let rc = {
        let mut reg = st.reg.write();
        let reg = &mut *reg;
        if is_default && reg.has_default() {
            Err(Errno::EEXIST)
        } else {
            reg.servers
                .try_reserve(1)
                .map_err(|_| Errno::ENOMEM)
                .and_then(|()| reg.next_id())
                .and_then(|id| {
                    let mut s = Server::<P>::new(
                        d,
                        &mut reg.pool,
                        emulator,
                        is_default,
                        handle_bufioreq,
                        id,
                    )?;
                    if is_default {
                        s.enable();
                    }
                    reg.servers.insert(0, s);
                    Ok(id)
                })
        }
    };
    P::unpause(d);
    rc
}

/// Runs `f` on the secondary server `id` with the domain paused and the registry write-locked;
/// -ENOENT (and no pause) if there is no such server.
fn with_paused_server<P: IoreqPlatform, R>(
    d: DomainRef,
    id: u16,
    f: impl FnOnce(&mut Registry<P>, usize) -> R,
) -> XenResult<R> {
    let st = DomainIoreq::<P>::get(d).ok_or(Errno::ENOENT)?;
    if st.reg.read().find_secondary(id).is_none() {
        return Err(Errno::ENOENT);
    }
    P::pause(d);
    let r = {
        let mut reg = st.reg.write();
        match reg.find_secondary(id) {
            Some(i) => Ok(f(&mut reg, i)),
            None => Err(Errno::ENOENT),
        }
    };
    P::unpause(d);
    r
}

/// `hvm_destroy_ioreq_server`: disables the server first, so an enabled server's pages return to
/// the guest P2M (B5), then frees everything including its pool frames (B1).
pub fn destroy_server<P: IoreqPlatform>(d: DomainRef, id: u16) -> XenResult<()> {
    with_paused_server::<P, ()>(d, id, |reg, i| {
        // `i` was found under this same write lock, so it is in bounds.
        let mut s = reg.servers.remove(i);
        s.disable();
        s.deinit(&mut reg.pool);
    })
}

/// `hvm_get_ioreq_server_info`.
pub fn get_server_info<P: IoreqPlatform>(d: DomainRef, id: u16) -> XenResult<ServerInfo> {
    let st = DomainIoreq::<P>::get(d).ok_or(Errno::ENOENT)?;
    let reg = st.reg.read();
    let s = reg.secondary(id).ok_or(Errno::ENOENT)?;
    Ok(ServerInfo {
        ioreq_pfn: s.ioreq.gmfn,
        bufioreq: s.bufioreq.as_ref().map(|b| (b.gmfn, s.bufioreq_evtchn)),
    })
}

/// Runs `f` on server `id`'s set for `type_` with the registry write-locked, so that the check
/// and the change `f` makes are one step. Errors in the C's order: -EINVAL for an inverted range
/// (later Xen checks it first: I6), -ENOENT for no such server, -EINVAL for an unknown type.
fn with_range_set<P: IoreqPlatform>(
    d: DomainRef,
    id: u16,
    type_: u32,
    start: u64,
    end: u64,
    f: impl FnOnce(&mut IoRanges<P>) -> XenResult<()>,
) -> XenResult<()> {
    if start > end {
        return Err(Errno::EINVAL);
    }
    let st = DomainIoreq::<P>::get(d).ok_or(Errno::ENOENT)?;
    let mut reg = st.reg.write();
    let s = reg.secondary_mut(id).ok_or(Errno::ENOENT)?;
    let t = usize::try_from(type_)
        .ok()
        .filter(|t| *t < NR_IO_RANGE_TYPES)
        .ok_or(Errno::EINVAL)?;
    let set = s
        .ranges
        .as_mut()
        .and_then(|r| r.get_mut(t))
        .ok_or(Errno::EINVAL)?;
    f(set)
}

/// `hvm_map_io_range_to_ioreq_server`: -EEXIST if the range overlaps one of the server's ranges of
/// that type, -ENOMEM past 256 ranges.
pub fn map_io_range<P: IoreqPlatform>(
    d: DomainRef,
    id: u16,
    type_: u32,
    start: u64,
    end: u64,
) -> XenResult<()> {
    with_range_set::<P>(d, id, type_, start, end, |r| {
        if r.overlaps_range(start, end) {
            return Err(Errno::EEXIST);
        }
        r.add_range(start, end)
    })
}

/// `hvm_unmap_io_range_from_ioreq_server`: the range must lie inside one registered range
/// (-ENOENT otherwise); splitting one at the 256 limit gives -ENOMEM.
pub fn unmap_io_range<P: IoreqPlatform>(
    d: DomainRef,
    id: u16,
    type_: u32,
    start: u64,
    end: u64,
) -> XenResult<()> {
    with_range_set::<P>(d, id, type_, start, end, |r| {
        if !r.contains_range(start, end) {
            return Err(Errno::ENOENT);
        }
        r.remove_range(start, end)
    })
}

/// `hvm_set_ioreq_server_state` (idempotent).
pub fn set_server_state<P: IoreqPlatform>(d: DomainRef, id: u16, enabled: bool) -> XenResult<()> {
    with_paused_server::<P, ()>(d, id, |reg, i| {
        if let Some(s) = reg.servers.get_mut(i) {
            if enabled {
                s.enable();
            } else {
                s.disable();
            }
        }
    })
}

/// `hvm_all_ioreq_servers_add_vcpu`: on the first failure `v` is removed from every server again.
pub fn add_vcpu_all<P: IoreqPlatform>(d: DomainRef, v: VcpuRef) -> XenResult<()> {
    let Some(st) = DomainIoreq::<P>::get(d) else {
        return Ok(());
    };
    let mut reg = st.reg.write();
    let mut rc = Ok(());
    for s in reg.servers.iter_mut() {
        if let Err(e) = s.add_vcpu(v) {
            rc = Err(e);
            break;
        }
    }
    if rc.is_err() {
        for s in reg.servers.iter_mut() {
            s.remove_vcpu(v);
        }
    }
    rc
}

/// `hvm_all_ioreq_servers_remove_vcpu`.
pub fn remove_vcpu_all<P: IoreqPlatform>(d: DomainRef, v: VcpuRef) {
    if let Some(st) = DomainIoreq::<P>::get(d) {
        for s in st.reg.write().servers.iter_mut() {
            s.remove_vcpu(v);
        }
    }
}

/// `hvm_destroy_all_ioreq_servers` (domain teardown, no pause): every server is disabled (I5)
/// and freed. The per-domain state stays until [`domain_destroy`].
pub fn destroy_all<P: IoreqPlatform>(d: DomainRef) {
    if let Some(st) = DomainIoreq::<P>::get(d) {
        let mut reg = st.reg.write();
        let reg = &mut *reg;
        let servers: Vec<_> = core::mem::take(&mut reg.servers);
        for mut s in servers {
            s.disable();
            s.deinit(&mut reg.pool);
        }
    }
}

/// Frees the per-domain state (from `hvm_domain_destroy`, when nothing can reach the domain any
/// more); destroys any server left first.
pub fn domain_destroy<P: IoreqPlatform>(d: DomainRef) {
    destroy_all::<P>(d);
    // SAFETY: this runs from `hvm_domain_destroy`, when no vCPU, hypercall or emulator can reach
    // the domain any more, so no reference to its ioreq state is in use or can be taken.
    drop(unsafe { SlotState::<DomainIoreq<P>>::take::<P>(d, DomainSlot::Ioreq) });
}

/// `hvm_set_dm_domain`: re-plumbs the default server's channels to `domid`. No default server is
/// not an error (the caller stores the param, used when the server is created).
pub fn set_dm_domain<P: IoreqPlatform>(d: DomainRef, domid: u16) -> XenResult<()> {
    let Some(st) = DomainIoreq::<P>::get(d) else {
        return Ok(());
    };
    if !st.reg.read().has_default() {
        return Ok(());
    }
    P::pause(d);
    let rc = {
        let mut reg = st.reg.write();
        match reg.servers.iter_mut().find(|s| s.is_default) {
            Some(s) => s.set_dm_domain(domid),
            None => Ok(()),
        }
    };
    P::unpause(d);
    rc
}

/// `hvm_has_dm`: does the domain have any server?
pub fn has_dm<P: IoreqPlatform>(d: DomainRef) -> bool {
    DomainIoreq::<P>::get(d).is_some_and(|st| !st.reg.read().servers.is_empty())
}
