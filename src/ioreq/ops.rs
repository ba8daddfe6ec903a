//! Toolstack-side operations: create, destroy, info, ranges, state, vCPUs, teardown, DM domain.
//!
//! Lock order (docs/series.md, Lock order and pausing): domain pause -> registry lock -> (server
//! state, only under the registry lock here) -> the platform's event lock. Where the C takes the
//! registry lock and then pauses (destroy, set_state, set_dm_domain), we look the server up under
//! the read lock first, then pause, then take the write lock and look it up again: same results
//! and no pause when the server does not exist, but a vCPU spinning on the registry lock can never
//! stall the pause.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use alloc::vec::Vec;

use crate::errno::{Errno, XenResult};
use crate::ioreq::abi::NR_IO_RANGE_TYPES;
use crate::platform::domain::{IoreqKey, SlotState};
use crate::platform::{DomainRef, VcpuRef};

use core::ffi::c_void;
use core::ptr::NonNull;

use super::abi::STATE_IOREQ_NONE;
use super::ranges::IoRanges;
use super::server::{
    slot_of, slot_state, BufioreqHandling, DomainIoreq, IoreqPage, Registry, Server,
};
use super::{IoreqPlatform, ServerInfo};

/// Who may operate on an existing server.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Authority {
    /// Any domain with device-model privilege over the target (the series' HVMOPs, whose
    /// prologue checked that privilege already: FIDELITY I102).
    DeviceModel,
    /// Only the server's emulator, this domain (Xen 4.17's DMOPs; -EPERM for anyone else).
    Emulator(u16),
}

impl Authority {
    #[cfg_attr(feature = "xen", optimize(size))]
    fn check<P: IoreqPlatform>(self, s: &Server<P>) -> XenResult<()> {
        match self {
            Authority::DeviceModel => Ok(()),
            Authority::Emulator(domid) if domid == s.domid => Ok(()),
            Authority::Emulator(_) => Err(Errno::EPERM),
        }
    }
}

/// When a new server's pages come into being.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Pages {
    /// At creation, from guest frames (the series: the pool, or params 5/6 for the default
    /// server); creation fails with the mapping's error.
    AtCreate,
    /// On demand: guest frames at the first get_info asking for them, or frames of their own at
    /// the first acquire_resource (Xen 4.17, FIDELITY I103).
    OnDemand,
}

/// Creates a server for `d` emulated by `emulator`, disabled unless it is the default server
/// (at most one: -EEXIST). Returns the new id.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn create<P: IoreqPlatform>(
    d: DomainRef,
    emulator: u16,
    is_default: bool,
    handling: BufioreqHandling,
    pages: Pages,
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
                    let mut s = Server::<P>::new(d, emulator, is_default, handling, id)?;
                    if pages == Pages::AtCreate {
                        if let Err(e) = s.map_gfn_pages(&mut reg.pool) {
                            s.deinit(&mut reg.pool);
                            return Err(e);
                        }
                    }
                    if is_default {
                        s.enable();
                    }
                    reg.insert(s);
                    Ok(id)
                })
        }
    };
    P::unpause(d);
    rc
}

/// `hvm_create_ioreq_server` (the series): a secondary server starts disabled; the default
/// server (at most one: -EEXIST) is enabled at once; the pages are mapped now. Returns the id.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn create_server<P: IoreqPlatform>(
    d: DomainRef,
    emulator: u16,
    is_default: bool,
    handle_bufioreq: bool,
) -> XenResult<u16> {
    create::<P>(
        d,
        emulator,
        is_default,
        BufioreqHandling::from_series(handle_bufioreq),
        Pages::AtCreate,
    )
}

/// Runs `f` on the secondary server `id` with the domain paused and the registry write-locked;
/// -ENOENT (and no pause) if there is no such server, -EPERM (no pause) if `who` may not.
/// (`f` is `dyn`: one copy of this serves every caller; these are control operations.)
#[cfg_attr(feature = "xen", optimize(size))]
fn with_paused_server<P: IoreqPlatform>(
    d: DomainRef,
    id: u16,
    who: Authority,
    f: &mut dyn FnMut(&mut Registry<P>, usize),
) -> XenResult<()> {
    let st = DomainIoreq::<P>::get(d).ok_or(Errno::ENOENT)?;
    who.check(st.reg.read().secondary(id).ok_or(Errno::ENOENT)?)?;
    P::pause(d);
    let r = {
        let mut reg = st.reg.write();
        match reg.find_secondary(id) {
            Some(i) => {
                f(&mut reg, i);
                Ok(())
            }
            None => Err(Errno::ENOENT),
        }
    };
    P::unpause(d);
    r
}

/// Wakes every vCPU with a request outstanding on `s` (its slot not free): the server is going
/// away, so no answer will come; the vCPU finds nothing pending when it runs again.
#[cfg_attr(feature = "xen", optimize(size))]
fn release_waiters<P: IoreqPlatform>(s: &Server<P>) {
    let Some(page) = s.ioreq_page() else {
        return;
    };
    for sv in &s.vcpus {
        if let Some(slot) = slot_of(page, sv.vcpu_id) {
            if slot_state(slot) != STATE_IOREQ_NONE {
                P::vcpu_unblock(sv.vcpu);
            }
        }
    }
}

/// `hvm_destroy_ioreq_server`: disables the server first, so an enabled server's pages return to
/// the guest P2M (B5), then frees everything including its pool frames (B1). A vCPU waiting on it
/// is woken (FIDELITY X7).
#[cfg_attr(feature = "xen", optimize(size))]
pub fn destroy<P: IoreqPlatform>(d: DomainRef, id: u16, who: Authority) -> XenResult<()> {
    with_paused_server::<P>(d, id, who, &mut |reg, i| {
        // `i` was found under this same write lock, so it is in bounds.
        let mut s = reg.servers.remove(i);
        if reg.mem_type_server.is_some_and(|(m, _)| m == s.id) {
            reg.mem_type_server = None;
        }
        // As 4.17's `arch_ioreq_server_destroy`: unroute the type if this server had it.
        let _ = P::p2m_set_ioreq_server(d, 0, s.id);
        release_waiters(&s);
        s.disable();
        s.deinit(&mut reg.pool);
    })
}

/// `hvm_destroy_ioreq_server` (the series).
#[cfg_attr(feature = "xen", optimize(size))]
pub fn destroy_server<P: IoreqPlatform>(d: DomainRef, id: u16) -> XenResult<()> {
    destroy::<P>(d, id, Authority::DeviceModel)
}

/// What [`server_info`] reports.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ServerFrames {
    /// The synchronous page's guest frame (when asked to map them).
    pub ioreq_gfn: Option<u64>,
    /// The ring's guest frame (when asked to map them and the server has a ring).
    pub bufioreq_gfn: Option<u64>,
    /// The ring's event channel (when the server has a ring).
    pub bufioreq_port: Option<u32>,
}

/// get_info: with `map_gfns`, the pages are mapped from guest frames first if they are not yet
/// (-EPERM if they were allocated as frames of their own, -ENOMEM if the pool is empty).
#[cfg_attr(feature = "xen", optimize(size))]
pub fn server_info<P: IoreqPlatform>(
    d: DomainRef,
    id: u16,
    who: Authority,
    map_gfns: bool,
) -> XenResult<ServerFrames> {
    let st = DomainIoreq::<P>::get(d).ok_or(Errno::ENOENT)?;
    let mut reg = st.reg.write();
    let Registry { servers, pool, .. } = &mut *reg;
    let s = servers
        .iter_mut()
        .find(|s| !s.is_default && s.id == id)
        .ok_or(Errno::ENOENT)?;
    who.check(s)?;
    if map_gfns {
        s.map_gfn_pages(pool)?;
    }
    let gfn = |p: &Option<IoreqPage<P>>| p.as_ref().and_then(IoreqPage::gfn);
    Ok(ServerFrames {
        ioreq_gfn: map_gfns.then(|| gfn(&s.ioreq)).flatten(),
        bufioreq_gfn: (map_gfns && s.has_ring())
            .then(|| gfn(&s.bufioreq))
            .flatten(),
        bufioreq_port: s.has_ring().then_some(s.bufioreq_evtchn),
    })
}

/// `hvm_get_ioreq_server_info` (the series).
#[cfg_attr(feature = "xen", optimize(size))]
pub fn get_server_info<P: IoreqPlatform>(d: DomainRef, id: u16) -> XenResult<ServerInfo> {
    let f = server_info::<P>(d, id, Authority::DeviceModel, true)?;
    Ok(ServerInfo {
        ioreq_pfn: f.ioreq_gfn.unwrap_or(u64::MAX),
        bufioreq: f.bufioreq_gfn.zip(f.bufioreq_port),
    })
}

/// Which of a server's pages `XENMEM_acquire_resource` asks for.
pub const FRAME_BUFIOREQ: u32 = 0;
/// The synchronous page (`XENMEM_resource_ioreq_server_frame_ioreq(0)`).
pub const FRAME_IOREQ: u32 = 1;

/// `ioreq_server_get_frame`: the server's pages are allocated as frames of their own if they
/// are not yet (-EPERM if they were mapped from guest frames); then frame `idx`'s page handle
/// (`struct page_info *`): [`FRAME_BUFIOREQ`] (-ENOENT without a ring), [`FRAME_IOREQ`], any
/// other index -EINVAL.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn get_frame<P: IoreqPlatform>(
    d: DomainRef,
    id: u16,
    idx: u32,
    who: Authority,
) -> XenResult<NonNull<c_void>> {
    let st = DomainIoreq::<P>::get(d).ok_or(Errno::ENOENT)?;
    let mut reg = st.reg.write();
    let s = reg.secondary_mut(id).ok_or(Errno::ENOENT)?;
    who.check(s)?;
    s.alloc_frames()?;
    let page = match idx {
        FRAME_BUFIOREQ if !s.has_ring() => return Err(Errno::ENOENT),
        FRAME_BUFIOREQ => &s.bufioreq,
        FRAME_IOREQ => &s.ioreq,
        _ => return Err(Errno::EINVAL),
    };
    page.as_ref()
        .and_then(|p| p.map.raw())
        .map(|r| r.page())
        .ok_or(Errno::ENOENT)
}

/// `is_ioreq_server_page`: whether `page` (a `struct page_info *`) is one of `d`'s servers'.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn is_server_page<P: IoreqPlatform>(d: DomainRef, page: NonNull<c_void>) -> bool {
    DomainIoreq::<P>::get(d).is_some_and(|st| {
        st.reg.read().servers.iter().any(|s| {
            [&s.ioreq, &s.bufioreq]
                .into_iter()
                .flatten()
                .any(|p| p.map.raw().is_some_and(|r| r.page() == page))
        })
    })
}

/// `XEN_DMOP_IOREQ_MEM_ACCESS_WRITE`: the only access a mem-type server takes.
pub const MEM_ACCESS_WRITE: u32 = 1 << 1;
/// `HVMMEM_ioreq_server`: the only memory type routed to a server.
pub const HVMMEM_IOREQ_SERVER: u32 = 5;

/// `ioreq_server_map_mem_type`: routes the guest's `HVMMEM_ioreq_server` pages to server `id`
/// for the accesses in `flags` (write only), or unroutes them (`flags` 0, only by the server
/// that has them). -EINVAL for another type or flag, -ENOENT, -EPERM, -EBUSY when another
/// server has them.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn map_mem_type<P: IoreqPlatform>(
    d: DomainRef,
    id: u16,
    type_: u32,
    flags: u32,
    who: Authority,
) -> XenResult<()> {
    if type_ != HVMMEM_IOREQ_SERVER || flags & !MEM_ACCESS_WRITE != 0 {
        return Err(Errno::EINVAL);
    }
    let st = DomainIoreq::<P>::get(d).ok_or(Errno::ENOENT)?;
    {
        let mut reg = st.reg.write();
        who.check(reg.secondary(id).ok_or(Errno::ENOENT)?)?;
        P::p2m_set_ioreq_server(d, flags, id)?;
        reg.mem_type_server = (flags != 0).then_some((id, flags));
    }
    if flags == 0 {
        // After the lock, as 4.17 resets the remaining p2m_ioreq_server entries.
        P::p2m_ioreq_server_unmapped(d);
    }
    Ok(())
}

/// Runs `f` on server `id`'s set for `type_` with the registry write-locked, so that the check
/// and the change `f` makes are one step. Errors in the C's order: -EINVAL for an inverted range
/// (later Xen checks it first: I6), -ENOENT for no such server, -EINVAL for an unknown type.
#[cfg_attr(feature = "xen", optimize(size))]
fn with_range_set<P: IoreqPlatform>(
    d: DomainRef,
    id: u16,
    who: Authority,
    (type_, start, end): (u32, u64, u64),
    f: &mut dyn FnMut(&mut IoRanges<P>) -> XenResult<()>,
) -> XenResult<()> {
    if start > end {
        return Err(Errno::EINVAL);
    }
    let st = DomainIoreq::<P>::get(d).ok_or(Errno::ENOENT)?;
    let mut reg = st.reg.write();
    let s = reg.secondary_mut(id).ok_or(Errno::ENOENT)?;
    who.check(s)?;
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
#[cfg_attr(feature = "xen", optimize(size))]
pub fn map_io_range<P: IoreqPlatform>(
    d: DomainRef,
    id: u16,
    type_: u32,
    start: u64,
    end: u64,
) -> XenResult<()> {
    map_range::<P>(d, id, Authority::DeviceModel, type_, start, end)
}

/// Adds `[start, end]` to server `id`'s set of `type_` (see [`map_io_range`]).
#[cfg_attr(feature = "xen", optimize(size))]
pub fn map_range<P: IoreqPlatform>(
    d: DomainRef,
    id: u16,
    who: Authority,
    type_: u32,
    start: u64,
    end: u64,
) -> XenResult<()> {
    with_range_set::<P>(d, id, who, (type_, start, end), &mut |r| {
        if r.overlaps_range(start, end) {
            return Err(Errno::EEXIST);
        }
        r.add_range(start, end)
    })
}

/// `hvm_unmap_io_range_from_ioreq_server`: the range must lie inside one registered range
/// (-ENOENT otherwise); splitting one at the 256 limit gives -ENOMEM.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn unmap_io_range<P: IoreqPlatform>(
    d: DomainRef,
    id: u16,
    type_: u32,
    start: u64,
    end: u64,
) -> XenResult<()> {
    unmap_range::<P>(d, id, Authority::DeviceModel, type_, start, end)
}

/// Removes `[start, end]` from server `id`'s set of `type_` (see [`unmap_io_range`]).
#[cfg_attr(feature = "xen", optimize(size))]
pub fn unmap_range<P: IoreqPlatform>(
    d: DomainRef,
    id: u16,
    who: Authority,
    type_: u32,
    start: u64,
    end: u64,
) -> XenResult<()> {
    with_range_set::<P>(d, id, who, (type_, start, end), &mut |r| {
        if !r.contains_range(start, end) {
            return Err(Errno::ENOENT);
        }
        r.remove_range(start, end)
    })
}

/// `hvm_set_ioreq_server_state` (idempotent).
#[cfg_attr(feature = "xen", optimize(size))]
pub fn set_server_state<P: IoreqPlatform>(d: DomainRef, id: u16, enabled: bool) -> XenResult<()> {
    set_state::<P>(d, id, enabled, Authority::DeviceModel)
}

/// Enables or disables server `id` (idempotent).
#[cfg_attr(feature = "xen", optimize(size))]
pub fn set_state<P: IoreqPlatform>(
    d: DomainRef,
    id: u16,
    enabled: bool,
    who: Authority,
) -> XenResult<()> {
    with_paused_server::<P>(d, id, who, &mut |reg, i| {
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
#[cfg_attr(feature = "xen", optimize(size))]
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
#[cfg_attr(feature = "xen", optimize(size))]
pub fn remove_vcpu_all<P: IoreqPlatform>(d: DomainRef, v: VcpuRef) {
    if let Some(st) = DomainIoreq::<P>::get(d) {
        for s in st.reg.write().servers.iter_mut() {
            s.remove_vcpu(v);
        }
    }
}

/// `hvm_destroy_all_ioreq_servers` (domain teardown, no pause): every server is disabled (I5)
/// and freed. The per-domain state stays until [`domain_destroy`].
#[cfg_attr(feature = "xen", optimize(size))]
pub fn destroy_all<P: IoreqPlatform>(d: DomainRef) {
    if let Some(st) = DomainIoreq::<P>::get(d) {
        let mut reg = st.reg.write();
        let reg = &mut *reg;
        let servers: Vec<_> = core::mem::take(&mut reg.servers);
        reg.mem_type_server = None;
        for mut s in servers {
            release_waiters(&s);
            s.disable();
            s.deinit(&mut reg.pool);
        }
    }
}

/// Frees the per-domain state (from `hvm_domain_destroy`, when nothing can reach the domain any
/// more); destroys any server left first.
///
/// # Safety
/// Nothing may use `d`'s ioreq state during or after this call: no vCPU I/O, hypercall, DMOP or
/// emulator path of `d` may be running or start (Xen: `hvm_domain_destroy`, after the domain's
/// RCU grace period). The state's references are `'static` only by this contract.
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe fn domain_destroy<P: IoreqPlatform>(d: DomainRef) {
    destroy_all::<P>(d);
    // SAFETY: the caller's contract: no reference to the ioreq state of `d` is in use or can be
    // taken.
    drop(unsafe { SlotState::<IoreqKey>::take::<P>(d) });
}

/// `hvm_set_dm_domain`: re-plumbs the default server's channels to `domid`. No default server is
/// not an error (the caller stores the param, used when the server is created).
#[cfg_attr(feature = "xen", optimize(size))]
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
#[cfg_attr(feature = "xen", optimize(size))]
pub fn has_dm<P: IoreqPlatform>(d: DomainRef) -> bool {
    DomainIoreq::<P>::get(d).is_some_and(|st| !st.reg.read().servers.is_empty())
}

/// `HVM_PARAM_IOREQ_SERVER_PFN` (32), `HVM_PARAM_NR_IOREQ_SERVER_PAGES` (33) and, for the legacy
/// frames of a 4.17 registry, `HVM_PARAM_IOREQ_PFN` / `HVM_PARAM_BUFIOREQ_PFN` (5, 6) feed the
/// gfn pool: 32 sets the base, 33 (1..=64, else -EINVAL) sets that many low bits of the free
/// mask (never clears), 5 and 6 with a non-zero frame mark their legacy frame. Other indices:
/// nothing. Permission checks are the caller's.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn pool_set_param<P: IoreqPlatform>(d: DomainRef, index: u32, value: u64) -> XenResult<()> {
    use super::abi::{
        HVM_PARAM_BUFIOREQ_PFN, HVM_PARAM_IOREQ_PFN, HVM_PARAM_IOREQ_SERVER_PFN,
        HVM_PARAM_NR_IOREQ_SERVER_PAGES,
    };
    match index {
        HVM_PARAM_IOREQ_SERVER_PFN => {
            DomainIoreq::<P>::get_or_init(d)?.reg.write().pool.base = value;
        }
        HVM_PARAM_NR_IOREQ_SERVER_PAGES => {
            if value == 0 || value > 64 {
                return Err(Errno::EINVAL);
            }
            // The low `value` bits; value is 1..=64 (checked above), so the shift is 0..=63.
            let bits = u64::MAX >> 64u64.saturating_sub(value);
            DomainIoreq::<P>::get_or_init(d)?.reg.write().pool.mask |= bits;
        }
        HVM_PARAM_IOREQ_PFN | HVM_PARAM_BUFIOREQ_PFN if value != 0 => {
            DomainIoreq::<P>::get_or_init(d)?
                .reg
                .write()
                .pool
                .legacy_mask |= 1u64 << index;
        }
        _ => {}
    }
    Ok(())
}
