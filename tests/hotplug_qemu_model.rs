//! The controller against a model of what it copies: QEMU 2.1's ACPI GPE block (`hw/acpi/core.c`)
//! and PCI hotplug registers (`hw/acpi/pcihp.c`, legacy PIIX mode, bus 0), written here from a
//! description of their behaviour (not from QEMU's C) as an executable oracle. Random guest
//! accesses and emulator requests go to both; every divergence must be one of the FIDELITY H
//! entries that says it differs from QEMU, and each of those must be seen.
//!
//! This is a model check, not a differential test against C: QEMU 2.1's source is not built here.

use std::collections::BTreeMap;
use std::ffi::c_void;

mod hotplug_common;
use hotplug_common::{claim_all_slots, ioreq_ready, ioreq_release};

use xen_ioreq_rs::hotplug::controller::{GPE0_BASE, PCIHP_BASE};
use xen_ioreq_rs::hotplug::domain::snapshot;
use xen_ioreq_rs::hotplug::ffi::*;
use xen_ioreq_rs::hotplug::hypercall::xen_hvm_pci_hotplug;
use xen_ioreq_rs::ioreq::abi::IntoBytes;
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::guest_copy::{guest_buffer, take_guest_buffer};
use xen_ioreq_rs::platform::host::irq::{sci_forget, sci_line};
use xen_ioreq_rs::platform::host::HostPlatform;
use xen_ioreq_rs::platform::irq::SciSource;
use xen_ioreq_rs::platform::{DomainRef, GuestCopy};

/// QEMU 2.1, as far as the Xen DSDT can observe it.
#[derive(Clone, Copy, Debug, Default)]
struct Qemu21 {
    sts: [u8; 2],
    en: [u8; 2],
    up: u32,
    down: u32,
    /// Slots holding a hot-pluggable device.
    present: u32,
}

/// Slots whose devices QEMU may remove (`hotplug_enable`): all but the host bridge.
const QEMU_HOTPLUG_ENABLE: u32 = !1;

impl Qemu21 {
    /// The memory core accepts 1-4 byte accesses inside the 4-byte block and splits them into
    /// bytes. `None`: the access never reaches the device.
    fn gpe_read(&self, off: u32, bytes: u32) -> Option<u32> {
        if !matches!(bytes, 1 | 2 | 4) || off + bytes > 4 {
            return None;
        }
        let block = [self.sts[0], self.sts[1], self.en[0], self.en[1]];
        Some((0..bytes).fold(0, |v, i| {
            v | u32::from(block[(off + i) as usize]) << (8 * i)
        }))
    }
    fn gpe_write(&mut self, off: u32, bytes: u32, val: u32) -> Option<()> {
        if !matches!(bytes, 1 | 2 | 4) || off + bytes > 4 {
            return None;
        }
        for i in 0..bytes {
            let b = (val >> (8 * i)) as u8;
            match off + i {
                0 | 1 => self.sts[(off + i) as usize] &= !b,
                o => self.en[(o - 2) as usize] = b,
            }
        }
        Some(())
    }
    /// `acpi_update_sci`: GPE byte 0 only.
    fn sci(&self) -> bool {
        self.sts[0] & self.en[0] != 0
    }
    /// Only aligned 4-byte accesses are valid for the hotplug region.
    fn pcihp_read(&self, off: u32, bytes: u32) -> Option<u32> {
        if bytes != 4 || off % 4 != 0 {
            return None;
        }
        Some(match off {
            0x0 => self.up,
            0x4 => self.down,
            0x8 => 0,
            _ => QEMU_HOTPLUG_ENABLE,
        })
    }
    fn pcihp_write(&mut self, off: u32, bytes: u32, val: u32) -> Option<()> {
        if bytes != 4 || off % 4 != 0 {
            return None;
        }
        if off == 0x8 && val != 0 {
            let bit = 1u32 << val.trailing_zeros();
            self.up &= !bit;
            self.down &= !bit;
            if bit & QEMU_HOTPLUG_ENABLE != 0 {
                self.present &= !bit;
            }
        }
        Some(())
    }
    fn plug(&mut self, slot: u32) -> bool {
        let bit = 1u32 << slot;
        if self.present & bit != 0 {
            return false;
        }
        self.present |= bit;
        self.up |= bit;
        self.sts[0] |= 2;
        true
    }
    fn unplug(&mut self, slot: u32) -> bool {
        let bit = 1u32 << slot;
        if self.present & bit == 0 {
            return false;
        }
        self.down |= bit;
        self.sts[0] |= 2;
        true
    }
    fn raise(&mut self, bit: u32) {
        self.sts[(bit / 8) as usize] |= 1 << (bit % 8);
    }
    /// Takes the controller's state, so that one divergence is classified once.
    fn resync(&mut self, d: DomainRef) {
        let c = snapshot::<HostPlatform>(d).expect("controller");
        self.sts = c.gpe_status().to_le_bytes();
        self.en = c.gpe_enable().to_le_bytes();
        self.up = c.pciu();
        self.down = c.pcid();
        self.present = c.present();
    }
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 16) as u32
    }
    fn below(&mut self, n: u32) -> u32 {
        self.next() % n
    }
}

#[test]
fn controller_matches_qemu21_except_listed_entries() {
    let dm = HostDomain::create(0);
    HostDomain::with(dm, |h| h.is_privileged = true);
    let g = HostDomain::create(1);
    sci_forget(g);
    // SAFETY: a live host domain.
    assert_eq!(unsafe { hvm_pci_hotplug_init(g.as_ptr().cast()) }, 0);
    // The device model owns every slot (H10).
    ioreq_ready(g, dm);
    claim_all_slots(g, 0);
    let buf = guest_buffer(&[0u8; 8]);
    let mut q = Qemu21::default();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seen: BTreeMap<&str, u32> = BTreeMap::new();
    let mut unexplained = 0u32;
    let mut ops = 0u32;

    let io = |dir: i32, port: u32, bytes: u32, val: u32| {
        HostDomain::set_current(g);
        let mut v = val;
        // SAFETY: `v` is a live u32.
        let rc = unsafe {
            if port < PCIHP_BASE + 0x100 {
                hvm_pci_hotplug_io(dir, port, bytes, &mut v)
            } else {
                hvm_gpe_io(dir, port, bytes, &mut v)
            }
        };
        assert_eq!(rc, 0);
        v
    };
    let request = |slot: u32, enable: u8| {
        let arg = xen_hvm_pci_hotplug {
            domid: 1,
            slot: slot as u8,
            enable,
            state: 0,
        };
        HostPlatform::copy_to_guest(buf, arg.as_bytes()).expect("buffer");
        HostDomain::set_current(dm);
        hvmop_pci_hotplug(buf.0 as *mut c_void)
    };

    for _ in 0..20_000 {
        ops += 1;
        let width = [1, 2, 4, 4, 4, 3][rng.below(6) as usize];
        let mut why: Option<&str> = None;
        let mut diverged = false;
        match rng.below(10) {
            0 | 1 => {
                let off = rng.below(5);
                let r = io(1, GPE0_BASE + off, width, 0);
                match q.gpe_read(off, width) {
                    Some(m) if m == r => {}
                    Some(_) => diverged = true,
                    None => {
                        diverged = true;
                        why = Some("H1");
                    }
                }
            }
            2 => {
                let off = rng.below(5);
                // Mostly clear status bits, sometimes set enables (bit 1 and 2 often).
                let val = if rng.below(2) == 0 {
                    0x0006_0000 | 0x06
                } else {
                    rng.next()
                };
                io(0, GPE0_BASE + off, width, val);
                if q.gpe_write(off, width, val).is_none() {
                    why = Some("H1");
                }
            }
            3 => {
                let off = rng.below(16);
                let w = if rng.below(3) == 0 { width } else { 4 };
                let off = if w == 4 && rng.below(4) != 0 {
                    off & !3
                } else {
                    off
                };
                let r = io(1, PCIHP_BASE + off, w, 0);
                match q.pcihp_read(off, w) {
                    Some(m) if m == r => {}
                    Some(_) if off == 0xc => {
                        diverged = true;
                        why = Some("H6");
                    }
                    Some(_) => diverged = true,
                    None => {
                        diverged = true;
                        why = Some("H5");
                    }
                }
            }
            4 | 5 => {
                // _EJ0 of a random slot, or an arbitrary B0EJ value.
                let val = if rng.below(4) == 0 {
                    rng.next()
                } else {
                    1 << rng.below(32)
                };
                let w = if rng.below(8) == 0 { width } else { 4 };
                let pending = q.down;
                io(0, PCIHP_BASE + 8, w, val);
                match q.pcihp_write(8, w, val) {
                    None => why = Some("H5"),
                    Some(()) => {
                        if val != 0 && (1u32 << val.trailing_zeros()) & pending == 0 {
                            why = Some("H4");
                        }
                    }
                }
            }
            6 => {
                let off = [0, 4, 0xc][rng.below(3) as usize];
                io(0, PCIHP_BASE + off, 4, rng.next());
                q.pcihp_write(off, 4, 0).expect("a valid access");
            }
            7 => {
                let slot = 1 + rng.below(31);
                let rc = request(slot, 1);
                if (rc == 0) != q.plug(slot) {
                    diverged = true;
                }
            }
            8 => {
                let slot = 1 + rng.below(31);
                let rc = request(slot, 0);
                if (rc == 0) != q.unplug(slot) {
                    diverged = true;
                }
            }
            _ => {
                let bit = if rng.below(2) == 0 { 2 } else { rng.below(16) };
                assert_eq!(
                    // SAFETY: a live host domain.
                    unsafe { hvm_pci_hotplug_gpe_raise(g.as_ptr().cast(), bit) },
                    0
                );
                q.raise(bit);
            }
        }
        // Registers and the line, as the guest would next see them.
        let c = snapshot::<HostPlatform>(g).expect("controller");
        let state_differs = c.gpe_status().to_le_bytes() != q.sts
            || c.gpe_enable().to_le_bytes() != q.en
            || c.pciu() != q.up
            || c.pcid() != q.down
            || c.present() != q.present;
        let rust_sci = sci_line(g).source(SciSource::Gpe0);
        let sci_differs = rust_sci != q.sci();
        if sci_differs && !state_differs && why.is_none() {
            // Only status/enable bits 8-15 can make the two rules disagree.
            let s = c.gpe_status() & c.gpe_enable();
            why = (s & 0xff00 != 0 && s & 0xff == 0).then_some("H2");
        }
        if diverged || state_differs || sci_differs {
            match why {
                Some(id) => *seen.entry(id).or_default() += 1,
                None => {
                    unexplained += 1;
                    eprintln!("unexplained divergence at op {ops}: rust {c:?}, qemu {q:?}");
                }
            }
            q.resync(g);
        }
    }
    take_guest_buffer(buf);
    // SAFETY: a live host domain; nothing else uses its controller (one thread).
    unsafe { hvm_pci_hotplug_deinit(g.as_ptr().cast()) };
    ioreq_release(g);
    HostDomain::destroy(g);
    HostDomain::destroy(dm);

    let total: u32 = seen.values().sum();
    println!(
        "modeltest hotplug_qemu21: {ops} ops compared, {unexplained} unexplained divergences \
         ({total} explained: {seen:?})"
    );
    assert_eq!(unexplained, 0);
    for id in ["H1", "H2", "H4", "H5", "H6"] {
        assert!(seen.contains_key(id), "{id} never observed: {seen:?}");
    }
}
