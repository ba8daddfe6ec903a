//! The ioreq servers' C ABI (`src/ioreq/ffi.rs`, `include/xen_ioreq_rs.h`) driven as C callers
//! would: arbitrary sequences of every exported entry point, with NULL wherever the ABI lets a
//! caller pass it (domain, vCPU, request, output pointers), unknown ids, types, routes, params and
//! DMOP buffers, the domain pointers of other domains, a hostile emulator rewriting the shared
//! pages, vCPU hot-plug, and injected allocation failures. Checks: no panic, every int return is
//! 0 or a negative errno the crate defines (or the call's documented codes), and at the end the
//! host platform's counters (event channels, mappings, P2M entries, pages, pauses, RCU locks)
//! show nothing leaked.
//!
//! The environment's contracts (`ioreq_env`) are kept: a vCPU is created, registered with
//! `hvm_all_ioreq_servers_add_vcpu`, and destroyed once (`hvm_all_ioreq_servers_remove_vcpu`,
//! then gone), as `hvm_vcpu_initialise` / `hvm_vcpu_destroy` do; `hvm_ioreq_domain_destroy` only
//! at the end. One misuse is allowed on purpose: adding a live vCPU again, which Xen 4.17's C
//! accepts too. For vCPU 0 of a server with a buffered ring, that orphans the ring's event channel
//! in both (FIDELITY I15): the target tolerates, at the end, only vCPU-0 channels of the guest,
//! at most one per ring channel such a repeated add replaced.
#![no_main]

#[path = "ioreq_env/mod.rs"]
mod ioreq_env;
use ioreq_env::*;

use std::ffi::c_void;
use std::mem::{offset_of, size_of};
use std::ptr::{null, null_mut, NonNull};

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

use xen_ioreq_rs::errno::Errno;
use xen_ioreq_rs::ffi::{domain, vcpu};
use xen_ioreq_rs::ioreq::abi::*;
use xen_ioreq_rs::ioreq::ffi::ioreq as IoreqT;
use xen_ioreq_rs::ioreq::ffi::*;
use xen_ioreq_rs::ioreq::{self, IoreqSlot};
use xen_ioreq_rs::platform::domain::{DomainRef, HvmDomains};
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::memory::EmulatorPage;
use xen_ioreq_rs::platform::host::{evtchn, memory, HostPlatform as H};
use xen_ioreq_rs::platform::VcpuRef;

/// Which `struct domain *` a call gets.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Dom {
    Guest,
    Null,
    Dom0,
    Stub,
    Other,
}

/// Which `struct vcpu *` a call gets: one of the live vCPUs (by index) or NULL.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Vc {
    Live(u8),
    Null,
}

/// An ioreq id: one of the guest's servers (by index) or a raw value.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Id {
    Server(u8),
    Raw(u16),
}

/// A guest frame number: near the guest's populated special pages, or anything.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Gfn {
    Pool(u8),
    Raw(u64),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
struct Req {
    type_: u8,
    addr: u64,
    size: u32,
    count: u32,
    data: u64,
    dir: u8,
    df: bool,
    data_is_ptr: bool,
    state: u8,
}

#[derive(Arbitrary, Debug)]
enum Call {
    Create {
        d: Dom,
        domid: u8,
        is_default: bool,
        bufioreq: bool,
        id_null: bool,
    },
    Destroy {
        d: Dom,
        id: Id,
    },
    GetInfo {
        d: Dom,
        id: Id,
        nulls: u8,
    },
    Map {
        d: Dom,
        id: Id,
        ty: u32,
        start: u64,
        len: u16,
        unmap: bool,
    },
    SetState {
        d: Dom,
        id: Id,
        enabled: bool,
    },
    /// A new vCPU: created, registered with every server (dropped again if that fails).
    HotAdd,
    /// `hvm_all_ioreq_servers_add_vcpu` for a vCPU that exists, with its own domain or NULL (and
    /// NULL for the vCPU): the misuse Xen's C accepts too.
    AddAgain {
        d_null: bool,
        v: Vc,
    },
    /// A vCPU destroyed: deregistered, then gone.
    HotRemove {
        v: u8,
    },
    /// `hvm_all_ioreq_servers_remove_vcpu` with a NULL domain or vCPU (no-ops by the ABI).
    RemoveNull {
        d: Dom,
    },
    DestroyAll {
        d: Dom,
    },
    SetDmDomain {
        d: Dom,
        domid: u16,
    },
    HasDm {
        d: Dom,
    },
    Pending {
        v: Vc,
    },
    Waiting {
        v: Vc,
    },
    /// Makes a vCPU (or none) `current` for the I/O path.
    Current {
        v: Option<u8>,
    },
    /// The hypercall caller (0 dom0, 1 guest, 2 stub DM, 3 unrelated).
    Caller(u8),
    SendAssist {
        req: Option<Req>,
    },
    BroadcastAssist {
        req: Option<Req>,
    },
    BufferedSend {
        req: Option<Req>,
    },
    SelectAndSend {
        req: Option<Req>,
        route: u32,
    },
    Broadcast {
        req: Option<Req>,
        buffered: bool,
    },
    Complete {
        v: Vc,
        resp_null: bool,
        port_null: bool,
    },
    Cf8 {
        dir: i32,
        port: u32,
        bytes: u32,
        val: Option<u32>,
    },
    GetParam {
        d: Dom,
        index: u8,
    },
    SetParam {
        d: Dom,
        index: u8,
        value: Option<Gfn>,
    },
    PoolSetParam {
        d: Dom,
        index: u8,
        value: Gfn,
    },
    DmOp {
        d: Dom,
        op: u8,
        buf: Vec<u8>,
        short: u8,
        arg_null: bool,
        const_null: bool,
    },
    GetFrame {
        d: Dom,
        id: Id,
        idx: u32,
        page_null: bool,
    },
    MapMemType {
        d: Dom,
        id: Id,
        ty: u32,
        flags: u32,
    },
    IsServerPage {
        d: Dom,
        frame: Option<u8>,
        raw: usize,
    },
    /// The emulator writes `bytes` at `off` of a server's page (synchronous or ring), as a
    /// well-behaved (answer) or hostile one would.
    EmulatorWrite {
        server: u8,
        ring: bool,
        off: u16,
        bytes: Vec<u8>,
    },
    /// The emulator answers every request posted to `vcpu` on every server.
    EmulatorAnswer {
        vcpu: u8,
    },
    DropFrame(u8),
    FailNextMap,
    FailEvtchn {
        after: u8,
    },
}

struct State {
    env: Env,
    next_vcpu: u32,
    /// Pages the emulator mapped through `hvm_ioreq_get_frame`.
    frames: Vec<(NonNull<c_void>, EmulatorPage)>,
    /// Ring event channels a repeated `add_vcpu` replaced (FIDELITY I15): each may be left
    /// allocated with nothing referring to it.
    ring_replaced: usize,
}

impl State {
    fn dom(&self, d: Dom) -> *mut domain {
        let r = match d {
            Dom::Null => return null_mut(),
            Dom::Guest => self.env.d,
            Dom::Dom0 => self.env.dm,
            Dom::Stub => self.env.stub,
            Dom::Other => self.env.other,
        };
        r.as_ptr().cast()
    }

    fn vcpu_ref(&self, i: u8) -> VcpuRef {
        self.env.vcpus[usize::from(i) % self.env.vcpus.len()]
    }

    fn vcpu(&self, v: Vc) -> *mut vcpu {
        match v {
            Vc::Null => null_mut(),
            Vc::Live(i) => self.vcpu_ref(i).as_ptr().cast(),
        }
    }

    fn id(&self, id: Id) -> u16 {
        match id {
            Id::Raw(x) => x,
            Id::Server(i) => {
                let s = ioreq::snapshot::<H>(self.env.d).servers;
                if s.is_empty() {
                    u16::from(i)
                } else {
                    s[usize::from(i) % s.len()].id
                }
            }
        }
    }
}

fn gfn(g: Gfn) -> u64 {
    match g {
        Gfn::Pool(i) => POOL_BASE + u64::from(i % 16),
        Gfn::Raw(x) => x,
    }
}

fn slot(r: &Req) -> IoreqSlot {
    let mut p = req(r.type_, r.addr, r.size, r.count, r.dir, r.df);
    p.data = r.data;
    p.set_data_is_ptr(r.data_is_ptr);
    p.set_state(r.state);
    p
}

/// An `int` return of the ABI: 0 or a negative errno the crate defines.
fn check_rc(what: &str, rc: i32) {
    let known = [
        Errno::EPERM,
        Errno::ENOENT,
        Errno::ESRCH,
        Errno::ENOMEM,
        Errno::EACCES,
        Errno::EFAULT,
        Errno::EBUSY,
        Errno::EEXIST,
        Errno::EINVAL,
        Errno::ENOSPC,
        Errno::ENOSYS,
        Errno::EOPNOTSUPP,
    ];
    assert!(
        rc == 0 || known.iter().any(|e| e.to_neg() == rc),
        "{what}: rc {rc} is neither 0 nor a known -errno"
    );
}

/// Runs `f` with a request in memory (or NULL), as the I/O path's callers pass one.
fn with_req<R>(r: Option<Req>, f: impl FnOnce(*mut IoreqT) -> R) -> R {
    match r {
        None => f(null_mut()),
        Some(r) => {
            let mut p = slot(&r);
            f(core::ptr::from_mut(&mut p).cast())
        }
    }
}

/// The ring ports (of the guest's servers) by server id.
fn ring_ports(d: DomainRef) -> Vec<(u16, u32)> {
    ioreq::snapshot::<H>(d)
        .servers
        .iter()
        .filter_map(|s| s.bufioreq.map(|(_, p)| (s.id, p)))
        .collect()
}

fn emulator_write(st: &State, server: u8, ring: bool, off: u16, bytes: &[u8]) {
    let servers = ioreq::snapshot::<H>(st.env.d).servers;
    let off = usize::from(off) % 4096;
    let bytes = &bytes[..bytes.len().min(4096 - off).min(64)];
    if !servers.is_empty() {
        let s = &servers[usize::from(server) % servers.len()];
        let gmfn = if ring {
            s.bufioreq.map(|(g, _)| g)
        } else {
            Some(s.ioreq_gmfn)
        };
        if let Some(pg) = gmfn.and_then(|g| EmulatorPage::map_any(st.env.d, g)) {
            for (i, b) in bytes.iter().enumerate() {
                pg.write_u8(off + i, *b);
            }
            return;
        }
    }
    if !st.frames.is_empty() {
        let (_, pg) = &st.frames[usize::from(server) % st.frames.len()];
        for (i, b) in bytes.iter().enumerate() {
            pg.write_u8(off + i, *b);
        }
    }
}

fn emulator_answer(st: &State, vcpu: u8) {
    let v = st.vcpu_ref(vcpu);
    let off = (H::vcpu_id(v) as usize) * size_of::<IoreqSlot>() + offset_of!(IoreqSlot, flags);
    if off >= 4096 {
        return;
    }
    let answer = |pg: &EmulatorPage| {
        let f = pg.read_u8(off);
        if f & FLAG_STATE_MASK == STATE_IOREQ_READY {
            pg.write_u8(off, (f & !FLAG_STATE_MASK) | STATE_IORESP_READY);
        }
    };
    for s in ioreq::snapshot::<H>(st.env.d).servers {
        if let Some(pg) = EmulatorPage::map_any(st.env.d, s.ioreq_gmfn) {
            answer(&pg);
        }
    }
    for (_, pg) in &st.frames {
        answer(pg);
    }
}

// SAFETY (for every `unsafe` call below): each pointer argument is NULL, a live domain or vCPU
// of the environment, or a local the call may read and write, as the ABI's `# Safety` asks.
fn run(st: &mut State, call: Call) {
    match call {
        Call::Create {
            d,
            domid,
            is_default,
            bufioreq,
            id_null,
        } => {
            let mut id = 0u16;
            let idp = if id_null { null_mut() } else { &mut id };
            // SAFETY: see `run`.
            let rc = unsafe {
                hvm_create_ioreq_server(st.dom(d), u16::from(domid), is_default, bufioreq, idp)
            };
            check_rc("create", rc);
        }
        Call::Destroy { d, id } => {
            let id = st.id(id);
            // SAFETY: see `run`.
            check_rc("destroy", unsafe {
                hvm_destroy_ioreq_server(st.dom(d), id)
            });
        }
        Call::GetInfo { d, id, nulls } => {
            let id = st.id(id);
            let (mut a, mut b, mut c) = (0u64, 0u64, 0u32);
            let pa: *mut u64 = if nulls & 1 != 0 { null_mut() } else { &mut a };
            let pb: *mut u64 = if nulls & 2 != 0 { null_mut() } else { &mut b };
            let pc: *mut u32 = if nulls & 4 != 0 { null_mut() } else { &mut c };
            // SAFETY: see `run`.
            let rc = unsafe { hvm_get_ioreq_server_info(st.dom(d), id, pa, pb, pc) };
            check_rc("get_info", rc);
        }
        Call::Map {
            d,
            id,
            ty,
            start,
            len,
            unmap,
        } => {
            let id = st.id(id);
            let end = start.wrapping_add(u64::from(len)).wrapping_sub(1);
            let dp = st.dom(d);
            // SAFETY: see `run`.
            let rc = unsafe {
                if unmap {
                    hvm_unmap_io_range_from_ioreq_server(dp, id, ty % 5, start, end)
                } else {
                    hvm_map_io_range_to_ioreq_server(dp, id, ty % 5, start, end)
                }
            };
            check_rc("map/unmap", rc);
        }
        Call::SetState { d, id, enabled } => {
            let id = st.id(id);
            // SAFETY: see `run`.
            check_rc("set_state", unsafe {
                hvm_set_ioreq_server_state(st.dom(d), id, enabled)
            });
        }
        Call::HotAdd => {
            if st.next_vcpu >= 6 {
                return;
            }
            let v = HostDomain::add_vcpu(st.env.d, st.next_vcpu);
            let vp: *mut vcpu = v.as_ptr().cast();
            // SAFETY: see `run`.
            let rc = unsafe { hvm_all_ioreq_servers_add_vcpu(st.dom(Dom::Guest), vp) };
            check_rc("add_vcpu", rc);
            if rc == 0 {
                st.env.vcpus.push(v);
                st.next_vcpu += 1;
            } else {
                // hvm_vcpu_initialise failed: the vCPU is never created. The ABI promises the
                // failed add left no server holding it.
                assert!(
                    ioreq::snapshot::<H>(st.env.d)
                        .servers
                        .iter()
                        .all(|s| s.vcpu_ports.iter().all(|&(id, _)| id != st.next_vcpu)),
                    "a failed add_vcpu left the vCPU on a server"
                );
                HostDomain::remove_vcpu(v);
            }
        }
        Call::AddAgain { d_null, v } => {
            let vp = st.vcpu(v);
            let dp = st.dom(if d_null { Dom::Null } else { Dom::Guest });
            let rings_before = ring_ports(st.env.d);
            // SAFETY: see `run`.
            let rc = unsafe { hvm_all_ioreq_servers_add_vcpu(dp, vp) };
            check_rc("add_vcpu again", rc);
            let rings_after = ring_ports(st.env.d);
            st.ring_replaced += rings_before
                .iter()
                .filter(|b| rings_after.iter().any(|a| a.0 == b.0 && a.1 != b.1))
                .count();
        }
        Call::HotRemove { v } => {
            if st.env.vcpus.len() <= 1 {
                return;
            }
            let i = usize::from(v) % st.env.vcpus.len();
            let v = st.env.vcpus.remove(i);
            let vid = H::vcpu_id(v);
            let vp: *mut vcpu = v.as_ptr().cast();
            // hvm_vcpu_destroy: once; a vCPU added again (AddAgain) has an entry per add, and
            // each add is undone (the servers must not keep a destroyed vCPU).
            for _ in 0..16 {
                // SAFETY: see `run`.
                unsafe { hvm_all_ioreq_servers_remove_vcpu(st.dom(Dom::Guest), vp) };
                let held = ioreq::snapshot::<H>(st.env.d)
                    .servers
                    .iter()
                    .any(|s| s.vcpu_ports.iter().any(|&(id, _)| id == vid));
                if !held {
                    break;
                }
            }
            HostDomain::remove_vcpu(v);
            if vid + 1 == st.next_vcpu {
                st.next_vcpu -= 1;
            }
        }
        Call::RemoveNull { d } => {
            // SAFETY: see `run`.
            unsafe {
                hvm_all_ioreq_servers_remove_vcpu(st.dom(d), null_mut());
                hvm_all_ioreq_servers_remove_vcpu(null_mut(), st.vcpu(Vc::Live(0)));
            }
        }
        Call::DestroyAll { d } => {
            // SAFETY: see `run`.
            unsafe { hvm_destroy_all_ioreq_servers(st.dom(d)) };
        }
        Call::SetDmDomain { d, domid } => {
            // SAFETY: see `run`.
            check_rc("set_dm_domain", unsafe {
                hvm_set_dm_domain(st.dom(d), domid)
            });
        }
        Call::HasDm { d } => {
            // SAFETY: see `run`.
            let _ = unsafe { hvm_has_dm(st.dom(d)) };
        }
        Call::Pending { v } => {
            // SAFETY: see `run`.
            let _ = unsafe { hvm_io_pending(st.vcpu(v)) };
        }
        Call::Waiting { v } => {
            // SAFETY: see `run`.
            let _ = unsafe { hvm_ioreq_waiting(st.vcpu(v)) };
        }
        Call::Current { v } => {
            HostDomain::set_current_vcpu(v.map(|i| st.vcpu_ref(i)));
        }
        Call::Caller(who) => set_caller(&st.env, who),
        Call::SendAssist { req } => {
            // SAFETY: see `run`.
            with_req(req, |p| unsafe { hvm_send_assist_req(p) });
        }
        Call::BroadcastAssist { req } => {
            // SAFETY: see `run`.
            with_req(req, |p| unsafe { hvm_broadcast_assist_req(p) });
        }
        Call::BufferedSend { req } => {
            // SAFETY: see `run`.
            let rc = with_req(req, |p| unsafe { hvm_buffered_io_send(p) });
            assert!(rc == 0 || rc == 1, "buffered_io_send: {rc}");
        }
        Call::SelectAndSend { req, route } => {
            // SAFETY: see `run`.
            let rc = with_req(req, |p| unsafe { hvm_ioreq_select_and_send(p, route % 4) });
            assert!(
                [
                    HVM_IOREQ_NO_SERVER,
                    HVM_IOREQ_DEFERRED,
                    X86EMUL_OKAY,
                    X86EMUL_RETRY,
                    X86EMUL_UNHANDLEABLE
                ]
                .contains(&rc),
                "select_and_send: {rc}"
            );
        }
        Call::Broadcast { req, buffered } => {
            // SAFETY: see `run`.
            let failed = with_req(req, |p| unsafe { hvm_ioreq_broadcast(p, buffered) });
            assert!(
                failed <= 8,
                "broadcast: {failed} failures with at most 8 servers"
            );
        }
        Call::Complete {
            v,
            resp_null,
            port_null,
        } => {
            let mut resp = IoreqSlot::default();
            let mut port = 0u32;
            let rp: *mut IoreqT = if resp_null {
                null_mut()
            } else {
                core::ptr::from_mut(&mut resp).cast()
            };
            let pp: *mut u32 = if port_null { null_mut() } else { &mut port };
            let vp = st.vcpu(v);
            // SAFETY: see `run`.
            let rc = unsafe { hvm_ioreq_complete(vp, rp, pp) };
            let ok = [
                HVM_IOREQ_IDLE,
                HVM_IOREQ_COMPLETED,
                HVM_IOREQ_WAIT,
                HVM_IOREQ_CRASHED,
            ];
            assert!(
                ok.contains(&rc) || (vp.is_null() && rc == Errno::EINVAL.to_neg()),
                "ioreq_complete: {rc}"
            );
        }
        Call::Cf8 {
            dir,
            port,
            bytes,
            val,
        } => {
            let mut x = val.unwrap_or(0);
            let p: *mut u32 = if val.is_some() { &mut x } else { null_mut() };
            // SAFETY: see `run`.
            let rc = unsafe { hvm_access_cf8(dir, port, bytes, p) };
            assert_eq!(rc, X86EMUL_UNHANDLEABLE, "access_cf8");
        }
        Call::GetParam { d, index } => {
            // SAFETY: see `run`.
            check_rc("get_param", unsafe {
                hvm_ioreq_get_param(st.dom(d), u32::from(index % 40))
            });
        }
        Call::SetParam { d, index, value } => {
            let index = u32::from(index % 40);
            let mut v = value.map_or(0, gfn);
            let p: *mut u64 = if value.is_some() { &mut v } else { null_mut() };
            let dp = st.dom(d);
            // SAFETY: see `run`.
            let rc = unsafe { hvm_ioreq_set_param(dp, index, p) };
            check_rc("set_param", rc);
            if rc == 0 && !dp.is_null() && (index as usize) < 64 {
                // What HVMOP_set_param then stores.
                // SAFETY: a live domain of the environment (non-NULL `Dom`).
                let d = unsafe { domain::handle(dp) }.expect("non-NULL");
                HostDomain::with(d, |h| h.params[index as usize] = v);
            }
        }
        Call::PoolSetParam { d, index, value } => {
            let index = u32::from(index % 40);
            // SAFETY: see `run`.
            check_rc("pool_set_param", unsafe {
                hvm_ioreq_pool_set_param(st.dom(d), index, gfn(value))
            });
        }
        Call::DmOp {
            d,
            op,
            mut buf,
            short,
            arg_null,
            const_null,
        } => {
            buf.truncate(64);
            let len = buf.len().saturating_sub(usize::from(short % 4));
            let mut is_const = false;
            let ap = if arg_null {
                null_mut()
            } else {
                buf.as_mut_ptr()
            };
            let cp: *mut bool = if const_null {
                null_mut()
            } else {
                &mut is_const
            };
            // SAFETY: see `run` (`len` <= the buffer's length).
            let rc = unsafe { hvm_ioreq_dm_op(st.dom(d), u32::from(op % 10), ap, len, cp) };
            check_rc("dm_op", rc);
        }
        Call::GetFrame {
            d,
            id,
            idx,
            page_null,
        } => {
            let id = st.id(id);
            let mut page: *mut c_void = null_mut();
            let pp: *mut *mut c_void = if page_null { null_mut() } else { &mut page };
            // SAFETY: see `run`.
            let rc = unsafe { hvm_ioreq_get_frame(st.dom(d), id, idx % 4, pp) };
            check_rc("get_frame", rc);
            if rc == 0 && !page_null && st.frames.len() < 8 {
                let page = NonNull::new(page).expect("get_frame succeeded with a NULL page");
                let m = memory::emulator_map_frame(page)
                    .expect("get_frame gave a page the emulator cannot map");
                st.frames.push((page, m));
            }
        }
        Call::MapMemType { d, id, ty, flags } => {
            let id = st.id(id);
            // SAFETY: see `run`.
            check_rc("map_mem_type", unsafe {
                hvm_ioreq_map_mem_type(st.dom(d), id, ty % 4, flags)
            });
        }
        Call::IsServerPage { d, frame, raw } => {
            // The page is only compared: any value is a valid argument.
            let p: *const c_void = match frame {
                Some(i) if !st.frames.is_empty() => {
                    st.frames[usize::from(i) % st.frames.len()].0.as_ptr()
                }
                Some(_) => null(),
                None => raw as *const c_void,
            };
            // SAFETY: see `run`.
            let _ = unsafe { hvm_is_ioreq_server_page(st.dom(d), p) };
        }
        Call::EmulatorWrite {
            server,
            ring,
            off,
            bytes,
        } => emulator_write(st, server, ring, off, &bytes),
        Call::EmulatorAnswer { vcpu } => emulator_answer(st, vcpu),
        Call::DropFrame(i) => {
            if !st.frames.is_empty() {
                let i = usize::from(i) % st.frames.len();
                st.frames.remove(i);
            }
        }
        Call::FailNextMap => memory::fail_next_map(Some(Errno::ENOENT)),
        Call::FailEvtchn { after } => {
            evtchn::fail_evtchn_allocs_after(Some((u32::from(after % 8), Errno::ENOSPC)))
        }
    }
}

fuzz_target!(|calls: Vec<Call>| {
    if calls.len() > 48 {
        return;
    }
    let mut st = State {
        env: setup(2),
        next_vcpu: 2,
        frames: Vec::new(),
        ring_replaced: 0,
    };
    for call in calls {
        run(&mut st, call);
        assert_eq!(
            HostDomain::with(st.env.d, |h| h.pause_count),
            0,
            "pause leaked"
        );
        assert_eq!(HostDomain::outstanding_rcu_locks(), 0, "RCU lock leaked");
    }
    // The emulator unmaps what it mapped; every domain's servers go (the guest's in teardown).
    st.frames.clear();
    memory::fail_next_map(None);
    evtchn::fail_evtchn_allocs_after(None);
    HostDomain::set_current_vcpu(None);
    for x in [st.env.dm, st.env.stub, st.env.other] {
        ioreq::destroy_all::<H>(x);
    }
    ioreq::destroy_all::<H>(st.env.d);
    // What is left is what the repeated add orphaned (FIDELITY I15): guest channels of vCPU 0,
    // at most one per ring channel it replaced; nothing else.
    let left: Vec<_> = (0..=1023)
        .filter_map(|p| evtchn::evtchn(st.env.d, p))
        .collect();
    assert_eq!(
        evtchn::live_evtchns(),
        left.len(),
        "event channel leaked by another domain"
    );
    assert!(
        left.len() <= st.ring_replaced && left.iter().all(|c| c.vcpu_id == 0),
        "event channel leaked: {left:?} ({} ring channels replaced by a repeated add_vcpu)",
        st.ring_replaced
    );
    evtchn::destroy_all_evtchns(st.env.d);
    HostDomain::set_current(st.env.dm);
    teardown(st.env);
});
