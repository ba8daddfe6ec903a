//! Arbitrary sequences of guest port accesses (any port near the two blocks, any width, value and
//! direction), emulator hotplug requests, GPE events, PM1a level changes and save/restore of
//! arbitrary bytes against one domain's PCI hotplug controller, through the C ABI.
//!
//! Invariants after every step: no panic; the controller's SCI source equals
//! any(GPE status & enable) over all 16 GPEs and the line is the OR with PM1a; the state is one
//! the controller can reach; a slot leaves `present` only by a 4-byte B0EJ write naming it as
//! lowest set bit while its removal was pending; a failed request or load changes nothing.
#![no_main]

use std::ffi::c_void;

#[path = "../../tests/hotplug_common/mod.rs"]
mod hotplug_common;
use hotplug_common::{claim_all_slots, ioreq_ready, ioreq_release};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use xen_ioreq_rs::hotplug::controller::{GPE0_BASE, PCIHP_B0EJ, PCIHP_BASE};
use xen_ioreq_rs::hotplug::domain::snapshot;
use xen_ioreq_rs::hotplug::ffi::*;
use xen_ioreq_rs::hotplug::hypercall::xen_hvm_pci_hotplug;
use xen_ioreq_rs::ioreq::abi::{FromBytes, IntoBytes};
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::guest_copy::{guest_buffer, take_guest_buffer};
use xen_ioreq_rs::platform::host::irq::{sci_forget, sci_line};
use xen_ioreq_rs::platform::host::HostPlatform;
use xen_ioreq_rs::platform::irq::SciSource;
use xen_ioreq_rs::platform::{DomainRef, GuestCopy, IsaIrq};

#[derive(Arbitrary, Debug)]
enum Step {
    /// A port access at `base + offset` (base: GPE0 or the slot registers).
    Io {
        gpe: bool,
        offset: u8,
        width: u8,
        write: bool,
        value: u32,
    },
    /// HVMOP_pci_hotplug with this slot and enable (raw: invalid values included).
    Request {
        slot: u8,
        enable: u8,
    },
    GpeRaise(u8),
    Pm1a(bool),
    /// Load arbitrary bytes.
    Load(Vec<u8>),
    /// Save, flip one byte, load.
    SaveMutateLoad {
        at: u8,
        xor: u8,
    },
    /// Save and load unchanged.
    RoundTrip,
}

fn check(d: xen_ioreq_rs::platform::DomainRef, pm1a: bool) {
    let c = snapshot::<HostPlatform>(d).expect("controller exists");
    let line = sci_line(d);
    assert_eq!(
        line.source(SciSource::Gpe0),
        c.gpe_status() & c.gpe_enable() != 0
    );
    assert_eq!(line.level(), line.source(SciSource::Gpe0) || pm1a);
    assert!(c.is_consistent(), "{c:?}");
}

fn save(d: DomainRef) -> [u8; 32] {
    let mut b = [0u8; 32];
    assert_eq!(
        // SAFETY: a host-platform domain (the host resolves it in its registry); `b` is
        // writable for 32 bytes.
        unsafe { hvm_pci_hotplug_save(d.as_ptr().cast(), b.as_mut_ptr(), 32) },
        32
    );
    b
}

fn load(d: DomainRef, b: &[u8]) -> i32 {
    // SAFETY: a host-platform domain (as in `save`); `b` is readable for its length.
    unsafe { hvm_pci_hotplug_load(d.as_ptr().cast(), b.as_ptr(), b.len()) }
}

fuzz_target!(|steps: Vec<Step>| {
    let dm = HostDomain::create(0);
    HostDomain::with(dm, |h| h.is_privileged = true);
    let g = HostDomain::create(1);
    sci_forget(g);
    // SAFETY: a live host domain.
    assert_eq!(unsafe { hvm_pci_hotplug_init(g.as_ptr().cast()) }, 0);
    // The device model owns every slot (FIDELITY H10).
    ioreq_ready(g, dm);
    claim_all_slots(g, 0);
    let mut pm1a = false;
    // One argument buffer per input (the host keeps a slot per buffer), rewritten per request.
    let buf = guest_buffer(&[0u8; 8]);

    for step in steps.iter().take(256) {
        let before = snapshot::<HostPlatform>(g).expect("controller");
        let rec_before = save(g);
        let mut may_eject = 0u32;
        match *step {
            Step::Io {
                gpe,
                offset,
                width,
                write,
                value,
            } => {
                let base = if gpe { GPE0_BASE } else { PCIHP_BASE };
                let port = base + u32::from(offset % 0x18);
                let bytes = u32::from(width % 9);
                let mut v = value;
                HostDomain::set_current(g);
                let dir = if write { 0 } else { 1 };
                // SAFETY: `v` is a live u32.
                let rc = unsafe {
                    if gpe {
                        hvm_gpe_io(dir, port, bytes, &mut v)
                    } else {
                        hvm_pci_hotplug_io(dir, port, bytes, &mut v)
                    }
                };
                assert_eq!(rc, 0);
                if write && !gpe && bytes == 4 && port == PCIHP_BASE + PCIHP_B0EJ && value != 0 {
                    may_eject = (1u32 << value.trailing_zeros()) & before.pcid();
                }
                if write {
                    assert_eq!(v, value, "a write does not touch *val");
                }
            }
            Step::Request { slot, enable } => {
                let arg = xen_hvm_pci_hotplug {
                    domid: 1,
                    slot,
                    enable,
                    state: 0,
                };
                HostPlatform::copy_to_guest(buf, arg.as_bytes()).expect("buffer");
                HostDomain::set_current(dm);
                let rc = hvmop_pci_hotplug(buf.0 as *mut c_void);
                let mut out = [0u8; 8];
                HostPlatform::copy_from_guest(&mut out, buf).expect("buffer");
                assert_eq!(HostDomain::outstanding_rcu_locks(), 0);
                let s = u32::from(slot);
                let valid = (1..32).contains(&s) && enable <= 2;
                assert_eq!(rc == -22, !valid, "rc {rc}");
                if rc != 0 || enable == 2 {
                    assert_eq!(save(g), rec_before, "rc {rc} changed state");
                }
                if valid && enable == 1 {
                    assert_eq!(rc == 0, before.present() & (1 << s) == 0);
                }
                if valid && enable == 0 {
                    assert_eq!(rc == 0, before.present() & (1 << s) != 0);
                }
                if rc == 0 && enable == 2 {
                    let st = xen_hvm_pci_hotplug::read_from_bytes(&out).unwrap().state;
                    assert_eq!(Ok(st), before.slot_state(s));
                }
            }
            Step::GpeRaise(bit) => {
                // SAFETY: a live host domain.
                let rc = unsafe { hvm_pci_hotplug_gpe_raise(g.as_ptr().cast(), u32::from(bit)) };
                assert_eq!(rc == 0, bit < 16);
            }
            Step::Pm1a(level) => {
                pm1a = level;
                HostPlatform::sci_set_level(g, SciSource::Pm1a, level);
            }
            Step::Load(ref bytes) => {
                if load(g, bytes) != 0 {
                    assert_eq!(save(g), rec_before);
                }
            }
            Step::SaveMutateLoad { at, xor } => {
                let mut b = rec_before;
                b[usize::from(at % 32)] ^= xor;
                if load(g, &b) != 0 {
                    assert_eq!(save(g), rec_before);
                } else {
                    assert_eq!(save(g), b);
                }
            }
            Step::RoundTrip => {
                assert_eq!(load(g, &rec_before), 0);
                assert_eq!(save(g), rec_before);
            }
        }
        let after = snapshot::<HostPlatform>(g).expect("controller");
        if !matches!(step, Step::Load(_) | Step::SaveMutateLoad { .. }) {
            let left = before.present() & !after.present();
            assert_eq!(left, may_eject, "eject only of a pending slot");
        }
        check(g, pm1a);
    }

    take_guest_buffer(buf);
    // SAFETY: a live host domain; nothing else uses its controller (one thread).
    unsafe { hvm_pci_hotplug_deinit(g.as_ptr().cast()) };
    assert!(!sci_line(g).source(SciSource::Gpe0));
    sci_forget(g);
    ioreq_release(g);
    HostDomain::destroy(g);
    HostDomain::destroy(dm);
});
