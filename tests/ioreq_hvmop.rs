//! HVMOP 17-22 through the dispatcher: every error code of docs/series.md's Hypercalls summary,
//! the prologue's order, and the copy-back rules. Failing calls leave the state unchanged.

mod ioreq_common;
use ioreq_common::*;

use xen_ioreq_rs::errno::Errno;
use xen_ioreq_rs::ioreq;
use xen_ioreq_rs::ioreq::abi::*;
use xen_ioreq_rs::platform::host::alloc::CountingAllocator;
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::guest_copy::guest_buffer;
use xen_ioreq_rs::platform::host::{evtchn, memory, HostPlatform as H};
use xen_ioreq_rs::platform::GuestHandle;

#[global_allocator]
static A: CountingAllocator = CountingAllocator;

const EPERM: i64 = -1;
const ENOENT: i64 = -2;
const ESRCH: i64 = -3;
const ENOMEM: i64 = -12;
const EFAULT: i64 = -14;
const EEXIST: i64 = -17;
const EINVAL: i64 = -22;
const ENOSPC: i64 = -28;
const ENOSYS: i64 = -38;

fn raw(op: u32, h: GuestHandle) -> i64 {
    xen_ioreq_rs::hvmop::ioreq_server_op::<H>(u64::from(op), h)
}

#[test]
fn prologue_errors_for_every_op() {
    let env = setup(1);
    let ops = [17u32, 18, 19, 20, 21, 22];
    let size = |op| match op {
        17 | 22 => 6,
        18..=20 => 24,
        _ => 4,
    };
    for op in ops {
        // -EFAULT: argument not readable (too short, or a wild address).
        let short = guest_buffer(&vec![0u8; size(op) - 1]);
        assert_eq!(raw(op, short), EFAULT, "op {op}");
        assert_eq!(raw(op, GuestHandle(8)), EFAULT, "op {op}");
        // -ESRCH: no such domain.
        let mut a = vec![0u8; size(op)];
        a[0..2].copy_from_slice(&77u16.to_le_bytes());
        assert_eq!(hvmop(op, &a).0, ESRCH, "op {op}");
        // -EPERM: the caller itself (DOMID_SELF is not translated: -ESRCH).
        a[0..2].copy_from_slice(&DM.to_le_bytes());
        assert_eq!(hvmop(op, &a).0, EPERM, "op {op}");
        a[0..2].copy_from_slice(&DOMID_SELF.to_le_bytes());
        assert_eq!(hvmop(op, &a).0, ESRCH, "op {op}");
        // -EINVAL: not an HVM guest.
        a[0..2].copy_from_slice(&GUEST.to_le_bytes());
        HostDomain::with(env.d, |h| h.is_hvm = false);
        assert_eq!(hvmop(op, &a).0, EINVAL, "op {op}");
        HostDomain::with(env.d, |h| h.is_hvm = true);
        // -EPERM from XSM: an unprivileged caller that is not the guest's device model.
        let other = HostDomain::create(5);
        HostDomain::set_current(other);
        assert_eq!(hvmop(op, &a).0, EPERM, "op {op}");
        // ... but the guest's stub device model may.
        HostDomain::with(other, |h| h.dm_target = Some(GUEST));
        assert_ne!(hvmop(op, &a).0, EPERM, "op {op}");
        HostDomain::set_current(env.dm);
        ioreq::destroy_all::<H>(env.d);
        HostDomain::destroy(other);
    }
    assert_eq!(HostDomain::outstanding_rcu_locks(), 0);
    // Other ops are not ours; the op is masked with 0xff first.
    assert_eq!(hvmop(23, &[0; 8]).0, ENOSYS);
    assert_eq!(hvmop(1, &[0; 16]).0, ENOSYS);
    let a = HvmCreateIoreqServer {
        domid: GUEST,
        ..Default::default()
    };
    assert_eq!(hvmop(0x1100 | 17, a.as_bytes()).0, 0);
    teardown(env);
}

#[test]
fn create_copies_back_the_id_on_success_only() {
    let env = setup(1);
    let a = HvmCreateIoreqServer {
        domid: GUEST,
        handle_bufioreq: 7, // any non-zero value means "yes"
        pad: 0xaa,
        id: 0xbeef,
    };
    let (rc, b) = hvmop(HVMOP_CREATE_IOREQ_SERVER, a.as_bytes());
    assert_eq!(rc, 0);
    let out = HvmCreateIoreqServer::read_from_bytes(&b).unwrap();
    assert_eq!(out, HvmCreateIoreqServer { id: 1, ..a });
    assert!(get_info(1).unwrap().bufioreq_port != 0);
    // Failure: nothing copied back.
    memory::fail_next_map(Some(Errno::ENOENT));
    let (rc, b2) = hvmop(HVMOP_CREATE_IOREQ_SERVER, a.as_bytes());
    assert_eq!(rc, ENOENT);
    assert_eq!(b2, a.as_bytes());
    teardown(env);
}

#[test]
fn create_error_codes() {
    let env = setup(2);
    let before = ioreq::snapshot::<H>(env.d);
    for (inject, want) in [
        (Errno::ENOENT, ENOENT),
        (Errno::EINVAL, EINVAL),
        (Errno::ENOMEM, ENOMEM),
    ] {
        memory::fail_next_map(Some(inject));
        assert_eq!(create(true), Err(want));
    }
    for (e, want) in [
        (Errno::EINVAL, EINVAL),
        (Errno::ENOSPC, ENOSPC),
        (Errno::ENOMEM, ENOMEM),
    ] {
        // Fail the second vCPU's channel, the ring's, and the first.
        for after in [0, 1, 2] {
            evtchn::fail_evtchn_allocs_after(Some((after, e)));
            assert_eq!(create(true), Err(want), "after {after}");
            evtchn::fail_evtchn_allocs_after(None);
            assert_eq!(evtchn::live_evtchns(), 0);
        }
    }
    evtchn::set_max_port(2);
    assert_eq!(create(true), Err(ENOSPC));
    evtchn::set_max_port(1023);
    // Frames not in the P2M: prepare_ring_for_helper's -EINVAL.
    memory::depopulate_all(env.d);
    assert_eq!(create(false), Err(EINVAL));
    for g in POOL_BASE..POOL_BASE + 8 {
        memory::populate(env.d, g);
    }
    // Dying domain.
    HostDomain::with(env.d, |h| h.is_dying = true);
    assert_eq!(create(false), Err(EINVAL));
    HostDomain::with(env.d, |h| h.is_dying = false);
    // Every failure left the pool and registry as they were (ids advanced: the counter moves
    // even when init fails, as in the C).
    let after = ioreq::snapshot::<H>(env.d);
    assert_eq!(after.servers, before.servers);
    assert_eq!(after.pool_mask, before.pool_mask);
    assert_eq!(evtchn::live_evtchns(), 0);
    assert_eq!(memory::mapped_pages(), 0);
    // Pool exhausted: 8 sync-only servers, the 9th gets -ENOMEM.
    for _ in 0..8 {
        create(false).unwrap();
    }
    assert_eq!(create(false), Err(ENOMEM));
    assert_eq!(pause_count(env.d), 0);
    teardown(env);
}

#[test]
fn info_range_state_destroy_error_codes() {
    let env = setup(1);
    // No server at all.
    assert_eq!(get_info(1), Err(ENOENT));
    assert_eq!(map(1, 0, 1, 1), ENOENT);
    assert_eq!(unmap(1, 0, 1, 1), ENOENT);
    assert_eq!(set_state(1, true), ENOENT);
    assert_eq!(destroy(1), ENOENT);
    // The default server is never reachable by id.
    get_param(env.d, HVM_PARAM_BUFIOREQ_PFN).unwrap();
    assert_eq!(ioreq::snapshot::<H>(env.d).servers[0].id, 1);
    assert_eq!(get_info(1), Err(ENOENT));
    assert_eq!(map(1, 0, 1, 1), ENOENT);
    assert_eq!(set_state(1, false), ENOENT);
    assert_eq!(destroy(1), ENOENT);

    let id = create(false).unwrap();
    assert_eq!(map(id, 3, 1, 1), EINVAL);
    assert_eq!(map(id, u32::MAX, 1, 1), EINVAL);
    assert_eq!(map(id, 0, 2, 1), EINVAL, "start > end (I6)");
    assert_eq!(unmap(id, 0, 2, 1), EINVAL);
    assert_eq!(map(id, 0, 0x10, 0x1f), 0);
    assert_eq!(map(id, 0, 0x18, 0x30), EEXIST);
    assert_eq!(map(id, 0, 0x1f, 0x1f), EEXIST);
    assert_eq!(map(id, 1, 0x10, 0x1f), 0, "types are separate");
    assert_eq!(unmap(id, 0, 0x18, 0x20), ENOENT, "not contained");
    assert_eq!(unmap(id, 0, 0x40, 0x40), ENOENT);
    assert_eq!(unmap(id, 0, 0x12, 0x13), 0, "split");
    // 256 ranges per type: the 257th is -ENOMEM; splitting at the limit too.
    let id2 = create(false).unwrap();
    for i in 0..256u64 {
        assert_eq!(map(id2, 2, i * 2, i * 2), 0, "range {i}");
    }
    assert_eq!(map(id2, 2, 1000, 1000), ENOMEM);
    assert_eq!(
        map(id2, 2, 1, 1),
        0,
        "joining neighbours needs no new range"
    );
    assert_eq!(map(id2, 1, 0, 0), 0, "other types have their own budget");
    assert_eq!(unmap(id2, 2, 1, 1), 0);
    assert_eq!(unmap(id2, 2, 0, 0), 0);
    assert_eq!(map(id2, 2, 0, 1), 0, "merges with [2, 2]");
    assert_eq!(map(id2, 2, 1000, 1000), 0, "the 256th range");
    assert_eq!(unmap(id2, 2, 1, 1), ENOMEM, "a split at the limit");
    // Unknown ids.
    assert_eq!(get_info(999), Err(ENOENT));
    assert_eq!(set_state(999, true), ENOENT);
    assert_eq!(destroy(999), ENOENT);
    assert_eq!(pause_count(env.d), 0);
    teardown(env);
}

#[test]
fn copy_back_rules() {
    let env = setup(1);
    let id = create(false).unwrap();
    // get_info: whole struct on success; without a ring the caller's values are echoed.
    let a = HvmGetIoreqServerInfo {
        domid: GUEST,
        id,
        bufioreq_port: 0x1234,
        ioreq_pfn: 1,
        bufioreq_pfn: 0x5678,
    };
    let (rc, b) = hvmop(HVMOP_GET_IOREQ_SERVER_INFO, a.as_bytes());
    assert_eq!(rc, 0);
    let out = HvmGetIoreqServerInfo::read_from_bytes(&b).unwrap();
    assert_eq!(
        out,
        HvmGetIoreqServerInfo {
            ioreq_pfn: POOL_BASE,
            ..a
        }
    );
    let idb = create(true).unwrap();
    let info = get_info(idb).unwrap();
    assert_eq!(
        (info.ioreq_pfn, info.bufioreq_pfn),
        (POOL_BASE + 1, POOL_BASE + 2)
    );
    assert_eq!(
        Some(info.bufioreq_port),
        ioreq::get_server_info::<H>(env.d, idb)
            .unwrap()
            .bufioreq
            .map(|b| b.1)
    );
    // Failed get_info: untouched.
    let bad = HvmGetIoreqServerInfo { id: 999, ..a };
    let (rc, b) = hvmop(HVMOP_GET_IOREQ_SERVER_INFO, bad.as_bytes());
    assert_eq!((rc, b), (ENOENT, bad.as_bytes().to_vec()));
    // The others never write.
    let r = HvmIoRange {
        domid: GUEST,
        id,
        type_: 0,
        start: 1,
        end: 2,
    };
    for op in [19, 20] {
        let (_, b) = hvmop(op, r.as_bytes());
        assert_eq!(b, r.as_bytes());
    }
    let s = HvmSetIoreqServerState {
        domid: GUEST,
        id,
        enabled: 2,
        pad: 9,
    };
    let (rc, b) = hvmop(22, s.as_bytes());
    assert_eq!((rc, b), (0, s.as_bytes().to_vec()));
    assert!(ioreq::snapshot::<H>(env.d)
        .servers
        .iter()
        .any(|x| x.id == id && x.enabled));
    let dd = HvmDestroyIoreqServer { domid: GUEST, id };
    let (rc, b) = hvmop(21, dd.as_bytes());
    assert_eq!((rc, b), (0, dd.as_bytes().to_vec()));
    teardown(env);
}
