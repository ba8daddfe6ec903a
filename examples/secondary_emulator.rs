//! The series' end-to-end demo, as its author ran it with `demu`: a secondary emulator in domain 0
//! creates an ioreq server for an HVM guest, claims one PCI device (its config space, an I/O BAR
//! and a memory BAR), hotplugs it into a slot, serves the guest's accesses to it through the
//! shared ioreq page and the buffered ring, then unplugs it and tears everything down.
//!
//! Everything runs in one process on the host platform, against the Rust hypervisor components
//! through the same C ABI that Xen's C calls: `hvmop_ioreq_server` (HVMOP 17-22) and
//! `hvmop_pci_hotplug` with raw argument bytes in guest memory, the hotplug controller's port
//! handlers, the 0xcf8 latch, server selection, request posting and completion. The emulator side
//! only touches what a real emulator has: the hypercalls, its foreign mappings of the two pages
//! and the event channels it was notified on.
//!
//! Every step is checked; the program prints what happens and exits non-zero (and says which
//! check failed) if anything misbehaves. Run it with `make demo` or
//! `cargo run --example secondary_emulator`.

use std::ffi::{c_long, c_ulong, c_void};
use std::mem::offset_of;
use std::process::ExitCode;
use std::sync::atomic::{fence, Ordering};

use xen_ioreq_rs::hotplug::controller::{slot_state, GPE0_BASE, PCIHP_BASE};
use xen_ioreq_rs::hotplug::ffi::{
    hvm_gpe_io, hvm_pci_hotplug_deinit, hvm_pci_hotplug_init, hvm_pci_hotplug_io, hvmop_pci_hotplug,
};
use xen_ioreq_rs::hotplug::hypercall::pci_sbdf;
use xen_ioreq_rs::hvmop::ffi::hvmop_ioreq_server;
use xen_ioreq_rs::ioreq;
use xen_ioreq_rs::ioreq::abi::*;
use xen_ioreq_rs::ioreq::ffi::{
    hvm_access_cf8, hvm_buffered_io_send, hvm_io_pending, hvm_ioreq_complete,
    hvm_ioreq_select_and_send, hvm_ioreq_set_param, HVM_IOREQ_COMPLETED, HVM_IOREQ_NO_SERVER,
    HVM_IOREQ_ROUTE_RANGE, HVM_IOREQ_WAIT,
};
use xen_ioreq_rs::platform::host::alloc::{live_allocations, CountingAllocator};
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::guest_copy::{guest_buffer, take_guest_buffer};
use xen_ioreq_rs::platform::host::irq::sci_line;
use xen_ioreq_rs::platform::host::memory::{self, EmulatorPage};
use xen_ioreq_rs::platform::host::{evtchn, HostPlatform};
use xen_ioreq_rs::platform::irq::SciSource;
use xen_ioreq_rs::platform::{DomainRef, EventChannels, IsaIrq, VcpuRef};

#[global_allocator]
static A: CountingAllocator = CountingAllocator;

const DM: u16 = 0;
const GUEST: u16 = 1;
const NR_VCPUS: u32 = 2;
/// The stock domain builder's ioreq server pool (HVM params 32/33).
const POOL_BASE: u64 = 0xfeff0;
const POOL_PAGES: u64 = 8;

/// The emulated device: slot 3 of bus 0, one I/O BAR and one memory BAR.
const SLOT: u8 = 3;
const SBDF: u32 = pci_sbdf(0, 0, SLOT as u32, 0);
const VENDOR_DEVICE: u32 = 0x1234_abcd;
const CLASS_REV: u32 = 0xff00_0001;
const IO_BAR: u64 = 0xc100;
const IO_BAR_LEN: u64 = 0x10;
const MMIO_BAR: u64 = 0xf300_0000;
const MMIO_BAR_LEN: u64 = 0x1000;
/// What the device's first MMIO register reads: "DEMU" in little-endian bytes.
const MMIO_ID: u32 = u32::from_le_bytes(*b"DEMU");

/// `HVMOP_pci_hotplug`'s `enable` values (FIDELITY H7, H9).
const HOTPLUG_UNPLUG: u8 = 0;
const HOTPLUG_PLUG: u8 = 1;
const HOTPLUG_QUERY: u8 = 2;

/// hvmloader's qemu-xen DSDT registers.
const GPE0_STS: u32 = GPE0_BASE;
const GPE0_EN: u32 = GPE0_BASE + 2;
const PCIU: u32 = PCIHP_BASE;
const PCID: u32 = PCIHP_BASE + 4;
const B0EJ: u32 = PCIHP_BASE + 8;

const PORT_READ: i32 = IOREQ_READ as i32;
const PORT_WRITE: i32 = IOREQ_WRITE as i32;

const EPERM: i64 = -1;

type Step<T = ()> = Result<T, String>;

/// Fails the demo with a message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => {
            println!("[demo] PASS: every step behaved as the series describes");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("[demo] FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

// ---- the machine ----------------------------------------------------------------------------------

/// Domain 0 (the emulator's domain, privileged) and the HVM guest with its vCPUs.
struct Machine {
    dm: DomainRef,
    guest: DomainRef,
    vcpus: Vec<VcpuRef>,
}

/// What the host keeps account of; nothing of it may change across the emulator's life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Resources {
    allocations: isize,
    pages: usize,
    p2m_entries: usize,
    hypervisor_mappings: i64,
    event_channels: usize,
    guest_pause_count: i32,
    rcu_locks: i64,
}

impl Machine {
    /// What the toolstack and the domain builder set up before the emulator starts.
    fn build() -> Step<Self> {
        let dm = HostDomain::create(DM);
        HostDomain::with(dm, |h| {
            h.is_privileged = true;
            h.is_hvm = false;
        });
        let guest = HostDomain::create(GUEST);
        xen_ioreq_rs::rangeset::domain::domain_initialise::<HostPlatform>(guest)
            .map_err(|e| format!("rangeset list: {e:?}"))?;
        let vcpus = (0..NR_VCPUS)
            .map(|i| HostDomain::add_vcpu(guest, i))
            .collect();
        for gmfn in POOL_BASE..POOL_BASE + POOL_PAGES {
            memory::populate(guest, gmfn);
        }
        let m = Machine { dm, guest, vcpus };
        // The domain builder (in dom0) sets the pool params through HVMOP_set_param: Xen runs the
        // ioreq hook, then stores the value.
        HostDomain::set_current(dm);
        for (index, value) in [
            (HVM_PARAM_NR_IOREQ_SERVER_PAGES, POOL_PAGES),
            (HVM_PARAM_IOREQ_SERVER_PFN, POOL_BASE),
        ] {
            let mut v = value;
            // SAFETY: `guest` is a live domain of the host platform and `v` a live u64.
            let rc = unsafe { hvm_ioreq_set_param(guest.as_ptr().cast(), index, &mut v) };
            ensure!(rc == 0, "set_param {index}: rc {rc}");
            HostDomain::with(guest, |h| h.params[index as usize] = v);
        }
        // hvm_domain_initialise creates the PCI hotplug controller.
        ensure!(
            // SAFETY: a live host domain.
            unsafe { hvm_pci_hotplug_init(guest.as_ptr().cast()) } == 0,
            "hotplug controller init"
        );
        println!(
            "[xen] domain {GUEST}: HVM guest, {NR_VCPUS} vCPUs, ioreq server pool gmfn \
             {POOL_BASE:#x}-{:#x} (HVM params 32/33), PCI hotplug controller at {GPE0_BASE:#x}/{PCIHP_BASE:#x}",
            POOL_BASE + POOL_PAGES - 1
        );
        println!("[xen] domain {DM}: privileged; it runs the secondary emulator");
        Ok(m)
    }

    fn resources(&self) -> Resources {
        Resources {
            allocations: live_allocations(),
            pages: memory::live_pages(),
            p2m_entries: memory::p2m_entries(),
            hypervisor_mappings: memory::mapped_pages(),
            event_channels: evtchn::live_evtchns(),
            guest_pause_count: HostDomain::with(self.guest, |h| h.pause_count),
            rcu_locks: HostDomain::outstanding_rcu_locks(),
        }
    }

    /// After every hypercall: no RCU lock held, the guest not left paused.
    fn balanced(&self, what: &str) -> Step {
        let locks = HostDomain::outstanding_rcu_locks();
        let pauses = HostDomain::with(self.guest, |h| h.pause_count);
        ensure!(
            locks == 0 && pauses == 0,
            "{what}: {locks} RCU locks held, pause count {pauses}"
        );
        Ok(())
    }

    /// Destroys everything (domain destruction as Xen runs it).
    fn teardown(self) {
        // SAFETY: a live host domain; nothing else uses its controller (one thread).
        unsafe { hvm_pci_hotplug_deinit(self.guest.as_ptr().cast()) };
        // SAFETY: teardown on this one thread: nothing uses the domain's Rust state any more
        // and nothing else runs on it.
        unsafe {
            ioreq::domain_destroy::<HostPlatform>(self.guest);
            xen_ioreq_rs::rangeset::domain::domain_destroy::<HostPlatform>(self.guest);
        }
        for v in self.vcpus {
            HostDomain::remove_vcpu(v);
        }
        memory::depopulate_all(self.guest);
        evtchn::destroy_all_evtchns(self.guest);
        HostDomain::destroy(self.guest);
        HostDomain::destroy(self.dm);
    }
}

// ---- the emulator's hypercalls: raw argument bytes, laid out as in docs/series.md, Hypercalls ---

fn le16(b: &[u8], o: usize) -> u16 {
    u16::from_le_bytes([b[o], b[o + 1]])
}
fn le32(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}
fn le64(b: &[u8], o: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(a)
}

/// `xc_hvm_*`: HVMOP `op` issued by dom0 with `arg` in its memory; returns rc and the bytes after.
fn hvm_op(m: &Machine, op: u32, arg: &[u8]) -> Step<(i64, Vec<u8>)> {
    HostDomain::set_current(m.dm);
    let h = guest_buffer(arg);
    // SAFETY: hypercall context on the host platform (dom0 is current); `h` is a handle into the
    // caller's memory, which the handler only reaches through the platform's guest copies.
    let rc: c_long = unsafe { hvmop_ioreq_server(op as c_ulong, h.0 as *mut c_void) };
    let out = take_guest_buffer(h);
    m.balanced(&format!("HVMOP {op}"))?;
    Ok((rc as i64, out))
}

/// `HVMOP_pci_hotplug` issued by dom0: rc and the `state` field after.
fn pci_hotplug(m: &Machine, enable: u8) -> Step<(i64, u32)> {
    let mut arg = [0u8; 8];
    arg[0..2].copy_from_slice(&GUEST.to_le_bytes());
    arg[2] = SLOT;
    arg[3] = enable;
    HostDomain::set_current(m.dm);
    let h = guest_buffer(&arg);
    let rc = hvmop_pci_hotplug(h.0 as *mut c_void);
    let out = take_guest_buffer(h);
    m.balanced("HVMOP_pci_hotplug")?;
    ensure!(out.len() == 8, "argument buffer lost");
    Ok((i64::from(rc), le32(&out, 4)))
}

fn io_range_arg(id: u16, type_: u32, start: u64, end: u64) -> [u8; 24] {
    let mut a = [0u8; 24];
    a[0..2].copy_from_slice(&GUEST.to_le_bytes());
    a[2..4].copy_from_slice(&id.to_le_bytes());
    a[4..8].copy_from_slice(&type_.to_le_bytes());
    a[8..16].copy_from_slice(&start.to_le_bytes());
    a[16..24].copy_from_slice(&end.to_le_bytes());
    a
}

fn id_arg(id: u16) -> [u8; 4] {
    let mut a = [0u8; 4];
    a[0..2].copy_from_slice(&GUEST.to_le_bytes());
    a[2..4].copy_from_slice(&id.to_le_bytes());
    a
}

fn state_arg(id: u16, enabled: bool) -> [u8; 6] {
    let mut a = [0u8; 6];
    a[0..4].copy_from_slice(&id_arg(id));
    a[4] = u8::from(enabled);
    a
}

fn range_name(type_: u32) -> &'static str {
    match type_ {
        HVMOP_IO_RANGE_PORT => "port",
        HVMOP_IO_RANGE_MEMORY => "memory",
        _ => "PCI",
    }
}

// ---- the emulated device --------------------------------------------------------------------------

/// The device behind the emulator: a config space, 16 bytes of I/O registers, an MMIO id register.
struct DemoDevice {
    io: [u8; IO_BAR_LEN as usize],
    command: u16,
}

fn width_mask(size: u32) -> u64 {
    match size {
        1 => 0xff,
        2 => 0xffff,
        4 => 0xffff_ffff,
        _ => u64::MAX,
    }
}

impl DemoDevice {
    fn config_dword(&self, reg: u32) -> u32 {
        match reg & !3 {
            0x00 => VENDOR_DEVICE,
            0x04 => u32::from(self.command),
            0x08 => CLASS_REV,
            0x10 => IO_BAR as u32 | 1,
            0x14 => MMIO_BAR as u32,
            0x3c => 0x0000_0100, // INTA#, no IRQ routed
            _ => 0,
        }
    }

    fn config_read(&self, reg: u32, size: u32) -> u64 {
        (u64::from(self.config_dword(reg)) >> (8 * (reg & 3))) & width_mask(size)
    }

    fn config_write(&mut self, reg: u32, size: u32, val: u64) {
        if reg == 0x04 && size >= 2 {
            self.command = val as u16;
        }
    }

    fn io_bytes(&mut self, off: u64, size: u32) -> Step<&mut [u8]> {
        let (o, n) = (off as usize, size as usize);
        ensure!(
            o.checked_add(n).is_some_and(|e| e <= self.io.len()),
            "I/O BAR access {off:#x}+{size} outside the BAR"
        );
        Ok(&mut self.io[o..o + n])
    }

    fn io_read(&mut self, off: u64, size: u32) -> Step<u64> {
        let b = self.io_bytes(off, size)?;
        Ok(b.iter().rev().fold(0u64, |v, x| (v << 8) | u64::from(*x)))
    }

    fn io_write(&mut self, off: u64, size: u32, val: u64) -> Step {
        let b = self.io_bytes(off, size)?;
        for (i, x) in b.iter_mut().enumerate() {
            *x = (val >> (8 * i)) as u8;
        }
        Ok(())
    }

    fn mmio_read(&self, off: u64, size: u32) -> u64 {
        let v = if off & !3 == 0 { u64::from(MMIO_ID) } else { 0 };
        (v >> (8 * (off & 3))) & width_mask(size)
    }
}

// ---- the emulator -------------------------------------------------------------------------------

fn type_name(t: u8) -> &'static str {
    match t {
        IOREQ_TYPE_PIO => "PIO",
        IOREQ_TYPE_COPY => "COPY (MMIO)",
        IOREQ_TYPE_PCI_CONFIG => "PCI_CONFIG",
        _ => "other",
    }
}

fn bdf(sbdf: u32) -> String {
    format!(
        "{:02x}:{:02x}.{}",
        (sbdf >> 8) & 0xff,
        (sbdf >> 3) & 0x1f,
        sbdf & 7
    )
}

/// The secondary emulator: its server, its views of the two pages, its ports, its device.
struct Emulator {
    id: u16,
    ioreq_gmfn: u64,
    bufioreq_gmfn: u64,
    ioreq_page: EmulatorPage,
    buf_page: EmulatorPage,
    /// `vcpu_ports[i]`: the port of vCPU i, read from its slot after enabling.
    vcpu_ports: Vec<u32>,
    buf_port: u32,
    /// Notifications consumed per vCPU port, and on the ring's port.
    seen: Vec<u64>,
    buf_seen: u64,
    device: DemoDevice,
    /// Requests served from the slots and from the ring.
    served: u32,
    buffered: u32,
}

impl Emulator {
    /// The event loop's one pass: every vCPU port Xen notified (a posted request), then the ring.
    fn run(&mut self, guest: DomainRef) -> Step<u32> {
        let mut handled = 0;
        for vcpu in 0..self.vcpu_ports.len() {
            let n = evtchn::notifications(guest, self.vcpu_ports[vcpu]);
            if n > self.seen[vcpu] {
                self.seen[vcpu] = n;
                self.serve_slot(vcpu)?;
                handled += 1;
            }
        }
        let n = evtchn::notifications(guest, self.buf_port);
        if n > self.buf_seen {
            self.buf_seen = n;
            handled += self.drain_ring()?;
        }
        Ok(handled)
    }

    fn serve_slot(&mut self, vcpu: usize) -> Step {
        let off = vcpu * 32;
        let p = &self.ioreq_page;
        let flags = p.read_u8(off + offset_of!(IoreqSlot, flags));
        ensure!(
            flags & 0x0f == STATE_IOREQ_READY,
            "vCPU {vcpu} notified but its slot is in state {}",
            flags & 0x0f
        );
        fence(Ordering::Acquire);
        p.write_u8(
            off + offset_of!(IoreqSlot, flags),
            (flags & !0x0f) | STATE_IOREQ_INPROCESS,
        );
        let mut req = IoreqSlot {
            addr: p.read_u64(off + offset_of!(IoreqSlot, addr)),
            data: p.read_u64(off + offset_of!(IoreqSlot, data)),
            count: p.read_u32(off + offset_of!(IoreqSlot, count)),
            size: p.read_u32(off + offset_of!(IoreqSlot, size)),
            vp_eport: p.read_u32(off + offset_of!(IoreqSlot, vp_eport)),
            pad0: 0,
            flags,
            type_: p.read_u8(off + offset_of!(IoreqSlot, type_)),
        };
        ensure!(
            req.vp_eport == self.vcpu_ports[vcpu],
            "slot {vcpu} names port {} instead of {}",
            req.vp_eport,
            self.vcpu_ports[vcpu]
        );
        ensure!(
            req.count == 1 && !req.data_is_ptr(),
            "unexpected request shape {req:?}"
        );
        let read = req.dir() == IOREQ_READ;
        let what = match req.type_ {
            IOREQ_TYPE_PCI_CONFIG => {
                let sbdf = (req.addr >> 32) as u32;
                let reg = (req.addr & 0xfff) as u32;
                ensure!(sbdf == SBDF, "config access for {} reached us", bdf(sbdf));
                if read {
                    req.data = self.device.config_read(reg, req.size);
                } else {
                    self.device.config_write(reg, req.size, req.data);
                }
                format!("{} reg {reg:#04x}", bdf(sbdf))
            }
            IOREQ_TYPE_PIO => {
                ensure!(
                    (IO_BAR..IO_BAR + IO_BAR_LEN).contains(&req.addr),
                    "port {:#x} is not ours",
                    req.addr
                );
                if read {
                    req.data = self.device.io_read(req.addr - IO_BAR, req.size)?;
                } else {
                    self.device
                        .io_write(req.addr - IO_BAR, req.size, req.data)?;
                }
                format!("port {:#x}", req.addr)
            }
            IOREQ_TYPE_COPY => {
                ensure!(
                    (MMIO_BAR..MMIO_BAR + MMIO_BAR_LEN).contains(&req.addr),
                    "MMIO {:#x} is not ours",
                    req.addr
                );
                ensure!(read, "the demo's MMIO BAR is read-only");
                req.data = self.device.mmio_read(req.addr - MMIO_BAR, req.size);
                format!("gpa {:#x}", req.addr)
            }
            t => return Err(format!("request of type {t} reached us")),
        };
        println!(
            "[emulator] vCPU{vcpu} slot: IOREQ_READY {} {} {what} size {} addr {:#x} -> {}IORESP_READY",
            type_name(req.type_),
            if read { "read" } else { "write" },
            req.size,
            req.addr,
            if read { format!("data {:#x}, ", req.data) } else { String::new() }
        );
        p.write_u64(off + offset_of!(IoreqSlot, data), req.data);
        fence(Ordering::Release);
        p.write_u8(
            off + offset_of!(IoreqSlot, flags),
            (flags & !0x0f) | STATE_IORESP_READY,
        );
        self.served += 1;
        Ok(())
    }

    fn drain_ring(&mut self) -> Step<u32> {
        let p = &self.buf_page;
        let mut rp = p.read_u32(offset_of!(BufferedIopage, read_pointer));
        let wp = p.read_u32(offset_of!(BufferedIopage, write_pointer));
        fence(Ordering::Acquire);
        let mut n = 0;
        while rp != wp {
            let slot = |ptr: u32| {
                offset_of!(BufferedIopage, buf_ioreq) + (ptr % IOREQ_BUFFER_SLOT_NUM) as usize * 8
            };
            let b = BufIoreqSlot::from_u64(p.read_u64(slot(rp)));
            let mut data = u64::from(b.data);
            let mut used = 1;
            if b.size_code() == 3 {
                data |= u64::from(BufIoreqSlot::from_u64(p.read_u64(slot(rp + 1))).data) << 32;
                used = 2;
            }
            let size = 1u32 << b.size_code();
            ensure!(
                b.dir() == IOREQ_WRITE && b.type_() == IOREQ_TYPE_PIO,
                "unexpected buffered request {b:?}"
            );
            let port = u64::from(b.addr());
            ensure!(
                (IO_BAR..IO_BAR + IO_BAR_LEN).contains(&port),
                "buffered write to port {port:#x} is not ours"
            );
            self.device.io_write(port - IO_BAR, size, data)?;
            println!(
                "[emulator] ring slot {}: buffered PIO write port {port:#x} size {size} data {data:#x}",
                rp % IOREQ_BUFFER_SLOT_NUM
            );
            rp = rp.wrapping_add(used);
            n += 1;
        }
        fence(Ordering::Release);
        self.buf_page
            .write_u32(offset_of!(BufferedIopage, read_pointer), rp);
        self.buffered += n;
        Ok(n)
    }
}

// ---- the guest ------------------------------------------------------------------------------------

/// A port access of a vCPU of the guest that one of Xen's internal handlers takes (the hotplug
/// controller's registers).
fn guest_port(m: &Machine, dir: i32, port: u32, bytes: u32, val: u32) -> Step<u32> {
    HostDomain::set_current(m.guest);
    HostDomain::set_current_vcpu(Some(m.vcpus[0]));
    let mut v = val;
    // SAFETY: `v` is a live u32; the current domain is the guest whose controller is used.
    let rc = unsafe {
        if (GPE0_BASE..GPE0_BASE + 4).contains(&port) {
            hvm_gpe_io(dir, port, bytes, &mut v)
        } else {
            hvm_pci_hotplug_io(dir, port, bytes, &mut v)
        }
    };
    ensure!(rc == 0, "port {port:#x}: handler returned {rc}");
    Ok(v)
}

/// Who completed a forwarded access.
enum ServedBy {
    Server(u16),
    Nobody,
}

/// An access Xen forwards to the emulators, as `hvmemul_do_io` does it: the 0xcf8 latch runs
/// first for port 0xcf8; then selection (which may turn a 0xcfc access into a PCI config request);
/// no server: the null handler completes it; else the request is posted in the server's slot for
/// this vCPU, the vCPU waits on its port until the emulator answers, and the answer completes it.
fn guest_forwarded(
    m: &Machine,
    em: &mut Emulator,
    vcpu: usize,
    mut p: IoreqSlot,
) -> Step<(u64, ServedBy, IoreqSlot)> {
    let v = m.vcpus[vcpu];
    HostDomain::set_current(m.guest);
    HostDomain::set_current_vcpu(Some(v));
    if p.type_ == IOREQ_TYPE_PIO && p.addr == 0xcf8 {
        let mut val = p.data as u32;
        let dir = i32::from(p.dir());
        // SAFETY: `val` is a live u32; the guest is the current domain.
        let rc = unsafe { hvm_access_cf8(dir, 0xcf8, p.size, &mut val) };
        ensure!(
            rc == ioreq::X86EMUL_UNHANDLEABLE,
            "the 0xcf8 latch must let the access continue"
        );
    }
    let mut sel = p;
    let req = (&mut sel as *mut IoreqSlot).cast();
    let before = em.served;
    // SAFETY: `req` points to a live 32-byte ioreq_t; the guest's vCPU is current.
    let rc = unsafe { hvm_ioreq_select_and_send(req, HVM_IOREQ_ROUTE_RANGE) };
    if rc == HVM_IOREQ_NO_SERVER {
        ioreq::complete_as_null(&mut sel);
        return Ok((sel.data, ServedBy::Nobody, sel));
    }
    p = sel;
    ensure!(rc == X86EMUL_RETRY, "request not posted ({rc})");
    ensure!(
        // SAFETY: a live vCPU of the host platform.
        unsafe { hvm_io_pending(v.as_ptr().cast()) },
        "a posted request must be pending"
    );
    let mut resp = IoreqSlot::default();
    let mut port = 0u32;
    let resp_p = (&mut resp as *mut IoreqSlot).cast();
    // SAFETY: live vCPU, writable ioreq_t and u32.
    let rc = unsafe { hvm_ioreq_complete(v.as_ptr().cast(), resp_p, &mut port) };
    ensure!(
        rc == HVM_IOREQ_WAIT && port == em.vcpu_ports[vcpu],
        "before the emulator answers the vCPU must wait on port {} (got rc {rc}, port {port})",
        em.vcpu_ports[vcpu]
    );
    // The vCPU is blocked; the emulator's event loop runs.
    ensure!(em.run(m.guest)? == 1, "the emulator saw no request");
    ensure!(em.served == before + 1, "the emulator did not answer");
    // The emulator's notification wakes the vCPU: hvm_do_resume completes the access.
    HostDomain::set_current_vcpu(Some(v));
    // SAFETY: as above.
    let rc = unsafe { hvm_ioreq_complete(v.as_ptr().cast(), resp_p, &mut port) };
    ensure!(rc == HVM_IOREQ_COMPLETED, "completion gave {rc}");
    ensure!(
        resp.addr == p.addr && resp.type_ == p.type_ && resp.state() == STATE_IOREQ_NONE,
        "response does not match the request: {resp:?} vs {p:?}"
    );
    ensure!(
        // SAFETY: a live vCPU of the host platform.
        !unsafe { hvm_io_pending(v.as_ptr().cast()) },
        "slot not freed"
    );
    Ok((resp.data, ServedBy::Server(em.id), p))
}

fn pio(port: u64, size: u32, dir: u8, data: u64) -> IoreqSlot {
    let mut p = IoreqSlot {
        addr: port,
        data,
        size,
        count: 1,
        type_: IOREQ_TYPE_PIO,
        ..Default::default()
    };
    p.set_dir(dir);
    p
}

fn mmio_read(gpa: u64, size: u32) -> IoreqSlot {
    let mut p = IoreqSlot {
        addr: gpa,
        size,
        count: 1,
        type_: IOREQ_TYPE_COPY,
        ..Default::default()
    };
    p.set_dir(IOREQ_READ);
    p
}

/// A config-space read as the guest's PCI code does it: CF8 <- address, then read CFC+offset.
fn config_read(
    m: &Machine,
    em: &mut Emulator,
    slot: u32,
    reg: u32,
    size: u32,
) -> Step<(u64, ServedBy)> {
    let cf8 = 0x8000_0000 | (slot << 11) | (reg & 0xfc);
    guest_forwarded(m, em, 0, pio(0xcf8, 4, IOREQ_WRITE, u64::from(cf8)))?;
    let (data, by, sent) = guest_forwarded(
        m,
        em,
        0,
        pio(0xcfc + u64::from(reg & 3), size, IOREQ_READ, 0),
    )?;
    if let ServedBy::Server(_) = by {
        let want = (u64::from(pci_sbdf(0, 0, slot, 0)) << 32) | u64::from(reg);
        ensure!(
            sent.type_ == IOREQ_TYPE_PCI_CONFIG && sent.addr == want,
            "CFC access not rewritten to PCI_CONFIG {want:#x}: type {} addr {:#x}",
            sent.type_,
            sent.addr
        );
    }
    Ok((data, by))
}

fn served(by: &ServedBy) -> String {
    match by {
        ServedBy::Server(id) => format!("served by ioreq server {id}"),
        ServedBy::Nobody => "no server claims it: null handler".into(),
    }
}

/// The guest's SCI handler for GPE 1, as OSPM and the DSDT's `\_GPE._E01` run it: read the
/// status, clear it (an `_Exx` method: edge, cleared before the method), then PCIU and PCID.
fn guest_sci(m: &Machine) -> Step<(u32, u32)> {
    ensure!(sci_line(m.guest).level(), "SCI not asserted");
    let sts = guest_port(m, PORT_READ, GPE0_STS, 2, 0)?;
    let en = guest_port(m, PORT_READ, GPE0_EN, 2, 0)?;
    println!("[guest] SCI=1: GPE0_STS={sts:#06x} GPE0_EN={en:#06x} -> run \\_GPE._E01");
    ensure!(
        sts == 0x0002,
        "GPE0_STS should be 0x0002 (GPE 1), is {sts:#06x}"
    );
    guest_port(m, PORT_WRITE, GPE0_STS, 1, 0x02)?;
    ensure!(
        !sci_line(m.guest).level(),
        "SCI still asserted after clearing GPE 1"
    );
    let up = guest_port(m, PORT_READ, PCIU, 4, 0)?;
    let down = guest_port(m, PORT_READ, PCID, 4, 0)?;
    let mut notes = Vec::new();
    for slot in 1..32 {
        if up & (1 << slot) != 0 {
            notes.push(format!("Notify(S{slot}, 1 device check)"));
        }
        if down & (1 << slot) != 0 {
            notes.push(format!("Notify(S{slot}, 3 eject request)"));
        }
    }
    println!(
        "[guest] _E01: PCIU={up:#010x} PCID={down:#010x} -> {}; SCI=0",
        notes.join(", ")
    );
    Ok((up, down))
}

// ---- the demo ---------------------------------------------------------------------------------

fn run() -> Step {
    println!(
        "[demo] a secondary emulator (demu) and an HVM guest, in one process on the host platform"
    );
    // The host's bookkeeping tables keep their capacity once used: use each once before counting.
    prime_host_tables()?;
    let start = live_allocations();
    let m = Machine::build()?;

    // The guest boots; OSPM enables the GPEs the DSDT has methods for.
    guest_port(&m, PORT_WRITE, GPE0_EN, 2, 0x0006)?;
    println!("[guest] ACPI: GPE0_EN <- 0x0006 (GPE 1 PCI hotplug, GPE 2 CPU hotplug); SCI=0");
    ensure!(!sci_line(m.guest).level(), "SCI asserted at boot");

    let baseline = m.resources();
    let em = emulator_life(&m)?;
    drop(em);

    // Nothing leaked: what the server held is back. Allocations are checked over the domains'
    // whole life below: the guest's server list and rangeset list keep their capacity (two
    // allocations, made by the first server and reused by every later one) until the guest goes.
    let after = m.resources();
    ensure!(
        Resources {
            allocations: baseline.allocations,
            ..after
        } == baseline,
        "resources leaked over the emulator's life:\n  before {baseline:?}\n  after  {after:?}"
    );
    println!(
        "[xen] after the emulator: {} pages, {} P2M entries, {} hypervisor mappings, {} event \
         channels (as before it started), guest pause count {}, RCU locks held {}",
        after.pages,
        after.p2m_entries,
        after.hypervisor_mappings,
        after.event_channels,
        after.guest_pause_count,
        after.rcu_locks
    );

    m.teardown();
    let end = live_allocations();
    ensure!(
        memory::live_pages() == 0 && evtchn::live_evtchns() == 0 && memory::mapped_pages() == 0,
        "domain destruction left pages or channels"
    );
    ensure!(
        end == start,
        "allocations leaked: {start} live before the domains were built, {end} after"
    );
    println!(
        "[xen] domains destroyed: 0 pages, 0 event channels, 0 mappings; live allocations {start} \
         before the domains were built, {end} after"
    );
    Ok(())
}

/// Uses each of the host platform's per-thread tables once (domains, pages, P2M, event channels,
/// guest buffers, SCI lines), so that their retained capacity is not counted as a leak.
fn prime_host_tables() -> Step {
    let d = HostDomain::create(9);
    // The vCPU table keeps its buffer once a vCPU has been added.
    HostDomain::add_vcpu(d, 0);
    memory::populate(d, 0x1000);
    let port = HostPlatform::alloc_unbound_xen_evtchn(d, 0, DM).map_err(|e| format!("{e:?}"))?;
    HostPlatform::free_xen_evtchn(d, port);
    take_guest_buffer(guest_buffer(&[0u8; 8]));
    HostPlatform::sci_set_level(d, SciSource::Gpe0, false);
    memory::depopulate_all(d);
    HostDomain::destroy(d);
    Ok(())
}

/// The emulator from start to exit; returns it (its mappings still held) for the leak check.
fn emulator_life(m: &Machine) -> Step<Emulator> {
    // -- start: create the server (HVMOP 17, with a buffered ring) and get its info (18).
    let mut arg = [0u8; 6];
    arg[0..2].copy_from_slice(&GUEST.to_le_bytes());
    arg[2] = 1; // handle_bufioreq
    let (rc, out) = hvm_op(m, HVMOP_CREATE_IOREQ_SERVER, &arg)?;
    ensure!(rc == 0, "create ioreq server: rc {rc}");
    let id = le16(&out, 4);
    let (rc, out) = hvm_op(m, HVMOP_GET_IOREQ_SERVER_INFO, &{
        let mut a = [0u8; 24];
        a[0..4].copy_from_slice(&id_arg(id));
        a
    })?;
    ensure!(rc == 0, "get info: rc {rc}");
    let (buf_port, ioreq_gmfn, bufioreq_gmfn) = (le32(&out, 4), le64(&out, 8), le64(&out, 16));
    println!(
        "[emulator] create ioreq server -> id {id} (ioreq gmfn {ioreq_gmfn:#x}, bufioreq gmfn \
         {bufioreq_gmfn:#x}, bufioreq port {buf_port})"
    );
    ensure!(
        ioreq_gmfn == POOL_BASE && bufioreq_gmfn == POOL_BASE + 1,
        "the first server takes the pool's two lowest frames"
    );
    let ch = evtchn::evtchn(m.guest, buf_port).ok_or("no bufioreq channel")?;
    ensure!(
        ch.remote_domid == DM && ch.vcpu_id == 0,
        "bufioreq channel {ch:?}"
    );

    // -- map both pages while they are in the guest's P2M (docs/series.md, Enable and disable).
    let ioreq_page = EmulatorPage::map(m.guest, ioreq_gmfn).ok_or("ioreq page not in the P2M")?;
    let buf_page =
        EmulatorPage::map(m.guest, bufioreq_gmfn).ok_or("bufioreq page not in the P2M")?;
    println!(
        "[emulator] foreign-map gmfn {ioreq_gmfn:#x} (shared ioreq page) and {bufioreq_gmfn:#x} (buffered ring)"
    );

    // -- no claim yet: the hotplug controller refuses the slot (FIDELITY H10).
    let (rc, _) = pci_hotplug(m, HOTPLUG_PLUG)?;
    ensure!(
        rc == EPERM,
        "plug before claiming the slot: rc {rc}, want -EPERM"
    );
    println!("[emulator] HVMOP_pci_hotplug plug slot {SLOT} before claiming {} -> -EPERM (not our slot yet)", bdf(SBDF));

    // -- claim the device: config space, I/O BAR, memory BAR (HVMOP 19).
    for (type_, start, end) in [
        (HVMOP_IO_RANGE_PCI, u64::from(SBDF), u64::from(SBDF)),
        (HVMOP_IO_RANGE_PORT, IO_BAR, IO_BAR + IO_BAR_LEN - 1),
        (HVMOP_IO_RANGE_MEMORY, MMIO_BAR, MMIO_BAR + MMIO_BAR_LEN - 1),
    ] {
        let (rc, _) = hvm_op(
            m,
            HVMOP_MAP_IO_RANGE_TO_IOREQ_SERVER,
            &io_range_arg(id, type_, start, end),
        )?;
        ensure!(rc == 0, "map {} range: rc {rc}", range_name(type_));
        let shown = if type_ == HVMOP_IO_RANGE_PCI {
            format!("{} (sbdf {start:#x})", bdf(start as u32))
        } else {
            format!("{start:#x}-{end:#x}")
        };
        println!(
            "[emulator] map {} range {shown} to server {id}",
            range_name(type_)
        );
    }

    // -- enable (HVMOP 22): the pages leave the guest's P2M and the ports appear in the slots.
    let (rc, _) = hvm_op(m, HVMOP_SET_IOREQ_SERVER_STATE, &state_arg(id, true))?;
    ensure!(rc == 0, "enable: rc {rc}");
    ensure!(
        memory::p2m_lookup(m.guest, ioreq_gmfn).is_none()
            && memory::p2m_lookup(m.guest, bufioreq_gmfn).is_none(),
        "enabled server's pages still in the guest P2M"
    );
    println!("[emulator] enable server {id}: gmfns {ioreq_gmfn:#x}/{bufioreq_gmfn:#x} removed from the guest P2M");
    let mut vcpu_ports = Vec::new();
    for v in 0..NR_VCPUS {
        let port = ioreq_page.read_u32(v as usize * 32 + offset_of!(IoreqSlot, vp_eport));
        let ch = evtchn::evtchn(m.guest, port).ok_or(format!("vCPU {v}: no channel {port}"))?;
        ensure!(
            ch.vcpu_id == v && ch.remote_domid == DM && port != buf_port,
            "vCPU {v}: slot names port {port}, a channel {ch:?}"
        );
        vcpu_ports.push(port);
    }
    println!(
        "[emulator] event channels from the slots: {} (+ bufioreq port {buf_port}); bound",
        vcpu_ports
            .iter()
            .enumerate()
            .map(|(v, p)| format!("vCPU{v} -> port {p}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut em = Emulator {
        id,
        ioreq_gmfn,
        bufioreq_gmfn,
        ioreq_page,
        buf_page,
        seen: vec![0; vcpu_ports.len()],
        vcpu_ports,
        buf_port,
        buf_seen: 0,
        device: DemoDevice {
            io: [0; IO_BAR_LEN as usize],
            command: 0,
        },
        served: 0,
        buffered: 0,
    };
    ensure!(em.run(m.guest)? == 0, "requests before any access");

    // -- hotplug the device.
    let (rc, _) = pci_hotplug(m, HOTPLUG_PLUG)?;
    ensure!(rc == 0, "plug: rc {rc}");
    println!("[emulator] HVMOP_pci_hotplug plug slot {SLOT} -> 0");
    let (up, down) = guest_sci(m)?;
    ensure!(up == 1 << SLOT && down == 0, "PCIU/PCID after plug");
    let (rc, st) = pci_hotplug(m, HOTPLUG_QUERY)?;
    ensure!(
        rc == 0 && st == slot_state::PRESENT | slot_state::INSERT_PENDING,
        "query after plug: rc {rc} state {st:#x}"
    );
    println!("[emulator] query slot {SLOT} -> state {st:#x} (present, insertion pending)");

    // -- the guest enumerates the slot: config reads through CF8/CFC go to our server.
    let slot = u32::from(SLOT);
    for (reg, size, want, what) in [
        (0x00, 4, u64::from(VENDOR_DEVICE), "vendor/device id"),
        (0x02, 2, u64::from(VENDOR_DEVICE >> 16), "device id"),
        (0x08, 4, u64::from(CLASS_REV), "class/revision"),
        (0x10, 4, IO_BAR | 1, "BAR0 (I/O)"),
        (0x14, 4, MMIO_BAR, "BAR1 (memory)"),
    ] {
        let (data, by) = config_read(m, &mut em, slot, reg, size)?;
        println!(
            "[guest] config read {} reg {reg:#04x} size {size} -> {data:#0w$x} ({what}, {})",
            bdf(SBDF),
            served(&by),
            w = 2 + 2 * size as usize
        );
        ensure!(
            data == want,
            "config reg {reg:#x}: {data:#x}, want {want:#x}"
        );
        ensure!(
            matches!(by, ServedBy::Server(i) if i == id),
            "not served by our server"
        );
    }
    let (data, by) = config_read(m, &mut em, 4, 0, 4)?;
    println!(
        "[guest] config read {} reg 0x00 size 4 -> {data:#010x} ({}: empty slot)",
        bdf(pci_sbdf(0, 0, 4, 0)),
        served(&by)
    );
    ensure!(
        data == 0xffff_ffff && matches!(by, ServedBy::Nobody),
        "an unclaimed device must read all ones"
    );

    // -- the driver uses the BARs: port I/O from vCPU 0, an MMIO read from vCPU 1.
    let (_, by, _) = guest_forwarded(m, &mut em, 0, pio(IO_BAR + 4, 4, IOREQ_WRITE, 0xdead_beef))?;
    println!(
        "[guest] vCPU0 outl {:#x} <- 0xdeadbeef ({})",
        IO_BAR + 4,
        served(&by)
    );
    ensure!(
        matches!(by, ServedBy::Server(i) if i == id),
        "PIO write not ours"
    );
    let (data, by, _) = guest_forwarded(m, &mut em, 0, pio(IO_BAR + 4, 4, IOREQ_READ, 0))?;
    println!(
        "[guest] vCPU0 inl {:#x} -> {data:#010x} ({})",
        IO_BAR + 4,
        served(&by)
    );
    ensure!(data == 0xdead_beef, "PIO read back {data:#x}");
    let (data, by, _) = guest_forwarded(m, &mut em, 1, mmio_read(MMIO_BAR, 4))?;
    println!(
        "[guest] vCPU1 MMIO read {MMIO_BAR:#x} size 4 -> {data:#010x} (\"{}\", {})",
        String::from_utf8_lossy(&(data as u32).to_le_bytes()),
        served(&by)
    );
    ensure!(data == u64::from(MMIO_ID), "MMIO id register {data:#x}");
    // Just outside the BARs nothing matches: a range must contain the whole access.
    let (data, by, _) = guest_forwarded(
        m,
        &mut em,
        0,
        pio(IO_BAR + IO_BAR_LEN - 2, 4, IOREQ_READ, 0),
    )?;
    println!(
        "[guest] vCPU0 inl {:#x} (straddles the BAR's end) -> {data:#010x} ({})",
        IO_BAR + IO_BAR_LEN - 2,
        served(&by)
    );
    ensure!(
        matches!(by, ServedBy::Nobody),
        "a straddling access matched"
    );

    // -- a buffered write: posted on the ring, the vCPU does not wait. Xen buffers only writes it
    // knows to be free of side effects the vCPU must wait for (stdvga's); the demo posts one of its
    // device's register writes the same way, through the same `hvm_buffered_io_send`.
    HostDomain::set_current(m.guest);
    HostDomain::set_current_vcpu(Some(m.vcpus[0]));
    let mut w = pio(IO_BAR + 8, 2, IOREQ_WRITE, 0x5a5a);
    // SAFETY: `w` is a live ioreq_t; the vCPU is current.
    let queued = unsafe { hvm_buffered_io_send((&mut w as *mut IoreqSlot).cast()) };
    ensure!(queued == 1, "buffered write not queued");
    ensure!(
        // SAFETY: a live vCPU of the host platform.
        !unsafe { hvm_io_pending(m.vcpus[0].as_ptr().cast()) },
        "a buffered write leaves no synchronous request"
    );
    println!(
        "[guest] vCPU0 outw {:#x} <- 0x5a5a: buffered (ring write pointer {}), no wait",
        IO_BAR + 8,
        em.buf_page
            .read_u32(offset_of!(BufferedIopage, write_pointer))
    );
    ensure!(em.run(m.guest)? == 1, "the ring's request was not consumed");
    ensure!(
        em.buf_page
            .read_u32(offset_of!(BufferedIopage, read_pointer))
            == em
                .buf_page
                .read_u32(offset_of!(BufferedIopage, write_pointer)),
        "ring not drained"
    );
    let (data, by, _) = guest_forwarded(m, &mut em, 0, pio(IO_BAR + 8, 2, IOREQ_READ, 0))?;
    println!(
        "[guest] vCPU0 inw {:#x} -> {data:#06x} ({})",
        IO_BAR + 8,
        served(&by)
    );
    ensure!(data == 0x5a5a, "buffered write not applied: {data:#x}");

    // -- exit: ask the guest to release the device and wait for its eject.
    let (rc, _) = pci_hotplug(m, HOTPLUG_UNPLUG)?;
    ensure!(rc == 0, "unplug request: rc {rc}");
    println!("[emulator] exiting: HVMOP_pci_hotplug unplug slot {SLOT} -> 0");
    let (up, down) = guest_sci(m)?;
    ensure!(
        up == 1 << SLOT && down == 1 << SLOT,
        "PCIU/PCID after the unplug request"
    );
    let (rc, st) = pci_hotplug(m, HOTPLUG_QUERY)?;
    ensure!(
        rc == 0 && st & slot_state::REMOVE_PENDING != 0 && st & slot_state::EJECTED == 0,
        "query before the eject: {st:#x}"
    );
    println!(
        "[emulator] query slot {SLOT} -> state {st:#x} (removal pending): waiting for the guest"
    );
    guest_port(m, PORT_WRITE, B0EJ, 4, 1 << SLOT)?;
    println!(
        "[guest] driver unbound; \\_SB.PCI0.S{SLOT}._EJ0: B0EJ <- {:#010x}",
        1u32 << SLOT
    );
    ensure!(!sci_line(m.guest).level(), "SCI after the eject");
    let after = (
        guest_port(m, PORT_READ, PCIU, 4, 0)?,
        guest_port(m, PORT_READ, PCID, 4, 0)?,
    );
    ensure!(after == (0, 0), "PCIU/PCID after the eject: {after:?}");
    let (rc, st) = pci_hotplug(m, HOTPLUG_QUERY)?;
    ensure!(
        rc == 0 && st == slot_state::EJECTED,
        "query after the eject: rc {rc} state {st:#x}"
    );
    println!("[emulator] query slot {SLOT} -> state {st:#x} (ejected)");

    // -- tear down: unmap the ranges (20), disable (22), destroy (21).
    for (type_, start, end) in [
        (HVMOP_IO_RANGE_MEMORY, MMIO_BAR, MMIO_BAR + MMIO_BAR_LEN - 1),
        (HVMOP_IO_RANGE_PORT, IO_BAR, IO_BAR + IO_BAR_LEN - 1),
        (HVMOP_IO_RANGE_PCI, u64::from(SBDF), u64::from(SBDF)),
    ] {
        let (rc, _) = hvm_op(
            m,
            HVMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER,
            &io_range_arg(id, type_, start, end),
        )?;
        ensure!(rc == 0, "unmap {} range: rc {rc}", range_name(type_));
    }
    println!("[emulator] unmap its memory, port and PCI ranges");
    let (data, by) = config_read(m, &mut em, slot, 0, 4)?;
    ensure!(
        data == 0xffff_ffff && matches!(by, ServedBy::Nobody),
        "an unclaimed device must read all ones"
    );
    println!(
        "[guest] config read {} reg 0x00 -> {data:#010x} ({})",
        bdf(SBDF),
        served(&by)
    );
    let (rc, _) = hvm_op(m, HVMOP_SET_IOREQ_SERVER_STATE, &state_arg(id, false))?;
    ensure!(rc == 0, "disable: rc {rc}");
    ensure!(
        em.ioreq_page.is_at(m.guest, em.ioreq_gmfn) && em.buf_page.is_at(m.guest, em.bufioreq_gmfn),
        "disabled server's pages not back in the guest P2M"
    );
    println!(
        "[emulator] disable server {id}: gmfns {:#x}/{:#x} back in the guest P2M",
        em.ioreq_gmfn, em.bufioreq_gmfn
    );
    let (rc, _) = hvm_op(m, HVMOP_DESTROY_IOREQ_SERVER, &id_arg(id))?;
    ensure!(rc == 0, "destroy: rc {rc}");
    let snap = ioreq::snapshot::<HostPlatform>(m.guest);
    ensure!(
        snap.servers.is_empty() && snap.pool_mask == (1 << POOL_PAGES) - 1,
        "after destroy: {} servers, pool mask {:#x}",
        snap.servers.len(),
        snap.pool_mask
    );
    for port in em.vcpu_ports.iter().chain([&em.buf_port]) {
        ensure!(
            evtchn::evtchn(m.guest, *port).is_none(),
            "port {port} still allocated"
        );
    }
    println!(
        "[emulator] destroy server {id}: its {} event channels freed, pool frames returned; \
         served {} synchronous and {} buffered requests; unmap pages, exit",
        em.vcpu_ports.len() + 1,
        em.served,
        em.buffered
    );
    Ok(em)
}
