//! Server life cycle: resources come back (pages, mappings, P2M entries, event channels, heap,
//! pauses, RCU locks), enable/disable move the pages in and out of the guest P2M, the gmfn pool
//! recycles (B1), destroy restores the P2M (B5), the params (B7, B8), the default server, the DM
//! domain change and vCPU hot-add with unwinding.

mod ioreq_common;
use ioreq_common::*;

use std::mem::offset_of;

use xen_ioreq_rs::errno::Errno;
use xen_ioreq_rs::ioreq;
use xen_ioreq_rs::ioreq::abi::*;
use xen_ioreq_rs::platform::host::alloc::{
    fail_allocations_after, live_allocations, CountingAllocator,
};
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::memory::{self, EmulatorPage};
use xen_ioreq_rs::platform::host::{evtchn, HostPlatform as H};

#[global_allocator]
static A: CountingAllocator = CountingAllocator;

#[derive(Debug, PartialEq, Eq)]
struct Counters {
    pages: usize,
    mapped: i64,
    p2m: usize,
    evtchns: usize,
    heap: isize,
    pauses: i32,
    rcu: i64,
}

fn counters(env: &Env) -> Counters {
    Counters {
        pages: memory::live_pages(),
        mapped: memory::mapped_pages(),
        p2m: memory::p2m_entries(),
        evtchns: evtchn::live_evtchns(),
        heap: live_allocations(),
        pauses: pause_count(env.d),
        rcu: HostDomain::outstanding_rcu_locks(),
    }
}

#[test]
fn create_destroy_leaks_nothing() {
    let env = setup(3);
    // Warm up the host's own tables, then take the baseline.
    let id = create(true).unwrap();
    assert_eq!(destroy(id), 0);
    let base = counters(&env);
    for round in 0..20 {
        let a = create(true).unwrap();
        let b = create(false).unwrap();
        assert_eq!(map(a, 0, 0x10, 0x20), 0);
        assert_eq!(map(b, 1, 0x1000, 0x1fff), 0);
        assert_eq!(set_state(a, true), 0);
        assert_eq!(evtchn::live_evtchns(), 3 + 1 + 3, "round {round}");
        assert_eq!(memory::mapped_pages(), 3);
        assert_eq!(
            memory::p2m_entries(),
            base.p2m - 2,
            "a's two pages left the P2M"
        );
        assert_eq!(destroy(b), 0);
        assert_eq!(destroy(a), 0);
        assert_eq!(counters(&env), base, "round {round}");
    }
    // destroy_all with servers of every kind, then nothing is left of them.
    get_param(env.d, HVM_PARAM_IOREQ_PFN).unwrap();
    let a = create(true).unwrap();
    set_state(a, true);
    create(false).unwrap();
    ioreq::destroy_all::<H>(env.d);
    assert!(ioreq::snapshot::<H>(env.d).servers.is_empty());
    assert_eq!(evtchn::live_evtchns(), 0);
    assert_eq!(memory::mapped_pages(), 0);
    assert_eq!(memory::p2m_entries(), base.p2m);
    teardown(env);
    assert_eq!(memory::live_pages(), 0);
}

#[test]
fn allocation_failures_are_enomem_and_leave_nothing() {
    let env = setup(2);
    let id = create(true).unwrap();
    assert_eq!(destroy(id), 0);
    let base = counters(&env);
    let mut saw_success = false;
    for n in 0..64 {
        fail_allocations_after(Some(n));
        let r = ioreq::create_server::<H>(env.d, DM, false, true);
        fail_allocations_after(None);
        match r {
            Ok(id) => {
                saw_success = true;
                assert_eq!(destroy(id), 0);
                assert_eq!(counters(&env), base);
                break;
            }
            Err(e) => {
                assert_eq!(e, Errno::ENOMEM, "n = {n}");
                assert_eq!(counters(&env), base, "n = {n}");
            }
        }
    }
    assert!(saw_success);
    teardown(env);
}

#[test]
fn enable_and_disable_move_pages_out_of_and_into_the_p2m() {
    let env = setup(2);
    let id = create(true).unwrap();
    let info = get_info(id).unwrap();
    // The emulator maps the pages while they are still in the guest's P2M.
    let io = EmulatorPage::map(env.d, info.ioreq_pfn).unwrap();
    let buf = EmulatorPage::map(env.d, info.bufioreq_pfn).unwrap();
    io.write_u64(0, 0xdead_beef);
    buf.write_u32(0, 7);
    assert_eq!(
        io.read_u32(offset_of!(IoreqSlot, vp_eport)),
        0,
        "no ports while disabled"
    );
    let p2m = memory::p2m_entries();

    assert_eq!(set_state(id, true), 0);
    assert_eq!(memory::p2m_entries(), p2m - 2);
    assert!(memory::p2m_lookup(env.d, info.ioreq_pfn).is_none());
    assert!(memory::p2m_lookup(env.d, info.bufioreq_pfn).is_none());
    assert!(buf.is_zero(), "cleared on enable");
    assert_eq!(io.read_u64(0), 0);
    // Each vCPU's port is published in its slot.
    let snap = ioreq::snapshot::<H>(env.d);
    for (vid, port) in &snap.servers[0].vcpu_ports {
        assert_eq!(
            io.read_u32(*vid as usize * 32 + offset_of!(IoreqSlot, vp_eport)),
            *port
        );
        assert_eq!(evtchn::evtchn(env.d, *port).unwrap().vcpu_id, *vid);
        assert_eq!(evtchn::evtchn(env.d, *port).unwrap().remote_domid, DM);
    }
    // Idempotent.
    assert_eq!(set_state(id, true), 0);
    assert_eq!(memory::p2m_entries(), p2m - 2);

    assert_eq!(set_state(id, false), 0);
    assert_eq!(memory::p2m_entries(), p2m);
    assert!(io.is_at(env.d, info.ioreq_pfn) && buf.is_at(env.d, info.bufioreq_pfn));
    assert!(io.is_zero(), "cleared and left zero while disabled");
    assert_eq!(set_state(id, false), 0);
    assert_eq!(pause_count(env.d), 0);
    drop((io, buf));
    teardown(env);
}

#[test]
fn destroying_an_enabled_server_puts_its_pages_back() {
    // B5: the 2014 C left them out of the guest's P2M.
    let env = setup(1);
    let p2m = memory::p2m_entries();
    let id = create(true).unwrap();
    assert_eq!(set_state(id, true), 0);
    assert_eq!(memory::p2m_entries(), p2m - 2);
    assert_eq!(destroy(id), 0);
    assert_eq!(memory::p2m_entries(), p2m);
    for g in POOL_BASE..POOL_BASE + 2 {
        assert!(memory::p2m_lookup(env.d, g).is_some());
    }
    teardown(env);
}

#[test]
fn create_destroy_5_bufioreq_servers_with_an_8_page_pool() {
    // B1: with the 2014 C the fifth creation fails (-ENOMEM): frames never return to the pool.
    let env = setup(1);
    for round in 0..5 {
        let id = create(true).unwrap();
        let info = get_info(id).unwrap();
        assert_eq!(
            (info.ioreq_pfn, info.bufioreq_pfn),
            (POOL_BASE, POOL_BASE + 1),
            "round {round}"
        );
        assert_eq!(destroy(id), 0);
    }
    // Lowest free frame first; the ioreq page gets the lower one.
    let a = create(true).unwrap();
    let b = create(false).unwrap();
    assert_eq!(get_info(b).unwrap().ioreq_pfn, POOL_BASE + 2);
    assert_eq!(destroy(a), 0);
    let c = create(false).unwrap();
    assert_eq!(get_info(c).unwrap().ioreq_pfn, POOL_BASE);
    assert_eq!(ioreq::snapshot::<H>(env.d).pool_mask, 0xff & !0b101);
    teardown(env);
}

#[test]
fn ids_pre_increment_skip_live_ids_and_wrap() {
    let env = setup(1);
    let a = create(false).unwrap();
    assert_eq!(a, 1);
    // Destroyed ids are not reused until the counter wraps.
    assert_eq!(destroy(a), 0);
    assert_eq!(create(false).unwrap(), 2);
    // Walk the counter to the wrap with create/destroy (cheap with pool recycling).
    for _ in 0..(65535 - 3) {
        let id = create(false).unwrap();
        assert_eq!(destroy(id), 0);
    }
    assert_eq!(create(false).unwrap(), 65535);
    assert_eq!(create(false).unwrap(), 0, "0 is a legal id");
    assert_eq!(create(false).unwrap(), 1);
    assert_eq!(create(false).unwrap(), 3, "2 is still live: skipped");
    teardown(env);
}

#[test]
fn default_server_from_params() {
    let env = setup(2);
    assert!(!ioreq::has_dm::<H>(env.d));
    // Reading 32/33 neither creates the default server (B8) ...
    assert_eq!(get_param(env.d, HVM_PARAM_IOREQ_SERVER_PFN), Ok(POOL_BASE));
    assert_eq!(get_param(env.d, HVM_PARAM_NR_IOREQ_SERVER_PAGES), Ok(8));
    assert!(!ioreq::has_dm::<H>(env.d));
    // ... nor is it allowed to the guest itself (B7: the 2014 C returned 0 and echoed the value).
    HostDomain::set_current(env.d);
    assert_eq!(get_param(env.d, HVM_PARAM_IOREQ_SERVER_PFN), Err(-1));
    assert_eq!(get_param(env.d, HVM_PARAM_NR_IOREQ_SERVER_PAGES), Err(-1));
    assert_eq!(set_param(env.d, HVM_PARAM_IOREQ_SERVER_PFN, 5), Err(-1));
    assert_eq!(
        set_param(env.d, HVM_PARAM_NR_IOREQ_SERVER_PAGES, 5),
        Err(-1)
    );
    assert_eq!(set_param(env.d, HVM_PARAM_DM_DOMAIN, 5), Err(-1));
    HostDomain::set_current(env.dm);
    // Reading 5, 6 or 26 does: enabled at once, on the params' frames, no P2M change.
    let p2m = memory::p2m_entries();
    let pauses = pause_count(env.d);
    let port = get_param(env.d, HVM_PARAM_BUFIOREQ_EVTCHN).unwrap();
    assert_eq!(pause_count(env.d), pauses);
    let snap = ioreq::snapshot::<H>(env.d);
    assert_eq!(snap.servers.len(), 1);
    let s = &snap.servers[0];
    assert!(s.is_default && s.enabled);
    assert_eq!((s.id, s.emulator, s.ioreq_gmfn), (1, DM, IOREQ_PFN));
    assert_eq!(s.bufioreq, Some((BUFIOREQ_PFN, port as u32)));
    assert_eq!(memory::p2m_entries(), p2m);
    // Further reads find it (-EEXIST swallowed).
    assert_eq!(get_param(env.d, HVM_PARAM_IOREQ_PFN), Ok(IOREQ_PFN));
    assert_eq!(ioreq::snapshot::<H>(env.d).servers.len(), 1);
    // Param 26 is read-only; 33 must be 1..=64 and ORs bits in.
    assert_eq!(set_param(env.d, HVM_PARAM_BUFIOREQ_EVTCHN, 1), Err(-22));
    assert_eq!(
        set_param(env.d, HVM_PARAM_NR_IOREQ_SERVER_PAGES, 0),
        Err(-22)
    );
    assert_eq!(
        set_param(env.d, HVM_PARAM_NR_IOREQ_SERVER_PAGES, 65),
        Err(-22)
    );
    assert_eq!(
        set_param(env.d, HVM_PARAM_NR_IOREQ_SERVER_PAGES, 64),
        Ok(())
    );
    assert_eq!(ioreq::snapshot::<H>(env.d).pool_mask, u64::MAX);
    // A failed creation fails the read.
    ioreq::destroy_all::<H>(env.d);
    memory::fail_next_map(Some(Errno::ENOENT));
    assert_eq!(get_param(env.d, HVM_PARAM_IOREQ_PFN), Err(-2));
    teardown(env);
}

#[test]
fn dm_domain_change_replumbs_the_default_server() {
    let env = setup(2);
    // Without a default server the param is just stored and used at creation.
    assert_eq!(set_param(env.d, HVM_PARAM_DM_DOMAIN, 7), Ok(()));
    get_param(env.d, HVM_PARAM_IOREQ_PFN).unwrap();
    let s = ioreq::snapshot::<H>(env.d).servers[0].clone();
    assert_eq!(s.emulator, 7);
    for (_, port) in &s.vcpu_ports {
        assert_eq!(evtchn::evtchn(env.d, *port).unwrap().remote_domid, 7);
    }
    // DOMID_SELF means the caller.
    let live = evtchn::live_evtchns();
    assert_eq!(
        set_param(env.d, HVM_PARAM_DM_DOMAIN, u64::from(DOMID_SELF)),
        Ok(())
    );
    assert_eq!(
        HostDomain::with(env.d, |h| h.params[HVM_PARAM_DM_DOMAIN as usize]),
        u64::from(DM)
    );
    let s2 = ioreq::snapshot::<H>(env.d).servers[0].clone();
    assert_eq!(s2.emulator, DM);
    assert_eq!(evtchn::live_evtchns(), live);
    let io = EmulatorPage::map(env.d, IOREQ_PFN).unwrap();
    for (vid, port) in &s2.vcpu_ports {
        assert_eq!(evtchn::evtchn(env.d, *port).unwrap().remote_domid, DM);
        assert_eq!(
            io.read_u32(*vid as usize * 32 + offset_of!(IoreqSlot, vp_eport)),
            *port
        );
    }
    let (_, bport) = s2.bufioreq.unwrap();
    assert_eq!(evtchn::evtchn(env.d, bport).unwrap().remote_domid, DM);
    assert_eq!(
        HostDomain::with(env.d, |h| h.params[HVM_PARAM_BUFIOREQ_EVTCHN as usize]),
        u64::from(bport)
    );
    // An allocation failure is returned; the emulator id is set anyway (as in the C).
    evtchn::fail_evtchn_allocs_after(Some((1, Errno::ENOSPC)));
    assert_eq!(set_param(env.d, HVM_PARAM_DM_DOMAIN, 9), Err(-28));
    evtchn::fail_evtchn_allocs_after(None);
    assert_eq!(ioreq::snapshot::<H>(env.d).servers[0].emulator, 9);
    assert_eq!(evtchn::live_evtchns(), live);
    assert_eq!(pause_count(env.d), 0);
    drop(io);
    teardown(env);
}

#[test]
fn vcpu_hot_add_and_remove_with_unwinding() {
    let env = setup(1);
    get_param(env.d, HVM_PARAM_IOREQ_PFN).unwrap();
    let a = create(true).unwrap();
    let b = create(false).unwrap();
    set_state(a, true);
    let live = evtchn::live_evtchns();
    let v1 = HostDomain::add_vcpu(env.d, 1);
    assert_eq!(ioreq::add_vcpu_all::<H>(env.d, v1), Ok(()));
    assert_eq!(evtchn::live_evtchns(), live + 3);
    // The enabled server publishes the new port at once.
    let info = ioreq::get_server_info::<H>(env.d, a).unwrap();
    let snap = ioreq::snapshot::<H>(env.d);
    let sa = snap.servers.iter().find(|s| s.id == a).unwrap();
    assert_eq!(sa.vcpu_ports[0].0, 1, "head insertion");
    let _ = info;
    ioreq::remove_vcpu_all::<H>(env.d, v1);
    assert_eq!(evtchn::live_evtchns(), live);
    // Failure on the second server: removed from all again.
    let v2 = HostDomain::add_vcpu(env.d, 2);
    evtchn::fail_evtchn_allocs_after(Some((1, Errno::ENOMEM)));
    assert_eq!(ioreq::add_vcpu_all::<H>(env.d, v2), Err(Errno::ENOMEM));
    evtchn::fail_evtchn_allocs_after(None);
    assert_eq!(evtchn::live_evtchns(), live);
    for s in ioreq::snapshot::<H>(env.d).servers {
        assert!(s.vcpu_ports.iter().all(|(v, _)| *v != 2));
    }
    // Removing a vCPU no server knows is a no-op.
    ioreq::remove_vcpu_all::<H>(env.d, v2);
    assert_eq!(evtchn::live_evtchns(), live);
    let _ = b;
    HostDomain::remove_vcpu(v1);
    HostDomain::remove_vcpu(v2);
    teardown(env);
}

#[test]
fn rangesets_are_attached_to_the_target_domain() {
    use xen_ioreq_rs::platform::host::console::take_console;
    let env = setup(1);
    let a = create(false).unwrap();
    let b = create(true).unwrap();
    assert_eq!(map(a, HVMOP_IO_RANGE_PORT, 0x13, 0x1f), 0);
    assert_eq!(map(a, HVMOP_IO_RANGE_PORT, 0x30, 0x40), 0);
    assert_eq!(map(b, HVMOP_IO_RANGE_PCI, 0x18, 0x18), 0);
    take_console();
    xen_ioreq_rs::rangeset::domain::domain_printk::<H>(env.d);
    assert_eq!(
        take_console(),
        "Rangesets belonging to domain 1:\n\
         \x20   ioreq_server 2 pci { 18 }\n\
         \x20   ioreq_server 2 memory { }\n\
         \x20   ioreq_server 2 port { }\n\
         \x20   ioreq_server 1 pci { }\n\
         \x20   ioreq_server 1 memory { }\n\
         \x20   ioreq_server 1 port { 13-1f, 30-40 }\n"
    );
    assert_eq!(destroy(b), 0);
    assert_eq!(destroy(a), 0);
    xen_ioreq_rs::rangeset::domain::domain_printk::<H>(env.d);
    assert_eq!(
        take_console(),
        "Rangesets belonging to domain 1:\n    None\n"
    );
    teardown(env);
}
