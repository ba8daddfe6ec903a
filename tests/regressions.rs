//! Named regression tests: one test function per security advisory (XSA) class of this code and per
//! defect B1-B10 of the 2014 series (docs/series.md, Known defects B1-B10), so that a reader finds
//! each by its number. Every test drives the C ABI exports, as the hypervisor's callers do
//! (`hvm_*ioreq*`, `hvmop_ioreq_server`, `rangeset_*`), on the host platform, which counts pages,
//! mappings, P2M entries, event channels, heap blocks, pauses and RCU locks.
//!
//! | number  | test | see also |
//! |---------|------|----------|
//! | XSA-238 | [`xsa_238_inverted_ranges_are_einval_and_change_nothing`] | FIDELITY I6, R4 |
//! | XSA-166 | [`xsa_166_the_slot_state_is_read_once_per_decision`] | FIDELITY I3 (`b452430a4c` row) |
//! | XSA-262 | [`xsa_262_state_driven_backwards_or_looping_never_hangs_xen`] | FIDELITY I200 (kept on purpose) |
//! | XSA-276 | [`xsa_276_page_references_on_create_destroy_and_failure_leave_none`] | FIDELITY I103, I113, X6 |
//! | XSA-491 | [`xsa_491_port_ranges_walked_while_an_ioport_mapping_changes_them`] | - |
//! | B1 | [`b1_destroyed_servers_return_their_pool_frames`] | FIDELITY I1 |
//! | B2 | [`b2_rangeset_allocation_failure_unwinds_and_returns`] | FIDELITY I2 |
//! | B3 | [`b3_failed_creation_releases_the_registry_lock_once`] | FIDELITY I2 |
//! | B4 | [`b4_event_channel_comes_from_our_record_not_the_shared_page`] | FIDELITY I3 |
//! | B5 | [`b5_destroying_an_enabled_server_puts_its_pages_back`] | FIDELITY I4 |
//! | B6 | [`b6_lone_secondary_selectable_and_unmatched_io_goes_to_nobody`] | FIDELITY I5 |
//! | B7 | [`b7_params_32_33_refused_to_the_guest_itself`] | FIDELITY I9 |
//! | B8 | [`b8_reading_params_32_33_creates_no_default_server`] | FIDELITY I10 |
//! | B9 | [`b9_mmio_selection_honours_df`] | FIDELITY I11 |
//! | B10 | [`b10_report_from_below_the_first_range_and_remove_does_not_grow`] | FIDELITY R1, R2, R3 |
//!
//! The port has none of B1-B10; the one XSA behaviour it deliberately does not copy from later Xen
//! is XSA-262's crash on a backwards transition (FIDELITY I200: the vCPU keeps waiting, Xen never
//! loops), which its test checks exactly.

mod ioreq_common;
use ioreq_common::*;

use core::ffi::{c_ulong, c_void};
use core::ptr::{null, null_mut, NonNull};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::mem::offset_of;
use std::sync::Arc;

use xen_ioreq_rs::errno::Errno;
use xen_ioreq_rs::hvmop::ffi::hvmop_ioreq_server;
use xen_ioreq_rs::ioreq;
use xen_ioreq_rs::ioreq::abi::*;
use xen_ioreq_rs::ioreq::ffi::*;
use xen_ioreq_rs::ioreq::{IoreqSlot, FRAME_BUFIOREQ, FRAME_IOREQ};
use xen_ioreq_rs::platform::domain::RegistryKind;
use xen_ioreq_rs::platform::host::alloc::{
    fail_allocations_after, live_allocations, CountingAllocator,
};
use xen_ioreq_rs::platform::host::console::take_console;
use xen_ioreq_rs::platform::host::domain::{set_registry_kind, HostDomain};
use xen_ioreq_rs::platform::host::guest_copy::{guest_buffer, take_guest_buffer};
use xen_ioreq_rs::platform::host::memory::{self, emulator_map_frame, EmulatorPage};
use xen_ioreq_rs::platform::host::{evtchn, HostPlatform as H};
use xen_ioreq_rs::platform::VcpuRef;
use xen_ioreq_rs::rangeset::ffi as rs;

#[global_allocator]
static A: CountingAllocator = CountingAllocator;

fn dp(env: &Env) -> *mut domain {
    env.d.as_ptr().cast()
}

fn vp(v: VcpuRef) -> *mut vcpu {
    v.as_ptr().cast()
}

fn req(p: &mut IoreqSlot) -> *mut xen_ioreq_rs::ioreq::ffi::ioreq {
    (p as *mut IoreqSlot).cast()
}

/// `hvm_create_ioreq_server` for dom0 as the emulator.
fn c_create(env: &Env, bufioreq: bool) -> Result<u16, i32> {
    let mut id = 0xffffu16;
    // SAFETY: a live domain and a writable id.
    let rc = unsafe { hvm_create_ioreq_server(dp(env), DM, false, bufioreq, &mut id) };
    if rc == 0 {
        Ok(id)
    } else {
        Err(rc)
    }
}

/// `hvm_get_ioreq_server_info`: (ioreq pfn, bufioreq pfn).
fn c_info(env: &Env, id: u16) -> (u64, u64) {
    let (mut a, mut b, mut p) = (0u64, 0u64, 0u32);
    // SAFETY: a live domain and writable outputs.
    let rc = unsafe { hvm_get_ioreq_server_info(dp(env), id, &mut a, &mut b, &mut p) };
    assert_eq!(rc, 0);
    (a, b)
}

fn c_map(env: &Env, id: u16, ty: u32, s: u64, e: u64) -> i32 {
    // SAFETY: a live domain.
    unsafe { hvm_map_io_range_to_ioreq_server(dp(env), id, ty, s, e) }
}

fn c_unmap(env: &Env, id: u16, ty: u32, s: u64, e: u64) -> i32 {
    // SAFETY: a live domain.
    unsafe { hvm_unmap_io_range_from_ioreq_server(dp(env), id, ty, s, e) }
}

fn c_state(env: &Env, id: u16, on: bool) -> i32 {
    // SAFETY: a live domain.
    unsafe { hvm_set_ioreq_server_state(dp(env), id, on) }
}

fn c_destroy(env: &Env, id: u16) -> i32 {
    // SAFETY: a live domain.
    unsafe { hvm_destroy_ioreq_server(dp(env), id) }
}

/// `hvm_ioreq_select_and_send` as the current vCPU.
fn c_send(p: &mut IoreqSlot) -> i32 {
    // SAFETY: a readable and writable ioreq_t.
    unsafe { hvm_ioreq_select_and_send(req(p), HVM_IOREQ_ROUTE_RANGE) }
}

/// `hvm_ioreq_complete`: (rc, response, port).
fn c_complete(v: VcpuRef) -> (i32, IoreqSlot, u32) {
    let (mut resp, mut port) = (IoreqSlot::default(), 0u32);
    // SAFETY: a live vCPU and writable outputs.
    let rc = unsafe { hvm_ioreq_complete(vp(v), req(&mut resp), &mut port) };
    (rc, resp, port)
}

/// HVMOP `op` through `hvmop_ioreq_server` with `arg` in guest memory: rc and the bytes after.
fn c_hvmop(op: u32, arg: &[u8]) -> (i64, Vec<u8>) {
    let h = guest_buffer(arg);
    // SAFETY: `h` is a guest handle of the host platform's guest memory.
    let rc = unsafe { hvmop_ioreq_server(c_ulong::from(op), h.0 as *mut c_void) };
    (rc, take_guest_buffer(h))
}

/// One DMOP through `hvm_ioreq_dm_op` (the union's 64 bytes).
fn c_dmop(env: &Env, op: u32, arg: &[u8]) -> (i32, Vec<u8>) {
    let mut buf = arg.to_vec();
    buf.resize(64, 0);
    let mut c = false;
    // SAFETY: a live domain, 64 writable bytes and a writable bool.
    let rc = unsafe { hvm_ioreq_dm_op(dp(env), op, buf.as_mut_ptr(), buf.len(), &mut c) };
    (rc, buf)
}

fn dmop_range(env: &Env, op: u32, id: u16, ty: u32, s: u64, e: u64) -> i32 {
    let mut a = Vec::new();
    a.extend_from_slice(&id.to_le_bytes());
    a.extend_from_slice(&0u16.to_le_bytes());
    a.extend_from_slice(&ty.to_le_bytes());
    a.extend_from_slice(&s.to_le_bytes());
    a.extend_from_slice(&e.to_le_bytes());
    c_dmop(env, op, &a).0
}

fn ranges_of(env: &Env, id: u16) -> [Vec<(u64, u64)>; 3] {
    ioreq::snapshot::<H>(env.d)
        .servers
        .iter()
        .find(|s| s.id == id)
        .expect("server")
        .ranges
        .clone()
}

/// Our record of `id`'s event channel for vCPU `vcpu`.
fn port_of(env: &Env, id: u16, vcpu: u32) -> u32 {
    ioreq::snapshot::<H>(env.d)
        .servers
        .iter()
        .find(|s| s.id == id)
        .and_then(|s| s.vcpu_ports.iter().find(|(v, _)| *v == vcpu).map(|x| x.1))
        .expect("port")
}

/// The emulator's write of vCPU `vcpu`'s slot state.
fn set_slot_state(page: &EmulatorPage, vcpu: usize, s: u8) {
    let off = vcpu * 32 + offset_of!(IoreqSlot, flags);
    let f = page.read_u8(off);
    page.write_u8(off, (f & !0x0f) | s);
}

/// Everything the host platform counts.
#[derive(Debug, PartialEq, Eq)]
struct Resources {
    pages: usize,
    server_pages: i64,
    mapped: i64,
    p2m: usize,
    evtchns: usize,
    heap: isize,
    pauses: i32,
    rcu: i64,
}

fn resources(env: &Env) -> Resources {
    Resources {
        pages: memory::live_pages(),
        server_pages: memory::allocated_server_pages(),
        mapped: memory::mapped_pages(),
        p2m: memory::p2m_entries(),
        evtchns: evtchn::live_evtchns(),
        heap: live_allocations(),
        pauses: pause_count(env.d),
        rcu: HostDomain::outstanding_rcu_locks(),
    }
}

/// An enabled secondary server on ports 0x100-0x1ff and MMIO 0x1000-0x1fff, with the emulator's
/// view of its synchronous page.
fn port_server(env: &Env) -> (u16, EmulatorPage) {
    let id = c_create(env, false).unwrap();
    assert_eq!(c_map(env, id, HVMOP_IO_RANGE_PORT, 0x100, 0x1ff), 0);
    assert_eq!(c_map(env, id, HVMOP_IO_RANGE_MEMORY, 0x1000, 0x1fff), 0);
    let page = EmulatorPage::map(env.d, c_info(env, id).0).unwrap();
    assert_eq!(c_state(env, id, true), 0);
    (id, page)
}

/// XSA-238 (`d59e55b018`): map/unmap with start > end reach the rangeset unchecked in the series
/// (an ASSERT, or a corrupt set in release builds). Through every entry point (the series'
/// function, HVMOP 19/20, Xen 4.17's DMOP 3/4) and for every range type: -EINVAL, before the
/// server is even looked up, and nothing changes. The rangeset refuses them too (R4).
#[test]
fn xsa_238_inverted_ranges_are_einval_and_change_nothing() {
    let env = setup(1);
    let id = c_create(&env, false).unwrap();
    for ty in 0..3 {
        assert_eq!(c_map(&env, id, ty, 0x100, 0x1ff), 0);
    }
    let before = ranges_of(&env, id);
    for ty in 0..3 {
        for (s, e) in [(0x20, 0x10), (0x1ff, 0x100), (u64::MAX, 0), (1, 0)] {
            assert_eq!(c_map(&env, id, ty, s, e), -22, "map {ty} {s:#x}-{e:#x}");
            assert_eq!(c_unmap(&env, id, ty, s, e), -22, "unmap {ty} {s:#x}-{e:#x}");
            assert_eq!(
                c_map(&env, 0xdead, ty, s, e),
                -22,
                "checked before the lookup"
            );
            for op in [
                HVMOP_MAP_IO_RANGE_TO_IOREQ_SERVER,
                HVMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER,
            ] {
                let a = HvmIoRange {
                    domid: GUEST,
                    id,
                    type_: ty,
                    start: s,
                    end: e,
                };
                assert_eq!(c_hvmop(op, a.as_bytes()).0, -22, "HVMOP {op} {ty}");
            }
        }
    }
    assert_eq!(ranges_of(&env, id), before, "nothing changed");
    // A valid unmap still works afterwards.
    assert_eq!(c_unmap(&env, id, 0, 0x100, 0x1ff), 0);
    teardown(env);

    // Xen 4.17's DMOPs on a 4.17 registry.
    set_registry_kind(RegistryKind::Xen417);
    let env = setup(1);
    set_registry_kind(RegistryKind::Series);
    let (rc, b) = c_dmop(&env, XEN_DMOP_CREATE_IOREQ_SERVER, &[0; 6]);
    assert_eq!(rc, 0);
    let id = u16::from_le_bytes([b[4], b[5]]);
    let (map_op, unmap_op) = (
        XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER,
        XEN_DMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER,
    );
    assert_eq!(dmop_range(&env, map_op, id, 1, 0xa0000, 0xbffff), 0);
    let before = ranges_of(&env, id);
    for ty in 0..3 {
        assert_eq!(dmop_range(&env, map_op, id, ty, 0xbffff, 0xa0000), -22);
        assert_eq!(dmop_range(&env, unmap_op, id, ty, 0xbffff, 0xa0000), -22);
    }
    assert_eq!(ranges_of(&env, id), before);
    teardown(env);

    // The rangeset itself (R4).
    // SAFETY: a free-standing set, destroyed at the end.
    unsafe {
        let r = rs::rangeset_new(null_mut(), null(), 0);
        assert_eq!(rs::rangeset_add_range(r, 5, 3), -22);
        assert_eq!(rs::rangeset_add_range(r, 0, 10), 0);
        assert_eq!(rs::rangeset_remove_range(r, 7, 3), -22);
        assert!(!bool::from(rs::rangeset_contains_range(r, 7, 3)));
        assert!(bool::from(rs::rangeset_contains_range(r, 0, 10)));
        rs::rangeset_destroy(r);
    }
}

/// XSA-166 (`b452430a4c`): the series' completion read the emulator-written slot state more than
/// once per decision, so an emulator changing it between the reads steered Xen into a path no
/// single value leads to. Here a second thread plays an emulator that keeps rewriting the state
/// nibble (only valid states: NONE, READY, IORESP_READY, INPROCESS) and keeps the response data
/// fixed, while the vCPU's completion (`hvm_ioreq_complete`) runs over and over: every outcome
/// must be one a single read of the state explains (wait on *our* port, or a completion carrying
/// the request's address and the emulator's data with state NONE, or idle), and the domain is
/// never crashed, which a second read meeting a different valid value would do in the series'
/// `default:` arm. The send side reads the state once too: a request posted while the emulator
/// scribbles is either posted (READY, our port) or refused with the domain crashed, never both.
#[test]
fn xsa_166_the_slot_state_is_read_once_per_decision() {
    let env = setup(1);
    HostDomain::set_current_vcpu(Some(env.vcpus[0]));
    let (id, page) = port_server(&env);
    let port = port_of(&env, id, 0);
    let mut p = pio(0x104, 2, IOREQ_READ);
    assert_eq!(c_send(&mut p), X86EMUL_RETRY);
    page.write_u64(offset_of!(IoreqSlot, data), 0xabcd);

    // The page lives (the emulator's mapping holds it) until the thread is joined.
    let flags = page.host_ptr().unwrap().as_ptr() as usize + offset_of!(IoreqSlot, flags);
    let stop = Arc::new(AtomicBool::new(false));
    let flipper = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            // SAFETY: `flags` is the state byte of vCPU 0's slot in a page that outlives this
            // thread; the hypervisor side accesses it only atomically (an x86 byte store, as a
            // real emulator's).
            let b = unsafe { AtomicU8::from_ptr(flags as *mut u8) };
            let states = [
                STATE_IOREQ_READY,
                STATE_IOREQ_INPROCESS,
                STATE_IORESP_READY,
                STATE_IOREQ_NONE,
            ];
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                let s = states[i % states.len()];
                let f = b.load(Ordering::Relaxed);
                b.store((f & !0x0f) | s, Ordering::Release);
                i += 1;
            }
            i
        })
    };
    let (mut waits, mut completions, mut idle) = (0u32, 0u32, 0u32);
    // At least 100,000 decisions, and until both kinds of outcome were met (the two threads may
    // take turns on a loaded machine).
    let started = std::time::Instant::now();
    let mut calls = 0u32;
    while calls < 100_000 || waits == 0 || completions + idle == 0 {
        assert!(
            started.elapsed().as_secs() < 60,
            "the emulator thread never ran"
        );
        calls += 1;
        let (rc, resp, p) = c_complete(env.vcpus[0]);
        match rc {
            HVM_IOREQ_WAIT => {
                assert_eq!(p, port, "waits on our port");
                waits += 1;
            }
            HVM_IOREQ_COMPLETED => {
                assert_eq!(
                    (resp.addr, resp.data, resp.state()),
                    (0x104, 0xabcd, STATE_IOREQ_NONE)
                );
                completions += 1;
            }
            HVM_IOREQ_IDLE => idle += 1,
            other => panic!("completion gave {other} under valid states only"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let flips = flipper.join().unwrap();
    assert_eq!(crashes(env.d), 0, "no decision met an impossible state");
    assert!(flips > 0 && waits + completions + idle == calls);
    // Sending: the state read once decides; a non-NONE slot crashes the domain and posts nothing.
    set_slot_state(&page, 0, STATE_IOREQ_INPROCESS);
    let n = evtchn::notifications(env.d, port);
    assert_eq!(c_send(&mut pio(0x104, 1, IOREQ_READ)), X86EMUL_UNHANDLEABLE);
    assert_eq!(crashes(env.d), 1);
    assert_eq!(evtchn::notifications(env.d, port), n);
    set_slot_state(&page, 0, STATE_IOREQ_NONE);
    assert_eq!(c_send(&mut pio(0x104, 1, IOREQ_READ)), X86EMUL_RETRY);
    assert_eq!(evtchn::notifications(env.d, port), n + 1);
    let _ = take_console();
    drop(page);
    HostDomain::set_current_vcpu(None);
    teardown(env);
}

/// XSA-262 (`92938e5d14`): an emulator moving a slot's state backwards (INPROCESS -> READY) or
/// cycling it kept the series' `hvm_do_resume` looping inside Xen. The port reads the state once
/// per `hvm_ioreq_complete` call and returns: READY or INPROCESS is "wait on our port and call
/// again" whatever came before, so a backwards move keeps only that vCPU waiting (the series'
/// contract without its loop, kept on purpose instead of 4.17's domain crash: FIDELITY I200);
/// a state above 3 crashes the domain, as in both Cs; nothing panics, and every call returns.
#[test]
fn xsa_262_state_driven_backwards_or_looping_never_hangs_xen() {
    let env = setup(1);
    HostDomain::set_current_vcpu(Some(env.vcpus[0]));
    let v = env.vcpus[0];
    let (id, page) = port_server(&env);
    let port = port_of(&env, id, 0);
    assert_eq!(c_send(&mut pio(0x100, 1, IOREQ_READ)), X86EMUL_RETRY);
    // SAFETY: a live vCPU.
    let waiting = || unsafe { hvm_ioreq_waiting(vp(v)) };
    // Forwards, then backwards, then round and round: every call returns WAIT on our port.
    for round in 0..10_000 {
        let s = [STATE_IOREQ_INPROCESS, STATE_IOREQ_READY][round % 2];
        set_slot_state(&page, 0, s);
        assert_eq!(c_complete(v).0, HVM_IOREQ_WAIT, "round {round}");
        assert_eq!(c_complete(v).2, port);
        assert!(waiting());
    }
    assert_eq!(
        crashes(env.d),
        0,
        "a backwards move is not a crash here (I200)"
    );
    // The answer still completes it.
    page.write_u64(offset_of!(IoreqSlot, data), 7);
    set_slot_state(&page, 0, STATE_IORESP_READY);
    let (rc, resp, _) = c_complete(v);
    assert_eq!((rc, resp.data), (HVM_IOREQ_COMPLETED, 7));
    assert!(!waiting());
    assert_eq!(c_complete(v).0, HVM_IOREQ_IDLE);
    // Invalid states: the domain is crashed, once per call, and the call returns.
    for bad in 4..16u8 {
        set_slot_state(&page, 0, bad);
        assert_eq!(c_complete(v).0, HVM_IOREQ_CRASHED, "state {bad}");
    }
    assert_eq!(crashes(env.d), 12);
    assert!(take_console().contains("Weird HVM iorequest state"));
    drop(page);
    HostDomain::set_current_vcpu(None);
    teardown(env);
}

/// XSA-276 (`e862e6ceb1`): page references of ioreq servers' pages on create and destroy. Every
/// page, hypervisor mapping, P2M entry, server page, event channel, heap block, pause and RCU lock
/// comes back: after create/enable/destroy through the series' functions, after every injected
/// failure of creation (heap, mapping, event channel), and for Xen 4.17's frames
/// (`hvm_ioreq_get_frame`, `XENMEM_acquire_resource`'s pages) including a frame the emulator still
/// maps when its server is destroyed (its reference keeps the page until it unmaps) and a frame
/// allocation that fails.
#[test]
fn xsa_276_page_references_on_create_destroy_and_failure_leave_none() {
    let env = setup(2);
    // Warm up the host's own tables, then take the baseline.
    let id = c_create(&env, true).unwrap();
    assert_eq!(c_destroy(&env, id), 0);
    let base = resources(&env);
    for round in 0..8 {
        let a = c_create(&env, true).unwrap();
        let b = c_create(&env, false).unwrap();
        assert_eq!(c_state(&env, a, true), 0);
        assert_eq!(memory::mapped_pages(), base.mapped + 3, "round {round}");
        if round % 2 == 0 {
            assert_eq!(c_state(&env, a, false), 0);
        }
        assert_eq!(c_destroy(&env, a), 0);
        assert_eq!(c_destroy(&env, b), 0);
        assert_eq!(resources(&env), base, "round {round}");
    }
    // Failures on the way: heap, the page mapping, an event channel.
    let mut failed = 0;
    for n in 0..48 {
        fail_allocations_after(Some(n));
        let r = c_create(&env, true);
        fail_allocations_after(None);
        match r {
            Ok(id) => {
                assert_eq!(c_destroy(&env, id), 0);
                break;
            }
            Err(rc) => {
                assert_eq!(rc, -12, "n = {n}");
                failed += 1;
            }
        }
        assert_eq!(resources(&env), base, "heap failure after {n}");
    }
    assert!(failed > 3, "creation allocates several times ({failed})");
    memory::fail_next_map(Some(Errno::ENOMEM));
    assert_eq!(c_create(&env, true), Err(-12));
    memory::fail_next_map(None);
    assert_eq!(resources(&env), base, "mapping failure");
    for k in 0..3 {
        evtchn::fail_evtchn_allocs_after(Some((k, Errno::ENOSPC)));
        assert_eq!(c_create(&env, true), Err(-28), "event channel {k}");
        evtchn::fail_evtchn_allocs_after(None);
        assert_eq!(resources(&env), base, "event channel failure {k}");
    }
    teardown(env);

    // Xen 4.17's frames.
    set_registry_kind(RegistryKind::Xen417);
    let env = setup(1);
    set_registry_kind(RegistryKind::Series);
    let create = |env: &Env| {
        let (rc, b) = c_dmop(
            env,
            XEN_DMOP_CREATE_IOREQ_SERVER,
            &[HVM_IOREQSRV_BUFIOREQ_ATOMIC],
        );
        assert_eq!(rc, 0);
        u16::from_le_bytes([b[4], b[5]])
    };
    let frame = |env: &Env, id: u16, idx: u32| {
        let mut p: *mut c_void = null_mut();
        // SAFETY: a live domain and a writable page pointer.
        let rc = unsafe { hvm_ioreq_get_frame(dp(env), id, idx, &mut p) };
        (rc, NonNull::new(p))
    };
    let destroy = |env: &Env, id: u16| {
        let [a, b] = id.to_le_bytes();
        c_dmop(env, XEN_DMOP_DESTROY_IOREQ_SERVER, &[a, b, 0, 0]).0
    };
    let id = create(&env);
    assert_eq!(destroy(&env, id), 0);
    let base = resources(&env);
    let id = create(&env);
    let (rc, ring) = frame(&env, id, FRAME_BUFIOREQ);
    assert_eq!(rc, 0);
    let (rc, io) = frame(&env, id, FRAME_IOREQ);
    assert_eq!(rc, 0);
    assert_eq!(memory::allocated_server_pages(), base.server_pages + 2);
    // The emulator maps the ioreq frame; the server goes while it is mapped.
    let view = emulator_map_frame(io.unwrap()).unwrap();
    view.write_u64(0, 1);
    assert_eq!(destroy(&env, id), 0);
    assert_eq!(memory::allocated_server_pages(), base.server_pages);
    assert_eq!(
        memory::live_pages(),
        base.pages + 1,
        "the emulator's reference holds it"
    );
    assert_eq!(view.read_u64(0), 1);
    drop(view);
    let _ = ring;
    assert_eq!(resources(&env), base, "frames released");
    // A frame allocation that fails leaves nothing.
    let id = create(&env);
    memory::fail_next_alloc(Some(Errno::ENOMEM));
    assert_eq!(frame(&env, id, FRAME_IOREQ), (-12, None));
    memory::fail_next_alloc(None);
    assert_eq!(frame(&env, id, FRAME_IOREQ).0, 0);
    assert_eq!(destroy(&env, id), 0);
    assert_eq!(resources(&env), base, "after a failed frame allocation");
    teardown(env);
}

/// XSA-491: Xen's HVM I/O-port handler list walked while an ioport mapping (DMOP or domctl)
/// changes it. What of it this code touches: the handler list and the ioport mapping domctl are
/// Xen's own C, not ported; the hotplug controller's two port handlers are registered once, at
/// domain construction, and no mapping changes them (FIDELITY X5). What the guest's port I/O
/// walks here is the ioreq servers' port rangesets, which the map/unmap hypercalls change. So:
/// (1) a thread changing a port rangeset (as map/unmap do: add, then remove, a block of ports)
/// while another walks and queries it through the C ABI (as selection does) only ever sees the
/// set before or after a change, whole; (2) selection interleaved with map/unmap of the claimed
/// ports always follows the ranges of the moment.
#[test]
fn xsa_491_port_ranges_walked_while_an_ioport_mapping_changes_them() {
    // (1) Two threads on one set (the host lock is a real spinning rwlock).
    // SAFETY: a free-standing set, used by both threads until the writer is joined, then
    // destroyed.
    let r = unsafe { rs::rangeset_new(null_mut(), c"ioreq_server 1 port".as_ptr(), 1) };
    assert!(!r.is_null());
    // SAFETY: as above.
    assert_eq!(unsafe { rs::rangeset_add_range(r, 0x60, 0x64) }, 0);
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let writer = {
        let stop = Arc::clone(&stop);
        let rounds = Arc::clone(&rounds);
        let addr = r as usize;
        std::thread::spawn(move || {
            let r = addr as *mut rs::rangeset;
            let mut n = 0u64;
            while !stop.load(Ordering::Relaxed) {
                // Each state is held a little while, so that walks meet every one of them.
                let hold = || (0..64).for_each(|_| core::hint::spin_loop());
                // SAFETY: the set outlives this thread (joined before it is destroyed).
                unsafe {
                    assert_eq!(rs::rangeset_add_range(r, 0x100, 0x1ff), 0);
                    hold();
                    assert_eq!(rs::rangeset_add_range(r, 0x3f8, 0x3ff), 0);
                    hold();
                    assert_eq!(rs::rangeset_remove_range(r, 0x100, 0x1ff), 0);
                    hold();
                    assert_eq!(rs::rangeset_remove_range(r, 0x3f8, 0x3ff), 0);
                    hold();
                }
                n += 1;
                rounds.store(n, Ordering::Relaxed);
            }
            n
        })
    };
    unsafe extern "C" fn collect(s: c_ulong, e: c_ulong, ctxt: *mut c_void) -> i32 {
        // SAFETY: ctxt is the Vec below, live for the walk.
        unsafe { &mut *ctxt.cast::<Vec<(u64, u64)>>() }.push((s, e));
        0
    }
    let fixed = (0x60, 0x64);
    let a = (0x100, 0x1ff);
    let b = (0x3f8, 0x3ff);
    let states = [
        vec![fixed],
        vec![fixed, a],
        vec![fixed, a, b],
        vec![fixed, b],
    ];
    // Walk until the writer has made 5000 rounds of changes, there were at least 5000 walks, and
    // the walks met at least two of the states (threads on a loaded machine may take turns).
    let started = std::time::Instant::now();
    let mut met = [0u64; 4];
    let mut i = 0u64;
    while i < 5000 || rounds.load(Ordering::Relaxed) < 5000 {
        assert!(
            started.elapsed().as_secs() < 60,
            "the writer made no progress"
        );
        i += 1;
        let mut seen: Vec<(u64, u64)> = Vec::new();
        // SAFETY: the live set; the callback's context is `seen`.
        let rc = unsafe {
            rs::rangeset_report_ranges(
                r,
                0,
                u64::MAX,
                Some(collect),
                (&mut seen as *mut Vec<_>).cast(),
            )
        };
        assert_eq!(rc, 0);
        let k = states.iter().position(|s| *s == seen);
        let k = k.unwrap_or_else(|| panic!("walk {i} saw a torn set: {seen:x?}"));
        met[k] += 1;
        // SAFETY: the live set.
        assert!(unsafe { bool::from(rs::rangeset_contains_range(r, 0x60, 0x64)) });
    }
    stop.store(true, Ordering::Relaxed);
    assert!(writer.join().unwrap() >= 5000);
    // SAFETY: the writer is gone; nothing uses the set afterwards.
    unsafe { rs::rangeset_destroy(r) };

    // (2) Selection between mappings, through the exports.
    let env = setup(1);
    HostDomain::set_current_vcpu(Some(env.vcpus[0]));
    let id = c_create(&env, false).unwrap();
    let page = EmulatorPage::map(env.d, c_info(&env, id).0).unwrap();
    assert_eq!(c_state(&env, id, true), 0);
    for round in 0..64u64 {
        let port = 0x100 + (round % 16) * 8;
        assert_eq!(c_send(&mut pio(port, 1, IOREQ_READ)), HVM_IOREQ_NO_SERVER);
        assert_eq!(c_map(&env, id, HVMOP_IO_RANGE_PORT, port, port + 7), 0);
        assert_eq!(c_send(&mut pio(port + 7, 1, IOREQ_READ)), X86EMUL_RETRY);
        set_slot_state(&page, 0, STATE_IORESP_READY);
        assert_eq!(c_complete(env.vcpus[0]).0, HVM_IOREQ_COMPLETED);
        assert_eq!(c_unmap(&env, id, HVMOP_IO_RANGE_PORT, port, port + 7), 0);
        assert_eq!(c_send(&mut pio(port, 1, IOREQ_READ)), HVM_IOREQ_NO_SERVER);
    }
    drop(page);
    HostDomain::set_current_vcpu(None);
    teardown(env);
}

/// B1 (`cb791b84e7`): the series' `hvm_free_ioreq_gmfn` cleared the bit allocation had already
/// cleared, so pool frames never came back: with an 8-frame pool the 5th bufioreq-capable
/// creation in a domain's life failed. Here 20 create/destroy rounds succeed and always get the
/// lowest frames again.
#[test]
fn b1_destroyed_servers_return_their_pool_frames() {
    let env = setup(1);
    for round in 0..20 {
        let id = c_create(&env, true).unwrap_or_else(|rc| panic!("round {round}: {rc}"));
        assert_eq!(
            c_info(&env, id),
            (POOL_BASE, POOL_BASE + 1),
            "round {round}"
        );
        assert_eq!(c_destroy(&env, id), 0);
    }
    // Four live servers take all eight frames; a fifth is -ENOMEM until one goes.
    let ids: Vec<u16> = (0..4).map(|_| c_create(&env, true).unwrap()).collect();
    assert_eq!(c_create(&env, true), Err(-12));
    assert_eq!(c_destroy(&env, ids[1]), 0);
    let again = c_create(&env, true).unwrap();
    assert_eq!(c_info(&env, again), (POOL_BASE + 2, POOL_BASE + 3));
    teardown(env);
}

/// B2 (`a310f00882`): a rangeset allocation failure in `hvm_ioreq_server_alloc_rangesets` looped
/// `while (--i >= 0)` on an unsigned index. Every allocation of creation is failed in turn: each
/// returns -ENOMEM, no rangeset stays attached to the domain, and creation then works.
#[test]
fn b2_rangeset_allocation_failure_unwinds_and_returns() {
    let env = setup(1);
    let dump = || {
        let _ = take_console();
        // SAFETY: a live, initialised domain.
        unsafe { rs::rangeset_domain_printk(dp(&env).cast()) };
        take_console()
    };
    let empty = dump();
    assert!(empty.contains("None"), "{empty}");
    let mut failures = 0;
    for n in 0..48 {
        fail_allocations_after(Some(n));
        let r = c_create(&env, false);
        fail_allocations_after(None);
        match r {
            Err(rc) => {
                assert_eq!(rc, -12, "n = {n}");
                assert_eq!(dump(), empty, "no rangeset left after failure {n}");
                failures += 1;
            }
            Ok(id) => {
                let d = dump();
                for kind in ["port", "memory", "pci"] {
                    assert!(d.contains(&format!("ioreq_server {id} {kind}")), "{d}");
                }
                assert_eq!(c_destroy(&env, id), 0);
                break;
            }
        }
    }
    assert!(
        failures >= 3,
        "every allocation of creation failed once, the rangesets' among them"
    );
    teardown(env);
}

/// B3 (`a608c40d4f`): every failure of the series' `hvm_ioreq_server_init` unlocked the registry
/// lock its caller unlocked again. After each kind of failure here, the lock is free (creation,
/// which writes, and `hvm_has_dm`, which reads, go through; a second unlock would trip the host
/// lock's check) and the domain is unpaused.
#[test]
fn b3_failed_creation_releases_the_registry_lock_once() {
    let env = setup(2);
    let pauses = pause_count(env.d);
    let check = |what: &str| {
        assert_eq!(pause_count(env.d), pauses, "{what}: unpaused");
        // SAFETY: a live domain.
        assert!(!unsafe { hvm_has_dm(dp(&env)) }, "{what}: read lock");
        let id = c_create(&env, true).unwrap_or_else(|rc| panic!("{what}: write lock: {rc}"));
        assert_eq!(c_destroy(&env, id), 0);
    };
    memory::fail_next_map(Some(Errno::ENOMEM));
    assert_eq!(c_create(&env, true), Err(-12));
    memory::fail_next_map(None);
    check("page mapping");
    for k in 0..3 {
        evtchn::fail_evtchn_allocs_after(Some((k, Errno::ENOSPC)));
        assert_eq!(c_create(&env, true), Err(-28));
        evtchn::fail_evtchn_allocs_after(None);
        check("event channel");
    }
    fail_allocations_after(Some(2));
    assert_eq!(c_create(&env, true), Err(-12));
    fail_allocations_after(None);
    check("heap");
    teardown(env);
}

/// B4 (`125833f5f1`): the series took the event channel to notify and wait on from the slot's
/// `vp_eport`, which the emulator (and the guest, before enable) can write. The port uses its own
/// record: a slot whose `vp_eport` was rewritten crashes the domain and nothing is notified, and
/// completion waits on our port whatever the slot says.
#[test]
fn b4_event_channel_comes_from_our_record_not_the_shared_page() {
    let env = setup(1);
    HostDomain::set_current_vcpu(Some(env.vcpus[0]));
    let (id, page) = port_server(&env);
    let port = port_of(&env, id, 0);
    let bogus = port + 100;
    page.write_u32(offset_of!(IoreqSlot, vp_eport), bogus);
    let n = evtchn::notifications(env.d, port);
    assert_eq!(c_send(&mut pio(0x100, 1, IOREQ_READ)), X86EMUL_UNHANDLEABLE);
    assert_eq!(crashes(env.d), 1);
    assert_eq!(evtchn::notifications(env.d, port), n);
    assert_eq!(evtchn::notifications(env.d, bogus), 0);
    page.write_u32(offset_of!(IoreqSlot, vp_eport), port);
    assert_eq!(c_send(&mut pio(0x100, 1, IOREQ_READ)), X86EMUL_RETRY);
    assert_eq!(evtchn::notifications(env.d, port), n + 1);
    page.write_u32(offset_of!(IoreqSlot, vp_eport), bogus);
    assert_eq!(
        c_complete(env.vcpus[0]),
        (HVM_IOREQ_WAIT, IoreqSlot::default(), port)
    );
    let _ = take_console();
    drop(page);
    HostDomain::set_current_vcpu(None);
    teardown(env);
}

/// B5 (`ebd41901b9`): destroying an enabled secondary server did not put its pages back in the
/// guest's P2M. Here destroy disables first: both frames are in the P2M again.
#[test]
fn b5_destroying_an_enabled_server_puts_its_pages_back() {
    let env = setup(1);
    let p2m = memory::p2m_entries();
    let id = c_create(&env, true).unwrap();
    let (io, buf) = c_info(&env, id);
    assert_eq!(c_state(&env, id, true), 0);
    assert!(memory::p2m_lookup(env.d, io).is_none());
    assert!(memory::p2m_lookup(env.d, buf).is_none());
    assert_eq!(c_destroy(&env, id), 0);
    assert!(memory::p2m_lookup(env.d, io).is_some());
    assert!(memory::p2m_lookup(env.d, buf).is_some());
    assert_eq!(memory::p2m_entries(), p2m);
    // destroy-all likewise.
    let id = c_create(&env, true).unwrap();
    let (io, _) = c_info(&env, id);
    assert_eq!(c_state(&env, id, true), 0);
    // SAFETY: a live domain.
    unsafe { hvm_destroy_all_ioreq_servers(dp(&env)) };
    assert!(memory::p2m_lookup(env.d, io).is_some());
    assert_eq!(memory::p2m_entries(), p2m);
    teardown(env);
}

/// B6 (`3b586fc67d`, `cb34a7c8d7`): with exactly one server the series' selection returned the
/// default pointer (NULL for a lone secondary server, which never saw its I/O), and unmatched I/O
/// without a default server was dropped and retried forever. Here the lone secondary server gets
/// its I/O, and unmatched I/O selects nobody (`HVM_IOREQ_NO_SERVER`: the caller completes it as
/// the null handler does) at once.
#[test]
fn b6_lone_secondary_selectable_and_unmatched_io_goes_to_nobody() {
    let env = setup(1);
    HostDomain::set_current_vcpu(Some(env.vcpus[0]));
    let (_id, page) = port_server(&env);
    assert_eq!(ioreq::snapshot::<H>(env.d).servers.len(), 1);
    assert_eq!(c_send(&mut pio(0x1ff, 1, IOREQ_READ)), X86EMUL_RETRY);
    set_slot_state(&page, 0, STATE_IORESP_READY);
    assert_eq!(c_complete(env.vcpus[0]).0, HVM_IOREQ_COMPLETED);
    let mut p = pio(0x200, 2, IOREQ_READ);
    assert_eq!(c_send(&mut p), HVM_IOREQ_NO_SERVER);
    ioreq::complete_as_null(&mut p);
    assert_eq!(p.data, 0xffff);
    drop(page);
    HostDomain::set_current_vcpu(None);
    teardown(env);
}

/// B7 (`43a5c7bd4e`, `ec9f99e1be`): the guest reading params 32/33 about itself got its -EPERM
/// overwritten by the copy-back (0, value echoed). The hook refuses it with -EPERM.
#[test]
fn b7_params_32_33_refused_to_the_guest_itself() {
    let env = setup(1);
    HostDomain::set_current(env.d);
    for index in [HVM_PARAM_IOREQ_SERVER_PFN, HVM_PARAM_NR_IOREQ_SERVER_PAGES] {
        assert_eq!(
            // SAFETY: a live domain.
            unsafe { hvm_ioreq_get_param(dp(&env), index) },
            -1,
            "{index}"
        );
        let mut v = 5u64;
        // SAFETY: a live domain and a readable/writable value.
        assert_eq!(unsafe { hvm_ioreq_set_param(dp(&env), index, &mut v) }, -1);
    }
    HostDomain::set_current(env.dm);
    assert_eq!(
        // SAFETY: a live domain.
        unsafe { hvm_ioreq_get_param(dp(&env), HVM_PARAM_IOREQ_SERVER_PFN) },
        0
    );
    teardown(env);
}

/// B8 (`43a5c7bd4e`): reading params 32/33 fell through into the IOREQ_PFN case and created the
/// default server (e.g. on `xc_domain_save`). Here they are plain reads; params 5 does create it.
#[test]
fn b8_reading_params_32_33_creates_no_default_server() {
    let env = setup(1);
    for index in [HVM_PARAM_IOREQ_SERVER_PFN, HVM_PARAM_NR_IOREQ_SERVER_PAGES] {
        // SAFETY: a live domain.
        assert_eq!(unsafe { hvm_ioreq_get_param(dp(&env), index) }, 0);
        assert!(
            // SAFETY: a live domain.
            !unsafe { hvm_has_dm(dp(&env)) },
            "param {index} created a server"
        );
    }
    assert_eq!(evtchn::live_evtchns(), 0);
    assert_eq!(
        // SAFETY: a live domain.
        unsafe { hvm_ioreq_get_param(dp(&env), HVM_PARAM_IOREQ_PFN) },
        0
    );
    // SAFETY: a live domain.
    assert!(unsafe { hvm_has_dm(dp(&env)) });
    teardown(env);
}

/// B9 (`60a56dc006`, 4.14's `hvm_mmio_first_byte/last_byte`): the series matched a `rep movs`
/// with DF=1 on `[addr, addr + size*count - 1]`, above the bytes it touches. Here DF=1 checks
/// `[addr - (count-1)*size, addr + size - 1]`, and wrapping arithmetic matches nothing.
#[test]
fn b9_mmio_selection_honours_df() {
    let env = setup(1);
    HostDomain::set_current_vcpu(Some(env.vcpus[0]));
    let (_id, page) = port_server(&env);
    // MMIO 0x1000-0x1fff: 4 elements of 4 bytes at the top, ascending, run past the end.
    assert_eq!(c_send(&mut mmio(0x1ffc, 4, 4, false)), HVM_IOREQ_NO_SERVER);
    // Descending from the bottom runs below the start.
    assert_eq!(c_send(&mut mmio(0x1004, 4, 4, true)), HVM_IOREQ_NO_SERVER);
    // Descending below 0, and a size*count that overflows.
    assert_eq!(c_send(&mut mmio(0x4, 4, 4, true)), HVM_IOREQ_NO_SERVER);
    assert_eq!(
        c_send(&mut mmio(0x1000, 0x8000_0000, 0x8000_0000, false)),
        HVM_IOREQ_NO_SERVER
    );
    // Descending from the top stays inside.
    assert_eq!(c_send(&mut mmio(0x1ffc, 4, 4, true)), X86EMUL_RETRY);
    drop(page);
    HostDomain::set_current_vcpu(None);
    teardown(env);
}

/// B10 (rangeset): the series' `rangeset_report_ranges` reported nothing when `s`
/// was below the first range (fixed `b1c780cd31`: FIDELITY R3), and `rangeset_remove_range`
/// grows the range below `s` or wraps at ~0UL (still in Xen 4.17; the port removes correctly:
/// FIDELITY R1, R2).
#[test]
fn b10_report_from_below_the_first_range_and_remove_does_not_grow() {
    unsafe extern "C" fn collect(s: c_ulong, e: c_ulong, ctxt: *mut c_void) -> i32 {
        // SAFETY: ctxt is the Vec below, live for the walk.
        unsafe { &mut *ctxt.cast::<Vec<(u64, u64)>>() }.push((s, e));
        0
    }
    // SAFETY: (the whole block) one free-standing set, live until destroyed at the end; the
    // callback's context is a live Vec.
    unsafe {
        let r = rs::rangeset_new(null_mut(), c"b10".as_ptr(), 1);
        let all = |r: *mut rs::rangeset, s: u64, e: u64| {
            let mut v: Vec<(u64, u64)> = Vec::new();
            let rc =
                rs::rangeset_report_ranges(r, s, e, Some(collect), (&mut v as *mut Vec<_>).cast());
            assert_eq!(rc, 0);
            v
        };
        assert_eq!(rs::rangeset_add_range(r, 0x13, 0x1f), 0);
        assert_eq!(rs::rangeset_add_range(r, 0x30, 0x40), 0);
        assert_eq!(all(r, 0, 0xffff), [(0x13, 0x1f), (0x30, 0x40)]);
        assert_eq!(all(r, 0x14, 0x35), [(0x14, 0x1f), (0x30, 0x35)]);
        rs::rangeset_destroy(r);

        let r = rs::rangeset_new(null_mut(), c"b10".as_ptr(), 1);
        assert_eq!(rs::rangeset_add_range(r, 0, 1), 0);
        assert_eq!(rs::rangeset_add_range(r, 4, 5), 0);
        assert_eq!(rs::rangeset_remove_range(r, 3, 4), 0);
        assert_eq!(
            all(r, 0, u64::MAX),
            [(0, 1), (5, 5)],
            "R1: 0-1 did not grow to 0-2"
        );
        assert!(!bool::from(rs::rangeset_contains_singleton(r, 2)));
        assert_eq!(rs::rangeset_add_range(r, 8, 10), 0);
        assert_eq!(rs::rangeset_remove_range(r, 3, u64::MAX), 0);
        assert_eq!(all(r, 0, u64::MAX), [(0, 1)], "R2: no wrap to a range at 0");
        rs::rangeset_destroy(r);
    }
}
