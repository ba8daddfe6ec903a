//! Shared set-up of the ioreq fuzz targets: dom0 (privileged), guest 1 with vCPUs, its special
//! pages and an 8-page server pool, and a stub device-model domain 2 for guest 1; plus the leak
//! checks every target runs at the end of an input.
#![allow(dead_code)]

use xen_ioreq_rs::errno::Errno;
use xen_ioreq_rs::ioreq::abi::*;
use xen_ioreq_rs::ioreq::{self, IoreqSlot};
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::guest_copy::{guest_buffer, take_guest_buffer};
use xen_ioreq_rs::platform::host::{evtchn, memory, HostPlatform as H};
use xen_ioreq_rs::platform::{DomainRef, VcpuRef};

pub const POOL_BASE: u64 = 0xfeff0;
pub const IOREQ_PFN: u64 = 0xfeffd;
pub const BUFIOREQ_PFN: u64 = 0xfeffb;
pub const GUEST: u16 = 1;

pub struct Env {
    pub dm: DomainRef,
    pub stub: DomainRef,
    pub other: DomainRef,
    pub d: DomainRef,
    pub vcpus: Vec<VcpuRef>,
    pub p2m_base: usize,
}

pub fn setup(nvcpus: u32) -> Env {
    let dm = HostDomain::create(0);
    HostDomain::with(dm, |h| h.is_privileged = true);
    HostDomain::set_current(dm);
    let d = HostDomain::create(GUEST);
    xen_ioreq_rs::rangeset::domain::domain_initialise::<H>(d).unwrap();
    let stub = HostDomain::create(2);
    HostDomain::with(stub, |h| h.dm_target = Some(GUEST));
    let other = HostDomain::create(3);
    let vcpus = (0..nvcpus).map(|i| HostDomain::add_vcpu(d, i)).collect();
    for g in POOL_BASE..POOL_BASE + 8 {
        memory::populate(d, g);
    }
    memory::populate(d, IOREQ_PFN);
    memory::populate(d, BUFIOREQ_PFN);
    HostDomain::with(d, |h| {
        h.params[HVM_PARAM_IOREQ_PFN as usize] = IOREQ_PFN;
        h.params[HVM_PARAM_BUFIOREQ_PFN as usize] = BUFIOREQ_PFN;
    });
    ioreq::set_param_hook::<H>(d, HVM_PARAM_NR_IOREQ_SERVER_PAGES, 8).unwrap();
    ioreq::set_param_hook::<H>(d, HVM_PARAM_IOREQ_SERVER_PFN, POOL_BASE).unwrap();
    let p2m_base = memory::p2m_entries();
    Env {
        dm,
        stub,
        other,
        d,
        vcpus,
        p2m_base,
    }
}

/// Sets the hypercall caller: 0 dom0, 1 the guest itself, 2 its stub DM, 3 an unrelated domain.
pub fn set_caller(env: &Env, who: u8) {
    HostDomain::set_current(match who % 4 {
        0 => env.dm,
        1 => env.d,
        2 => env.stub,
        _ => env.other,
    });
}

/// Destroys everything and checks that nothing leaked.
pub fn teardown(env: Env) {
    memory::fail_next_map(None);
    memory::fail_next_physmap(None);
    evtchn::fail_evtchn_allocs_after(None);
    evtchn::set_max_port(1023);
    assert_eq!(HostDomain::outstanding_rcu_locks(), 0, "RCU lock leaked");
    assert_eq!(
        HostDomain::with(env.d, |h| h.pause_count),
        0,
        "pause leaked"
    );
    ioreq::destroy_all::<H>(env.d);
    assert!(ioreq::snapshot::<H>(env.d).servers.is_empty());
    assert_eq!(evtchn::live_evtchns(), 0, "event channel leaked");
    assert_eq!(memory::mapped_pages(), 0, "mapping leaked");
    assert_eq!(
        memory::p2m_entries(),
        env.p2m_base,
        "guest P2M not restored"
    );
    // SAFETY: teardown on this one thread: nothing uses the domain's Rust state any more
    // and nothing else runs on it.
    unsafe {
        ioreq::domain_destroy::<H>(env.d);
        xen_ioreq_rs::rangeset::domain::domain_destroy::<H>(env.d);
    }
    for v in env.vcpus {
        HostDomain::remove_vcpu(v);
    }
    memory::depopulate_all(env.d);
    evtchn::destroy_all_evtchns(env.d);
    assert_eq!(memory::live_pages(), 0, "page leaked");
    for x in [env.d, env.dm, env.stub, env.other] {
        // A hypercall naming another domain may have given it (empty) ioreq state.
        // SAFETY: teardown on this one thread: nothing uses the domain's Rust state any more
        // and nothing else runs on it.
        unsafe { ioreq::domain_destroy::<H>(x) };
        HostDomain::destroy(x);
    }
}

/// Runs HVMOP `op` on `arg` placed in fake guest memory; returns rc and the bytes afterwards.
pub fn hvmop(op: u64, arg: &[u8]) -> (i64, Vec<u8>) {
    let h = guest_buffer(arg);
    let rc = xen_ioreq_rs::hvmop::ioreq_server_op::<H>(op, h);
    (rc, take_guest_buffer(h))
}

/// The error codes each op may return (docs/series.md, Hypercalls).
pub fn allowed(op: u32, rc: i64) -> bool {
    let e = |x: Errno| i64::from(x.to_neg());
    let common = [
        0,
        e(Errno::EFAULT),
        e(Errno::ESRCH),
        e(Errno::EPERM),
        e(Errno::EINVAL),
    ];
    if common.contains(&rc) {
        return true;
    }
    let extra: &[Errno] = match op {
        17 => &[Errno::ENOMEM, Errno::ENOENT, Errno::ENOSPC],
        18 | 21 | 22 => &[Errno::ENOENT],
        19 => &[Errno::ENOENT, Errno::EEXIST, Errno::ENOMEM],
        20 => &[Errno::ENOENT, Errno::ENOMEM],
        _ => &[],
    };
    extra.iter().any(|x| e(*x) == rc)
}

pub fn create(env: &Env, bufioreq: bool) -> Option<u16> {
    ioreq::create_server::<H>(env.d, 0, false, bufioreq).ok()
}

pub fn req(type_: u8, addr: u64, size: u32, count: u32, dir: u8, df: bool) -> IoreqSlot {
    let mut p = IoreqSlot {
        addr,
        size,
        count,
        type_,
        ..Default::default()
    };
    p.set_dir(dir);
    p.set_df(df);
    p
}

/// One input of an HVMOP target: byte 0 the caller, byte 1 set-up flags, byte 2 a fault to
/// inject, byte 3 the high bits of the op, the rest the argument (its length is part of the input:
/// short arguments must give -EFAULT).
pub fn fuzz_one_hvmop(op: u32, data: &[u8]) {
    if data.len() < 4 || data.len() > 64 {
        return;
    }
    let env = setup(2);
    let flags = data[1];
    if flags & 1 != 0 {
        let _ = ioreq::get_param_hook::<H>(env.d, HVM_PARAM_IOREQ_PFN);
    }
    for i in 0..(flags >> 1) & 3 {
        if let Some(id) = create(&env, i % 2 == 0) {
            let _ = ioreq::map_io_range::<H>(env.d, id, u32::from(i % 3), 0x10, 0x20);
            if flags & 0x80 != 0 {
                let _ = ioreq::set_server_state::<H>(env.d, id, true);
            }
        }
    }
    if flags & 0x40 != 0 {
        HostDomain::with(env.d, |h| h.is_hvm = false);
    }
    if flags & 0x20 != 0 {
        HostDomain::with(env.d, |h| h.is_dying = true);
    }
    match data[2] & 7 {
        1 => memory::fail_next_map(Some(Errno::ENOENT)),
        2 => memory::fail_next_map(Some(Errno::ENOMEM)),
        3 => evtchn::fail_evtchn_allocs_after(Some((u32::from(data[2] >> 3), Errno::ENOSPC))),
        4 => evtchn::set_max_port(u32::from(data[2] >> 3)),
        _ => {}
    }
    set_caller(&env, data[0]);
    let full_op = u64::from(op) | (u64::from(data[3]) << 8);
    let arg = &data[4..];
    let before = ioreq::snapshot::<H>(env.d);
    let (rc, after) = hvmop(full_op, arg);
    assert!(allowed(op, rc), "op {op}: rc {rc} not allowed");
    if rc != 0 {
        assert_eq!(after, arg, "a failing op copied back");
        // Failures leave the servers as they were (a failed create may advance the id counter).
        assert_eq!(ioreq::snapshot::<H>(env.d).servers, before.servers);
    } else if !matches!(op, 17 | 18) {
        assert_eq!(after, arg, "op {op} must not copy back");
    }
    HostDomain::with(env.d, |h| {
        h.is_hvm = true;
        h.is_dying = false;
    });
    HostDomain::set_current(env.dm);
    teardown(env);
}
