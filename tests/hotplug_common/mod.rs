//! Slot claims for the hotplug tests (also included by the hotplug fuzz targets). Since H10 the
//! exported `HVMOP_pci_hotplug` lets a caller plug or unplug a slot only if one of its ioreq
//! servers for the guest has the slot's function 0 in its PCI range set; these helpers give a
//! guest what ioreq servers need (as the domain builder does) and an emulator such a server.
#![allow(dead_code)]

use xen_ioreq_rs::hotplug::hypercall::pci_sbdf;
use xen_ioreq_rs::ioreq;
use xen_ioreq_rs::ioreq::abi::{
    HVMOP_IO_RANGE_PCI, HVM_PARAM_IOREQ_SERVER_PFN, HVM_PARAM_NR_IOREQ_SERVER_PAGES,
};
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::{evtchn, memory, HostPlatform as H};
use xen_ioreq_rs::platform::DomainRef;

/// The stock domain builder's ioreq server pool.
pub const POOL_BASE: u64 = 0xfeff0;
pub const POOL_PAGES: u64 = 8;

/// Gives `g` a rangeset list, the pool's pages and params 32/33, set by `toolstack` (which
/// becomes the current domain).
pub fn ioreq_ready(g: DomainRef, toolstack: DomainRef) {
    xen_ioreq_rs::rangeset::domain::domain_initialise::<H>(g).expect("rangeset list");
    for gmfn in POOL_BASE..POOL_BASE + POOL_PAGES {
        memory::populate(g, gmfn);
    }
    HostDomain::set_current(toolstack);
    for (index, value) in [
        (HVM_PARAM_NR_IOREQ_SERVER_PAGES, POOL_PAGES),
        (HVM_PARAM_IOREQ_SERVER_PFN, POOL_BASE),
    ] {
        let v = ioreq::set_param_hook::<H>(g, index, value).expect("pool param");
        HostDomain::with(g, |h| h.params[index as usize] = v);
    }
}

/// A synchronous-only ioreq server of `g` emulated by domain `emulator`, claiming the SBDFs
/// `first..=last`; returns its id.
pub fn claim(g: DomainRef, emulator: u16, first: u32, last: u32) -> u16 {
    let id = ioreq::create_server::<H>(g, emulator, false, false).expect("server");
    ioreq::map_io_range::<H>(g, id, HVMOP_IO_RANGE_PCI, u64::from(first), u64::from(last))
        .expect("PCI range");
    id
}

/// A server of `emulator` claiming every function of every hot-pluggable slot (1-31).
pub fn claim_all_slots(g: DomainRef, emulator: u16) -> u16 {
    claim(g, emulator, pci_sbdf(0, 0, 1, 0), pci_sbdf(0, 0, 31, 7))
}

/// Undoes [`ioreq_ready`] and frees every server (call before destroying `g`).
pub fn ioreq_release(g: DomainRef) {
    // SAFETY: teardown on this one thread: nothing uses the domain's Rust state any more
    // and nothing else runs on it.
    unsafe {
        ioreq::domain_destroy::<H>(g);
        xen_ioreq_rs::rangeset::domain::domain_destroy::<H>(g);
    }
    memory::depopulate_all(g);
    evtchn::destroy_all_evtchns(g);
}
