//! The Rust side of the comparison: the crate's ioreq servers (2014 series semantics) on the host
//! platform, entered through the series' HVMOP dispatcher (`hvmop::ioreq_server_op`) with the
//! HVMOP argument structs, and the guest I/O path of `ioreq::io`.
//!
//! The emulator's view of the shared pages is a foreign mapping taken when get_info reports
//! them, if they are in the guest's P2M then (as demu does); it stays valid after enabling.

use std::collections::BTreeMap;
use std::mem::size_of;

use xen_ioreq_rs::ioreq::abi::*;
use xen_ioreq_rs::ioreq::{self, IoCompletion, IoreqSlot, Selected};
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::guest_copy::{guest_buffer, take_guest_buffer};
use xen_ioreq_rs::platform::host::memory::{self, EmulatorPage};
use xen_ioreq_rs::platform::host::{evtchn, HostPlatform as H};
use xen_ioreq_rs::platform::{DomainRef, VcpuRef};

use crate::side::{Info, Resources, Sent, Side, View, World};

pub struct RustSide {
    pub world: World,
    pub guest: DomainRef,
    doms: Vec<DomainRef>,
    vcpus: Vec<VcpuRef>,
    /// The emulator's mappings: (server id, ring?) -> page.
    emu: BTreeMap<(u16, bool), EmulatorPage>,
    /// Servers handed out by the last selections, for sends.
    selected: BTreeMap<u16, Selected>,
    /// The request as the guest made it, before selection rewrote it (buffered sends select
    /// again themselves).
    last_request: Option<IoreqSlot>,
}

impl RustSide {
    pub fn new(world: World) -> Self {
        let dm0 = HostDomain::create(world.dm0);
        HostDomain::with(dm0, |h| h.is_privileged = true);
        let stub = HostDomain::create(world.stub);
        HostDomain::with(stub, |h| h.dm_target = Some(world.guest));
        let unpriv = HostDomain::create(world.unpriv);
        let other = HostDomain::create(world.other);
        HostDomain::with(other, |h| h.is_hvm = false);
        let guest = HostDomain::create(world.guest);
        xen_ioreq_rs::rangeset::domain::domain_initialise::<H>(guest).expect("rangeset list");
        let vcpus = (0..world.nr_vcpus)
            .map(|i| HostDomain::add_vcpu(guest, i))
            .collect();
        for k in 0..u64::from(world.pool_pages) {
            memory::populate(guest, world.pool_base + k);
        }
        // The toolstack's params 33 then 32 (as the domain builder and restore do).
        for (index, value) in [
            (HVM_PARAM_NR_IOREQ_SERVER_PAGES, u64::from(world.pool_pages)),
            (HVM_PARAM_IOREQ_SERVER_PFN, world.pool_base),
        ] {
            HostDomain::set_current(dm0);
            let v = ioreq::set_param_hook::<H>(guest, index, value).expect("pool params");
            HostDomain::with(guest, |h| h.params[index as usize] = v);
        }
        RustSide {
            world,
            guest,
            doms: vec![dm0, stub, unpriv, other],
            vcpus,
            emu: BTreeMap::new(),
            selected: BTreeMap::new(),
            last_request: None,
        }
    }

    /// The world with a Xen 4.17 registry for the guest (`RegistryKind::Xen417`) and the CF8
    /// extension as the C's CPU has it: the registry Xen's `CONFIG_RUST_IOREQ_SERVER` build uses.
    pub fn new_xen417(world: World, cf8_extended: bool) -> Self {
        use xen_ioreq_rs::platform::domain::RegistryKind;
        use xen_ioreq_rs::platform::host::domain::set_registry_kind;
        set_registry_kind(RegistryKind::Xen417);
        let r = Self::new(world);
        set_registry_kind(RegistryKind::Series);
        HostDomain::with(r.guest, |h| h.cf8_extended = cf8_extended);
        r
    }

    /// A whole `struct xen_dm_op` (`buf`: op, pad, the union at 8) as `caller` on `target`:
    /// `dm_op()`'s prologue as the C harness renders it (lookup, self, HVM, XSM, size and pad),
    /// then the Rust DMOP face (`ioreq::dmop::dm_op`, what `ioreq_server_dm_op` calls in Xen).
    pub fn dm_op_as(&self, caller: u16, target: u16, buf: &mut [u8]) -> i32 {
        use xen_ioreq_rs::platform::Domains;
        self.as_caller(caller);
        let Some(d) = HostDomain::lookup(target) else {
            return -3;
        };
        if target == caller {
            return -1;
        }
        if !H::is_hvm(d) {
            return -22;
        }
        if let Err(e) = H::xsm_dm_priv(d, 0) {
            return e.to_neg();
        }
        let op = u32::from_le_bytes(buf[0..4].try_into().expect("4 bytes"));
        let size = match op {
            XEN_DMOP_CREATE_IOREQ_SERVER => size_of::<DmopCreateIoreqServer>(),
            XEN_DMOP_GET_IOREQ_SERVER_INFO => size_of::<DmopGetIoreqServerInfo>(),
            XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER | XEN_DMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER => {
                size_of::<DmopIoreqServerRange>()
            }
            XEN_DMOP_SET_IOREQ_SERVER_STATE => size_of::<DmopSetIoreqServerState>(),
            XEN_DMOP_DESTROY_IOREQ_SERVER => size_of::<DmopDestroyIoreqServer>(),
            _ => return -95,
        };
        if buf.len() < 8 + size {
            return -14;
        }
        if buf[4..8] != [0; 4] {
            return -22;
        }
        let (rc, _const_op) =
            ioreq::dmop::dm_op::<H>(d, H::domain_id(H::current_domain()), op, &mut buf[8..]);
        rc.map_or_else(|e| e.to_neg(), |()| 0)
    }

    /// `ioreq::get_frame` as `caller` (its emulator authority), with the emulator's mapping of
    /// the frame kept so that it can answer through it.
    pub fn get_frame_as(&mut self, caller: u16, target: u16, id: u16, idx: u32) -> Result<(), i32> {
        self.as_caller(caller);
        let Some(d) = HostDomain::lookup(target) else {
            return Err(-3);
        };
        let p = ioreq::get_frame::<H>(d, id, idx, ioreq::Authority::Emulator(caller))
            .map_err(|e| e.to_neg())?;
        if target == self.world.guest {
            if let Some(page) = memory::emulator_map_frame(p) {
                self.emu.insert((id, idx == ioreq::FRAME_BUFIOREQ), page);
            }
        }
        Ok(())
    }

    /// The emulator maps server `id`'s pages from guest frames (after a get_info that reported
    /// them), keeping any mapping it has.
    pub fn emulator_map_gfns(&mut self, id: u16, ioreq_gfn: u64, buf_gfn: Option<u64>) {
        for (buf, gfn) in [(false, Some(ioreq_gfn)), (true, buf_gfn)] {
            if let Some(g) = gfn {
                if let std::collections::btree_map::Entry::Vacant(e) = self.emu.entry((id, buf)) {
                    if let Some(p) = EmulatorPage::map_any(self.guest, g) {
                        e.insert(p);
                    }
                }
            }
        }
    }

    /// Forgets the emulator's mappings of server `id` (destroyed).
    pub fn emulator_unmap(&mut self, id: u16) {
        self.drop_emulator_views(id);
    }

    /// `select_and_send` as vcpu `vcpu` of the guest.
    pub fn select_and_send(
        &mut self,
        vcpu: u32,
        p: &mut IoreqSlot,
        route: ioreq::Route,
    ) -> ioreq::Routed {
        let v = self.vcpu(vcpu);
        HostDomain::set_current_vcpu(Some(v));
        ioreq::select_and_send::<H>(self.guest, v, p, route)
    }

    /// Destroys the guest (as the domain's teardown does) and the other domains.
    pub fn teardown(mut self) {
        self.emu.clear();
        HostDomain::with(self.guest, |h| h.is_dying = true);
        // SAFETY: teardown on this one thread: nothing uses the domain's Rust state any more
        // and nothing else runs on it.
        unsafe {
            ioreq::domain_destroy::<H>(self.guest);
            xen_ioreq_rs::rangeset::domain::domain_destroy::<H>(self.guest);
        }
        for v in self.vcpus.drain(..) {
            HostDomain::remove_vcpu(v);
        }
        memory::depopulate_all(self.guest);
        evtchn::destroy_all_evtchns(self.guest);
        HostDomain::destroy(self.guest);
        for d in self.doms {
            HostDomain::destroy(d);
        }
    }

    /// vcpu `i` of the guest.
    pub fn vcpu_ref(&self, i: u32) -> VcpuRef {
        self.vcpus[i as usize]
    }

    /// The emulator answers `vcpu`'s request on server `id` through its mapping (data, then
    /// IORESP_READY); false if it has no mapping of that page.
    pub fn emulator_respond(&self, id: u16, vcpu: u32, data: u64) -> bool {
        let Some(p) = self.emu.get(&(id, false)) else {
            return false;
        };
        let off = vcpu as usize * 32;
        p.write_u64(off + 8, data);
        let flags = p.read_u8(off + 30);
        p.write_u8(off + 30, (flags & !0x0f) | STATE_IORESP_READY);
        true
    }

    /// The host address of the emulator's mapping of server `id`'s shared page (the benchmark's
    /// C driver answers through it).
    pub fn emulator_page_ptr(&self, id: u16) -> Option<core::ptr::NonNull<u8>> {
        self.emu.get(&(id, false))?.host_ptr()
    }

    fn as_caller(&self, caller: u16) {
        let d = HostDomain::lookup(caller).expect("a domain of the world");
        HostDomain::set_current(d);
    }

    fn hvmop(&self, caller: u16, op: u32, arg: &[u8]) -> (i32, Vec<u8>) {
        self.as_caller(caller);
        let h = guest_buffer(arg);
        let rc = xen_ioreq_rs::hvmop::ioreq_server_op::<H>(u64::from(op), h);
        (rc as i32, take_guest_buffer(h))
    }

    fn vcpu(&self, vcpu: u32) -> VcpuRef {
        self.vcpus[vcpu as usize]
    }

    fn server(&self, id: u16) -> Option<ioreq::ServerSnapshot> {
        ioreq::snapshot::<H>(self.guest)
            .servers
            .into_iter()
            .find(|s| s.id == id && !s.is_default)
    }

    fn drop_emulator_views(&mut self, id: u16) {
        self.emu.remove(&(id, false));
        self.emu.remove(&(id, true));
        self.selected.remove(&id);
    }
}

fn view_of(s: ioreq::ServerSnapshot) -> View {
    let mut ports = s.vcpu_ports;
    ports.sort_unstable();
    View {
        enabled: s.enabled,
        emulator: s.emulator,
        ranges: s.ranges,
        ports,
        buf_port: s.bufioreq.map(|b| b.1),
    }
}

impl Side for RustSide {
    fn create(&mut self, caller: u16, target: u16, handling: u8, pad: u8) -> Result<u16, i32> {
        let a = HvmCreateIoreqServer {
            domid: target,
            handle_bufioreq: handling,
            pad,
            id: 0,
        };
        let (rc, b) = self.hvmop(caller, HVMOP_CREATE_IOREQ_SERVER, a.as_bytes());
        if rc != 0 {
            return Err(rc);
        }
        let out = HvmCreateIoreqServer::read_from_bytes(&b).expect("6 bytes");
        self.drop_emulator_views(out.id);
        Ok(out.id)
    }

    fn get_info(&mut self, caller: u16, target: u16, id: u16) -> Result<Info, i32> {
        let a = HvmGetIoreqServerInfo {
            domid: target,
            id,
            ..Default::default()
        };
        let (rc, b) = self.hvmop(caller, HVMOP_GET_IOREQ_SERVER_INFO, a.as_bytes());
        if rc != 0 {
            return Err(rc);
        }
        let out = HvmGetIoreqServerInfo::read_from_bytes(&b).expect("24 bytes");
        let has_buf = self.server(id).is_some_and(|s| s.bufioreq.is_some());
        if target == self.world.guest {
            // The emulator maps what it was told, if the guest's P2M has it now.
            let mut want = vec![(false, out.ioreq_pfn)];
            if has_buf {
                want.push((true, out.bufioreq_pfn));
            }
            for (buf, gfn) in want {
                if let std::collections::btree_map::Entry::Vacant(e) = self.emu.entry((id, buf)) {
                    if let Some(p) = EmulatorPage::map(self.guest, gfn) {
                        e.insert(p);
                    }
                }
            }
        }
        Ok(Info {
            ioreq_gfn: out.ioreq_pfn,
            buf: has_buf.then_some((out.bufioreq_pfn, out.bufioreq_port)),
        })
    }

    fn map(
        &mut self,
        caller: u16,
        target: u16,
        id: u16,
        ty: u32,
        s: u64,
        e: u64,
        _pad: u16,
    ) -> i32 {
        let a = HvmIoRange {
            domid: target,
            id,
            type_: ty,
            start: s,
            end: e,
        };
        self.hvmop(caller, HVMOP_MAP_IO_RANGE_TO_IOREQ_SERVER, a.as_bytes())
            .0
    }

    fn unmap(
        &mut self,
        caller: u16,
        target: u16,
        id: u16,
        ty: u32,
        s: u64,
        e: u64,
        _pad: u16,
    ) -> i32 {
        let a = HvmIoRange {
            domid: target,
            id,
            type_: ty,
            start: s,
            end: e,
        };
        self.hvmop(caller, HVMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER, a.as_bytes())
            .0
    }

    fn set_state(&mut self, caller: u16, target: u16, id: u16, enabled: u8, pad: u8) -> i32 {
        let a = HvmSetIoreqServerState {
            domid: target,
            id,
            enabled,
            pad,
        };
        self.hvmop(caller, HVMOP_SET_IOREQ_SERVER_STATE, a.as_bytes())
            .0
    }

    fn destroy(&mut self, caller: u16, target: u16, id: u16, _pad: u16) -> i32 {
        let a = HvmDestroyIoreqServer { domid: target, id };
        let rc = self
            .hvmop(caller, HVMOP_DESTROY_IOREQ_SERVER, a.as_bytes())
            .0;
        if rc == 0 && target == self.world.guest {
            self.drop_emulator_views(id);
        }
        rc
    }

    fn portio(&mut self, vcpu: u32, dir: u8, port: u32, bytes: u32, val: u32) {
        // The handler is registered for 0xcf8..0xcfb and takes accesses lying entirely inside.
        let _ = vcpu;
        if port >= PCI_CF8_PORT && port + bytes <= PCI_CF8_PORT + 4 {
            let _ = ioreq::access_cf8::<H>(self.guest, dir, bytes, val);
        }
    }

    fn select(&mut self, vcpu: u32, p: &mut IoreqSlot) -> Option<u16> {
        HostDomain::set_current_vcpu(Some(self.vcpu(vcpu)));
        self.last_request = Some(*p);
        let s = ioreq::select_server::<H>(self.guest, p)?;
        self.selected.insert(s.id, s);
        Some(s.id)
    }

    fn send(&mut self, vcpu: u32, id: u16, p: &IoreqSlot, buffered: bool) -> Sent {
        let v = self.vcpu(vcpu);
        HostDomain::set_current_vcpu(Some(v));
        let posted = if buffered {
            let mut q = self.last_request.unwrap_or(*p);
            ioreq::buffered_io_send::<H>(self.guest, &mut q)
        } else {
            let Some(s) = self.selected.get(&id).copied() else {
                return Sent::NotPosted;
            };
            let mut q = *p;
            ioreq::send_to_server::<H>(self.guest, v, s, &mut q)
        };
        if posted {
            Sent::Posted
        } else {
            Sent::NotPosted
        }
    }

    fn pending(&mut self, vcpu: u32) -> bool {
        ioreq::io_pending::<H>(self.guest, self.vcpu(vcpu))
    }

    fn resume(&mut self, vcpu: u32) {
        let v = self.vcpu(vcpu);
        HostDomain::set_current_vcpu(Some(v));
        let r = ioreq::complete_io::<H>(self.guest, v);
        let _ = matches!(r, IoCompletion::Completed(_));
    }

    fn view(&self, id: u16) -> Option<View> {
        self.server(id).map(view_of)
    }

    fn views(&self, _ids: &[u16]) -> BTreeMap<u16, View> {
        ioreq::snapshot::<H>(self.guest)
            .servers
            .into_iter()
            .filter(|s| !s.is_default)
            .map(|s| (s.id, view_of(s)))
            .collect()
    }

    fn page(&self, id: u16, buf: bool) -> Option<Box<[u8; 4096]>> {
        let p = self.emu.get(&(id, buf))?;
        let mut out = Box::new([0u8; 4096]);
        p.with(|page| {
            for (k, chunk) in out.chunks_mut(8).enumerate() {
                chunk.copy_from_slice(&page.load_u64(k * 8).to_le_bytes());
            }
        });
        Some(out)
    }

    fn page_write(&mut self, id: u16, buf: bool, off: usize, bytes: &[u8]) -> bool {
        let Some(p) = self.emu.get(&(id, buf)) else {
            return false;
        };
        if off.checked_add(bytes.len()).is_none_or(|e| e > 4096) {
            return false;
        }
        for (k, b) in bytes.iter().enumerate() {
            p.write_u8(off + k, *b);
        }
        true
    }

    fn rangeset_dump(&mut self) -> String {
        use xen_ioreq_rs::platform::host::console::take_console;
        let _ = take_console();
        xen_ioreq_rs::rangeset::domain::domain_printk::<H>(self.guest);
        take_console()
    }

    fn p2m_present(&self, gfn: u64) -> bool {
        memory::p2m_lookup(self.guest, gfn).is_some()
    }

    fn notified(&self, port: u32) -> u64 {
        evtchn::notifications(self.guest, port)
    }

    fn resources(&self) -> Resources {
        Resources {
            guest_evtchns: evtchn::live_evtchns() as i64,
            guest_paused: i64::from(HostDomain::with(self.guest, |h| h.pause_count)),
            mapped_pages: memory::mapped_pages(),
            guest_crashes: i64::from(HostDomain::with(self.guest, |h| h.crashes)),
        }
    }

    fn add_vcpu(&mut self) -> i32 {
        let id = self.vcpus.len() as u32;
        let v = HostDomain::add_vcpu(self.guest, id);
        match ioreq::add_vcpu_all::<H>(self.guest, v) {
            Ok(()) => {
                self.vcpus.push(v);
                0
            }
            Err(e) => {
                HostDomain::remove_vcpu(v);
                e.to_neg()
            }
        }
    }

    fn remove_vcpu(&mut self) {
        if let Some(v) = self.vcpus.pop() {
            ioreq::remove_vcpu_all::<H>(self.guest, v);
            HostDomain::remove_vcpu(v);
        }
    }
}
