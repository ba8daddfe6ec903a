//! Shared set-up for the ioreq tests: a privileged device-model domain (dom0, the caller) and an
//! HVM guest with vCPUs, the stock domain builder's special pages and an 8-page server pool.
#![allow(dead_code)]

use xen_ioreq_rs::ioreq::abi::*;
use xen_ioreq_rs::ioreq::{self, IoreqSlot};
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::evtchn;
use xen_ioreq_rs::platform::host::guest_copy::{guest_buffer, take_guest_buffer};
use xen_ioreq_rs::platform::host::memory;
use xen_ioreq_rs::platform::host::HostPlatform as H;
use xen_ioreq_rs::platform::{DomainRef, VcpuRef};

pub const POOL_BASE: u64 = 0xfeff0;
pub const IOREQ_PFN: u64 = 0xfeffd;
pub const BUFIOREQ_PFN: u64 = 0xfeffb;
pub const GUEST: u16 = 1;
pub const DM: u16 = 0;

pub struct Env {
    pub dm: DomainRef,
    pub d: DomainRef,
    pub vcpus: Vec<VcpuRef>,
}

/// dom0 (privileged, current) and guest 1 with `nvcpus` vCPUs, pages populated, params set.
pub fn setup(nvcpus: u32) -> Env {
    let dm = HostDomain::create(DM);
    HostDomain::with(dm, |h| h.is_privileged = true);
    HostDomain::set_current(dm);
    let d = HostDomain::create(GUEST);
    xen_ioreq_rs::rangeset::domain::domain_initialise::<H>(d).unwrap();
    let vcpus = (0..nvcpus).map(|i| HostDomain::add_vcpu(d, i)).collect();
    for g in POOL_BASE..POOL_BASE + 8 {
        memory::populate(d, g);
    }
    memory::populate(d, IOREQ_PFN);
    memory::populate(d, BUFIOREQ_PFN);
    HostDomain::with(d, |h| {
        h.params[HVM_PARAM_IOREQ_PFN as usize] = IOREQ_PFN;
        h.params[HVM_PARAM_BUFIOREQ_PFN as usize] = BUFIOREQ_PFN;
        h.params[HVM_PARAM_DM_DOMAIN as usize] = u64::from(DM);
    });
    set_param(d, HVM_PARAM_NR_IOREQ_SERVER_PAGES, 8).unwrap();
    set_param(d, HVM_PARAM_IOREQ_SERVER_PFN, POOL_BASE).unwrap();
    Env { dm, d, vcpus }
}

/// HVMOP_set_param for the ioreq params as Xen's generic code would run it: hook, then store.
pub fn set_param(d: DomainRef, index: u32, value: u64) -> Result<(), i32> {
    match ioreq::set_param_hook::<H>(d, index, value) {
        Ok(v) => {
            HostDomain::with(d, |h| h.params[index as usize] = v);
            Ok(())
        }
        Err(e) => Err(e.to_neg()),
    }
}

/// HVMOP_get_param: hook, then read.
pub fn get_param(d: DomainRef, index: u32) -> Result<u64, i32> {
    ioreq::get_param_hook::<H>(d, index).map_err(|e| e.to_neg())?;
    Ok(HostDomain::with(d, |h| h.params[index as usize]))
}

pub fn teardown(env: Env) {
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
    HostDomain::destroy(env.d);
    HostDomain::destroy(env.dm);
}

/// Issues HVMOP `op` with `arg`; returns the rc and the argument bytes afterwards.
pub fn hvmop(op: u32, arg: &[u8]) -> (i64, Vec<u8>) {
    let h = guest_buffer(arg);
    let rc = xen_ioreq_rs::hvmop::ioreq_server_op::<H>(u64::from(op), h);
    (rc, take_guest_buffer(h))
}

pub fn create(bufioreq: bool) -> Result<u16, i64> {
    let a = HvmCreateIoreqServer {
        domid: GUEST,
        handle_bufioreq: u8::from(bufioreq),
        ..Default::default()
    };
    let (rc, b) = hvmop(HVMOP_CREATE_IOREQ_SERVER, a.as_bytes());
    if rc == 0 {
        Ok(HvmCreateIoreqServer::read_from_bytes(&b).unwrap().id)
    } else {
        Err(rc)
    }
}

pub fn get_info(id: u16) -> Result<HvmGetIoreqServerInfo, i64> {
    let a = HvmGetIoreqServerInfo {
        domid: GUEST,
        id,
        ..Default::default()
    };
    let (rc, b) = hvmop(HVMOP_GET_IOREQ_SERVER_INFO, a.as_bytes());
    if rc == 0 {
        Ok(HvmGetIoreqServerInfo::read_from_bytes(&b).unwrap())
    } else {
        Err(rc)
    }
}

pub fn map(id: u16, type_: u32, start: u64, end: u64) -> i64 {
    let a = HvmIoRange {
        domid: GUEST,
        id,
        type_,
        start,
        end,
    };
    hvmop(HVMOP_MAP_IO_RANGE_TO_IOREQ_SERVER, a.as_bytes()).0
}

pub fn unmap(id: u16, type_: u32, start: u64, end: u64) -> i64 {
    let a = HvmIoRange {
        domid: GUEST,
        id,
        type_,
        start,
        end,
    };
    hvmop(HVMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER, a.as_bytes()).0
}

pub fn set_state(id: u16, enabled: bool) -> i64 {
    let a = HvmSetIoreqServerState {
        domid: GUEST,
        id,
        enabled: u8::from(enabled),
        pad: 0,
    };
    hvmop(HVMOP_SET_IOREQ_SERVER_STATE, a.as_bytes()).0
}

pub fn destroy(id: u16) -> i64 {
    let a = HvmDestroyIoreqServer { domid: GUEST, id };
    hvmop(HVMOP_DESTROY_IOREQ_SERVER, a.as_bytes()).0
}

pub fn pio(port: u64, size: u32, dir: u8) -> IoreqSlot {
    let mut p = IoreqSlot {
        addr: port,
        size,
        count: 1,
        type_: IOREQ_TYPE_PIO,
        ..Default::default()
    };
    p.set_dir(dir);
    p
}

pub fn mmio(addr: u64, size: u32, count: u32, df: bool) -> IoreqSlot {
    let mut p = IoreqSlot {
        addr,
        size,
        count,
        type_: IOREQ_TYPE_COPY,
        ..Default::default()
    };
    p.set_df(df);
    p
}

pub fn pause_count(d: DomainRef) -> i32 {
    HostDomain::with(d, |h| h.pause_count)
}

pub fn crashes(d: DomainRef) -> u32 {
    HostDomain::with(d, |h| h.crashes)
}
