//! The registry behind Xen 4.17's entry points (FIDELITY X6), on the host platform with a 4.17
//! registry: the DMOPs as `dm.c` hands them over (`ioreq::dmop::dm_op` on the union's bytes),
//! acquire_resource's frames, selection and send in one call, broadcast, completion, and the
//! series' HVMOPs on the same registry.

mod ioreq_common;

use ioreq_common::*;
use xen_ioreq_rs::errno::Errno;
use xen_ioreq_rs::ioreq::abi::*;
use xen_ioreq_rs::ioreq::{
    self, dmop, Authority, IoCompletion, IoreqSlot, Route, Routed, Sent, FRAME_BUFIOREQ,
    FRAME_IOREQ,
};
use xen_ioreq_rs::platform::domain::RegistryKind;
use xen_ioreq_rs::platform::host::domain::{set_registry_kind, HostDomain};
use xen_ioreq_rs::platform::host::memory::{self, emulator_map_frame, EmulatorPage};
use xen_ioreq_rs::platform::host::HostPlatform as H;
use xen_ioreq_rs::platform::Domains;

/// A guest as `setup` makes it, with a 4.17 registry.
fn setup417(nvcpus: u32) -> Env {
    set_registry_kind(RegistryKind::Xen417);
    let env = setup(nvcpus);
    set_registry_kind(RegistryKind::Series);
    env
}

/// One DMOP as dm.c passes it: rc, const_op, the union's bytes afterwards.
fn dm(env: &Env, op: u32, arg: &[u8]) -> (i32, bool, Vec<u8>) {
    let mut buf = arg.to_vec();
    buf.resize(64, 0);
    let caller = H::domain_id(H::current_domain());
    let (rc, c) = dmop::dm_op::<H>(env.d, caller, op, &mut buf);
    (rc.map_or_else(|e| e.to_neg(), |()| 0), c, buf)
}

fn dm_create(env: &Env, handling: u8) -> Result<u16, i32> {
    let (rc, c, b) = dm(
        env,
        XEN_DMOP_CREATE_IOREQ_SERVER,
        &[handling, 0, 0, 0, 0, 0],
    );
    assert!(!c, "create writes its id back");
    if rc == 0 {
        Ok(u16::from_le_bytes([b[4], b[5]]))
    } else {
        Err(rc)
    }
}

fn dm_range(env: &Env, op: u32, id: u16, ty: u32, s: u64, e: u64) -> i32 {
    let mut a = Vec::new();
    a.extend_from_slice(&id.to_le_bytes());
    a.extend_from_slice(&0u16.to_le_bytes());
    a.extend_from_slice(&ty.to_le_bytes());
    a.extend_from_slice(&s.to_le_bytes());
    a.extend_from_slice(&e.to_le_bytes());
    dm(env, op, &a).0
}

fn dm_state(env: &Env, id: u16, enabled: u8, pad: u8) -> i32 {
    let [a, b] = id.to_le_bytes();
    dm(env, XEN_DMOP_SET_IOREQ_SERVER_STATE, &[a, b, enabled, pad]).0
}

fn dm_destroy(env: &Env, id: u16) -> i32 {
    let [a, b] = id.to_le_bytes();
    dm(env, XEN_DMOP_DESTROY_IOREQ_SERVER, &[a, b, 0, 0]).0
}

/// get_info: rc, bufioreq_port, ioreq_gfn, bufioreq_gfn (the latter three as written back over
/// a sentinel).
fn dm_info(env: &Env, id: u16, flags: u16) -> (i32, u32, u64, u64) {
    let mut a = Vec::new();
    a.extend_from_slice(&id.to_le_bytes());
    a.extend_from_slice(&flags.to_le_bytes());
    a.extend_from_slice(&0xdead_u32.to_le_bytes());
    a.extend_from_slice(&0x5555_u64.to_le_bytes());
    a.extend_from_slice(&0x6666_u64.to_le_bytes());
    let (rc, c, b) = dm(env, XEN_DMOP_GET_IOREQ_SERVER_INFO, &a);
    assert!(!c);
    (
        rc,
        u32::from_le_bytes(b[4..8].try_into().unwrap()),
        u64::from_le_bytes(b[8..16].try_into().unwrap()),
        u64::from_le_bytes(b[16..24].try_into().unwrap()),
    )
}

#[test]
fn dmop_create_handling_pads_and_slot_ids() {
    let env = setup417(2);
    assert_eq!(dm_create(&env, 3), Err(-22));
    let (rc, _, _) = dm(&env, XEN_DMOP_CREATE_IOREQ_SERVER, &[0, 1, 0, 0, 0, 0]);
    assert_eq!(rc, -22, "a non-zero pad is refused");
    // Ids are the lowest free of eight slots; a ninth is -ENOSPC.
    let ids: Vec<u16> = (0..8)
        .map(|k| dm_create(&env, (k % 3) as u8).unwrap())
        .collect();
    assert_eq!(ids, (0..8).collect::<Vec<_>>());
    assert_eq!(dm_create(&env, 0), Err(-28));
    assert_eq!(dm_destroy(&env, 3), 0);
    assert_eq!(dm_create(&env, 1), Ok(3));
    // Unknown DMOPs are not ours.
    assert_eq!(dm(&env, 7, &[]).0, -95);
    for id in 0..8 {
        assert_eq!(dm_destroy(&env, id), 0);
    }
    assert_eq!(dm_destroy(&env, 0), -2);
    teardown(env);
}

#[test]
fn dmop_pages_on_demand_as_gfns_or_frames() {
    let env = setup417(2);
    let a = dm_create(&env, HVM_IOREQSRV_BUFIOREQ_ATOMIC).unwrap();
    // Without gfns: only the ring's port is reported; nothing is mapped.
    let (rc, port, g1, g2) = dm_info(&env, a, XEN_DMOP_NO_GFNS);
    assert_eq!((rc, g1, g2), (0, 0x5555, 0x6666));
    assert_ne!(port, 0xdead);
    assert_eq!(memory::mapped_pages(), 0);
    assert_eq!(dm_info(&env, a, 2).0, -22, "unknown flags");
    // Frames of their own: the ring is frame 0, the ioreq page frame 1.
    let ring = ioreq::get_frame::<H>(env.d, a, FRAME_BUFIOREQ, Authority::Emulator(DM)).unwrap();
    let page = ioreq::get_frame::<H>(env.d, a, FRAME_IOREQ, Authority::Emulator(DM)).unwrap();
    assert_ne!(ring, page);
    assert_eq!(memory::allocated_server_pages(), 2);
    assert!(ioreq::is_server_page::<H>(env.d, page));
    assert_eq!(
        ioreq::get_frame::<H>(env.d, a, 2, Authority::Emulator(DM)),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        ioreq::get_frame::<H>(env.d, a, FRAME_IOREQ, Authority::Emulator(7)),
        Err(Errno::EPERM)
    );
    // Guest frames are refused once the pages are frames.
    assert_eq!(dm_info(&env, a, 0).0, -1);

    // Another server takes guest frames from the pool at get_info, lowest first.
    let b = dm_create(&env, 1).unwrap();
    let (rc, port_b, gfn, bgfn) = dm_info(&env, b, 0);
    assert_eq!((rc, gfn, bgfn), (0, POOL_BASE, POOL_BASE + 1));
    assert_ne!(port_b, port);
    assert_eq!(
        ioreq::get_frame::<H>(env.d, b, FRAME_IOREQ, Authority::Emulator(DM)),
        Err(Errno::EPERM)
    );
    // A server without a ring has no frame 0 and reports no ring.
    let c = dm_create(&env, 0).unwrap();
    assert_eq!(
        ioreq::get_frame::<H>(env.d, c, FRAME_BUFIOREQ, Authority::Emulator(DM)),
        Err(Errno::ENOENT)
    );
    // (As in 4.17, that allocated its ioreq page as a frame before looking at the index.)
    assert_eq!(dm_info(&env, c, 0).0, -1);
    assert_eq!(
        dm_info(&env, c, XEN_DMOP_NO_GFNS),
        (0, 0xdead, 0x5555, 0x6666)
    );
    // Destroying frees the frames and gives the gfns back.
    assert_eq!(dm_destroy(&env, a), 0);
    assert_eq!(memory::allocated_server_pages(), 1, "c's frame stays");
    assert!(!ioreq::is_server_page::<H>(env.d, page));
    assert_eq!(dm_destroy(&env, b), 0);
    let d2 = dm_create(&env, 1).unwrap();
    assert_eq!(dm_info(&env, d2, 0).2, POOL_BASE);
    assert_eq!(memory::allocated_server_pages(), 1, "c's frame");
    teardown(env);
}

#[test]
fn only_the_emulator_operates_on_its_server() {
    let env = setup417(1);
    let id = dm_create(&env, 0).unwrap();
    let other = HostDomain::create(7);
    HostDomain::with(other, |h| h.is_privileged = true);
    HostDomain::set_current(other);
    assert_eq!(
        dm_range(&env, XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER, id, 0, 1, 2),
        -1
    );
    assert_eq!(dm_state(&env, id, 1, 0), -1);
    assert_eq!(dm_destroy(&env, id), -1);
    assert_eq!(dm_info(&env, id, 1).0, -1);
    // The series' HVMOPs only need device-model privilege (I102), on the same server.
    assert_eq!(map(id, 0, 0x100, 0x107), 0);
    HostDomain::set_current(env.dm);
    // XSA-238: an inverted range is -EINVAL before anything else; pads must be zero.
    assert_eq!(
        dm_range(&env, XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER, 9, 0, 2, 1),
        -22
    );
    assert_eq!(
        dm_range(
            &env,
            XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER,
            id,
            0,
            0x100,
            0x100
        ),
        -17
    );
    assert_eq!(
        dm_range(
            &env,
            XEN_DMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER,
            id,
            0,
            0x100,
            0x107
        ),
        0
    );
    assert_eq!(
        dm_range(
            &env,
            XEN_DMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER,
            id,
            0,
            0x100,
            0x107
        ),
        -2
    );
    assert_eq!(dm_state(&env, id, 1, 1), -22);
    assert_eq!(dm_state(&env, id, 1, 0), 0);
    HostDomain::destroy(other);
    teardown(env);
}

#[test]
fn hvmops_and_dmops_share_ids_and_the_pool() {
    let env = setup417(1);
    let a = dm_create(&env, 1).unwrap();
    // The series' create maps its pages at once, from the same pool, with the next slot id.
    let b = create(true).unwrap();
    assert_eq!((a, b), (0, 1));
    let info = get_info(b).unwrap();
    assert_eq!(
        (info.ioreq_pfn, info.bufioreq_pfn),
        (POOL_BASE, POOL_BASE + 1)
    );
    assert_eq!(dm_info(&env, a, 0).2, POOL_BASE + 2);
    // A DMOP by the creator reaches the HVMOP's server.
    assert_eq!(dm_destroy(&env, b), 0);
    assert_eq!(destroy(a), 0);
    teardown(env);
}

#[test]
fn legacy_frames_after_the_pool() {
    let env = setup417(1);
    // Params 5 and 6 set by the builder mark their frames as legacy pool frames.
    for (i, v) in [
        (HVM_PARAM_IOREQ_PFN, IOREQ_PFN),
        (HVM_PARAM_BUFIOREQ_PFN, BUFIOREQ_PFN),
    ] {
        ioreq::pool_set_param::<H>(env.d, i, v).unwrap();
    }
    let ids: Vec<u16> = (0..4).map(|_| dm_create(&env, 1).unwrap()).collect();
    for &id in &ids {
        assert_eq!(dm_info(&env, id, 0).0, 0);
    }
    // The pool is exhausted; 4.17 hands out a legacy frame only on the second try (its bits
    // start set and the first try clears them).
    let e = dm_create(&env, 0).unwrap();
    assert_eq!(dm_info(&env, e, 0).0, -12);
    let (rc, _, gfn, _) = dm_info(&env, e, 0);
    assert_eq!((rc, gfn), (0, IOREQ_PFN));
    teardown(env);
}

fn emulator_answer(page: &EmulatorPage, vcpu: u32, data: u64) {
    let off = vcpu as usize * 32;
    page.write_u64(off + 8, data);
    let f = page.read_u8(off + 30);
    page.write_u8(off + 30, (f & !0x0f) | STATE_IORESP_READY);
}

#[test]
fn select_and_send_then_complete_through_frames() {
    let env = setup417(2);
    let id = dm_create(&env, 1).unwrap();
    let pg = ioreq::get_frame::<H>(env.d, id, FRAME_IOREQ, Authority::Emulator(DM)).unwrap();
    let emu = emulator_map_frame(pg).unwrap();
    assert_eq!(
        dm_range(
            &env,
            XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER,
            id,
            0,
            0x100,
            0x107
        ),
        0
    );
    let v = env.vcpus[1];
    HostDomain::set_current_vcpu(Some(v));
    let mut p = pio(0x104, 2, IOREQ_READ);
    // Disabled: nobody takes it.
    assert_eq!(
        ioreq::select_and_send::<H>(env.d, v, &mut p, Route::ByRange),
        Routed::NoServer
    );
    assert_eq!(dm_state(&env, id, 1, 0), 0);
    assert_eq!(
        ioreq::select_and_send::<H>(env.d, v, &mut p, Route::ByRange),
        Routed::Sent(Sent::Posted)
    );
    assert!(ioreq::io_pending::<H>(env.d, v) && ioreq::waiting::<H>(env.d, v));
    assert!(matches!(
        ioreq::complete_io::<H>(env.d, v),
        IoCompletion::Wait { .. }
    ));
    emulator_answer(&emu, 1, 0xbeef);
    assert!(!ioreq::waiting::<H>(env.d, v));
    match ioreq::complete_io::<H>(env.d, v) {
        IoCompletion::Completed(r) => assert_eq!(r.data, 0xbeef),
        other => panic!("{other:?}"),
    }
    assert!(!ioreq::io_pending::<H>(env.d, v));
    // A shutting-down domain defers the send.
    HostDomain::with(env.d, |h| h.shutting_down = true);
    assert_eq!(
        ioreq::select_and_send::<H>(env.d, v, &mut pio(0x104, 2, IOREQ_READ), Route::ByRange),
        Routed::Sent(Sent::Deferred)
    );
    HostDomain::with(env.d, |h| h.shutting_down = false);
    drop(emu);
    teardown(env);
}

#[test]
fn a_vcpu_waiting_on_a_destroyed_server_is_released() {
    let env = setup417(1);
    let id = dm_create(&env, 0).unwrap();
    assert_eq!(dm_info(&env, id, 0).0, 0);
    assert_eq!(
        dm_range(
            &env,
            XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER,
            id,
            1,
            0x1000,
            0x1fff
        ),
        0
    );
    assert_eq!(dm_state(&env, id, 1, 0), 0);
    let v = env.vcpus[0];
    HostDomain::set_current_vcpu(Some(v));
    let mut p = mmio(0x1000, 4, 1, false);
    assert_eq!(
        ioreq::select_and_send::<H>(env.d, v, &mut p, Route::ByRange),
        Routed::Sent(Sent::Posted)
    );
    assert_eq!(HostDomain::with(env.d, |h| h.vcpu_unblocks), 0);
    assert_eq!(dm_destroy(&env, id), 0);
    // Woken, and nothing is pending: its completion finds nothing to wait for.
    assert_eq!(HostDomain::with(env.d, |h| h.vcpu_unblocks), 1);
    assert!(!ioreq::io_pending::<H>(env.d, v));
    assert_eq!(ioreq::complete_io::<H>(env.d, v), IoCompletion::Idle);
    teardown(env);
}

#[test]
fn broadcast_counts_failures_and_buffered_goes_to_rings() {
    let env = setup417(1);
    let with_ring = dm_create(&env, 1).unwrap();
    let without = dm_create(&env, 0).unwrap();
    for id in [with_ring, without] {
        assert_eq!(dm_info(&env, id, 0).0, 0);
        assert_eq!(dm_state(&env, id, 1, 0), 0);
    }
    let v = env.vcpus[0];
    HostDomain::set_current_vcpu(Some(v));
    let mut p = IoreqSlot {
        type_: IOREQ_TYPE_TIMEOFFSET,
        size: 8,
        count: 1,
        data: 0x1234_5678_9abc,
        ..Default::default()
    };
    p.set_dir(IOREQ_WRITE);
    // Buffered: only the server with a ring, which takes it (two slots).
    assert_eq!(ioreq::broadcast::<H>(env.d, v, &p, true), 0);
    let (_, _, _, ring) = dm_info(&env, with_ring, 0);
    let rp = EmulatorPage::map_any(env.d, ring).unwrap();
    assert_eq!(rp.read_u32(4), 2);
    // Synchronous: both take it.
    let mut inv = IoreqSlot {
        type_: IOREQ_TYPE_INVALIDATE,
        size: 4,
        data: u64::MAX,
        ..Default::default()
    };
    inv.set_dir(IOREQ_WRITE);
    assert_eq!(ioreq::broadcast::<H>(env.d, v, &inv, false), 0);
    // The slots are busy now: another broadcast fails on both (and crashes the domain, as the
    // emulators left them so).
    assert_eq!(ioreq::broadcast::<H>(env.d, v, &inv, false), 2);
    teardown(env);
}

#[test]
fn atomic_rings_are_rebased() {
    let env = setup417(1);
    let id = dm_create(&env, HVM_IOREQSRV_BUFIOREQ_ATOMIC).unwrap();
    let ring = ioreq::get_frame::<H>(env.d, id, FRAME_BUFIOREQ, Authority::Emulator(DM)).unwrap();
    let emu = emulator_map_frame(ring).unwrap();
    assert_eq!(
        dm_range(
            &env,
            XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER,
            id,
            0,
            0x3c0,
            0x3df
        ),
        0
    );
    assert_eq!(dm_state(&env, id, 1, 0), 0);
    // The emulator has consumed 600 entries.
    emu.write_u32(0, 600);
    emu.write_u32(4, 600);
    let v = env.vcpus[0];
    HostDomain::set_current_vcpu(Some(v));
    let mut p = pio(0x3c4, 1, IOREQ_WRITE);
    assert_eq!(
        ioreq::select_and_send::<H>(env.d, v, &mut p, Route::ByRangeBuffered),
        Routed::Sent(Sent::Posted)
    );
    // Both pointers down by one turn of 511, the entry at the old write pointer's slot.
    assert_eq!((emu.read_u32(0), emu.read_u32(4)), (89, 90));
    assert_eq!(
        emu.read_u64(8 + (600 % 511) * 8) & 0xff,
        u64::from(IOREQ_TYPE_PIO)
    );
    drop(emu);
    teardown(env);
}

#[test]
fn mem_type_server_routing() {
    let env = setup417(1);
    let a = dm_create(&env, 0).unwrap();
    let b = dm_create(&env, 0).unwrap();
    let me = Authority::Emulator(DM);
    assert_eq!(
        ioreq::map_mem_type::<H>(env.d, a, 4, 2, me),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        ioreq::map_mem_type::<H>(env.d, a, 5, 1, me),
        Err(Errno::EINVAL)
    );
    assert_eq!(ioreq::map_mem_type::<H>(env.d, a, 5, 2, me), Ok(()));
    assert_eq!(
        ioreq::map_mem_type::<H>(env.d, b, 5, 2, me),
        Err(Errno::EBUSY)
    );
    assert_eq!(
        HostDomain::with(env.d, |h| h.p2m_ioreq_server),
        Some((a, 2))
    );
    assert_eq!(dm_info(&env, a, 0).0, 0);
    assert_eq!(dm_state(&env, a, 1, 0), 0);
    let v = env.vcpus[0];
    HostDomain::set_current_vcpu(Some(v));
    let mut p = mmio(0x9000, 4, 1, false);
    p.set_dir(IOREQ_WRITE);
    assert_eq!(
        ioreq::select_and_send::<H>(env.d, v, &mut p, Route::MemType),
        Routed::Sent(Sent::Posted)
    );
    assert_eq!(ioreq::map_mem_type::<H>(env.d, a, 5, 0, me), Ok(()));
    assert_eq!(HostDomain::with(env.d, |h| h.p2m_ioreq_resets), 1);
    assert_eq!(
        ioreq::select_and_send::<H>(env.d, v, &mut mmio(0x9000, 4, 1, false), Route::MemType),
        Routed::NoServer
    );
    // Destroying the server that has the type unroutes it.
    assert_eq!(ioreq::map_mem_type::<H>(env.d, b, 5, 2, me), Ok(()));
    assert_eq!(dm_destroy(&env, b), 0);
    assert_eq!(HostDomain::with(env.d, |h| h.p2m_ioreq_server), None);
    teardown(env);
}

#[test]
fn selection_prefers_the_highest_id() {
    let env = setup417(1);
    let a = dm_create(&env, 0).unwrap();
    let b = dm_create(&env, 0).unwrap();
    for id in [a, b] {
        assert_eq!(dm_info(&env, id, 0).0, 0);
        assert_eq!(
            dm_range(
                &env,
                XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER,
                id,
                0,
                0x60,
                0x64
            ),
            0
        );
        assert_eq!(dm_state(&env, id, 1, 0), 0);
    }
    assert_eq!(dm_destroy(&env, a), 0);
    // The new server reuses slot 0 and is walked after slot 1 (I114's 4.17 order).
    let c = dm_create(&env, 0).unwrap();
    assert_eq!(c, 0);
    assert_eq!(dm_info(&env, c, 0).0, 0);
    assert_eq!(
        dm_range(
            &env,
            XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER,
            c,
            0,
            0x60,
            0x64
        ),
        0
    );
    assert_eq!(dm_state(&env, c, 1, 0), 0);
    let mut p = pio(0x60, 1, IOREQ_READ);
    assert_eq!(
        ioreq::select_server::<H>(env.d, &mut p).map(|s| s.id),
        Some(b)
    );
    teardown(env);
}
