//! HVMOP_pci_hotplug on raw argument bytes (any length, any domid, slot, enable) from callers
//! with different privileges. Invariants: no panic; RCU locks balanced; the return code is one
//! the handler documents; a failed call or a query changes nothing; a query copies back the slot's
//! state and nothing else; a plug or unplug succeeds only for a caller whose ioreq server claims
//! the slot (H10: dom0 claims slots 1-20, the stub DM 16-31).
#![no_main]

use std::ffi::c_void;

#[path = "../../tests/hotplug_common/mod.rs"]
mod hotplug_common;
use hotplug_common::{claim, ioreq_ready, ioreq_release};

use libfuzzer_sys::fuzz_target;
use xen_ioreq_rs::hotplug::domain::snapshot;
use xen_ioreq_rs::hotplug::ffi::*;
use xen_ioreq_rs::hotplug::hypercall::pci_sbdf;
use xen_ioreq_rs::ioreq::claims::pci_sbdf_claimed_by;
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::guest_copy::{guest_buffer, take_guest_buffer};
use xen_ioreq_rs::platform::host::irq::sci_forget;
use xen_ioreq_rs::platform::host::HostPlatform;
use xen_ioreq_rs::platform::{GuestCopy, GuestHandle};

const OK: [i32; 9] = [0, -1, -2, -3, -14, -16, -17, -22, -95];

fuzz_target!(|data: &[u8]| {
    // Domains: 0 privileged PV dm, 1 HVM guest with controller, 2 HVM guest without,
    // 3 PV, 4 stub-domain DM of 1, 5 unprivileged HVM.
    let d0 = HostDomain::create(0);
    HostDomain::with(d0, |h| {
        h.is_privileged = true;
        h.is_hvm = false
    });
    let g = HostDomain::create(1);
    sci_forget(g);
    // SAFETY: a live host domain.
    assert_eq!(unsafe { hvm_pci_hotplug_init(g.as_ptr().cast()) }, 0);
    let bare = HostDomain::create(2);
    let pv = HostDomain::create(3);
    HostDomain::with(pv, |h| h.is_hvm = false);
    let stub = HostDomain::create(4);
    HostDomain::with(stub, |h| h.dm_target = Some(1));
    let other = HostDomain::create(5);
    ioreq_ready(g, d0);
    claim(g, 0, pci_sbdf(0, 0, 1, 0), pci_sbdf(0, 0, 20, 7));
    claim(g, 4, pci_sbdf(0, 0, 16, 0), pci_sbdf(0, 0, 31, 7));
    let callers = [d0, g, bare, pv, stub, other];
    // One 8-byte argument buffer for the whole input (the host keeps a slot per buffer); a call
    // with a shorter argument uses its tail, so that the 8-byte copy runs off its end (-EFAULT).
    let buf = guest_buffer(&[0u8; 8]);

    // Each call: 1 byte selecting caller and how the domid is formed, 1 length byte, then args.
    let mut rest = data;
    while rest.len() >= 2 {
        let sel = rest[0];
        let len = usize::from(rest[1] % 9);
        rest = &rest[2..];
        let take = len.min(rest.len());
        let mut arg = rest[..take].to_vec();
        rest = &rest[take..];
        if sel & 0x80 != 0 && arg.len() >= 2 {
            // Keep the domid among the live domains most of the time.
            arg[0] %= 7;
            arg[1] = 0;
        }
        let caller = callers[usize::from(sel % 6)];
        let before = snapshot::<HostPlatform>(g).expect("controller");
        let h = GuestHandle(buf.0 + 8 - arg.len());
        HostPlatform::copy_to_guest(h, &arg).expect("inside the buffer");
        HostDomain::set_current(caller);
        let rc = hvmop_pci_hotplug(h.0 as *mut c_void);
        let mut out = vec![0u8; arg.len()];
        HostPlatform::copy_from_guest(&mut out, h).expect("inside the buffer");
        assert_eq!(HostDomain::outstanding_rcu_locks(), 0);
        assert!(OK.contains(&rc), "rc {rc}");
        if arg.len() < 8 {
            assert_eq!(rc, -14);
        }
        let after = snapshot::<HostPlatform>(g).expect("controller");
        let is_query = arg.len() >= 8 && arg[3] == 2;
        if rc != 0 || is_query {
            assert_eq!(before, after);
        }
        if rc == 0 && !is_query {
            let caller_id = HostDomain::with(caller, |h| h.id());
            let sbdf = pci_sbdf(0, 0, u32::from(arg[2]), 0);
            assert!(pci_sbdf_claimed_by::<HostPlatform>(g, caller_id, sbdf));
        }
        if rc == 0 && is_query {
            assert_eq!(out[..4], arg[..4]);
        } else {
            assert_eq!(out, arg, "nothing copied back");
        }
        assert!(after.is_consistent());
    }

    take_guest_buffer(buf);
    // SAFETY: a live host domain; nothing else uses its controller (one thread).
    unsafe { hvm_pci_hotplug_deinit(g.as_ptr().cast()) };
    ioreq_release(g);
    for d in callers {
        HostDomain::destroy(d);
    }
});
