//! The guest I/O path against a test "emulator" on the same shared pages: synchronous requests
//! and their completion, the buffered ring (8-byte two-slot case, full ring, 2^32 wrap),
//! broadcast, and an adversarial emulator (bad states, bad ports, wild ring pointers): never a
//! panic; the domain is crashed or the request refused.

mod ioreq_common;
use ioreq_common::*;

use std::mem::offset_of;

use xen_ioreq_rs::ioreq::abi::*;
use xen_ioreq_rs::ioreq::{self, IoCompletion, IoreqSlot};
use xen_ioreq_rs::platform::host::alloc::CountingAllocator;
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::memory::EmulatorPage;
use xen_ioreq_rs::platform::host::{evtchn, HostPlatform as H};
use xen_ioreq_rs::platform::VcpuRef;

#[global_allocator]
static A: CountingAllocator = CountingAllocator;

/// A secondary server on ports 0x100-0x1ff, enabled, with the emulator's views of its pages.
struct Emu {
    id: u16,
    io: EmulatorPage,
    buf: EmulatorPage,
}

fn emulator(env: &Env) -> Emu {
    let id = create(true).unwrap();
    let info = get_info(id).unwrap();
    let io = EmulatorPage::map(env.d, info.ioreq_pfn).unwrap();
    let buf = EmulatorPage::map(env.d, info.bufioreq_pfn).unwrap();
    assert_eq!(map(id, HVMOP_IO_RANGE_PORT, 0x100, 0x1ff), 0);
    assert_eq!(map(id, HVMOP_IO_RANGE_MEMORY, 0xa0000, 0xbffff), 0);
    assert_eq!(set_state(id, true), 0);
    Emu { id, io, buf }
}

fn slot(e: &Emu, vcpu: u32) -> IoreqSlot {
    let mut b = [0u8; 32];
    for (i, c) in b.chunks_mut(8).enumerate() {
        c.copy_from_slice(&e.io.read_u64(vcpu as usize * 32 + i * 8).to_le_bytes());
    }
    IoreqSlot::read_from_bytes(&b).unwrap()
}

fn set_slot_state(e: &Emu, vcpu: u32, s: u8) {
    let off = vcpu as usize * 32 + offset_of!(IoreqSlot, flags);
    let f = e.io.read_u8(off);
    e.io.write_u8(off, (f & !0x0f) | s);
}

fn port_of(env: &Env, id: u16, vcpu: u32) -> u32 {
    ioreq::snapshot::<H>(env.d)
        .servers
        .iter()
        .find(|s| s.id == id)
        .and_then(|s| s.vcpu_ports.iter().find(|(v, _)| *v == vcpu).map(|x| x.1))
        .unwrap()
}

fn v(env: &Env, i: usize) -> VcpuRef {
    env.vcpus[i]
}

#[test]
fn synchronous_request_and_completion() {
    let env = setup(2);
    let e = emulator(&env);
    let port = port_of(&env, e.id, 1);
    let mut p = pio(0x104, 2, IOREQ_READ);
    assert!(!ioreq::io_pending::<H>(env.d, v(&env, 1)));
    assert!(ioreq::send_assist_req::<H>(env.d, v(&env, 1), &mut p));
    // The slot holds the request, READY, with our port; the emulator was notified.
    let s = slot(&e, 1);
    assert_eq!(
        (s.addr, s.size, s.count, s.type_, s.dir()),
        (0x104, 2, 1, IOREQ_TYPE_PIO, IOREQ_READ)
    );
    assert_eq!((s.state(), s.vp_eport), (STATE_IOREQ_READY, port));
    assert_eq!(evtchn::notifications(env.d, port), 1);
    assert_eq!(evtchn::prepared_waits(), 1);
    assert_eq!(
        slot(&e, 0).state(),
        STATE_IOREQ_NONE,
        "other vCPUs' slots untouched"
    );
    assert!(ioreq::io_pending::<H>(env.d, v(&env, 1)));
    assert_eq!(
        ioreq::complete_io::<H>(env.d, v(&env, 1)),
        IoCompletion::Wait { port }
    );
    // The emulator takes it, answers.
    set_slot_state(&e, 1, STATE_IOREQ_INPROCESS);
    assert_eq!(
        ioreq::complete_io::<H>(env.d, v(&env, 1)),
        IoCompletion::Wait { port }
    );
    e.io.write_u64(32 + 8, 0xbeef);
    set_slot_state(&e, 1, STATE_IORESP_READY);
    match ioreq::complete_io::<H>(env.d, v(&env, 1)) {
        IoCompletion::Completed(r) => {
            assert_eq!((r.data, r.state()), (0xbeef, STATE_IOREQ_NONE));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(slot(&e, 1).state(), STATE_IOREQ_NONE);
    assert!(!ioreq::io_pending::<H>(env.d, v(&env, 1)));
    assert_eq!(
        ioreq::complete_io::<H>(env.d, v(&env, 1)),
        IoCompletion::Idle
    );
    // Unmatched I/O with no default server is nobody's.
    let mut q = pio(0x300, 1, IOREQ_READ);
    assert!(!ioreq::send_assist_req::<H>(env.d, v(&env, 0), &mut q));
    // A domain shutting down sends nothing.
    HostDomain::with(env.d, |h| h.shutting_down = true);
    let mut p = pio(0x104, 2, IOREQ_WRITE);
    assert!(!ioreq::send_assist_req::<H>(env.d, v(&env, 0), &mut p));
    HostDomain::with(env.d, |h| h.shutting_down = false);
    assert_eq!(crashes(env.d), 0);
    drop(e);
    teardown(env);
}

#[test]
fn broadcast_reaches_every_enabled_server() {
    let env = setup(1);
    get_param(env.d, HVM_PARAM_IOREQ_PFN).unwrap();
    let e = emulator(&env);
    let off = create(false).unwrap(); // disabled: skipped (I7)
    let def = EmulatorPage::map(env.d, IOREQ_PFN).unwrap();
    let p = IoreqSlot {
        type_: IOREQ_TYPE_INVALIDATE,
        size: 4,
        count: 1,
        data: !0,
        ..Default::default()
    };
    ioreq::broadcast_assist_req::<H>(env.d, v(&env, 0), &p);
    assert_eq!(slot(&e, 0).state(), STATE_IOREQ_READY);
    assert_eq!(slot(&e, 0).type_, IOREQ_TYPE_INVALIDATE);
    assert_eq!(
        def.read_u8(offset_of!(IoreqSlot, flags)) & 0xf,
        STATE_IOREQ_READY
    );
    assert_eq!(
        def.read_u8(offset_of!(IoreqSlot, type_)),
        IOREQ_TYPE_INVALIDATE
    );
    let info = get_info(off).unwrap();
    let offp = EmulatorPage::map(env.d, info.ioreq_pfn).unwrap();
    assert!(offp.is_zero());
    assert_eq!(crashes(env.d), 0);
    drop((e, def, offp));
    teardown(env);
}

fn ring_slot(e: &Emu, i: u32) -> BufIoreqSlot {
    BufIoreqSlot::from_u64(
        e.buf
            .read_u64(offset_of!(BufferedIopage, buf_ioreq) + (i % 511) as usize * 8),
    )
}

#[test]
fn buffered_ring_one_and_two_slot_writes() {
    let env = setup(1);
    let e = emulator(&env);
    let bport = get_info(e.id).unwrap().bufioreq_port;
    let mut w = mmio(0xa0010, 4, 1, false);
    w.data = 0x1122_3344;
    assert!(ioreq::buffered_io_send::<H>(env.d, &mut w));
    assert_eq!(e.buf.read_u32(offset_of!(BufferedIopage, write_pointer)), 1);
    let s = ring_slot(&e, 0);
    assert_eq!(
        (s.type_(), s.size_code(), s.addr(), s.data),
        (IOREQ_TYPE_COPY, 2, 0xa0010, 0x1122_3344)
    );
    assert_eq!(evtchn::notifications(env.d, bport), 1);
    // 8 bytes: two slots, the second with the high half.
    let mut q = mmio(0xa0020, 8, 1, false);
    q.data = 0xaaaa_bbbb_cccc_dddd;
    assert!(ioreq::buffered_io_send::<H>(env.d, &mut q));
    assert_eq!(e.buf.read_u32(offset_of!(BufferedIopage, write_pointer)), 3);
    assert_eq!(
        (ring_slot(&e, 1).size_code(), ring_slot(&e, 1).data),
        (3, 0xcccc_dddd)
    );
    assert_eq!(ring_slot(&e, 2).data, 0xaaaa_bbbb);
    // Unsuitable requests are not buffered.
    for mut bad in [
        mmio(0x10_0000, 4, 1, false), // address beyond 20 bits
        mmio(0xa0000, 4, 2, false),   // count != 1
        mmio(0xa0000, 3, 1, false),   // size
    ] {
        assert!(!ioreq::buffered_io_send::<H>(env.d, &mut bad));
    }
    let mut ptr = mmio(0xa0000, 4, 1, false);
    ptr.set_data_is_ptr(true);
    assert!(!ioreq::buffered_io_send::<H>(env.d, &mut ptr));
    // A server without a ring: not buffered.
    let id2 = create(false).unwrap();
    assert_eq!(map(id2, HVMOP_IO_RANGE_MEMORY, 0xc0000, 0xc0fff), 0);
    assert_eq!(set_state(id2, true), 0);
    assert!(!ioreq::buffered_io_send::<H>(
        env.d,
        &mut mmio(0xc0000, 4, 1, false)
    ));
    assert_eq!(e.buf.read_u32(offset_of!(BufferedIopage, write_pointer)), 3);
    drop(e);
    teardown(env);
}

#[test]
fn buffered_ring_full_and_pointer_wrap() {
    let env = setup(1);
    let e = emulator(&env);
    // Full: 510 of 511 slots used leaves room for one single-slot write, none for a two-slot one.
    e.buf
        .write_u32(offset_of!(BufferedIopage, read_pointer), 1000);
    e.buf
        .write_u32(offset_of!(BufferedIopage, write_pointer), 1000 + 510);
    assert!(!ioreq::buffered_io_send::<H>(
        env.d,
        &mut mmio(0xa0000, 8, 1, false)
    ));
    assert!(ioreq::buffered_io_send::<H>(
        env.d,
        &mut mmio(0xa0000, 4, 1, false)
    ));
    assert!(!ioreq::buffered_io_send::<H>(
        env.d,
        &mut mmio(0xa0000, 4, 1, false)
    ));
    assert_eq!(
        e.buf.read_u32(offset_of!(BufferedIopage, write_pointer)),
        1511
    );

    // Near 2^32: slots below the wrap are used as usual ...
    let near = u32::MAX - 1;
    e.buf
        .write_u32(offset_of!(BufferedIopage, read_pointer), near - 5);
    e.buf
        .write_u32(offset_of!(BufferedIopage, write_pointer), near);
    assert!(ioreq::buffered_io_send::<H>(
        env.d,
        &mut mmio(0xa0000, 4, 1, false)
    ));
    assert!(ioreq::buffered_io_send::<H>(
        env.d,
        &mut mmio(0xa0000, 4, 1, false)
    ));
    assert_eq!(
        e.buf.read_u32(offset_of!(BufferedIopage, write_pointer)),
        0,
        "the pointer wrapped"
    );
    // ... but nothing is written past the wrap while entries before it are unread (I8).
    assert!(!ioreq::buffered_io_send::<H>(
        env.d,
        &mut mmio(0xa0000, 4, 1, false)
    ));
    // A two-slot write straddling the wrap is allowed on an empty ring only.
    e.buf
        .write_u32(offset_of!(BufferedIopage, read_pointer), u32::MAX - 1);
    e.buf
        .write_u32(offset_of!(BufferedIopage, write_pointer), u32::MAX);
    assert!(!ioreq::buffered_io_send::<H>(
        env.d,
        &mut mmio(0xa0000, 8, 1, false)
    ));
    e.buf
        .write_u32(offset_of!(BufferedIopage, read_pointer), u32::MAX);
    let mut q = mmio(0xa0008, 8, 1, false);
    q.data = 0x1_0000_0002;
    assert!(ioreq::buffered_io_send::<H>(env.d, &mut q));
    assert_eq!(e.buf.read_u32(offset_of!(BufferedIopage, write_pointer)), 1);
    assert_eq!(ring_slot(&e, u32::MAX).data, 2);
    assert_eq!(
        ring_slot(&e, 0).data,
        1,
        "the second slot is at (u32::MAX + 1) % 511 = 0"
    );
    // While the reader is still before the wrap, nothing more is queued; after it, normal again.
    assert!(!ioreq::buffered_io_send::<H>(
        env.d,
        &mut mmio(0xa0000, 4, 1, false)
    ));
    e.buf.write_u32(offset_of!(BufferedIopage, read_pointer), 1);
    assert!(ioreq::buffered_io_send::<H>(
        env.d,
        &mut mmio(0xa0000, 4, 1, false)
    ));
    assert_eq!(e.buf.read_u32(offset_of!(BufferedIopage, write_pointer)), 2);
    drop(e);
    teardown(env);
}

#[test]
fn adversarial_emulator_crashes_the_domain_never_xen() {
    let env = setup(2);
    let e = emulator(&env);
    let port = port_of(&env, e.id, 0);
    // A slot left non-NONE: the next send crashes the domain and sends nothing.
    set_slot_state(&e, 0, STATE_IOREQ_INPROCESS);
    let n = evtchn::notifications(env.d, port);
    assert!(!ioreq::send_assist_req::<H>(
        env.d,
        v(&env, 0),
        &mut pio(0x100, 1, 0)
    ));
    assert_eq!(crashes(env.d), 1);
    assert_eq!(evtchn::notifications(env.d, port), n);
    set_slot_state(&e, 0, STATE_IOREQ_NONE);
    // B4: the emulator rewrote vp_eport: crash, and never use its port.
    e.io.write_u32(offset_of!(IoreqSlot, vp_eport), port + 100);
    assert!(!ioreq::send_assist_req::<H>(
        env.d,
        v(&env, 0),
        &mut pio(0x100, 1, 0)
    ));
    assert_eq!(crashes(env.d), 2);
    e.io.write_u32(offset_of!(IoreqSlot, vp_eport), port);
    // A request in flight whose port the emulator rewrites: we still wait on ours.
    assert!(ioreq::send_assist_req::<H>(
        env.d,
        v(&env, 0),
        &mut pio(0x100, 1, 0)
    ));
    e.io.write_u32(offset_of!(IoreqSlot, vp_eport), 0xffff);
    assert_eq!(
        ioreq::complete_io::<H>(env.d, v(&env, 0)),
        IoCompletion::Wait { port }
    );
    // Every invalid state crashes the domain on completion; driving it backwards is harmless.
    for bad in 4..16u8 {
        set_slot_state(&e, 0, bad);
        assert_eq!(
            ioreq::complete_io::<H>(env.d, v(&env, 0)),
            IoCompletion::Crashed
        );
    }
    assert_eq!(crashes(env.d), 2 + 12);
    set_slot_state(&e, 0, STATE_IOREQ_READY);
    assert_eq!(
        ioreq::complete_io::<H>(env.d, v(&env, 0)),
        IoCompletion::Wait { port }
    );
    set_slot_state(&e, 0, STATE_IOREQ_NONE);
    assert_eq!(
        ioreq::complete_io::<H>(env.d, v(&env, 0)),
        IoCompletion::Idle
    );
    // Wild ring pointers: refused or written in bounds, never out of the page.
    for (rp, wp) in [
        (0u32, u32::MAX),
        (u32::MAX, 0),
        (5, 3),
        (0, 511),
        (0x8000_0000, 7),
        (3, 3),
    ] {
        e.buf
            .write_u32(offset_of!(BufferedIopage, read_pointer), rp);
        e.buf
            .write_u32(offset_of!(BufferedIopage, write_pointer), wp);
        let ok = ioreq::buffered_io_send::<H>(env.d, &mut mmio(0xa0000, 8, 1, false));
        let used = wp.wrapping_sub(rp);
        if ok {
            assert!(used < 510, "({rp}, {wp}) accepted with {used} used");
            assert!(wp >= rp, "never across the wrap with entries outstanding");
            assert_eq!(
                e.buf.read_u32(offset_of!(BufferedIopage, write_pointer)),
                wp.wrapping_add(2)
            );
        } else {
            assert_eq!(
                e.buf.read_u32(offset_of!(BufferedIopage, write_pointer)),
                wp
            );
        }
    }
    // The guest's own vCPU 1 slot garbage does not affect vCPU 0.
    set_slot_state(&e, 1, 9);
    assert!(ioreq::io_pending::<H>(env.d, v(&env, 1)));
    assert!(!ioreq::io_pending::<H>(env.d, v(&env, 0)));
    drop(e);
    teardown(env);
}

#[test]
fn vcpus_beyond_the_shared_page_have_no_slot() {
    let env = setup(1);
    let e = emulator(&env);
    let big = HostDomain::add_vcpu(env.d, 200);
    assert_eq!(ioreq::add_vcpu_all::<H>(env.d, big), Ok(()));
    assert!(!ioreq::send_assist_req::<H>(
        env.d,
        big,
        &mut pio(0x100, 1, 0)
    ));
    assert!(!ioreq::io_pending::<H>(env.d, big));
    assert_eq!(ioreq::complete_io::<H>(env.d, big), IoCompletion::Idle);
    ioreq::remove_vcpu_all::<H>(env.d, big);
    HostDomain::remove_vcpu(big);
    drop(e);
    teardown(env);
}
