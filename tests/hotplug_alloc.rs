//! Memory of the PCI hotplug controller: init fails cleanly with -ENOMEM, init/deinit leaks
//! nothing, and the guest I/O path, the hypercall and save/load allocate nothing at all (they run
//! in vCPU and hypercall context, where an allocation failure would have no error to report).

use std::ffi::c_void;

mod hotplug_common;
use hotplug_common::{claim_all_slots, ioreq_ready, ioreq_release};

use xen_ioreq_rs::hotplug::controller::{GPE0_BASE, PCIHP_BASE};
use xen_ioreq_rs::hotplug::ffi::*;
use xen_ioreq_rs::hotplug::hypercall::xen_hvm_pci_hotplug;
use xen_ioreq_rs::ioreq::abi::IntoBytes;
use xen_ioreq_rs::platform::host::alloc::{
    fail_allocations_after, live_allocations, CountingAllocator,
};
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::guest_copy::{guest_buffer, take_guest_buffer};
use xen_ioreq_rs::platform::host::irq::{sci_forget, sci_line};
use xen_ioreq_rs::platform::host::HostPlatform;
use xen_ioreq_rs::platform::irq::SciSource;
use xen_ioreq_rs::platform::{GuestCopy, IsaIrq};

#[global_allocator]
static A: CountingAllocator = CountingAllocator;

const ENOMEM: i32 = -12;

#[test]
fn init_out_of_memory_and_no_leaks() {
    let dm = HostDomain::create(0);
    HostDomain::with(dm, |h| h.is_privileged = true);
    let g = HostDomain::create(1);
    sci_forget(g);
    // Prime the per-thread bookkeeping (SCI record, guest buffer table) before counting.
    HostPlatform::sci_set_level(g, SciSource::Gpe0, false);
    let buf = guest_buffer(&[0u8; 8]);
    // The device model's claim on the slots (H10); asking it allocates nothing either.
    ioreq_ready(g, dm);
    claim_all_slots(g, 0);

    let base = live_allocations();
    fail_allocations_after(Some(0));
    // SAFETY: a live host domain.
    assert_eq!(unsafe { hvm_pci_hotplug_init(g.as_ptr().cast()) }, ENOMEM);
    fail_allocations_after(None);
    assert_eq!(live_allocations(), base);
    HostDomain::set_current(g);
    let mut v = 0;
    // SAFETY: live u32.
    assert_eq!(unsafe { hvm_pci_hotplug_io(1, PCIHP_BASE, 4, &mut v) }, 0);
    assert_eq!(v, !0, "no controller after a failed init");

    // SAFETY: a live host domain.
    assert_eq!(unsafe { hvm_pci_hotplug_init(g.as_ptr().cast()) }, 0);
    assert_eq!(live_allocations(), base + 1, "one allocation per domain");

    // Plug, SCI, _E01, unplug, _EJ0, query, save, load: with allocation forbidden.
    let req = |slot: u8, enable: u8| {
        let arg = xen_hvm_pci_hotplug {
            domid: 1,
            slot,
            enable,
            state: 0,
        };
        HostPlatform::copy_to_guest(buf, arg.as_bytes()).expect("buffer");
        HostDomain::set_current(dm);
        hvmop_pci_hotplug(buf.0 as *mut c_void)
    };
    let io = |dir: i32, port: u32, bytes: u32, val: u32| {
        HostDomain::set_current(g);
        let mut v = val;
        // SAFETY: live u32.
        let rc = unsafe {
            if port >= GPE0_BASE {
                hvm_gpe_io(dir, port, bytes, &mut v)
            } else {
                hvm_pci_hotplug_io(dir, port, bytes, &mut v)
            }
        };
        assert_eq!(rc, 0);
        v
    };
    fail_allocations_after(Some(0));
    io(0, GPE0_BASE + 2, 1, 0x02);
    assert_eq!(req(5, 1), 0);
    assert!(sci_line(g).level());
    io(0, GPE0_BASE, 1, 0x02);
    assert_eq!(io(1, PCIHP_BASE, 4, 0), 1 << 5);
    assert_eq!(req(5, 0), 0);
    io(0, PCIHP_BASE + 8, 4, 1 << 5);
    assert_eq!(req(5, 2), 0);
    assert_eq!(
        // SAFETY: a live host domain.
        unsafe { hvm_pci_hotplug_gpe_raise(g.as_ptr().cast(), 2) },
        0
    );
    let mut rec = [0u8; 32];
    // SAFETY: `rec` is valid for 32 bytes.
    unsafe {
        assert_eq!(
            hvm_pci_hotplug_save(g.as_ptr().cast(), rec.as_mut_ptr(), 32),
            32
        );
        assert_eq!(hvm_pci_hotplug_load(g.as_ptr().cast(), rec.as_ptr(), 32), 0);
    }
    fail_allocations_after(None);
    assert_eq!(live_allocations(), base + 1);

    // SAFETY: a live host domain; nothing else uses its controller (one thread).
    unsafe { hvm_pci_hotplug_deinit(g.as_ptr().cast()) };
    assert_eq!(live_allocations(), base);
    take_guest_buffer(buf);
    ioreq_release(g);
    HostDomain::destroy(g);
    HostDomain::destroy(dm);
}
