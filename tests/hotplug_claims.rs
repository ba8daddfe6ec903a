//! H10: the exported `HVMOP_pci_hotplug` lets an emulator plug or unplug a slot only if one of
//! its own ioreq servers for the guest has the slot's function 0 (`HVMOP_PCI_SBDF(0, 0, slot,
//! 0)`) in its PCI range set; -EPERM otherwise, with nothing changed. Queries are not gated.

use std::ffi::c_void;

mod hotplug_common;
use hotplug_common::{claim, ioreq_ready, ioreq_release};

use xen_ioreq_rs::hotplug::controller::slot_state;
use xen_ioreq_rs::hotplug::domain::snapshot;
use xen_ioreq_rs::hotplug::ffi::{hvm_pci_hotplug_deinit, hvm_pci_hotplug_init, hvmop_pci_hotplug};
use xen_ioreq_rs::hotplug::hypercall::{
    pci_sbdf, xen_hvm_pci_hotplug, XEN_HVM_PCI_HOTPLUG_PLUG, XEN_HVM_PCI_HOTPLUG_QUERY,
    XEN_HVM_PCI_HOTPLUG_UNPLUG,
};
use xen_ioreq_rs::ioreq;
use xen_ioreq_rs::ioreq::abi::{
    FromBytes, IntoBytes, HVMOP_IO_RANGE_MEMORY, HVMOP_IO_RANGE_PCI, HVMOP_IO_RANGE_PORT,
    HVM_PARAM_IOREQ_PFN,
};
use xen_ioreq_rs::ioreq::claims::pci_sbdf_claimed_by;
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::guest_copy::{guest_buffer, take_guest_buffer};
use xen_ioreq_rs::platform::host::irq::sci_forget;
use xen_ioreq_rs::platform::host::{memory, HostPlatform as H};
use xen_ioreq_rs::platform::DomainRef;

const EPERM: i32 = -1;
const EINVAL: i32 = -22;

/// Guest 1 with a controller and the ioreq pool; dom0 (privileged) and dom4 (the guest's
/// stub-domain device model) as emulators.
struct Env {
    guest: DomainRef,
    dom0: DomainRef,
    stub: DomainRef,
}

impl Env {
    fn new() -> Self {
        let dom0 = HostDomain::create(0);
        HostDomain::with(dom0, |h| {
            h.is_privileged = true;
            h.is_hvm = false;
        });
        let stub = HostDomain::create(4);
        HostDomain::with(stub, |h| h.dm_target = Some(1));
        let guest = HostDomain::create(1);
        sci_forget(guest);
        // SAFETY: a live host domain.
        assert_eq!(unsafe { hvm_pci_hotplug_init(guest.as_ptr().cast()) }, 0);
        ioreq_ready(guest, dom0);
        Env { guest, dom0, stub }
    }

    fn call(&self, caller: DomainRef, slot: u8, enable: u8) -> i32 {
        let arg = xen_hvm_pci_hotplug {
            domid: 1,
            slot,
            enable,
            state: 0,
        };
        HostDomain::set_current(caller);
        let h = guest_buffer(arg.as_bytes());
        let rc = hvmop_pci_hotplug(h.0 as *mut c_void);
        take_guest_buffer(h);
        assert_eq!(HostDomain::outstanding_rcu_locks(), 0);
        rc
    }

    fn state(&self, slot: u8) -> u32 {
        let arg = xen_hvm_pci_hotplug {
            domid: 1,
            slot,
            enable: XEN_HVM_PCI_HOTPLUG_QUERY,
            state: 0,
        };
        HostDomain::set_current(self.dom0);
        let h = guest_buffer(arg.as_bytes());
        assert_eq!(hvmop_pci_hotplug(h.0 as *mut c_void), 0);
        let out: [u8; 8] = take_guest_buffer(h).try_into().unwrap();
        xen_hvm_pci_hotplug::read_from_bytes(&out).unwrap().state
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // SAFETY: a live host domain; nothing else uses its controller (one thread).
        unsafe { hvm_pci_hotplug_deinit(self.guest.as_ptr().cast()) };
        ioreq_release(self.guest);
        for d in [self.guest, self.stub, self.dom0] {
            HostDomain::destroy(d);
        }
    }
}

fn sbdf(slot: u32, func: u32) -> u32 {
    pci_sbdf(0, 0, slot, func)
}

#[test]
fn plug_without_a_claim_is_refused() {
    let e = Env::new();
    let before = snapshot::<H>(e.guest);
    // No server at all.
    assert_eq!(e.call(e.dom0, 3, XEN_HVM_PCI_HOTPLUG_PLUG), EPERM);
    // A server that claims ports, memory and other PCI devices, but not 00:03.0.
    let id = claim(e.guest, 0, sbdf(4, 0), sbdf(4, 7));
    let r = |t, s, end| ioreq::map_io_range::<H>(e.guest, id, t, s, end);
    r(HVMOP_IO_RANGE_PORT, 0x18, 0x18).unwrap(); // the SBDF's value as a port
    r(HVMOP_IO_RANGE_MEMORY, 0x18, 0x18).unwrap();
    r(HVMOP_IO_RANGE_PCI, sbdf(3, 1).into(), sbdf(3, 7).into()).unwrap(); // functions 1-7 only
    assert_eq!(e.call(e.dom0, 3, XEN_HVM_PCI_HOTPLUG_PLUG), EPERM);
    assert_eq!(e.call(e.dom0, 3, XEN_HVM_PCI_HOTPLUG_UNPLUG), EPERM);
    // A device on another bus or segment is not the slot's either.
    let id2 = claim(e.guest, 0, pci_sbdf(0, 1, 3, 0), pci_sbdf(0, 1, 3, 0));
    claim(e.guest, 0, pci_sbdf(1, 0, 3, 0), pci_sbdf(1, 0, 3, 0));
    assert_eq!(e.call(e.dom0, 3, XEN_HVM_PCI_HOTPLUG_PLUG), EPERM);
    assert_eq!(snapshot::<H>(e.guest), before, "refusals change nothing");
    // Queries and the slot checks are not gated; slot checks come first.
    assert_eq!(e.state(3), 0);
    assert_eq!(e.call(e.dom0, 0, XEN_HVM_PCI_HOTPLUG_PLUG), EINVAL);
    assert_eq!(e.call(e.dom0, 32, XEN_HVM_PCI_HOTPLUG_PLUG), EINVAL);
    // A claim that was given up no longer counts.
    assert_eq!(e.call(e.dom0, 4, XEN_HVM_PCI_HOTPLUG_PLUG), 0);
    let s4 = u64::from(sbdf(4, 0));
    ioreq::unmap_io_range::<H>(e.guest, id, HVMOP_IO_RANGE_PCI, s4, s4).unwrap();
    assert_eq!(e.call(e.dom0, 4, XEN_HVM_PCI_HOTPLUG_UNPLUG), EPERM);
    ioreq::destroy_server::<H>(e.guest, id2).unwrap();
}

#[test]
fn plug_with_a_claim_succeeds() {
    let e = Env::new();
    // Claimed by a disabled server: ownership does not depend on the server's state.
    let id = claim(e.guest, 0, sbdf(3, 0), sbdf(3, 0));
    assert!(pci_sbdf_claimed_by::<H>(e.guest, 0, sbdf(3, 0)));
    assert_eq!(e.call(e.dom0, 3, XEN_HVM_PCI_HOTPLUG_PLUG), 0);
    assert_eq!(e.state(3), slot_state::PRESENT | slot_state::INSERT_PENDING);
    ioreq::set_server_state::<H>(e.guest, id, true).unwrap();
    assert_eq!(e.call(e.dom0, 3, XEN_HVM_PCI_HOTPLUG_UNPLUG), 0);
    assert_ne!(e.state(3) & slot_state::REMOVE_PENDING, 0);
    // A range covering several slots claims each of them; the stub DM's own claim counts for it.
    claim(e.guest, 0, sbdf(5, 0), sbdf(7, 7));
    for slot in 5..=7 {
        assert_eq!(
            e.call(e.dom0, slot, XEN_HVM_PCI_HOTPLUG_PLUG),
            0,
            "slot {slot}"
        );
    }
    claim(e.guest, 4, sbdf(9, 0), sbdf(9, 0));
    assert_eq!(e.call(e.stub, 9, XEN_HVM_PCI_HOTPLUG_PLUG), 0);
    assert_eq!(HostDomain::with(e.guest, |h| h.pause_count), 0);
}

#[test]
fn claim_by_another_emulator_domain_is_refused() {
    let e = Env::new();
    // dom0's server claims slot 3: the stub DM (which passes XSM for the guest) may not use it.
    claim(e.guest, 0, sbdf(3, 0), sbdf(3, 7));
    assert!(!pci_sbdf_claimed_by::<H>(e.guest, 4, sbdf(3, 0)));
    assert_eq!(e.call(e.stub, 3, XEN_HVM_PCI_HOTPLUG_PLUG), EPERM);
    // ... nor unplug dom0's device.
    assert_eq!(e.call(e.dom0, 3, XEN_HVM_PCI_HOTPLUG_PLUG), 0);
    assert_eq!(e.call(e.stub, 3, XEN_HVM_PCI_HOTPLUG_UNPLUG), EPERM);
    assert_eq!(e.state(3), slot_state::PRESENT | slot_state::INSERT_PENDING);
    // And the other way round: the stub's slot is not dom0's, privileged as dom0 is.
    claim(e.guest, 4, sbdf(8, 0), sbdf(8, 0));
    assert_eq!(e.call(e.dom0, 8, XEN_HVM_PCI_HOTPLUG_PLUG), EPERM);
    assert_eq!(e.call(e.stub, 8, XEN_HVM_PCI_HOTPLUG_PLUG), 0);
    // The default server (QEMU, here emulated by dom0) claims nothing.
    memory::populate(e.guest, 0xfeffd);
    HostDomain::with(e.guest, |h| {
        h.params[HVM_PARAM_IOREQ_PFN as usize] = 0xfeffd
    });
    ioreq::create_server::<H>(e.guest, 0, true, false).unwrap();
    assert!(!pci_sbdf_claimed_by::<H>(e.guest, 0, sbdf(2, 0)));
    assert_eq!(e.call(e.dom0, 2, XEN_HVM_PCI_HOTPLUG_PLUG), EPERM);
}
