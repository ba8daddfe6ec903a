//! The live test's guest: a freestanding PVH kernel (no libc) that performs the shared script
//! of accesses (`xen-ioreq-live-script`), checks every value it reads against the shared model,
//! prints one transcript line per access and a verdict, times port round trips to the emulator
//! with the TSC, then takes part in the emulator's hostile pass.
//!
//! An exception prints one `xen-ioreq-guest: FAIL exception ...` line (traps.rs) and stops.
//!
//! Console: the PV console ring when running on Xen (xenconsoled hands it to `xl console`);
//! port 0xe9 otherwise (QEMU's debugcon when QEMU boots the ELF directly, for a quick look).
#![no_std]
#![no_main]

mod boot;
mod hw;
mod mem;
mod traps;
mod xen;

/// The crate's own `#[repr(C)]` ioreq/HVMOP ABI (src/ioreq/abi.rs), compiled in directly: the
/// library itself needs a platform this freestanding guest does not have.
#[path = "../../../src/ioreq/abi.rs"]
#[allow(
    dead_code,
    unused_imports,
    unused_macros,
    clippy::wrong_self_convention
)]
mod abi;

use core::cell::UnsafeCell;
use core::fmt::{self, Write};

use xen_ioreq_live_script::layout::*;
use xen_ioreq_live_script::model::{Expect, Machine};
use xen_ioreq_live_script::script::{fill_value, Op, Script};
use xen_ioreq_live_script::{size_mask, Digest};

/// QEMU's `isa-debug-exit` device (only used when not on Xen, to end a direct QEMU boot).
const QEMU_EXIT_PORT: u16 = 0xf4;
const DEBUGCON_PORT: u16 = 0xe9;

/// The RAM buffer of the string instructions, two pages.
#[repr(C, align(4096))]
struct RepArea(UnsafeCell<[u8; REP_AREA]>);
// SAFETY: one vCPU, interrupts off: nothing runs concurrently with the code using it.
unsafe impl Sync for RepArea {}
static REP_BUF: RepArea = RepArea(UnsafeCell::new([0; REP_AREA]));

/// The timing samples.
struct Samples(UnsafeCell<[u64; RTT_SAMPLES]>);
// SAFETY: as RepArea.
unsafe impl Sync for Samples {}
static SAMPLES: Samples = Samples(UnsafeCell::new([0; RTT_SAMPLES]));

// ---- console -----------------------------------------------------------------------------------

struct Console {
    xen: Option<xen::Xen>,
}

impl Console {
    fn write_bytes(&self, b: &[u8]) {
        match &self.xen {
            Some(x) => x.console_write(b),
            None => b
                .iter()
                .for_each(|c| hw::port_out(DEBUGCON_PORT, 1, u32::from(*c))),
        }
    }

    /// Also to port 0xe9 (Xen's own console on a debug build): a marker for diagnosis only.
    fn mark(&self, s: &str) {
        if self.xen.is_some() {
            debugcon_line(s.as_bytes());
        }
    }
}

/// One line to port 0xe9: QEMU's debugcon, or on Xen its log of the guest's `(dN)` lines.
fn debugcon_line(s: &[u8]) {
    s.iter()
        .for_each(|c| hw::port_out(DEBUGCON_PORT, 1, u32::from(*c)));
    hw::port_out(DEBUGCON_PORT, 1, u32::from(b'\n'));
}

/// The end of a fatal report (traps.rs): the line on the console (on Xen, first on port 0xe9,
/// which needs no working console ring), then a FAIL exit when QEMU runs the guest directly, or
/// a stopped vCPU on Xen.
fn report_fatal(line: &mut Line) -> ! {
    let con = Console {
        xen: xen::Xen::found(),
    };
    if con.xen.is_some() {
        debugcon_line(line.buf.get(..line.len).unwrap_or(&[]));
    }
    line.send(&con);
    if con.xen.is_none() {
        hw::port_out(QEMU_EXIT_PORT, 4, 1);
    }
    hw::halt_forever();
}

/// `hvm_start_info` (xen/include/public/arch-x86/hvm/start_info.h): `magic` at 0,
/// `cmdline_paddr` at 24.
const START_INFO_MAGIC: u32 = 0x336e_c578;
const START_INFO_CMDLINE: u32 = 24;

/// The value of `key=` on the PVH command line (QEMU's `-append`, a domain's `cmdline`), copied
/// into `buf`; empty when there is none.
fn cmdline_value<'a>(start_info: u32, key: &[u8], buf: &'a mut [u8; 256]) -> &'a [u8] {
    if start_info == 0 {
        return &[];
    }
    // SAFETY: the loader passes the physical address of its start_info in ebx; all of the
    // first 4 GiB is identity-mapped (boot.rs), so a 32-bit address is readable.
    let magic = unsafe { core::ptr::read_volatile(start_info as usize as *const u32) };
    if magic != START_INFO_MAGIC {
        return &[];
    }
    // SAFETY: as above; the field is 8-byte aligned in the structure.
    let cmdline = unsafe {
        core::ptr::read_volatile((start_info as usize + START_INFO_CMDLINE as usize) as *const u64)
    };
    if cmdline == 0 || cmdline >= (1 << 32) - buf.len() as u64 {
        return &[];
    }
    let mut len = 0;
    for (i, slot) in buf.iter_mut().enumerate() {
        // SAFETY: below 4 GiB (checked above), identity-mapped; the string ends at its NUL,
        // and at most 256 bytes are read.
        let b = unsafe { core::ptr::read_volatile((cmdline as usize + i) as *const u8) };
        if b == 0 {
            break;
        }
        *slot = b;
        len += 1;
    }
    let words = buf.get(..len).unwrap_or(&[]);
    words
        .split(|&b| b == b' ')
        .find_map(|w| w.strip_prefix(key)?.strip_prefix(b"="))
        .unwrap_or(&[])
}

/// One output line, built in place and sent whole.
struct Line {
    buf: [u8; 320],
    len: usize,
}

impl Line {
    fn new() -> Self {
        Self {
            buf: [0; 320],
            len: 0,
        }
    }
    fn send(&mut self, con: &Console) {
        let _ = self.write_char('\n');
        con.write_bytes(self.buf.get(..self.len).unwrap_or(&[]));
        self.len = 0;
    }
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for b in s.bytes() {
            // Keep room for the newline; a longer line is cut, never overrun.
            if self.len + 1 < self.buf.len() {
                if let Some(slot) = self.buf.get_mut(self.len) {
                    *slot = b;
                    self.len += 1;
                }
            }
        }
        Ok(())
    }
}

// ---- the string-instruction buffer -------------------------------------------------------------

fn area() -> *mut u8 {
    REP_BUF.0.get().cast::<u8>()
}

/// Offset in the area of element `i` of `count` elements of `size` bytes whose lowest one is at
/// `buf`, in instruction order.
fn element_off(buf: u16, size: u8, count: u8, i: usize, df: bool) -> usize {
    let k = if df { usize::from(count) - 1 - i } else { i };
    usize::from(buf) + k * usize::from(size)
}

fn area_read(off: usize, size: u8) -> u64 {
    let mut v = [0u8; 8];
    for (j, b) in v.iter_mut().take(usize::from(size)).enumerate() {
        if off + j < REP_AREA {
            // SAFETY: inside the static area (bounds checked just above).
            *b = unsafe { core::ptr::read_volatile(area().add(off + j)) };
        }
    }
    u64::from_le_bytes(v)
}

fn area_write(off: usize, size: u8, value: u64) {
    for (j, b) in value
        .to_le_bytes()
        .iter()
        .take(usize::from(size))
        .enumerate()
    {
        if off + j < REP_AREA {
            // SAFETY: inside the static area (bounds checked just above).
            unsafe { core::ptr::write_volatile(area().add(off + j), *b) };
        }
    }
}

fn area_fill(byte: u8) {
    for off in 0..REP_AREA {
        // SAFETY: inside the static area.
        unsafe { core::ptr::write_volatile(area().add(off), byte) };
    }
}

/// Guest-physical (= linear, identity-mapped) address of element 0 in the area.
fn element0_addr(buf: u16, size: u8, count: u8, df: bool) -> u64 {
    area() as u64 + element_off(buf, size, count, 0, df) as u64
}

fn fill_elements(buf: u16, size: u8, count: u8, df: bool, fill: u32) {
    for i in 0..usize::from(count) {
        let v = fill_value(fill, i) & size_mask(u32::from(size));
        area_write(element_off(buf, size, count, i, df), size, v);
    }
}

// ---- running one access --------------------------------------------------------------------------

/// What the guest observed.
enum Seen {
    Nothing,
    Value(u64),
    Elements {
        n: usize,
        buf: u16,
        size: u8,
        count: u8,
        df: bool,
    },
}

fn perform(op: &Op) -> Seen {
    match *op {
        Op::In { port, size } => Seen::Value(u64::from(hw::port_in(port, size))),
        Op::Out { port, size, value } => {
            hw::port_out(port, size, value);
            Seen::Nothing
        }
        Op::RepIns {
            port,
            size,
            count,
            df,
            buf,
        } => {
            area_fill(0xcc);
            let dst = element0_addr(buf, size, count, df) as *mut u8;
            // SAFETY: the script keeps `count` elements inside the area (tested in the script
            // crate: buf + size * count <= REP_AREA).
            unsafe { hw::rep_ins(port, size, dst, usize::from(count), df) };
            Seen::Elements {
                n: usize::from(count),
                buf,
                size,
                count,
                df,
            }
        }
        Op::RepOuts {
            port,
            size,
            count,
            df,
            buf,
            fill,
        } => {
            fill_elements(buf, size, count, df, fill);
            let src = element0_addr(buf, size, count, df) as *const u8;
            // SAFETY: as RepIns.
            unsafe { hw::rep_outs(port, size, src, usize::from(count), df) };
            Seen::Nothing
        }
        Op::MmioRead { addr, size } => {
            // SAFETY: the script's MMIO addresses are in the unpopulated window at 0xe0000000.
            Seen::Value(unsafe { hw::mmio_read(addr, size) })
        }
        Op::MmioWrite { addr, size, value } => {
            // SAFETY: as MmioRead.
            unsafe { hw::mmio_write(addr, size, value) };
            Seen::Nothing
        }
        Op::RepStos {
            addr,
            size,
            count,
            df,
            value,
        } => {
            // SAFETY: as MmioRead; the span stays inside the window.
            unsafe { hw::rep_stos(addr, size, value, usize::from(count), df) };
            Seen::Nothing
        }
        Op::RepMovsIn {
            addr,
            size,
            count,
            df,
            buf,
        } => {
            area_fill(0xcc);
            let dst = element0_addr(buf, size, count, df);
            // SAFETY: MMIO source in the window; destination inside the area (as RepIns).
            unsafe { hw::rep_movs(dst, addr, size, usize::from(count), df) };
            Seen::Elements {
                n: usize::from(count),
                buf,
                size,
                count,
                df,
            }
        }
        Op::RepMovsOut {
            addr,
            size,
            count,
            df,
            buf,
            fill,
        } => {
            fill_elements(buf, size, count, df, fill);
            let src = element0_addr(buf, size, count, df);
            // SAFETY: as RepMovsIn, the other way round.
            unsafe { hw::rep_movs(addr, src, size, usize::from(count), df) };
            Seen::Nothing
        }
    }
}

/// Checks what was seen against the model; writes the result part of the line.
fn check(seen: &Seen, want: Expect, model_out: &[u64; MAX_REP], line: &mut Line) -> bool {
    match (seen, want) {
        (Seen::Nothing, Expect::Nothing) => {
            let _ = write!(line, " ok");
            true
        }
        (Seen::Value(v), Expect::Value(w)) => {
            let ok = *v == w;
            let _ = write!(line, " -> {v:#x}");
            if ok {
                let _ = write!(line, " ok");
            } else {
                let _ = write!(line, " BAD want={w:#x}");
            }
            ok
        }
        (
            &Seen::Elements {
                n,
                buf,
                size,
                count,
                df,
            },
            Expect::Elements(m),
        ) if n == m => {
            let mut got = Digest::new();
            let mut bad = None;
            for i in 0..n {
                let v = area_read(element_off(buf, size, count, i, df), size);
                got.push(v);
                let w = model_out.get(i).copied().unwrap_or(0);
                if v != w && bad.is_none() {
                    bad = Some((i, v, w));
                }
            }
            let _ = write!(line, " -> n={n} digest={:#018x}", got.value());
            match bad {
                None => {
                    let _ = write!(line, " ok");
                    true
                }
                Some((i, v, w)) => {
                    let _ = write!(line, " BAD element {i} = {v:#x} want={w:#x}");
                    false
                }
            }
        }
        _ => {
            let _ = write!(line, " BAD model/op mismatch");
            false
        }
    }
}

fn median(samples: &mut [u64]) -> u64 {
    // insertion sort: 1000 samples, once
    for i in 1..samples.len() {
        let mut j = i;
        while j > 0 && samples.get(j - 1) > samples.get(j) {
            samples.swap(j - 1, j);
            j -= 1;
        }
    }
    samples.get(samples.len() / 2).copied().unwrap_or(0)
}

#[no_mangle]
extern "C" fn guest_main(start_info: u32) -> ! {
    traps::install();
    let con = Console {
        xen: xen::Xen::detect(),
    };
    let mut arg = [0u8; 256];
    traps::provoke(cmdline_value(start_info, b"fault-test", &mut arg));
    con.mark("xen-ioreq-guest: script starts");
    let mut line = Line::new();
    let Some(mut machine) = Machine::new() else {
        let _ = write!(line, "guest: verdict FAIL no model");
        line.send(&con);
        hw::halt_forever();
    };

    let mut out = [0u64; MAX_REP];
    let mut accesses = 0usize;
    let mut mismatches = 0usize;
    traps::set_phase(traps::PHASE_SCRIPT);
    for (i, op) in Script::new().enumerate() {
        traps::set_access(i + 1);
        let seen = perform(&op);
        let want = machine.run(&op, &mut out);
        let _ = write!(line, "io {:04} {op}", i + 1);
        if !check(&seen, want, &out, &mut line) {
            mismatches += 1;
        }
        line.send(&con);
        accesses += 1;
    }

    traps::set_phase(traps::PHASE_RTT);
    // Round trips: one 4-byte read of B's ping register each, timed with the TSC.
    // SAFETY: the only reference to the samples, in this one-vCPU guest.
    let samples = unsafe { &mut *SAMPLES.0.get() };
    let mut bad_pings = 0usize;
    for s in samples.iter_mut() {
        let (cycles, v) = hw::timed_port_in(PING_PORT);
        *s = cycles;
        if v != PING_VALUE {
            bad_pings += 1;
        }
    }
    let med = median(samples);

    // Tell the emulator the script is over: it completes this write, then tears down.
    hw::port_out(CONTROL_PORT, 4, DONE_MAGIC);

    let pass = mismatches == 0 && bad_pings == 0;
    let _ = write!(
        line,
        "guest: verdict {} accesses={accesses} mismatches={mismatches} pings={RTT_SAMPLES} bad_pings={bad_pings}",
        if pass { "PASS" } else { "FAIL" }
    );
    line.send(&con);
    con.mark(if pass {
        "xen-ioreq-guest: verdict PASS"
    } else {
        "xen-ioreq-guest: verdict FAIL"
    });
    let _ = write!(line, "rtt samples={RTT_SAMPLES} median_cycles={med}");
    line.send(&con);

    let Some(x) = &con.xen else {
        // Not on Xen: end a direct QEMU boot.
        hw::port_out(QEMU_EXIT_PORT, 4, if pass { 0 } else { 1 });
        hw::halt_forever();
    };

    traps::set_phase(traps::PHASE_HOSTILE);
    // The hostile pass: wait until its server claims the handshake port (until then nobody does
    // and reads return all-ones), then read its data port; the last read is left pending by the
    // emulator, which destroys its server meanwhile.
    while hw::port_in(HOSTILE_HANDSHAKE_PORT, 4) != HANDSHAKE_MAGIC {
        x.yield_cpu();
    }
    let _ = write!(line, "hostile handshake {HANDSHAKE_MAGIC:#x} ok");
    line.send(&con);
    for k in 0..HOSTILE_READS {
        let last = k + 1 == HOSTILE_READS;
        if last {
            let _ = write!(line, "hostile {k} in port={HOSTILE_DATA_PORT:#x} size=4 pending: the emulator destroys its server");
            line.send(&con);
        }
        let v = hw::port_in(HOSTILE_DATA_PORT, 4);
        let want = hostile_value(k);
        let _ = write!(
            line,
            "hostile {k} in port={HOSTILE_DATA_PORT:#x} size=4 -> {v:#x}"
        );
        let _ = if last {
            write!(line, " returned")
        } else if v == want {
            write!(line, " ok")
        } else {
            write!(line, " BAD want={want:#x}")
        };
        line.send(&con);
    }
    // Stay alive for run-live's checks and `xl destroy`, whichever way the pending read ended
    // (a halt with interrupts off would power the domain off).
    hw::idle_forever();
}

/// A panic (e.g. an overflow check) is reported like an exception, with where it happened.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    traps::enter_fatal();
    let mut line = Line::new();
    let _ = write!(line, "xen-ioreq-guest: FAIL panic");
    if let Some(at) = info.location() {
        let _ = write!(line, " at {}:{}", at.file(), at.line());
    }
    report_fatal(&mut line)
}
