//! Exceptions: without an IDT any exception is a triple fault, which tells nobody what happened.
//! Every vector (the 32 exceptions and 32-255, which nothing should raise: interrupts stay off)
//! goes through a 16-byte stub to [`guest_exception`], which prints one line naming the vector,
//! error code, RIP, CR2, RSP and what the guest was doing, then stops the vCPU. #DF, NMI and #MC
//! run on their own stack (TSS IST1), so that a stack overflow, which turns the #PF into a #DF
//! when the frame cannot be pushed, still reports.
//!
//! Nothing here returns to the interrupted code, so the stubs save no registers, and the red
//! zone (the host target keeps one) that an exception frame on the same stack overwrites does
//! not matter.

use core::arch::{asm, global_asm};
use core::cell::UnsafeCell;
use core::fmt::Write;
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};

// Stubs: vector v's stub is at `exception_stubs + 16 * v`. A stub pushes 0 where the CPU
// pushes no error code, then the vector, so that every frame has one layout ([`Frame`]). Each
// is at most 9 bytes (two 2-byte pushes, a 5-byte jmp), so `.p2align 4` makes the slots exactly
// 16 bytes (the assembler cannot check it: the jmps are relaxed late); live-guest-smoke's
// fault tests see vectors 6, 8 and 14 reported as themselves.
global_asm!(
    r#"
    .macro exc_noerr vec
    .p2align 4
    push 0
    push \vec
    jmp exception_common
    .endm
    .macro exc_err vec
    .p2align 4
    push \vec
    jmp exception_common
    .endm

    .section .text.exception_stubs, "ax"
    .p2align 4
    .globl exception_stubs
exception_stubs:
    exc_noerr 0
    exc_noerr 1
    exc_noerr 2
    exc_noerr 3
    exc_noerr 4
    exc_noerr 5
    exc_noerr 6
    exc_noerr 7
    exc_err 8
    exc_noerr 9
    exc_err 10
    exc_err 11
    exc_err 12
    exc_err 13
    exc_err 14
    exc_noerr 15
    exc_noerr 16
    exc_err 17
    exc_noerr 18
    exc_noerr 19
    exc_noerr 20
    exc_err 21
    exc_noerr 22
    exc_noerr 23
    exc_noerr 24
    exc_noerr 25
    exc_noerr 26
    exc_noerr 27
    exc_noerr 28
    exc_err 29
    exc_err 30
    exc_noerr 31
    /* 32-255: no error code; push imm8 sign-extends, the handler keeps the low byte. */
    .set exc_vec, 32
    .rept 224
    .p2align 4
    push 0
    .byte 0x6a, exc_vec
    jmp exception_common
    .set exc_vec, exc_vec + 1
    .endr

    .p2align 4
exception_common:
    /* The handler is Rust code: the ABI's clear DF and 16-byte stack alignment at the call. */
    cld
    mov rdi, rsp
    and rsp, -16
    call {handler}
1:
    cli
    hlt
    jmp 1b
    "#,
    handler = sym guest_exception,
);

extern "C" {
    /// The first stub (the `global_asm!` above); only its address is used.
    static exception_stubs: [u8; 4096];
}

/// What the stub and the CPU left on the stack, lowest address first.
#[repr(C)]
struct Frame {
    vector: u64,
    error: u64,
    rip: u64,
    _cs: u64,
    rflags: u64,
    rsp: u64,
    _ss: u64,
}

const CODE_SELECTOR: u16 = 0x08;
const TSS_SELECTOR: u16 = 0x18;
/// Vectors that run on IST1: NMI, #DF, #MC.
const IST_VECTORS: [usize; 3] = [2, 8, 18];
const IST_STACK_SIZE: usize = 16384;
const TSS_SIZE: usize = 104;

/// The GDT (boot.rs's three descriptors again, then the TSS's 16-byte one), the IDT, the TSS
/// (as 32-bit words: its 64-bit fields are not 8-byte aligned) and the IST1 stack.
#[repr(C, align(16))]
struct Tables {
    gdt: [u64; 5],
    idt: [[u64; 2]; 256],
    tss: [u32; TSS_SIZE / 4],
    ist_stack: [u8; IST_STACK_SIZE],
}

struct TablesCell(UnsafeCell<Tables>);
// SAFETY: written once by `install` on the one vCPU before the CPU is told about the tables;
// only the CPU reads them afterwards.
unsafe impl Sync for TablesCell {}

static TABLES: TablesCell = TablesCell(UnsafeCell::new(Tables {
    gdt: [0; 5],
    idt: [[0; 2]; 256],
    tss: [0; TSS_SIZE / 4],
    ist_stack: [0; IST_STACK_SIZE],
}));

/// `lgdt`/`lidt` operand.
#[repr(C, packed)]
struct DescriptorPointer {
    limit: u16,
    base: u64,
}

/// A 64-bit interrupt gate (interrupts stay off in the handler) to `target`.
fn gate(target: u64, ist: u8) -> [u64; 2] {
    let low = (target & 0xffff)
        | (u64::from(CODE_SELECTOR) << 16)
        | (u64::from(ist & 7) << 32)
        | (0x8e << 40) // present, DPL 0, 64-bit interrupt gate
        | (((target >> 16) & 0xffff) << 48);
    [low, target >> 32]
}

/// The 16-byte system descriptor of an available 64-bit TSS at `base`.
fn tss_descriptor(base: u64) -> [u64; 2] {
    let limit = (TSS_SIZE - 1) as u64;
    let low = (limit & 0xffff)
        | ((base & 0xff_ffff) << 16)
        | (0x89 << 40) // present, DPL 0, available 64-bit TSS
        | (((limit >> 16) & 0xf) << 48)
        | (((base >> 24) & 0xff) << 56);
    [low, base >> 32]
}

/// Loads the GDT with a TSS, the TSS (IST1) and the IDT. Called once, first thing.
pub fn install() {
    let tables = TABLES.0.get();
    // SAFETY: the tables are only referenced here, once, before the CPU uses them (`install`
    // runs once, on the only vCPU, with interrupts off); they are static, so their addresses
    // stay valid for the CPU forever.
    unsafe {
        let t = &mut *tables;
        let stubs = core::ptr::addr_of!(exception_stubs) as u64;
        let tss = t.tss.as_ptr() as u64;
        let ist1 = (t.ist_stack.as_ptr() as u64 + IST_STACK_SIZE as u64) & !15;
        // TSS: IST1 at byte 0x24; the I/O bitmap base at 0x66 points past the limit: none.
        t.tss[9] = ist1 as u32;
        t.tss[10] = (ist1 >> 32) as u32;
        t.tss[25] = (TSS_SIZE as u32) << 16;
        let [tss_low, tss_high] = tss_descriptor(tss);
        t.gdt = [
            0,
            0x00af_9a00_0000_ffff, // 0x08: 64-bit code, as boot.rs
            0x00cf_9200_0000_ffff, // 0x10: flat data, as boot.rs
            tss_low,
            tss_high,
        ];
        for (v, entry) in t.idt.iter_mut().enumerate() {
            let ist = if IST_VECTORS.contains(&v) { 1 } else { 0 };
            *entry = gate(stubs + 16 * v as u64, ist);
        }
        let gdtr = DescriptorPointer {
            limit: (core::mem::size_of_val(&t.gdt) - 1) as u16,
            base: t.gdt.as_ptr() as u64,
        };
        let idtr = DescriptorPointer {
            limit: (core::mem::size_of_val(&t.idt) - 1) as u16,
            base: t.idt.as_ptr() as u64,
        };
        // The code and data descriptors are identical to the boot GDT's at the same
        // selectors, so the loaded segment registers need no reload.
        asm!(
            "lgdt [{gdtr}]",
            "ltr {tss:x}",
            "lidt [{idtr}]",
            gdtr = in(reg) &gdtr,
            idtr = in(reg) &idtr,
            tss = in(reg) TSS_SELECTOR,
            options(nostack, preserves_flags),
        );
    }
}

// ---- what the guest was doing ------------------------------------------------------------------

/// Phases for [`set_phase`].
pub const PHASE_STARTUP: u8 = 0;
pub const PHASE_SCRIPT: u8 = 1;
pub const PHASE_RTT: u8 = 2;
pub const PHASE_HOSTILE: u8 = 3;

static PHASE: AtomicU8 = AtomicU8::new(PHASE_STARTUP);
/// The script access in progress (1-based, as its transcript line numbers it).
static ACCESS: AtomicU32 = AtomicU32::new(0);

pub fn set_phase(phase: u8) {
    PHASE.store(phase, Ordering::Relaxed);
}

pub fn set_access(n: usize) {
    ACCESS.store(u32::try_from(n).unwrap_or(u32::MAX), Ordering::Relaxed);
}

// ---- the handler ---------------------------------------------------------------------------------

fn name(vector: u8) -> &'static str {
    match vector {
        0 => "#DE",
        1 => "#DB",
        2 => "NMI",
        3 => "#BP",
        4 => "#OF",
        5 => "#BR",
        6 => "#UD",
        7 => "#NM",
        8 => "#DF",
        9 => "coprocessor segment overrun",
        10 => "#TS",
        11 => "#NP",
        12 => "#SS",
        13 => "#GP",
        14 => "#PF",
        16 => "#MF",
        17 => "#AC",
        18 => "#MC",
        19 => "#XM",
        20 => "#VE",
        21 => "#CP",
        28 => "#HV",
        29 => "#VC",
        30 => "#SX",
        15 | 22..=27 | 31 => "reserved",
        _ => "interrupt",
    }
}

static IN_HANDLER: AtomicBool = AtomicBool::new(false);

/// Called first by every fatal report (an exception, a panic): a second one while the first is
/// being reported means the console itself is suspect; it then says so on port 0xe9 only
/// (QEMU's debugcon, Xen's log of the guest) and stops.
pub fn enter_fatal() {
    if IN_HANDLER.swap(true, Ordering::Relaxed) {
        crate::debugcon_line(b"xen-ioreq-guest: FAIL fault while reporting a failure");
        crate::hw::halt_forever();
    }
}

/// Called by `exception_common` with the frame; prints the line and stops.
extern "C" fn guest_exception(frame: &Frame) -> ! {
    let cr2: u64;
    // SAFETY: reading CR2 has no side effect.
    unsafe { asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack, preserves_flags)) };
    enter_fatal();
    let vector = frame.vector as u8;
    let mut line = crate::Line::new();
    let _ = write!(
        line,
        "xen-ioreq-guest: FAIL exception {vector} ({}) error {:#x} at rip {:#x} cr2 {cr2:#x} rsp {:#x} rflags {:#x} ",
        name(vector),
        frame.error,
        frame.rip,
        frame.rsp,
        frame.rflags
    );
    let _ = match PHASE.load(Ordering::Relaxed) {
        PHASE_SCRIPT => write!(line, "in script access {}", ACCESS.load(Ordering::Relaxed)),
        PHASE_RTT => write!(line, "in the round-trip timing"),
        PHASE_HOSTILE => write!(line, "in the hostile pass"),
        _ => write!(line, "before the script"),
    };
    crate::report_fatal(&mut line)
}

/// An address outside the 4 GiB identity map (canonical, not present).
pub const UNMAPPED: u64 = 0x7ead_0000_0000;

/// The smoke test's deliberate faults (`fault-test=ud|pf|df` on the PVH command line): `ud2`
/// (#UD), a read of [`UNMAPPED`] (#PF, CR2 = that address), and a push with RSP there, whose #PF
/// cannot push its frame either (#DF, on IST1). Unknown names do nothing.
pub fn provoke(kind: &[u8]) {
    // SAFETY: each instruction faults on purpose; `install` has set up the IDT and the handler
    // never returns, so nothing after it runs and no Rust state is left inconsistent.
    unsafe {
        match kind {
            b"ud" => asm!("ud2", options(noreturn)),
            b"pf" => asm!("mov rax, [{a}]", "ud2", a = in(reg) UNMAPPED, options(noreturn)),
            b"df" => asm!("mov rsp, {a}", "push rax", "ud2", a = in(reg) UNMAPPED + 0x1000,
                          options(noreturn)),
            _ => {}
        }
    }
}
