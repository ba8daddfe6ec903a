//! The PCI hotplug controller seen from the guest: registers driven exactly as hvmloader's qemu-xen
//! DSDT drives them (`_E01` reads PCIU and PCID and notifies each slot, `_EJ0` writes `1 << slot`
//! to B0EJ), events from an emulator through `HVMOP_pci_hotplug`, the SCI checked after every
//! step, save/restore, and the hypercall's error codes. Everything goes through the C ABI on the
//! host platform.

use std::ffi::c_void;

mod hotplug_common;
use hotplug_common::{claim, claim_all_slots, ioreq_ready, ioreq_release};

use xen_ioreq_rs::hotplug::controller::{slot_state, GPE0_BASE, PCIHP_BASE};
use xen_ioreq_rs::hotplug::ffi::*;
use xen_ioreq_rs::hotplug::hypercall::{
    hvmop_pci_hotplug as hvmop_pci_hotplug_with, pci_sbdf, xen_hvm_pci_hotplug, SlotClaims,
    XEN_HVM_PCI_HOTPLUG_PLUG, XEN_HVM_PCI_HOTPLUG_QUERY, XEN_HVM_PCI_HOTPLUG_UNPLUG,
};
use xen_ioreq_rs::hotplug::save::HVM_PCI_HOTPLUG_RECORD_SIZE;
use xen_ioreq_rs::ioreq::abi::{FromBytes, IntoBytes};
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::guest_copy::{guest_buffer, take_guest_buffer};
use xen_ioreq_rs::platform::host::irq::{sci_forget, sci_line};
use xen_ioreq_rs::platform::irq::SciSource;
use xen_ioreq_rs::platform::{DomainRef, IsaIrq};

type Host = xen_ioreq_rs::platform::host::HostPlatform;

const EPERM: i32 = -1;
const ENOENT: i32 = -2;
const ESRCH: i32 = -3;
const EFAULT: i32 = -14;
const EBUSY: i32 = -16;
const EEXIST: i32 = -17;
const EINVAL: i32 = -22;
const ENOSPC: i32 = -28;
const EOPNOTSUPP: i32 = -95;

const IOREQ_READ: i32 = 1;
const IOREQ_WRITE: i32 = 0;

const GPE_STS: u32 = GPE0_BASE;
const GPE_EN: u32 = GPE0_BASE + 2;
const PCIU: u32 = PCIHP_BASE;
const PCID: u32 = PCIHP_BASE + 4;
const B0EJ: u32 = PCIHP_BASE + 8;
const RMV: u32 = PCIHP_BASE + 0xc;

const DEVICE_CHECK: u8 = 1;
const EJECT_REQUEST: u8 = 3;

/// A guest with a controller, its device model (dom0) and the other domains the error tests need.
struct Env {
    guest: DomainRef,
    dm: DomainRef,
}

impl Env {
    fn new() -> Self {
        let dm = HostDomain::create(0);
        HostDomain::with(dm, |h| {
            h.is_privileged = true;
            h.is_hvm = false;
        });
        let guest = HostDomain::create(1);
        sci_forget(guest);
        // SAFETY: a live host domain.
        assert_eq!(unsafe { hvm_pci_hotplug_init(guest.as_ptr().cast()) }, 0);
        // The device model owns every slot: an ioreq server of its claims them all (H10).
        ioreq_ready(guest, dm);
        claim_all_slots(guest, 0);
        let e = Env { guest, dm };
        e.check_sci();
        e
    }

    fn ptr(&self) -> *mut c_void {
        self.guest.as_ptr()
    }

    /// One port access by a vCPU of the guest; the SCI is checked afterwards.
    fn io(&self, dir: i32, port: u32, bytes: u32, val: u32) -> u32 {
        HostDomain::set_current(self.guest);
        let mut v = val;
        // SAFETY: `v` is a live u32.
        let rc = unsafe {
            if (GPE0_BASE..GPE0_BASE + 4).contains(&port) {
                hvm_gpe_io(dir, port, bytes, &mut v)
            } else {
                hvm_pci_hotplug_io(dir, port, bytes, &mut v)
            }
        };
        assert_eq!(rc, 0, "X86EMUL_OKAY");
        self.check_sci();
        v
    }
    fn inb(&self, port: u32) -> u32 {
        self.io(IOREQ_READ, port, 1, 0)
    }
    fn inw(&self, port: u32) -> u32 {
        self.io(IOREQ_READ, port, 2, 0)
    }
    fn inl(&self, port: u32) -> u32 {
        self.io(IOREQ_READ, port, 4, 0)
    }
    fn out(&self, port: u32, bytes: u32, val: u32) {
        self.io(IOREQ_WRITE, port, bytes, val);
    }

    /// The line the guest sees, from its own registers: the controller's source must equal
    /// any(GPE status & enable), over all 16 GPEs (H2). Reads have no side effect.
    fn check_sci(&self) {
        HostDomain::set_current(self.guest);
        let mut sts = 0u32;
        let mut en = 0u32;
        // SAFETY: live u32s.
        unsafe {
            assert_eq!(hvm_gpe_io(IOREQ_READ, GPE_STS, 2, &mut sts), 0);
            assert_eq!(hvm_gpe_io(IOREQ_READ, GPE_EN, 2, &mut en), 0);
        }
        let line = sci_line(self.guest);
        assert_eq!(
            line.source(SciSource::Gpe0),
            sts & en != 0,
            "sts {sts:#x} en {en:#x}"
        );
        assert_eq!(line.level(), line.sources != 0);
    }

    fn sci(&self) -> bool {
        sci_line(self.guest).level()
    }

    /// HVMOP_pci_hotplug by `caller` with raw argument bytes; returns rc and the bytes after.
    fn hypercall_raw(&self, caller: DomainRef, arg: &[u8]) -> (i32, Vec<u8>) {
        HostDomain::set_current(caller);
        let h = guest_buffer(arg);
        let rc = hvmop_pci_hotplug(h.0 as *mut c_void);
        assert_eq!(HostDomain::outstanding_rcu_locks(), 0, "RCU lock leaked");
        let out = take_guest_buffer(h);
        self.check_sci();
        (rc, out)
    }

    fn op(&self, caller: DomainRef, domid: u16, slot: u8, enable: u8) -> (i32, u32) {
        let arg = xen_hvm_pci_hotplug {
            domid,
            slot,
            enable,
            state: 0xdead_beef,
        };
        let (rc, out) = self.hypercall_raw(caller, arg.as_bytes());
        let out: [u8; 8] = out.try_into().unwrap();
        (
            rc,
            xen_hvm_pci_hotplug::read_from_bytes(&out).unwrap().state,
        )
    }

    fn plug(&self, slot: u8) -> i32 {
        self.op(self.dm, 1, slot, XEN_HVM_PCI_HOTPLUG_PLUG).0
    }
    fn unplug(&self, slot: u8) -> i32 {
        self.op(self.dm, 1, slot, XEN_HVM_PCI_HOTPLUG_UNPLUG).0
    }
    fn query(&self, slot: u8) -> u32 {
        let (rc, state) = self.op(self.dm, 1, slot, XEN_HVM_PCI_HOTPLUG_QUERY);
        assert_eq!(rc, 0);
        state
    }

    /// OSPM at boot: enable GPE 1 (PCI hotplug) and GPE 2 (CPU hotplug), the GPEs with methods.
    fn ospm_enable_gpes(&self) {
        self.out(GPE_EN, 1, 0x06);
    }

    /// OSPM's SCI handler: for each enabled GPE with status set, clear the status (the methods
    /// are `_Exx`: edge, cleared before the method runs) and run the method. Returns the
    /// notifications `_E01` made and whether `_E02` ran.
    fn ospm_sci(&self) -> (Vec<(u32, u8)>, bool) {
        let pending = self.inw(GPE_STS) & self.inw(GPE_EN);
        let mut notes = Vec::new();
        let mut cpu = false;
        if pending & (1 << 1) != 0 {
            self.out(GPE_STS, 1, 1 << 1);
            notes = self.e01();
        }
        if pending & (1 << 2) != 0 {
            self.out(GPE_STS, 1, 1 << 2);
            cpu = true;
        }
        (notes, cpu)
    }

    /// `\_GPE._E01`: PCIU and PCID with 32-bit accesses, then Notify per slot 1..31.
    fn e01(&self) -> Vec<(u32, u8)> {
        let up = self.inl(PCIU);
        let down = self.inl(PCID);
        let mut n = Vec::new();
        for slot in 1..32 {
            if up & (1 << slot) != 0 {
                n.push((slot, DEVICE_CHECK));
            }
            if down & (1 << slot) != 0 {
                n.push((slot, EJECT_REQUEST));
            }
        }
        n
    }

    /// `\_SB.PCI0.Sxx._EJ0`: B0EJ = 1 << slot.
    fn ej0(&self, slot: u32) {
        self.out(B0EJ, 4, 1 << slot);
    }

    fn save(&self) -> [u8; HVM_PCI_HOTPLUG_RECORD_SIZE] {
        let mut b = [0u8; HVM_PCI_HOTPLUG_RECORD_SIZE];
        // SAFETY: `b` is writable for its length.
        let rc = unsafe { hvm_pci_hotplug_save(self.ptr().cast(), b.as_mut_ptr(), b.len()) };
        assert_eq!(rc, HVM_PCI_HOTPLUG_RECORD_SIZE as i32);
        b
    }

    fn load(&self, bytes: &[u8]) -> i32 {
        // SAFETY: `bytes` is readable for its length.
        let rc = unsafe { hvm_pci_hotplug_load(self.ptr().cast(), bytes.as_ptr(), bytes.len()) };
        self.check_sci();
        rc
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // SAFETY: a live host domain; nothing else uses its controller (one thread).
        unsafe { hvm_pci_hotplug_deinit(self.guest.as_ptr().cast()) };
        assert!(!sci_line(self.guest).source(SciSource::Gpe0));
        ioreq_release(self.guest);
        HostDomain::destroy(self.guest);
        HostDomain::destroy(self.dm);
    }
}

#[test]
fn plug_raises_sci_and_e01_notifies_device_check() {
    let e = Env::new();
    e.ospm_enable_gpes();
    assert!(!e.sci());
    assert_eq!(e.plug(3), 0);
    assert!(e.sci());
    assert_eq!(sci_line(e.guest).asserts, 1);
    assert_eq!(e.query(3), slot_state::PRESENT | slot_state::INSERT_PENDING);
    assert_eq!(e.inl(RMV), 1 << 3);
    let (notes, cpu) = e.ospm_sci();
    assert_eq!(notes, vec![(3, DEVICE_CHECK)]);
    assert!(!cpu);
    assert!(!e.sci());
    assert_eq!(sci_line(e.guest).deasserts, 1);
    // PCIU stays latched until an eject (QEMU 2.1 legacy mode, H3): a later GPE re-checks it.
    assert_eq!(e.inl(PCIU), 1 << 3);
}

#[test]
fn unplug_request_then_ej0_completes_removal() {
    let e = Env::new();
    e.ospm_enable_gpes();
    assert_eq!(e.plug(4), 0);
    e.ospm_sci();
    assert_eq!(e.unplug(4), 0);
    assert!(e.sci());
    let (notes, _) = e.ospm_sci();
    // PCIU is still latched, so the same _E01 sends a device check and the eject request.
    assert_eq!(notes, vec![(4, DEVICE_CHECK), (4, EJECT_REQUEST)]);
    assert_eq!(
        e.query(4),
        slot_state::PRESENT | slot_state::INSERT_PENDING | slot_state::REMOVE_PENDING
    );
    e.ej0(4);
    assert_eq!(e.query(4), slot_state::EJECTED);
    assert_eq!((e.inl(PCIU), e.inl(PCID), e.inl(RMV)), (0, 0, 0));
    assert!(!e.sci(), "an eject raises no GPE");
    // The slot can be used again; the new plug clears EJECTED.
    assert_eq!(e.plug(4), 0);
    assert_eq!(e.query(4), slot_state::PRESENT | slot_state::INSERT_PENDING);
}

#[test]
fn several_slots_in_one_event() {
    let e = Env::new();
    e.ospm_enable_gpes();
    for s in [2, 5, 31] {
        assert_eq!(e.plug(s), 0);
    }
    assert_eq!(sci_line(e.guest).asserts, 1, "one level, one edge");
    let (notes, _) = e.ospm_sci();
    assert_eq!(
        notes,
        vec![(2, DEVICE_CHECK), (5, DEVICE_CHECK), (31, DEVICE_CHECK)]
    );
    assert_eq!(e.unplug(2), 0);
    assert_eq!(e.unplug(31), 0);
    let (notes, _) = e.ospm_sci();
    let ejects: Vec<u32> = notes
        .iter()
        .filter(|n| n.1 == EJECT_REQUEST)
        .map(|n| n.0)
        .collect();
    assert_eq!(ejects, vec![2, 31]);
    for s in ejects {
        e.ej0(s);
    }
    assert_eq!(e.inl(RMV), 1 << 5);
    assert_eq!(e.inl(PCID), 0);
    assert_eq!(e.query(2), slot_state::EJECTED);
    assert_eq!(e.query(31), slot_state::EJECTED);
    assert_eq!(e.query(5), slot_state::PRESENT | slot_state::INSERT_PENDING);
}

#[test]
fn plug_during_pending_removal() {
    let e = Env::new();
    e.ospm_enable_gpes();
    assert_eq!(e.plug(6), 0);
    e.ospm_sci();
    assert_eq!(e.unplug(6), 0);
    // The same slot: the old device is still there until the guest ejects it (H8).
    let before = e.save();
    assert_eq!(e.plug(6), EBUSY);
    assert_eq!(e.save(), before, "a refused plug changes nothing");
    // Another slot: both events reach the guest in one _E01.
    assert_eq!(e.plug(7), 0);
    let (notes, _) = e.ospm_sci();
    assert_eq!(
        notes,
        vec![(6, DEVICE_CHECK), (6, EJECT_REQUEST), (7, DEVICE_CHECK)]
    );
    e.ej0(6);
    assert_eq!(e.plug(6), 0, "plug after the eject");
    assert_eq!(e.plug(6), EEXIST);
    assert_eq!(e.unplug(9), ENOENT);
}

#[test]
fn repeated_unplug_request_raises_gpe_again() {
    let e = Env::new();
    e.ospm_enable_gpes();
    assert_eq!(e.plug(8), 0);
    assert_eq!(e.unplug(8), 0);
    e.ospm_sci();
    assert!(!e.sci());
    assert_eq!(e.unplug(8), 0);
    assert!(e.sci());
}

#[test]
fn gpe_block_every_width_and_offset() {
    let e = Env::new();
    // Enable bytes are plain storage: each width at each offset inside the enable half.
    e.out(GPE_EN, 2, 0xbeef);
    assert_eq!(e.inw(GPE_EN), 0xbeef);
    e.out(GPE_EN + 1, 1, 0x12);
    assert_eq!(e.inw(GPE_EN), 0x12ef);
    assert_eq!(e.inb(GPE_EN), 0xef);
    assert_eq!(e.inb(GPE_EN + 1), 0x12);
    // Status: set bits 1, 2 and 9 through events, then clear them with every width.
    // SAFETY: a live host domain.
    let raise = |b| assert_eq!(unsafe { hvm_pci_hotplug_gpe_raise(e.ptr().cast(), b) }, 0);
    raise(1);
    raise(2);
    raise(9);
    assert!(e.sci(), "bit 1 and 2 enabled by 0x12ef");
    assert_eq!(e.inl(GPE_STS), 0x12ef_0206);
    assert_eq!(e.inw(GPE_STS + 1), 0xef02);
    assert_eq!(e.inw(GPE_STS + 2), 0x12ef);
    assert_eq!(e.inb(GPE_STS + 1), 0x02);
    // Writing 0 to status clears nothing; a 4-byte write also rewrites the enable bytes.
    e.out(GPE_STS, 4, 0x12ef_0000);
    assert_eq!(e.inw(GPE_STS), 0x0206);
    e.out(GPE_STS + 1, 1, 0x02);
    assert_eq!(e.inw(GPE_STS), 0x0006);
    e.out(GPE_STS, 2, 0x0004);
    assert_eq!(e.inw(GPE_STS), 0x0002);
    e.out(GPE_STS, 4, 0x0000_0002);
    assert_eq!(e.inl(GPE_STS), 0);
    assert!(!e.sci());
    // 2- and 4-byte accesses at the last offsets: the bytes past the block read 0xff and their
    // writes vanish (H1). In Xen such an access never reaches the handler.
    e.out(GPE_EN, 2, 0x0102);
    assert_eq!(e.inw(GPE0_BASE + 3), 0xff01);
    assert_eq!(e.inl(GPE0_BASE + 2), 0xffff_0102);
    assert_eq!(e.inl(GPE0_BASE + 3), 0xffff_ff01);
    e.out(GPE0_BASE + 3, 4, 0xffff_ff05);
    assert_eq!(e.inw(GPE_EN), 0x0502);
    // Widths other than 1, 2, 4: reads all ones, writes ignored.
    assert_eq!(e.io(IOREQ_READ, GPE_EN, 3, 0), 0xffff_ffff);
    e.out(GPE_EN, 8, 0);
    assert_eq!(e.inw(GPE_EN), 0x0502);
}

#[test]
fn slot_registers_take_aligned_dwords_only() {
    let e = Env::new();
    assert_eq!(e.plug(1), 0);
    assert_eq!(e.unplug(1), 0);
    assert_eq!(e.inl(PCIU), 2);
    // Byte and word reads are not decoded: all ones of the width (H5).
    assert_eq!(e.inb(PCIU), 0xff);
    assert_eq!(e.inw(PCIU), 0xffff);
    assert_eq!(e.inw(PCID + 2), 0xffff);
    // Unaligned dwords inside the block read all ones.
    assert_eq!(e.inl(PCIHP_BASE + 1), 0xffff_ffff);
    assert_eq!(e.inl(PCIHP_BASE + 0xd), 0xffff_ffff);
    // B0EJ reads 0.
    assert_eq!(e.inl(B0EJ), 0);
    // A B0EJ write narrower than 4 bytes ejects nothing.
    e.out(B0EJ, 1, 1 << 1);
    e.out(B0EJ, 2, 1 << 1);
    assert_eq!(e.query(1) & slot_state::PRESENT, slot_state::PRESENT);
    e.out(B0EJ, 4, 1 << 1);
    assert_eq!(e.query(1), slot_state::EJECTED);
}

#[test]
fn writes_to_read_only_registers_are_ignored() {
    let e = Env::new();
    e.ospm_enable_gpes();
    assert_eq!(e.plug(10), 0);
    assert_eq!(e.unplug(10), 0);
    let before = e.save();
    for port in [PCIU, PCID, RMV] {
        e.out(port, 4, 0);
        e.out(port, 4, 0xffff_ffff);
    }
    assert_eq!(e.save(), before);
    assert_eq!(e.inl(PCIU), 1 << 10);
    assert_eq!(e.inl(PCID), 1 << 10);
    assert_eq!(e.inl(RMV), 1 << 10);
}

#[test]
fn slot_zero_and_32_up_are_rejected() {
    let e = Env::new();
    e.ospm_enable_gpes();
    for s in [0u8, 32, 33, 255] {
        assert_eq!(e.plug(s), EINVAL, "slot {s}");
        assert_eq!(e.unplug(s), EINVAL, "slot {s}");
        assert_eq!(e.op(e.dm, 1, s, XEN_HVM_PCI_HOTPLUG_QUERY).0, EINVAL);
    }
    assert!(!e.sci());
    // B0EJ with bit 0 names the host bridge: nothing happens, even with slot 1 pending, because
    // only the lowest set bit counts (QEMU's ffs rule).
    assert_eq!(e.plug(1), 0);
    assert_eq!(e.unplug(1), 0);
    e.out(B0EJ, 4, 0b11);
    assert_ne!(e.query(1) & slot_state::REMOVE_PENDING, 0);
    e.out(B0EJ, 4, 0);
    assert_ne!(e.query(1) & slot_state::REMOVE_PENDING, 0);
    // Two slots at once: only the lowest is ejected.
    assert_eq!(e.plug(2), 0);
    assert_eq!(e.unplug(2), 0);
    e.out(B0EJ, 4, 0b110);
    assert_eq!(e.query(1), slot_state::EJECTED);
    assert_ne!(e.query(2) & slot_state::REMOVE_PENDING, 0);
}

#[test]
fn guest_initiated_eject_without_request_is_ignored() {
    // QEMU would remove the device; here the emulator must have asked first (H4).
    let e = Env::new();
    assert_eq!(e.plug(12), 0);
    e.ej0(12);
    assert_eq!(
        e.query(12),
        slot_state::PRESENT | slot_state::INSERT_PENDING
    );
    e.ej0(13); // empty slot
    assert_eq!(e.query(13), 0);
}

#[test]
fn sci_is_shared_with_pm1a_and_cpu_hotplug() {
    let e = Env::new();
    e.ospm_enable_gpes();
    // pmtimer's PM1a source holds the line.
    Host::sci_set_level(e.guest, SciSource::Pm1a, true);
    assert!(e.sci());
    assert_eq!(e.plug(3), 0);
    assert!(e.sci());
    e.ospm_sci();
    assert!(e.sci(), "clearing GPE 1 must not drop PM1a's assertion");
    Host::sci_set_level(e.guest, SciSource::Pm1a, false);
    assert!(!e.sci());
    // CPU hotplug (GPE 2) shares the block: both methods run for one SCI.
    // SAFETY: a live host domain.
    assert_eq!(unsafe { hvm_pci_hotplug_gpe_raise(e.ptr().cast(), 2) }, 0);
    assert_eq!(e.unplug(3), 0);
    assert!(e.sci());
    let (notes, cpu) = e.ospm_sci();
    assert!(cpu);
    assert!(notes.contains(&(3, EJECT_REQUEST)));
    assert!(!e.sci());
    assert_eq!(
        // SAFETY: a live host domain.
        unsafe { hvm_pci_hotplug_gpe_raise(e.ptr().cast(), 16) },
        EINVAL
    );
    assert_eq!(
        // SAFETY: NULL is allowed (and refused).
        unsafe { hvm_pci_hotplug_gpe_raise(std::ptr::null_mut(), 2) },
        EINVAL
    );
    let line = sci_line(e.guest);
    assert_eq!(line.asserts, 2);
    assert_eq!(line.deasserts, 2);
}

#[test]
fn sci_counts_all_sixteen_gpes() {
    // QEMU 2.x would not raise the SCI for GPE 9 (it looks at status byte 0 only); H2.
    let e = Env::new();
    e.out(GPE_EN + 1, 1, 0x02);
    // SAFETY: a live host domain.
    assert_eq!(unsafe { hvm_pci_hotplug_gpe_raise(e.ptr().cast(), 9) }, 0);
    assert!(e.sci());
    e.out(GPE_STS + 1, 1, 0x02);
    assert!(!e.sci());
}

#[test]
fn save_restore_round_trip() {
    let e = Env::new();
    e.ospm_enable_gpes();
    assert_eq!(e.plug(3), 0);
    assert_eq!(e.plug(9), 0);
    assert_eq!(e.unplug(9), 0);
    assert_eq!(e.plug(11), 0);
    assert_eq!(e.unplug(11), 0);
    e.ej0(11);
    let rec = e.save();
    assert!(e.sci());

    // A second guest restores the record: same registers, same SCI.
    let g2 = HostDomain::create(2);
    sci_forget(g2);
    // SAFETY: a live host domain.
    assert_eq!(unsafe { hvm_pci_hotplug_init(g2.as_ptr().cast()) }, 0);
    assert_eq!(
        // SAFETY: a live host domain; `rec` is readable for its length.
        unsafe { hvm_pci_hotplug_load(g2.as_ptr().cast(), rec.as_ptr(), rec.len()) },
        0
    );
    assert!(sci_line(g2).level());
    let mut back = [0u8; HVM_PCI_HOTPLUG_RECORD_SIZE];
    assert_eq!(
        // SAFETY: a live host domain; `back` is writable for its length.
        unsafe { hvm_pci_hotplug_save(g2.as_ptr().cast(), back.as_mut_ptr(), back.len()) },
        32
    );
    assert_eq!(back, rec);
    // SAFETY: a live host domain; nothing else uses its controller (one thread).
    unsafe { hvm_pci_hotplug_deinit(g2.as_ptr().cast()) };
    assert!(!sci_line(g2).level());
    HostDomain::destroy(g2);

    // Loading a record with nothing pending lowers the line.
    let mut quiet = rec;
    quiet[8..10].copy_from_slice(&[0, 0]);
    assert_eq!(e.load(&quiet), 0);
    assert!(!e.sci());
    assert_eq!(e.load(&rec), 0);
    assert!(e.sci());
}

#[test]
fn malformed_records_are_rejected_and_change_nothing() {
    let e = Env::new();
    e.ospm_enable_gpes();
    assert_eq!(e.plug(3), 0);
    let good = e.save();
    assert_eq!(e.unplug(3), 0);
    let now = e.save();
    let bad = |f: &dyn Fn(&mut [u8; 32])| {
        let mut b = good;
        f(&mut b);
        b
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("magic", bad(&|b| b[1] ^= 1).to_vec()),
        ("version 0", bad(&|b| b[4] = 0).to_vec()),
        ("version 2", bad(&|b| b[4] = 2).to_vec()),
        ("size field", bad(&|b| b[6] = 64).to_vec()),
        ("reserved", bad(&|b| b[31] = 0x80).to_vec()),
        ("slot 0 present", bad(&|b| b[12] |= 1).to_vec()),
        ("slot 0 down", bad(&|b| b[20] |= 1).to_vec()),
        ("slot 0 ejected", bad(&|b| b[24] |= 1).to_vec()),
        ("down on empty slot", bad(&|b| b[20] |= 0x10).to_vec()),
        ("ejected and present", bad(&|b| b[24] |= 0x08).to_vec()),
        ("short", good[..31].to_vec()),
        ("long", [&good[..], &[0]].concat()),
        ("empty", Vec::new()),
    ];
    for (what, b) in cases {
        assert_eq!(e.load(&b), EINVAL, "{what}");
        assert_eq!(e.save(), now, "{what}: state changed");
    }
    // NULL pointers and short output buffers.
    let mut small = [0u8; 31];
    // SAFETY: valid or NULL pointers with matching lengths.
    unsafe {
        assert_eq!(
            hvm_pci_hotplug_load(e.ptr().cast(), std::ptr::null(), 32),
            EINVAL
        );
        assert_eq!(
            hvm_pci_hotplug_load(std::ptr::null_mut(), good.as_ptr(), 32),
            EINVAL
        );
        assert_eq!(
            hvm_pci_hotplug_save(e.ptr().cast(), small.as_mut_ptr(), 31),
            ENOSPC
        );
        assert_eq!(
            hvm_pci_hotplug_save(e.ptr().cast(), std::ptr::null_mut(), 32),
            EINVAL
        );
        assert_eq!(
            hvm_pci_hotplug_save(std::ptr::null_mut(), small.as_mut_ptr(), 31),
            EINVAL
        );
    }
    assert_eq!(e.save(), now);
}

#[test]
fn hypercall_error_codes() {
    let e = Env::new();
    // No such domain.
    assert_eq!(e.op(e.dm, 77, 3, XEN_HVM_PCI_HOTPLUG_PLUG).0, ESRCH);
    // The caller itself (DOMID_SELF is not translated either).
    assert_eq!(e.op(e.dm, 0, 3, XEN_HVM_PCI_HOTPLUG_PLUG).0, EPERM);
    assert_eq!(e.op(e.dm, 0x7ff0, 3, XEN_HVM_PCI_HOTPLUG_PLUG).0, ESRCH);
    // Non-HVM target.
    let pv = HostDomain::create(5);
    HostDomain::with(pv, |h| h.is_hvm = false);
    assert_eq!(e.op(e.dm, 5, 3, XEN_HVM_PCI_HOTPLUG_PLUG).0, EINVAL);
    // XSM: an unprivileged domain that is not the guest's device model.
    let other = HostDomain::create(6);
    assert_eq!(e.op(other, 1, 3, XEN_HVM_PCI_HOTPLUG_PLUG).0, EPERM);
    // A stub-domain device model of the guest passes XSM, but owns the slot only once one of
    // its ioreq servers claims it (H10).
    HostDomain::with(other, |h| h.dm_target = Some(1));
    assert_eq!(e.op(other, 1, 3, XEN_HVM_PCI_HOTPLUG_PLUG).0, EPERM);
    claim(e.guest, 6, pci_sbdf(0, 0, 3, 0), pci_sbdf(0, 0, 3, 0));
    assert_eq!(e.op(other, 1, 3, XEN_HVM_PCI_HOTPLUG_PLUG).0, 0);
    // The guest calling on itself: -EPERM from the domain lookup.
    assert_eq!(e.op(e.guest, 1, 4, XEN_HVM_PCI_HOTPLUG_PLUG).0, EPERM);
    // Unknown enable value.
    assert_eq!(e.op(e.dm, 1, 3, 3).0, EINVAL);
    assert_eq!(e.op(e.dm, 1, 3, 0xff).0, EINVAL);
    // -EFAULT: short argument, unmapped address.
    let (rc, _) = e.hypercall_raw(e.dm, &[1, 0, 3, 1]);
    assert_eq!(rc, EFAULT);
    HostDomain::set_current(e.dm);
    assert_eq!(hvmop_pci_hotplug(std::ptr::null_mut()), EFAULT);
    assert_eq!(hvmop_pci_hotplug(8 as *mut c_void), EFAULT);
    // Plug and unplug copy nothing back; query copies the whole struct.
    let (rc, state) = e.op(e.dm, 1, 5, XEN_HVM_PCI_HOTPLUG_PLUG);
    assert_eq!((rc, state), (0, 0xdead_beef));
    let (rc, state) = e.op(e.dm, 1, 5, XEN_HVM_PCI_HOTPLUG_QUERY);
    assert_eq!(
        (rc, state),
        (0, slot_state::PRESENT | slot_state::INSERT_PENDING)
    );
    // A domain without a controller.
    let bare = HostDomain::create(7);
    assert_eq!(e.op(e.dm, 7, 3, XEN_HVM_PCI_HOTPLUG_PLUG).0, EOPNOTSUPP);
    assert_eq!(e.op(e.dm, 7, 3, XEN_HVM_PCI_HOTPLUG_QUERY).0, EOPNOTSUPP);
    for d in [pv, other, bare] {
        HostDomain::destroy(d);
    }
}

/// Each handler decodes only the block Xen registered it for: it turns the port Xen hands it into
/// an offset into its own block, and a port of the other block is nothing to it.
#[test]
fn each_port_handler_decodes_only_its_own_block() {
    let e = Env::new();
    e.ospm_enable_gpes();
    assert_eq!(e.plug(2), 0);
    assert_eq!(e.inl(PCIU), 1 << 2, "PCIU through its own handler");
    HostDomain::set_current(e.guest);
    let (mut via_gpe, mut via_pcihp) = (0, 0);
    // SAFETY: live u32s.
    unsafe {
        assert_eq!(hvm_gpe_io(IOREQ_READ, PCIU, 4, &mut via_gpe), 0);
        assert_eq!(
            hvm_pci_hotplug_io(IOREQ_READ, GPE_STS, 1, &mut via_pcihp),
            0
        );
    }
    assert_eq!(via_gpe, 0xffff_ffff, "PCIU is not a GPE0 port");
    assert_eq!(via_pcihp, 0xff, "GPE0_STS is not a slot register");
    let sts = e.inb(GPE_STS);
    // SAFETY: a live u32.
    unsafe { assert_eq!(hvm_pci_hotplug_io(IOREQ_WRITE, GPE_STS, 1, &mut 0xff), 0) };
    assert_eq!(
        e.inb(GPE_STS),
        sts,
        "a write through the other handler clears nothing"
    );
}

#[test]
fn init_deinit_and_null_pointers() {
    let e = Env::new();
    // SAFETY: a live host domain.
    assert_eq!(unsafe { hvm_pci_hotplug_init(e.ptr().cast()) }, EEXIST);
    assert_eq!(
        // SAFETY: NULL is allowed (and refused).
        unsafe { hvm_pci_hotplug_init(std::ptr::null_mut()) },
        EINVAL
    );
    // SAFETY: NULL is allowed (and refused).
    unsafe { hvm_pci_hotplug_deinit(std::ptr::null_mut()) };
    HostDomain::set_current(e.guest);
    // SAFETY: NULL and a live u32 are what the handlers accept.
    unsafe {
        assert_eq!(hvm_gpe_io(IOREQ_READ, GPE_STS, 1, std::ptr::null_mut()), 1);
        let mut v = 0;
        assert_eq!(hvm_pci_hotplug_io(7, PCIU, 4, &mut v), 1);
    }
    // The line goes down when the controller goes away with it raised.
    e.ospm_enable_gpes();
    assert_eq!(e.plug(2), 0);
    assert!(e.sci());
    // SAFETY: a live host domain; nothing else uses its controller (one thread).
    unsafe { hvm_pci_hotplug_deinit(e.ptr().cast()) };
    assert!(!e.sci());
    // Without a controller the ports read all ones and ignore writes.
    HostDomain::set_current(e.guest);
    let mut v = 0x1234;
    // SAFETY: live u32.
    unsafe {
        assert_eq!(hvm_pci_hotplug_io(IOREQ_READ, PCIU, 4, &mut v), 0);
        assert_eq!(v, 0xffff_ffff);
        assert_eq!(hvm_gpe_io(IOREQ_READ, GPE_STS, 1, &mut v), 0);
        assert_eq!(v, 0xff);
        assert_eq!(hvm_gpe_io(IOREQ_WRITE, GPE_STS, 1, &mut v), 0);
    }
    assert_eq!(
        // SAFETY: a live host domain.
        unsafe { hvm_pci_hotplug_gpe_raise(e.ptr().cast(), 2) },
        EOPNOTSUPP
    );
    assert_eq!(
        // SAFETY: a live host domain.
        unsafe { hvm_pci_hotplug_init(e.ptr().cast()) },
        0,
        "Env's drop deinits it again"
    );
}

/// An ownership policy that knows one claimed SBDF: (guest 1, emulator 0, slot 3 function 0).
struct OnlySlot3;

impl SlotClaims for OnlySlot3 {
    fn slot_claimed(d: DomainRef, emulator: DomainRef, sbdf: u32) -> bool {
        HostDomain::with(d, |h| h.id()) == 1
            && HostDomain::with(emulator, |h| h.id()) == 0
            && sbdf == pci_sbdf(0, 0, 3, 0)
    }
}

#[test]
fn slot_claims_gate_plug_and_unplug_not_query() {
    let e = Env::new();
    let call = |slot: u8, enable: u8| {
        let arg = xen_hvm_pci_hotplug {
            domid: 1,
            slot,
            enable,
            state: 0,
        };
        HostDomain::set_current(e.dm);
        let h = guest_buffer(arg.as_bytes());
        let rc = xen_ioreq_rs::errno::to_c(hvmop_pci_hotplug_with::<Host, OnlySlot3>(h));
        take_guest_buffer(h);
        assert_eq!(HostDomain::outstanding_rcu_locks(), 0);
        rc
    };
    let before = e.save();
    assert_eq!(call(4, XEN_HVM_PCI_HOTPLUG_PLUG), EPERM);
    assert_eq!(e.save(), before);
    assert_eq!(call(4, XEN_HVM_PCI_HOTPLUG_QUERY), 0);
    assert_eq!(call(3, XEN_HVM_PCI_HOTPLUG_PLUG), 0);
    assert_eq!(call(3, XEN_HVM_PCI_HOTPLUG_UNPLUG), 0);
    // Slot checks come before the claim check.
    assert_eq!(call(0, XEN_HVM_PCI_HOTPLUG_PLUG), EINVAL);
    // The exported handler asks the ioreq servers (H10): Env's device model claims every slot.
    assert_eq!(e.plug(4), 0);
}
