//! One ioreq server and the per-domain registry of servers.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::mem::{offset_of, size_of};
use core::sync::atomic::AtomicU32;

use crate::errno::{Errno, XenResult};
use crate::ioreq::abi::{
    IoreqSlot, FLAG_STATE_MASK, HVM_PARAM_BUFIOREQ_EVTCHN, HVM_PARAM_BUFIOREQ_PFN,
    HVM_PARAM_IOREQ_PFN, NR_IO_RANGE_TYPES, SHARED_IOPAGE_SLOTS,
};
use crate::platform::domain::{IoreqKey, RegistryKind, SlotState, SlotValue};
use crate::platform::memory::{GuestPageMapping, SharedBlock, SharedPage};
use crate::platform::sync::{RwLock, VcpuRwLock};
use crate::platform::{DomainRef, VcpuRef};

use super::ranges::{IoRanges, RANGE_TYPE_NAMES};
use super::IoreqPlatform;

/// Where a server's page came from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum PageOrigin {
    /// A guest frame (the pool's, or a param's for the default server), mapped into Xen; it
    /// leaves the guest's P2M while the server is enabled.
    Gfn(u64),
    /// A page allocated for the server (`XENMEM_acquire_resource`), in no guest frame.
    Frame,
}

/// A server's mapped page (`struct hvm_ioreq_page` / 4.17's `struct ioreq_page`).
pub(crate) struct IoreqPage<P: IoreqPlatform> {
    pub(crate) origin: PageOrigin,
    pub(crate) map: GuestPageMapping<P>,
}

impl<P: IoreqPlatform> IoreqPage<P> {
    /// The guest frame, for a page that has one.
    pub(crate) fn gfn(&self) -> Option<u64> {
        match self.origin {
            PageOrigin::Gfn(g) => Some(g),
            PageOrigin::Frame => None,
        }
    }
}

/// How a server handles buffered requests (`HVM_IOREQSRV_BUFIOREQ_*`; the series' boolean
/// `handle_bufioreq` is `Off` or `Legacy`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BufioreqHandling {
    /// No ring: every request is synchronous.
    Off,
    /// A ring whose pointers only ever grow.
    Legacy,
    /// A ring whose pointers Xen rebases (by multiples of the ring size, with one atomic 64-bit
    /// exchange) once the emulator's read pointer has gone round it.
    Atomic,
}

impl BufioreqHandling {
    /// The DMOP's `handle_bufioreq` (0, 1, 2); anything else is -EINVAL.
    pub fn from_dmop(v: u8) -> XenResult<Self> {
        match v {
            0 => Ok(Self::Off),
            1 => Ok(Self::Legacy),
            2 => Ok(Self::Atomic),
            _ => Err(Errno::EINVAL),
        }
    }

    /// The series' boolean.
    pub fn from_series(handle_bufioreq: bool) -> Self {
        if handle_bufioreq {
            Self::Legacy
        } else {
            Self::Off
        }
    }
}

/// A vCPU served by a server (`struct hvm_ioreq_vcpu`).
#[derive(Clone, Copy)]
pub(crate) struct ServerVcpu {
    pub(crate) vcpu: VcpuRef,
    pub(crate) vcpu_id: u32,
    /// The channel Xen waits on and notifies for this vCPU: our own record, never the copy in the
    /// shared slot (B4).
    pub(crate) port: u32,
}

/// `struct hvm_ioreq_server`. Owned by the registry, boxed so that its address is stable.
pub(crate) struct Server<P: IoreqPlatform> {
    pub(crate) target: DomainRef,
    pub(crate) id: u16,
    pub(crate) is_default: bool,
    /// The emulating domain.
    pub(crate) domid: u16,
    pub(crate) bufioreq_handling: BufioreqHandling,
    /// The synchronous page; None until mapped or allocated (at creation for the series'
    /// HVMOP, on first get_info or acquire_resource for a DMOP server).
    pub(crate) ioreq: Option<IoreqPage<P>>,
    /// The ring's page, likewise (only ever present with a ring).
    pub(crate) bufioreq: Option<IoreqPage<P>>,
    /// Newest first, like the C's head-inserted list.
    pub(crate) vcpus: Vec<ServerVcpu>,
    pub(crate) bufioreq_evtchn: u32,
    /// None for the default server.
    pub(crate) ranges: Option<[IoRanges<P>; NR_IO_RANGE_TYPES]>,
    pub(crate) enabled: bool,
    /// Serialises producers on the buffered ring (`s->bufioreq_lock`).
    pub(crate) buf_lock: RwLock<P::RwLock, ()>,
}

/// A vCPU's slot of a server's shared page, bounds-checked once ([`SharedPage::block`]).
pub(crate) type Slot<'a> = SharedBlock<'a, { size_of::<IoreqSlot>() }>;

/// The index of `vcpu_id`'s slot in a shared page; None beyond the page.
pub(crate) fn slot_index(vcpu_id: u32) -> Option<usize> {
    usize::try_from(vcpu_id)
        .ok()
        .filter(|&i| i < SHARED_IOPAGE_SLOTS)
}

/// `vcpu_id`'s slot of `page`; None beyond the page.
#[inline]
pub(crate) fn slot_of(page: SharedPage<'_>, vcpu_id: u32) -> Option<Slot<'_>> {
    page.block(slot_index(vcpu_id)?)
}

/// Reads a whole slot (each field once).
#[inline]
pub(crate) fn read_slot(slot: Slot<'_>) -> IoreqSlot {
    let [pad_lo, pad_hi, flags, type_] = slot.load_u32(offset_of!(IoreqSlot, pad0)).to_le_bytes();
    IoreqSlot {
        addr: slot.load_u64(offset_of!(IoreqSlot, addr)),
        data: slot.load_u64(offset_of!(IoreqSlot, data)),
        count: slot.load_u32(offset_of!(IoreqSlot, count)),
        size: slot.load_u32(offset_of!(IoreqSlot, size)),
        vp_eport: slot.load_u32(offset_of!(IoreqSlot, vp_eport)),
        pad0: u16::from_le_bytes([pad_lo, pad_hi]),
        flags,
        type_,
    }
}

/// Writes a whole slot (each field once, `flags` with the rest of its word). Callers that hand
/// the slot to the emulator store the state byte again, last, after a fence.
#[inline]
pub(crate) fn write_slot(slot: Slot<'_>, s: &IoreqSlot) {
    let [pad_lo, pad_hi] = s.pad0.to_le_bytes();
    slot.store_u64(offset_of!(IoreqSlot, addr), s.addr);
    slot.store_u64(offset_of!(IoreqSlot, data), s.data);
    slot.store_u32(offset_of!(IoreqSlot, count), s.count);
    slot.store_u32(offset_of!(IoreqSlot, size), s.size);
    slot.store_u32(offset_of!(IoreqSlot, vp_eport), s.vp_eport);
    slot.store_u32(
        offset_of!(IoreqSlot, pad0),
        u32::from_le_bytes([pad_lo, pad_hi, s.flags, s.type_]),
    );
}

/// The state nibble of a slot.
#[inline]
pub(crate) fn slot_state(slot: Slot<'_>) -> u8 {
    slot.load_u8(offset_of!(IoreqSlot, flags)) & FLAG_STATE_MASK
}

/// The gmfn pool of secondary servers (`ioreq_gmfn.{base,mask}`, Xen 4.17's
/// `ioreq_gfn.{base,mask,legacy_mask}`): bit i of `mask` set <=> `base + i` free.
pub(crate) struct GmfnPool {
    /// The registry's kind: whether the legacy frames are used.
    pub(crate) kind: RegistryKind,
    pub(crate) base: u64,
    pub(crate) mask: u64,
    /// Xen 4.17's legacy frames (bits 5 and 6: the frames in HVM params 5 and 6), tried when
    /// `mask` is exhausted; only a [`RegistryKind::Xen417`] registry uses them.
    pub(crate) legacy_mask: u64,
}

/// The params whose frames are Xen 4.17's legacy pool frames.
const LEGACY_PARAMS: [u32; 2] = [HVM_PARAM_IOREQ_PFN, HVM_PARAM_BUFIOREQ_PFN];

impl GmfnPool {
    /// Lowest free frame first; then, for a 4.17 registry, a legacy frame; -ENOMEM when none is
    /// left.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub(crate) fn alloc<P: IoreqPlatform>(&mut self, target: DomainRef) -> XenResult<u64> {
        if self.mask != 0 {
            let i = self.mask.trailing_zeros();
            self.mask &= !(1u64 << i);
            return Ok(self.base.wrapping_add(u64::from(i)));
        }
        if self.kind == RegistryKind::Xen417 {
            // 4.17 hands out a legacy frame whose bit was clear, and clears a set bit on the way
            // without handing its frame out (`hvm_alloc_legacy_ioreq_gfn`, kept as it is).
            for i in LEGACY_PARAMS {
                let bit = 1u64 << i;
                let was_set = self.legacy_mask & bit != 0;
                self.legacy_mask &= !bit;
                if !was_set {
                    return Ok(P::hvm_param(target, i));
                }
            }
        }
        Err(Errno::ENOMEM)
    }

    /// Returns a frame to the pool (B1: the 2014 C cleared the bit instead, leaking the frame);
    /// a legacy frame (one of params 5 and 6, 4.17 registries only) to the legacy mask.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub(crate) fn free<P: IoreqPlatform>(&mut self, target: DomainRef, gmfn: u64) {
        if self.kind == RegistryKind::Xen417 {
            if let Some(i) = LEGACY_PARAMS
                .into_iter()
                .find(|&i| P::hvm_param(target, i) == gmfn)
            {
                self.legacy_mask |= 1u64 << i;
                return;
            }
        }
        let i = gmfn.wrapping_sub(self.base);
        if i < 64 {
            self.mask |= 1u64 << i;
        }
    }
}

/// The per-domain registry, behind the domain's ioreq lock.
pub(crate) struct Registry<P: IoreqPlatform> {
    pub(crate) kind: RegistryKind,
    /// In iteration order: newest first (series), highest id first (4.17).
    pub(crate) servers: Vec<Box<Server<P>>>,
    /// The last id handed out (series).
    pub(crate) id_counter: u16,
    pub(crate) pool: GmfnPool,
    /// The server `HVMMEM_ioreq_server` pages are routed to, and the accesses it takes
    /// (`XEN_DMOP_IOREQ_MEM_ACCESS_*`).
    pub(crate) mem_type_server: Option<(u16, u32)>,
}

/// Xen 4.17's `MAX_NR_IOREQ_SERVERS`.
pub(crate) const MAX_NR_IOREQ_SERVERS: u16 = 8;

/// What a domain has of ioreq servers (`d->arch.hvm_domain.ioreq_server` and friends).
pub(crate) struct DomainIoreq<P: IoreqPlatform> {
    /// The guest I/O path reads it under its vCPU's flag (`read_as_vcpu`, one atomic operation
    /// instead of the shared lock's two), everything else under the platform lock.
    pub(crate) reg: VcpuRwLock<P::RwLock, Registry<P>, SHARED_IOPAGE_SLOTS>,
    /// The last 4-byte write to port 0xcf8.
    pub(crate) pci_cf8: AtomicU32,
}

impl<P: IoreqPlatform> SlotValue<P> for IoreqKey {
    type Value = DomainIoreq<P>;
}

impl<P: IoreqPlatform> DomainIoreq<P> {
    pub(crate) fn get(d: DomainRef) -> Option<&'static Self> {
        SlotState::<IoreqKey>::get::<P>(d)
    }

    #[cfg_attr(feature = "xen", optimize(size))]
    pub(crate) fn get_or_init(d: DomainRef) -> XenResult<&'static Self> {
        SlotState::<IoreqKey>::get_or_init::<P>(d, || {
            Ok(Self {
                reg: VcpuRwLock::new(Registry {
                    kind: P::ioreq_registry_kind(),
                    servers: Vec::new(),
                    id_counter: 0,
                    pool: GmfnPool {
                        kind: P::ioreq_registry_kind(),
                        base: 0,
                        mask: 0,
                        legacy_mask: 0,
                    },
                    mem_type_server: None,
                })?,
                pci_cf8: AtomicU32::new(0),
            })
        })
    }
}

impl<P: IoreqPlatform> Registry<P> {
    pub(crate) fn default_server(&self) -> Option<&Server<P>> {
        self.servers.iter().find(|s| s.is_default).map(|b| &**b)
    }

    pub(crate) fn has_default(&self) -> bool {
        self.servers.iter().any(|s| s.is_default)
    }

    /// Index of the secondary server `id`.
    pub(crate) fn find_secondary(&self, id: u16) -> Option<usize> {
        self.servers
            .iter()
            .position(|s| !s.is_default && s.id == id)
    }

    /// The secondary server `id`.
    pub(crate) fn secondary(&self, id: u16) -> Option<&Server<P>> {
        self.servers
            .iter()
            .find(|s| !s.is_default && s.id == id)
            .map(|b| &**b)
    }

    /// The secondary server `id`, for changing it (under the registry's write lock).
    pub(crate) fn secondary_mut(&mut self, id: u16) -> Option<&mut Server<P>> {
        self.servers
            .iter_mut()
            .find(|s| !s.is_default && s.id == id)
            .map(|b| &mut **b)
    }

    /// The id of a new server: the series' pre-incrementing 16-bit counter that skips ids still
    /// in use (`next_ioservid`), or 4.17's lowest free slot (-ENOSPC with eight servers).
    #[cfg_attr(feature = "xen", optimize(size))]
    pub(crate) fn next_id(&mut self) -> XenResult<u16> {
        if self.kind == RegistryKind::Xen417 {
            return (0..MAX_NR_IOREQ_SERVERS)
                .find(|id| !self.servers.iter().any(|s| s.id == *id))
                .ok_or(Errno::ENOSPC);
        }
        let mut id = self.id_counter;
        // Bounded so that a registry holding every id cannot spin forever.
        for _ in 0..=u16::MAX as u32 {
            id = id.wrapping_add(1);
            if !self.servers.iter().any(|s| s.id == id) {
                self.id_counter = id;
                return Ok(id);
            }
        }
        Err(Errno::ENOSPC)
    }

    /// Links a new server in (space reserved by the caller): at the head (series), or before the
    /// first server with a lower id (4.17).
    #[cfg_attr(feature = "xen", optimize(size))]
    pub(crate) fn insert(&mut self, s: Box<Server<P>>) {
        let at = match self.kind {
            RegistryKind::Series => 0,
            RegistryKind::Xen417 => self
                .servers
                .iter()
                .position(|x| x.id < s.id)
                .unwrap_or(self.servers.len()),
        };
        self.servers.insert(at, s);
    }
}

impl<P: IoreqPlatform> Server<P> {
    /// `hvm_ioreq_server_init` without the pages: rangesets, then every existing vCPU; unwinds
    /// on failure.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub(crate) fn new(
        target: DomainRef,
        domid: u16,
        is_default: bool,
        bufioreq_handling: BufioreqHandling,
        id: u16,
    ) -> XenResult<Box<Self>> {
        let ranges = if is_default {
            None
        } else {
            Some([
                IoRanges::new(target, id, RANGE_TYPE_NAMES[0])?,
                IoRanges::new(target, id, RANGE_TYPE_NAMES[1])?,
                IoRanges::new(target, id, RANGE_TYPE_NAMES[2])?,
            ])
        };
        let mut s = crate::platform::fallible::try_box(Server {
            target,
            id,
            is_default,
            domid,
            bufioreq_handling,
            ioreq: None,
            bufioreq: None,
            vcpus: Vec::new(),
            bufioreq_evtchn: 0,
            ranges,
            enabled: false,
            buf_lock: RwLock::new(())?,
        })?;
        for vid in 0..P::max_vcpus(target) {
            if let Some(v) = P::domain_vcpu(target, vid) {
                if let Err(e) = s.add_vcpu(v) {
                    s.remove_all_vcpus();
                    return Err(e);
                }
            }
        }
        Ok(s)
    }

    /// Whether the server has a buffered ring.
    pub(crate) fn has_ring(&self) -> bool {
        self.bufioreq_handling != BufioreqHandling::Off
    }

    /// The synchronous page, if mapped.
    pub(crate) fn ioreq_page(&self) -> Option<SharedPage<'_>> {
        self.ioreq.as_ref().map(|p| p.map.page())
    }

    /// Maps guest frames as the server's pages (`hvm_ioreq_server_map_pages`; 4.17's
    /// `arch_ioreq_server_map_pages`, which get_info runs): secondary servers take them from the
    /// pool (lowest first, the synchronous page first), the default server from params 5 and 6.
    /// Pages already mapped from frames are kept; pages allocated by `alloc_frames` make it
    /// -EPERM. A failure leaves no synchronous page.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub(crate) fn map_gfn_pages(&mut self, pool: &mut GmfnPool) -> XenResult<()> {
        let mut rc = self.map_gfn_page(pool, false);
        if rc.is_ok() && self.has_ring() {
            rc = self.map_gfn_page(pool, true);
        }
        if rc.is_err() {
            self.unmap_gfn_page(pool, false);
        }
        rc
    }

    #[cfg_attr(feature = "xen", optimize(size))]
    fn map_gfn_page(&mut self, pool: &mut GmfnPool, buf: bool) -> XenResult<()> {
        let slot = if buf { &self.bufioreq } else { &self.ioreq };
        if let Some(p) = slot {
            return match p.origin {
                PageOrigin::Gfn(_) => Ok(()),
                PageOrigin::Frame => Err(Errno::EPERM),
            };
        }
        if P::is_dying(self.target) {
            return Err(Errno::EINVAL);
        }
        let gfn = if self.is_default {
            let param = if buf {
                HVM_PARAM_BUFIOREQ_PFN
            } else {
                HVM_PARAM_IOREQ_PFN
            };
            P::hvm_param(self.target, param)
        } else {
            pool.alloc::<P>(self.target)?
        };
        match GuestPageMapping::<P>::map(self.target, gfn) {
            Ok(map) => {
                let page = Some(IoreqPage {
                    origin: PageOrigin::Gfn(gfn),
                    map,
                });
                if buf {
                    self.bufioreq = page;
                } else {
                    self.ioreq = page;
                }
                Ok(())
            }
            Err(e) => {
                if !self.is_default {
                    pool.free::<P>(self.target, gfn);
                }
                Err(e)
            }
        }
    }

    /// Unmaps a page mapped from a guest frame and returns the frame to the pool; a page
    /// allocated as a frame stays.
    #[cfg_attr(feature = "xen", optimize(size))]
    fn unmap_gfn_page(&mut self, pool: &mut GmfnPool, buf: bool) {
        let slot = if buf {
            &mut self.bufioreq
        } else {
            &mut self.ioreq
        };
        if let Some(gfn) = slot.as_ref().and_then(IoreqPage::gfn) {
            *slot = None;
            if !self.is_default {
                pool.free::<P>(self.target, gfn);
            }
        }
    }

    /// Allocates the server's pages as frames of their own (`ioreq_server_alloc_pages`, for
    /// `XENMEM_acquire_resource`): pages already allocated are kept, pages mapped from guest
    /// frames make it -EPERM. A failure frees what this call allocated.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub(crate) fn alloc_frames(&mut self) -> XenResult<()> {
        let had_ioreq = self.ioreq.is_some();
        let mut rc = Self::alloc_frame(self.target, &mut self.ioreq);
        if rc.is_ok() && self.has_ring() {
            rc = Self::alloc_frame(self.target, &mut self.bufioreq);
        }
        if rc.is_err() && !had_ioreq {
            self.ioreq = None;
        }
        rc
    }

    #[cfg_attr(feature = "xen", optimize(size))]
    fn alloc_frame(target: DomainRef, slot: &mut Option<IoreqPage<P>>) -> XenResult<()> {
        if let Some(p) = slot {
            return match p.origin {
                PageOrigin::Frame => Ok(()),
                PageOrigin::Gfn(_) => Err(Errno::EPERM),
            };
        }
        *slot = Some(IoreqPage {
            origin: PageOrigin::Frame,
            map: GuestPageMapping::<P>::alloc(target)?,
        });
        Ok(())
    }

    /// `hvm_ioreq_server_deinit`: vCPUs (event channels), pages (their pool frames back),
    /// rangesets. Consumes the server.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub(crate) fn deinit(mut self: Box<Self>, pool: &mut GmfnPool) {
        self.remove_all_vcpus();
        self.unmap_gfn_page(pool, true);
        self.unmap_gfn_page(pool, false);
        // Dropping frees allocated pages and the rangesets.
        drop(self);
    }

    /// Writes our record of `sv`'s port into its slot (`hvm_update_ioreq_evtchn`).
    fn update_evtchn(&self, sv: &ServerVcpu) {
        if let Some(slot) = self.ioreq_page().and_then(|p| slot_of(p, sv.vcpu_id)) {
            slot.store_u32(offset_of!(IoreqSlot, vp_eport), sv.port);
        }
    }

    /// `hvm_ioreq_server_add_vcpu`.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub(crate) fn add_vcpu(&mut self, v: VcpuRef) -> XenResult<()> {
        self.vcpus.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        let vcpu_id = P::vcpu_id(v);
        let port = P::alloc_unbound_xen_evtchn(self.target, vcpu_id, self.domid)?;
        if vcpu_id == 0 && self.has_ring() {
            match P::alloc_unbound_xen_evtchn(self.target, vcpu_id, self.domid) {
                Ok(b) => {
                    self.bufioreq_evtchn = b;
                    if self.is_default {
                        P::set_hvm_param(self.target, HVM_PARAM_BUFIOREQ_EVTCHN, u64::from(b));
                    }
                }
                Err(e) => {
                    P::free_xen_evtchn(self.target, port);
                    return Err(e);
                }
            }
        }
        let sv = ServerVcpu {
            vcpu: v,
            vcpu_id,
            port,
        };
        self.vcpus.insert(0, sv);
        if self.enabled {
            self.update_evtchn(&sv);
        }
        Ok(())
    }

    #[cfg_attr(feature = "xen", optimize(size))]
    fn release_vcpu(&mut self, sv: ServerVcpu) {
        if sv.vcpu_id == 0 && self.has_ring() {
            P::free_xen_evtchn(self.target, self.bufioreq_evtchn);
        }
        P::free_xen_evtchn(self.target, sv.port);
    }

    /// `hvm_ioreq_server_remove_vcpu`: the first entry for `v`, if any.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub(crate) fn remove_vcpu(&mut self, v: VcpuRef) {
        if let Some(i) = self.vcpus.iter().position(|sv| sv.vcpu == v) {
            let sv = self.vcpus.remove(i);
            self.release_vcpu(sv);
        }
    }

    #[cfg_attr(feature = "xen", optimize(size))]
    pub(crate) fn remove_all_vcpus(&mut self) {
        while let Some(sv) = (!self.vcpus.is_empty()).then(|| self.vcpus.remove(0)) {
            self.release_vcpu(sv);
        }
    }

    /// `hvm_ioreq_server_enable`: a secondary server's pages leave the guest P2M (cleared), then
    /// every vCPU's port is published in its slot.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub(crate) fn enable(&mut self) {
        if self.enabled {
            return;
        }
        if !self.is_default {
            for p in [&self.ioreq, &self.bufioreq].into_iter().flatten() {
                Self::remove_from_p2m(self.target, p);
            }
        }
        self.enabled = true;
        for sv in &self.vcpus {
            self.update_evtchn(sv);
        }
    }

    /// `hvm_ioreq_server_disable`: pages cleared and put back (ring first), slots left zeroed.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub(crate) fn disable(&mut self) {
        if !self.enabled {
            return;
        }
        if !self.is_default {
            for p in [&self.bufioreq, &self.ioreq].into_iter().flatten() {
                Self::add_to_p2m(self.target, p);
            }
        }
        self.enabled = false;
    }

    /// `hvm_remove_ioreq_gmfn`: the result is ignored, as in the C. Allocated pages are in no
    /// P2M and stay as they are.
    #[cfg_attr(feature = "xen", optimize(size))]
    fn remove_from_p2m(d: DomainRef, page: &IoreqPage<P>) {
        let Some(gfn) = page.gfn() else {
            return;
        };
        if let Some(raw) = page.map.raw() {
            let _ = P::physmap_remove_page(d, gfn, raw);
        }
        page.map.page().clear();
    }

    /// `hvm_add_ioreq_gmfn`: the result is ignored, as in the C. Allocated pages stay as they
    /// are.
    #[cfg_attr(feature = "xen", optimize(size))]
    fn add_to_p2m(d: DomainRef, page: &IoreqPage<P>) {
        let Some(gfn) = page.gfn() else {
            return;
        };
        page.map.page().clear();
        if let Some(raw) = page.map.raw() {
            let _ = P::physmap_add_page(d, gfn, raw);
        }
    }

    /// Replaces one channel by a fresh one to `remote` (`hvm_replace_event_channel`).
    #[cfg_attr(feature = "xen", optimize(size))]
    fn replace_evtchn(
        target: DomainRef,
        vcpu_id: u32,
        remote: u16,
        port: &mut u32,
    ) -> XenResult<()> {
        let new = P::alloc_unbound_xen_evtchn(target, vcpu_id, remote)?;
        let old = core::mem::replace(port, new);
        P::free_xen_evtchn(target, old);
        Ok(())
    }

    /// The default server's half of `hvm_set_dm_domain`.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub(crate) fn set_dm_domain(&mut self, domid: u16) -> XenResult<()> {
        let mut rc = Ok(());
        if self.domid != domid {
            let has_buf = self.has_ring();
            for i in 0..self.vcpus.len() {
                let Some(mut sv) = self.vcpus.get(i).copied() else {
                    break;
                };
                if sv.vcpu_id == 0 && has_buf {
                    let mut b = self.bufioreq_evtchn;
                    if let Err(e) = Self::replace_evtchn(self.target, 0, domid, &mut b) {
                        rc = Err(e);
                        break;
                    }
                    self.bufioreq_evtchn = b;
                    P::set_hvm_param(self.target, HVM_PARAM_BUFIOREQ_EVTCHN, u64::from(b));
                }
                if let Err(e) = Self::replace_evtchn(self.target, sv.vcpu_id, domid, &mut sv.port) {
                    rc = Err(e);
                    break;
                }
                if let Some(slot) = self.vcpus.get_mut(i) {
                    *slot = sv;
                }
                self.update_evtchn(&sv);
            }
            self.domid = domid;
        }
        rc
    }

    /// Our record of `v`'s entry.
    pub(crate) fn vcpu_entry(&self, v: VcpuRef) -> Option<&ServerVcpu> {
        self.vcpus.iter().find(|sv| sv.vcpu == v)
    }
}
