//! One ioreq server and the per-domain registry of servers.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::AtomicU32;

use crate::errno::{Errno, XenResult};
use crate::ioreq::abi::{
    IoreqSlot, FLAG_STATE_MASK, HVM_PARAM_BUFIOREQ_EVTCHN, HVM_PARAM_BUFIOREQ_PFN,
    HVM_PARAM_IOREQ_PFN, IOREQ_OFF_ADDR, IOREQ_OFF_COUNT, IOREQ_OFF_DATA, IOREQ_OFF_FLAGS,
    IOREQ_OFF_PAD0, IOREQ_OFF_SIZE, IOREQ_OFF_VP_EPORT, NR_IO_RANGE_TYPES, SHARED_IOPAGE_SLOTS,
};
use crate::platform::domain::{DomainSlot, SlotState};
use crate::platform::memory::{GuestPageMapping, SharedPage};
use crate::platform::sync::RwLock;
use crate::platform::{DomainRef, VcpuRef};

use super::ranges::{IoRanges, RANGE_TYPE_NAMES};
use super::IoreqPlatform;

/// A server's mapped page and the guest frame it came from (`struct hvm_ioreq_page`).
pub(crate) struct IoreqPage<P: IoreqPlatform> {
    pub(crate) gmfn: u64,
    pub(crate) map: GuestPageMapping<P>,
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

/// `struct hvm_ioreq_server`. Owned by the registry, boxed so its address (the C handle) is stable.
pub(crate) struct Server<P: IoreqPlatform> {
    pub(crate) target: DomainRef,
    pub(crate) id: u16,
    pub(crate) is_default: bool,
    /// The emulating domain.
    pub(crate) domid: u16,
    pub(crate) ioreq: IoreqPage<P>,
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

/// Byte offset of `vcpu_id`'s slot in the shared page; None beyond the page. Offsets it returns
/// are at most 127 * 32, so adding a field offset (< 32) to one cannot overflow.
pub(crate) fn slot_offset(vcpu_id: u32) -> Option<usize> {
    let i = usize::try_from(vcpu_id).ok()?;
    (i < SHARED_IOPAGE_SLOTS)
        .then_some(i)?
        .checked_mul(core::mem::size_of::<IoreqSlot>())
}

/// Reads a whole slot from a shared page (each field once).
#[allow(
    clippy::arithmetic_side_effects,
    reason = "`off` comes from slot_offset (at most 127 * 32) plus field offsets below 32"
)]
pub(crate) fn read_slot(page: SharedPage<'_>, off: usize) -> IoreqSlot {
    let [pad_lo, pad_hi, flags, type_] = page.load_u32(off + IOREQ_OFF_PAD0).to_le_bytes();
    IoreqSlot {
        addr: page.load_u64(off + IOREQ_OFF_ADDR),
        data: page.load_u64(off + IOREQ_OFF_DATA),
        count: page.load_u32(off + IOREQ_OFF_COUNT),
        size: page.load_u32(off + IOREQ_OFF_SIZE),
        vp_eport: page.load_u32(off + IOREQ_OFF_VP_EPORT),
        pad0: u16::from_le_bytes([pad_lo, pad_hi]),
        flags,
        type_,
    }
}

/// Writes a whole slot to a shared page (each field once, `flags` with the rest of its word).
/// Callers that hand the slot to the emulator store the state byte again, last, after a fence.
#[allow(
    clippy::arithmetic_side_effects,
    reason = "`off` comes from slot_offset (at most 127 * 32) plus field offsets below 32"
)]
pub(crate) fn write_slot(page: SharedPage<'_>, off: usize, s: &IoreqSlot) {
    let [pad_lo, pad_hi] = s.pad0.to_le_bytes();
    page.store_u64(off + IOREQ_OFF_ADDR, s.addr);
    page.store_u64(off + IOREQ_OFF_DATA, s.data);
    page.store_u32(off + IOREQ_OFF_COUNT, s.count);
    page.store_u32(off + IOREQ_OFF_SIZE, s.size);
    page.store_u32(off + IOREQ_OFF_VP_EPORT, s.vp_eport);
    page.store_u32(
        off + IOREQ_OFF_PAD0,
        u32::from_le_bytes([pad_lo, pad_hi, s.flags, s.type_]),
    );
}

/// The state nibble of a slot.
pub(crate) fn slot_state(page: SharedPage<'_>, off: usize) -> u8 {
    page.load_u8(off.saturating_add(IOREQ_OFF_FLAGS)) & FLAG_STATE_MASK
}

/// The gmfn pool of secondary servers (`ioreq_gmfn.{base,mask}`): bit i set <=> `base + i` free.
#[derive(Default)]
pub(crate) struct GmfnPool {
    pub(crate) base: u64,
    pub(crate) mask: u64,
}

impl GmfnPool {
    /// Lowest free frame first; -ENOMEM when none is left.
    fn alloc(&mut self) -> XenResult<u64> {
        if self.mask == 0 {
            return Err(Errno::ENOMEM);
        }
        let i = self.mask.trailing_zeros();
        self.mask &= !(1u64 << i);
        Ok(self.base.wrapping_add(u64::from(i)))
    }

    /// Returns a frame to the pool (B1: the 2014 C cleared the bit instead, leaking the frame).
    fn free(&mut self, gmfn: u64) {
        let i = gmfn.wrapping_sub(self.base);
        if i < 64 {
            self.mask |= 1u64 << i;
        }
    }
}

/// The per-domain registry, behind the domain's ioreq lock.
pub(crate) struct Registry<P: IoreqPlatform> {
    /// Newest first.
    pub(crate) servers: Vec<Box<Server<P>>>,
    /// The last id handed out.
    pub(crate) id_counter: u16,
    pub(crate) pool: GmfnPool,
}

/// What a domain has of ioreq servers (`d->arch.hvm_domain.ioreq_server` and friends).
pub(crate) struct DomainIoreq<P: IoreqPlatform> {
    pub(crate) reg: RwLock<P::RwLock, Registry<P>>,
    /// The last 4-byte write to port 0xcf8.
    pub(crate) pci_cf8: AtomicU32,
}

impl<P: IoreqPlatform> DomainIoreq<P> {
    pub(crate) fn get(d: DomainRef) -> Option<&'static Self> {
        SlotState::<Self>::get::<P>(d, DomainSlot::Ioreq)
    }

    pub(crate) fn get_or_init(d: DomainRef) -> XenResult<&'static Self> {
        SlotState::<Self>::get_or_init::<P>(d, DomainSlot::Ioreq, || {
            Ok(Self {
                reg: RwLock::new(Registry {
                    servers: Vec::new(),
                    id_counter: 0,
                    pool: GmfnPool::default(),
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

    /// Pre-incrementing 16-bit counter that skips ids still in use (`next_ioservid`).
    pub(crate) fn next_id(&mut self) -> XenResult<u16> {
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
}

/// The C handle of a server: its address, compared but never dereferenced by C-facing code.
pub fn server_handle<P: IoreqPlatform>(s: &Server<P>) -> NonNull<c_void> {
    NonNull::from(s).cast()
}

impl<P: IoreqPlatform> Server<P> {
    /// `hvm_ioreq_server_init`: rangesets, pages, then every existing vCPU; unwinds on failure.
    pub(crate) fn new(
        target: DomainRef,
        pool: &mut GmfnPool,
        domid: u16,
        is_default: bool,
        handle_bufioreq: bool,
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
        let (ioreq, bufioreq) = Self::map_pages(target, pool, is_default, handle_bufioreq)?;
        let gmfns = (ioreq.gmfn, bufioreq.as_ref().map(|b| b.gmfn));
        let give_back = |pool: &mut GmfnPool| {
            if !is_default {
                pool.free(gmfns.0);
                if let Some(b) = gmfns.1 {
                    pool.free(b);
                }
            }
        };
        let buf_lock = match RwLock::new(()) {
            Ok(l) => l,
            Err(e) => {
                give_back(pool);
                return Err(e);
            }
        };
        let s = crate::platform::fallible::try_box(Server {
            target,
            id,
            is_default,
            domid,
            ioreq,
            bufioreq,
            vcpus: Vec::new(),
            bufioreq_evtchn: 0,
            ranges,
            enabled: false,
            buf_lock,
        });
        let mut s = match s {
            Ok(s) => s,
            Err(e) => {
                give_back(pool);
                return Err(e);
            }
        };
        for vid in 0..P::max_vcpus(target) {
            if let Some(v) = P::domain_vcpu(target, vid) {
                if let Err(e) = s.add_vcpu(v) {
                    s.deinit(pool);
                    return Err(e);
                }
            }
        }
        Ok(s)
    }

    #[allow(clippy::type_complexity)]
    fn map_pages(
        target: DomainRef,
        pool: &mut GmfnPool,
        is_default: bool,
        handle_bufioreq: bool,
    ) -> XenResult<(IoreqPage<P>, Option<IoreqPage<P>>)> {
        let (ioreq_gmfn, buf_gmfn) = if is_default {
            (
                P::hvm_param(target, HVM_PARAM_IOREQ_PFN),
                handle_bufioreq.then(|| P::hvm_param(target, HVM_PARAM_BUFIOREQ_PFN)),
            )
        } else {
            let a = pool.alloc()?;
            let b = if handle_bufioreq {
                match pool.alloc() {
                    Ok(b) => Some(b),
                    Err(e) => {
                        pool.free(a);
                        return Err(e);
                    }
                }
            } else {
                None
            };
            (a, b)
        };
        let give_back = |pool: &mut GmfnPool| {
            if !is_default {
                pool.free(ioreq_gmfn);
                if let Some(b) = buf_gmfn {
                    pool.free(b);
                }
            }
        };
        let ioreq = match Self::map_one(target, ioreq_gmfn) {
            Ok(p) => p,
            Err(e) => {
                give_back(pool);
                return Err(e);
            }
        };
        let bufioreq = match buf_gmfn.map(|g| Self::map_one(target, g)).transpose() {
            Ok(b) => b,
            Err(e) => {
                drop(ioreq);
                give_back(pool);
                return Err(e);
            }
        };
        Ok((ioreq, bufioreq))
    }

    /// `hvm_map_ioreq_page`: a dying domain gets no new mapping (-EINVAL).
    fn map_one(target: DomainRef, gmfn: u64) -> XenResult<IoreqPage<P>> {
        let map = GuestPageMapping::<P>::map(target, gmfn)?;
        if P::is_dying(target) {
            return Err(Errno::EINVAL);
        }
        Ok(IoreqPage { gmfn, map })
    }

    fn release_gmfns(
        pool: &mut GmfnPool,
        is_default: bool,
        ioreq: &IoreqPage<P>,
        bufioreq: Option<&IoreqPage<P>>,
    ) {
        if !is_default {
            if let Some(b) = bufioreq {
                pool.free(b.gmfn);
            }
            pool.free(ioreq.gmfn);
        }
    }

    /// `hvm_ioreq_server_deinit`: vCPUs (event channels), pages (and their pool frames),
    /// rangesets. Consumes the server.
    pub(crate) fn deinit(mut self: Box<Self>, pool: &mut GmfnPool) {
        self.remove_all_vcpus();
        Self::release_gmfns(pool, self.is_default, &self.ioreq, self.bufioreq.as_ref());
        // Dropping unmaps the pages and frees the rangesets.
        drop(self);
    }

    /// Writes our record of `sv`'s port into its slot (`hvm_update_ioreq_evtchn`).
    fn update_evtchn(&self, sv: &ServerVcpu) {
        if let Some(off) = slot_offset(sv.vcpu_id) {
            self.ioreq
                .map
                .page()
                .store_u32(off.saturating_add(IOREQ_OFF_VP_EPORT), sv.port);
        }
    }

    /// `hvm_ioreq_server_add_vcpu`.
    pub(crate) fn add_vcpu(&mut self, v: VcpuRef) -> XenResult<()> {
        self.vcpus.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        let vcpu_id = P::vcpu_id(v);
        let port = P::alloc_unbound_xen_evtchn(self.target, vcpu_id, self.domid)?;
        if vcpu_id == 0 && self.bufioreq.is_some() {
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

    fn release_vcpu(&mut self, sv: ServerVcpu) {
        if sv.vcpu_id == 0 && self.bufioreq.is_some() {
            P::free_xen_evtchn(self.target, self.bufioreq_evtchn);
        }
        P::free_xen_evtchn(self.target, sv.port);
    }

    /// `hvm_ioreq_server_remove_vcpu`: the first entry for `v`, if any.
    pub(crate) fn remove_vcpu(&mut self, v: VcpuRef) {
        if let Some(i) = self.vcpus.iter().position(|sv| sv.vcpu == v) {
            let sv = self.vcpus.remove(i);
            self.release_vcpu(sv);
        }
    }

    fn remove_all_vcpus(&mut self) {
        while let Some(sv) = (!self.vcpus.is_empty()).then(|| self.vcpus.remove(0)) {
            self.release_vcpu(sv);
        }
    }

    /// `hvm_ioreq_server_enable`: a secondary server's pages leave the guest P2M (cleared), then
    /// every vCPU's port is published in its slot.
    pub(crate) fn enable(&mut self) {
        if self.enabled {
            return;
        }
        if !self.is_default {
            Self::remove_from_p2m(self.target, &self.ioreq);
            if let Some(b) = &self.bufioreq {
                Self::remove_from_p2m(self.target, b);
            }
        }
        self.enabled = true;
        for sv in &self.vcpus {
            self.update_evtchn(sv);
        }
    }

    /// `hvm_ioreq_server_disable`: pages cleared and put back (ring first), slots left zeroed.
    pub(crate) fn disable(&mut self) {
        if !self.enabled {
            return;
        }
        if !self.is_default {
            if let Some(b) = &self.bufioreq {
                Self::add_to_p2m(self.target, b);
            }
            Self::add_to_p2m(self.target, &self.ioreq);
        }
        self.enabled = false;
    }

    /// `hvm_remove_ioreq_gmfn`: the result is ignored, as in the C.
    fn remove_from_p2m(d: DomainRef, page: &IoreqPage<P>) {
        if let Some(raw) = page.map.raw() {
            let _ = P::physmap_remove_page(d, page.gmfn, raw);
        }
        page.map.page().clear();
    }

    /// `hvm_add_ioreq_gmfn`: the result is ignored, as in the C.
    fn add_to_p2m(d: DomainRef, page: &IoreqPage<P>) {
        page.map.page().clear();
        if let Some(raw) = page.map.raw() {
            let _ = P::physmap_add_page(d, page.gmfn, raw);
        }
    }

    /// Replaces one channel by a fresh one to `remote` (`hvm_replace_event_channel`).
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
    pub(crate) fn set_dm_domain(&mut self, domid: u16) -> XenResult<()> {
        let mut rc = Ok(());
        if self.domid != domid {
            let has_buf = self.bufioreq.is_some();
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
