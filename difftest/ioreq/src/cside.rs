//! The Xen 4.17 C side of the comparison: the harness domains of a [`World`], hypercalls through
//! the DMOP entry, the I/O path through `ioreq_server_select` / `ioreq_send`.

use crate::abi::IoreqSlot;
use crate::ffi::{self, CDomain, RawIoreq};
use crate::side::{Info, Resources, Sent, Side, View, World};

pub struct CSide {
    pub world: World,
    pub guest: CDomain,
    doms: Vec<CDomain>,
}

const XEN_DMOP_CREATE: u32 = 1;
const XEN_DMOP_GET_INFO: u32 = 2;
const XEN_DMOP_MAP: u32 = 3;
const XEN_DMOP_UNMAP: u32 = 4;
const XEN_DMOP_SET_STATE: u32 = 5;
const XEN_DMOP_DESTROY: u32 = 6;

/// A `struct xen_dm_op` buffer (op, pad, then the union at offset 8; layout checked by the
/// layout test against Xen's headers).
fn dmop(op: u32, body: &[u8]) -> [u8; 8 + 24] {
    let mut b = [0u8; 32];
    b[0..4].copy_from_slice(&op.to_le_bytes());
    b[8..8 + body.len()].copy_from_slice(body);
    b
}

fn to_raw(p: &IoreqSlot) -> RawIoreq {
    RawIoreq {
        addr: p.addr,
        data: p.data,
        count: p.count,
        size: p.size,
        vp_eport: p.vp_eport,
        pad0: p.pad0,
        bits: p.flags,
        type_: p.type_,
    }
}

fn from_raw(r: &RawIoreq) -> IoreqSlot {
    IoreqSlot {
        addr: r.addr,
        data: r.data,
        count: r.count,
        size: r.size,
        vp_eport: r.vp_eport,
        pad0: r.pad0,
        flags: r.bits,
        type_: r.type_,
    }
}

impl CSide {
    /// Builds the world's domains. Panics if the harness refuses (a harness bug).
    pub fn new(world: World) -> Self {
        let guest = CDomain::create(world.guest, world.nr_vcpus).expect("C guest");
        assert_eq!(guest.set_pool(world.pool_base, world.pool_pages), 0);
        let dm0 = CDomain::create(world.dm0, 1).expect("C dm0");
        dm0.set_privileged(true);
        let stub = CDomain::create(world.stub, 1).expect("C stub");
        stub.set_dm_target(Some(world.guest));
        let unpriv = CDomain::create(world.unpriv, 1).expect("C unpriv");
        let other = CDomain::create(world.other, 1).expect("C other");
        other.set_hvm(false);
        CSide {
            world,
            guest,
            doms: vec![dm0, stub, unpriv, other],
        }
    }

    /// Destroys every domain (the guest first, as a toolstack would).
    pub fn teardown(self) {
        self.guest.destroy();
        for d in self.doms {
            d.destroy();
        }
    }

    fn dom(&self, id: u16) -> &CDomain {
        if id == self.world.guest {
            return &self.guest;
        }
        self.doms
            .iter()
            .find(|d| d.domid() == id)
            .expect("a domain of the world")
    }

    fn call(&self, caller: u16, target: u16, op: u32, body: &[u8]) -> (i32, [u8; 32]) {
        self.dom(caller).make_current(0);
        let mut b = dmop(op, body);
        let rc = ffi::dm_op(target, &mut b);
        (rc, b)
    }

    /// A whole `struct xen_dm_op` (`buf`) through `dm_op()` as `caller` on `target`; the union is
    /// copied back as dm.c does.
    pub fn dm_op_as(&self, caller: u16, target: u16, buf: &mut [u8]) -> i32 {
        self.dom(caller).make_current(0);
        ffi::dm_op(target, buf)
    }

    /// `ioreq_server_get_frame` as `caller`.
    pub fn get_frame_as(&self, caller: u16, target: u16, id: u16, idx: u32) -> Result<u64, i32> {
        self.dom(caller).make_current(0);
        ffi::get_frame(target, id, idx)
    }

    pub fn domain_refs(&self, id: u16) -> i64 {
        self.dom(id).stats().refs
    }

    pub fn configure_cpu(&self, amd: bool, family: u32, cf8_ext: bool) {
        self.guest.set_cpu(amd, family, cf8_ext);
    }
}

impl Side for CSide {
    fn create(&mut self, caller: u16, target: u16, handling: u8, pad: u8) -> Result<u16, i32> {
        let (rc, b) = self.call(
            caller,
            target,
            XEN_DMOP_CREATE,
            &[handling, pad, 0, 0, 0, 0],
        );
        if rc != 0 {
            return Err(rc);
        }
        Ok(u16::from_le_bytes([b[12], b[13]]))
    }

    fn get_info(&mut self, caller: u16, target: u16, id: u16) -> Result<Info, i32> {
        let mut body = [0u8; 24];
        body[0..2].copy_from_slice(&id.to_le_bytes());
        let (rc, b) = self.call(caller, target, XEN_DMOP_GET_INFO, &body);
        if rc != 0 {
            return Err(rc);
        }
        let u = &b[8..];
        let port = u32::from_le_bytes(u[4..8].try_into().expect("4 bytes"));
        let g = u64::from_le_bytes(u[8..16].try_into().expect("8 bytes"));
        let bg = u64::from_le_bytes(u[16..24].try_into().expect("8 bytes"));
        let has_buf = self.guest.server_bufioreq_evtchn(id).is_some();
        Ok(Info {
            ioreq_gfn: g,
            buf: has_buf.then_some((bg, port)),
        })
    }

    fn map(&mut self, caller: u16, target: u16, id: u16, ty: u32, s: u64, e: u64, pad: u16) -> i32 {
        range_op(self, XEN_DMOP_MAP, caller, target, id, ty, s, e, pad)
    }

    fn unmap(
        &mut self,
        caller: u16,
        target: u16,
        id: u16,
        ty: u32,
        s: u64,
        e: u64,
        pad: u16,
    ) -> i32 {
        range_op(self, XEN_DMOP_UNMAP, caller, target, id, ty, s, e, pad)
    }

    fn set_state(&mut self, caller: u16, target: u16, id: u16, enabled: u8, pad: u8) -> i32 {
        let mut body = [0u8; 4];
        body[0..2].copy_from_slice(&id.to_le_bytes());
        body[2] = enabled;
        body[3] = pad;
        self.call(caller, target, XEN_DMOP_SET_STATE, &body).0
    }

    fn destroy(&mut self, caller: u16, target: u16, id: u16, pad: u16) -> i32 {
        let mut body = [0u8; 4];
        body[0..2].copy_from_slice(&id.to_le_bytes());
        body[2..4].copy_from_slice(&pad.to_le_bytes());
        self.call(caller, target, XEN_DMOP_DESTROY, &body).0
    }

    fn portio(&mut self, vcpu: u32, dir: u8, port: u32, bytes: u32, val: u32) {
        self.guest.make_current(vcpu);
        let mut v = val;
        // The handler's return value is always "unhandleable" (fall through to the emulators).
        let _ = self.guest.portio(i32::from(dir), port, bytes, &mut v);
    }

    fn select(&mut self, vcpu: u32, p: &mut IoreqSlot) -> Option<u16> {
        self.guest.make_current(vcpu);
        let mut r = to_raw(p);
        let id = self.guest.select(&mut r);
        *p = from_raw(&r);
        id
    }

    fn send(&mut self, vcpu: u32, id: u16, p: &IoreqSlot, buffered: bool) -> Sent {
        self.guest.make_current(vcpu);
        let mut r = to_raw(p);
        let rc = self.guest.send(id, &mut r, buffered);
        match (buffered, rc) {
            // IOREQ_STATUS_RETRY: posted, the vcpu waits.
            (false, 3) => Sent::Posted,
            (false, _) => Sent::NotPosted,
            // IOREQ_STATUS_HANDLED: posted to the ring, or dropped (I112); the ring tells.
            (true, 0) => Sent::Posted,
            (true, _) => Sent::NotPosted,
        }
    }

    fn pending(&mut self, vcpu: u32) -> bool {
        self.guest.make_current(vcpu);
        ffi::io_pending()
    }

    fn resume(&mut self, vcpu: u32) {
        self.guest.make_current(vcpu);
        let _ = ffi::handle_completion();
    }

    fn view(&self, id: u16) -> Option<View> {
        let g = &self.guest;
        let enabled = g.server_enabled(id)?;
        let ranges = [0u32, 1, 2].map(|t| g.server_ranges(id, t).unwrap_or_default());
        let ports = (0..g.nr_vcpus())
            .filter_map(|v| g.server_vcpu_evtchn(id, v).map(|p| (v, p)))
            .collect();
        Some(View {
            enabled,
            emulator: g.server_emulator(id)?,
            ranges,
            ports,
            buf_port: g.server_bufioreq_evtchn(id),
        })
    }

    /// Every live slot, not only the ids asked for: a server the model does not know shows up.
    fn views(&self, _ids: &[u16]) -> std::collections::BTreeMap<u16, View> {
        (0..8u16)
            .filter_map(|i| self.view(i).map(|v| (i, v)))
            .collect()
    }

    fn page(&self, id: u16, buf: bool) -> Option<Box<[u8; 4096]>> {
        self.guest.server_page(id, buf).map(Box::new)
    }

    fn page_write(&mut self, id: u16, buf: bool, off: usize, bytes: &[u8]) -> bool {
        self.guest.server_page_write(id, buf, off, bytes)
    }

    fn rangeset_dump(&mut self) -> String {
        self.guest.rangeset_dump()
    }

    fn p2m_present(&self, gfn: u64) -> bool {
        self.guest.p2m_present(gfn)
    }

    fn notified(&self, port: u32) -> u64 {
        self.guest.evtchn_notified(port).unwrap_or(0)
    }

    fn resources(&self) -> Resources {
        let st = self.guest.stats();
        Resources {
            guest_evtchns: st.live_evtchns,
            guest_paused: st.pause_count,
            mapped_pages: ffi::counters().live_global_maps,
            guest_crashes: st.crashed,
        }
    }

    fn add_vcpu(&mut self) -> i32 {
        self.guest.vcpu_add()
    }

    fn remove_vcpu(&mut self) {
        self.guest.vcpu_remove_last();
    }
}

#[allow(clippy::too_many_arguments)]
fn range_op(
    c: &CSide,
    op: u32,
    caller: u16,
    target: u16,
    id: u16,
    ty: u32,
    s: u64,
    e: u64,
    pad: u16,
) -> i32 {
    let mut body = [0u8; 24];
    body[0..2].copy_from_slice(&id.to_le_bytes());
    body[2..4].copy_from_slice(&pad.to_le_bytes());
    body[4..8].copy_from_slice(&ty.to_le_bytes());
    body[8..16].copy_from_slice(&s.to_le_bytes());
    body[16..24].copy_from_slice(&e.to_le_bytes());
    c.call(caller, target, op, &body).0
}
