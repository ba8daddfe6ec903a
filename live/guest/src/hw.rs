//! The guest's instructions: port I/O, MMIO moves, string instructions, the TSC. Each one is the
//! exact instruction the script names, so that Xen sees that access and no other.
//!
//! Every function is `unsafe`: the caller promises that the addresses are ones this guest may
//! touch (its own RAM buffer, or the MMIO window, which is unpopulated guest-physical space that
//! Xen forwards to the device model or to its null handler).

use core::arch::asm;

/// One port read of `size` (1, 2 or 4) bytes; other sizes read nothing and return 0.
pub fn port_in(port: u16, size: u8) -> u32 {
    let v: u32;
    // SAFETY: a port read has no memory effect on this guest; the ports are the script's.
    unsafe {
        match size {
            1 => asm!("xor eax, eax", "in al, dx", in("dx") port, out("eax") v, options(nostack)),
            2 => asm!("xor eax, eax", "in ax, dx", in("dx") port, out("eax") v, options(nostack)),
            4 => asm!("in eax, dx", in("dx") port, out("eax") v, options(nostack)),
            _ => v = 0,
        }
    }
    v
}

/// One port write of `size` (1, 2 or 4) bytes.
pub fn port_out(port: u16, size: u8, value: u32) {
    // SAFETY: a port write has no memory effect on this guest.
    unsafe {
        match size {
            1 => asm!("out dx, al", in("dx") port, in("eax") value, options(nostack)),
            2 => asm!("out dx, ax", in("dx") port, in("eax") value, options(nostack)),
            4 => asm!("out dx, eax", in("dx") port, in("eax") value, options(nostack)),
            _ => {}
        }
    }
}

/// `rep ins` of `count` elements of `size` bytes into `dst` (element 0's address), descending
/// when `df`.
///
/// # Safety
/// `count` elements from `dst` in the chosen direction must be writable guest RAM.
pub unsafe fn rep_ins(port: u16, size: u8, dst: *mut u8, count: usize, df: bool) {
    // SAFETY: the caller's contract; DF is restored before the block ends.
    unsafe {
        match (size, df) {
            (1, false) => {
                asm!("rep insb", in("dx") port, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (2, false) => {
                asm!("rep insw", in("dx") port, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (4, false) => {
                asm!("rep insd", in("dx") port, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (1, true) => {
                asm!("std", "rep insb", "cld", in("dx") port, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (2, true) => {
                asm!("std", "rep insw", "cld", in("dx") port, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (4, true) => {
                asm!("std", "rep insd", "cld", in("dx") port, inout("rdi") dst => _, inout("rcx") count => _)
            }
            _ => {}
        }
    }
}

/// `rep outs` of `count` elements of `size` bytes from `src` (element 0), descending when `df`.
///
/// # Safety
/// `count` elements from `src` in the chosen direction must be readable guest RAM.
pub unsafe fn rep_outs(port: u16, size: u8, src: *const u8, count: usize, df: bool) {
    // SAFETY: the caller's contract; DF is restored before the block ends.
    unsafe {
        match (size, df) {
            (1, false) => {
                asm!("rep outsb", in("dx") port, inout("rsi") src => _, inout("rcx") count => _)
            }
            (2, false) => {
                asm!("rep outsw", in("dx") port, inout("rsi") src => _, inout("rcx") count => _)
            }
            (4, false) => {
                asm!("rep outsd", in("dx") port, inout("rsi") src => _, inout("rcx") count => _)
            }
            (1, true) => {
                asm!("std", "rep outsb", "cld", in("dx") port, inout("rsi") src => _, inout("rcx") count => _)
            }
            (2, true) => {
                asm!("std", "rep outsw", "cld", in("dx") port, inout("rsi") src => _, inout("rcx") count => _)
            }
            (4, true) => {
                asm!("std", "rep outsd", "cld", in("dx") port, inout("rsi") src => _, inout("rcx") count => _)
            }
            _ => {}
        }
    }
}

/// One `mov` of `size` (1, 2, 4 or 8) bytes from `addr`, which need not be aligned.
///
/// # Safety
/// `addr .. addr + size` must be guest RAM or the MMIO window.
pub unsafe fn mmio_read(addr: u64, size: u8) -> u64 {
    let v: u64;
    // SAFETY: the caller's contract.
    unsafe {
        match size {
            1 => {
                asm!("movzx eax, byte ptr [{a}]", a = in(reg) addr, out("rax") v, options(nostack))
            }
            2 => {
                asm!("movzx eax, word ptr [{a}]", a = in(reg) addr, out("rax") v, options(nostack))
            }
            4 => asm!("mov eax, dword ptr [{a}]", a = in(reg) addr, out("rax") v, options(nostack)),
            8 => asm!("mov rax, qword ptr [{a}]", a = in(reg) addr, out("rax") v, options(nostack)),
            _ => v = 0,
        }
    }
    v
}

/// One `mov` of `size` bytes of `value` to `addr`.
///
/// # Safety
/// As [`mmio_read`].
pub unsafe fn mmio_write(addr: u64, size: u8, value: u64) {
    // SAFETY: the caller's contract.
    unsafe {
        match size {
            1 => {
                asm!("mov byte ptr [{a}], al", a = in(reg) addr, in("rax") value, options(nostack))
            }
            2 => {
                asm!("mov word ptr [{a}], ax", a = in(reg) addr, in("rax") value, options(nostack))
            }
            4 => {
                asm!("mov dword ptr [{a}], eax", a = in(reg) addr, in("rax") value, options(nostack))
            }
            8 => {
                asm!("mov qword ptr [{a}], rax", a = in(reg) addr, in("rax") value, options(nostack))
            }
            _ => {}
        }
    }
}

/// `rep stos` of `count` elements of `size` bytes of `value` from `dst` (element 0).
///
/// # Safety
/// `count` elements from `dst` in the chosen direction must be guest RAM or MMIO window.
pub unsafe fn rep_stos(dst: u64, size: u8, value: u64, count: usize, df: bool) {
    // SAFETY: the caller's contract; DF is restored before the block ends.
    unsafe {
        match (size, df) {
            (1, false) => {
                asm!("rep stosb", in("rax") value, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (2, false) => {
                asm!("rep stosw", in("rax") value, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (4, false) => {
                asm!("rep stosd", in("rax") value, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (8, false) => {
                asm!("rep stosq", in("rax") value, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (1, true) => {
                asm!("std", "rep stosb", "cld", in("rax") value, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (2, true) => {
                asm!("std", "rep stosw", "cld", in("rax") value, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (4, true) => {
                asm!("std", "rep stosd", "cld", in("rax") value, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (8, true) => {
                asm!("std", "rep stosq", "cld", in("rax") value, inout("rdi") dst => _, inout("rcx") count => _)
            }
            _ => {}
        }
    }
}

/// `rep movs` of `count` elements of `size` bytes from `src` to `dst` (element 0 of each).
///
/// # Safety
/// Both element ranges must be guest RAM or the MMIO window.
pub unsafe fn rep_movs(dst: u64, src: u64, size: u8, count: usize, df: bool) {
    // SAFETY: the caller's contract; DF is restored before the block ends.
    unsafe {
        match (size, df) {
            (1, false) => {
                asm!("rep movsb", inout("rsi") src => _, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (2, false) => {
                asm!("rep movsw", inout("rsi") src => _, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (4, false) => {
                asm!("rep movsd", inout("rsi") src => _, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (8, false) => {
                asm!("rep movsq", inout("rsi") src => _, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (1, true) => {
                asm!("std", "rep movsb", "cld", inout("rsi") src => _, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (2, true) => {
                asm!("std", "rep movsw", "cld", inout("rsi") src => _, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (4, true) => {
                asm!("std", "rep movsd", "cld", inout("rsi") src => _, inout("rdi") dst => _, inout("rcx") count => _)
            }
            (8, true) => {
                asm!("std", "rep movsq", "cld", inout("rsi") src => _, inout("rdi") dst => _, inout("rcx") count => _)
            }
            _ => {}
        }
    }
}

/// TSC cycles around one 4-byte port read; returns (cycles, value read).
pub fn timed_port_in(port: u16) -> (u64, u32) {
    let (lo0, hi0, lo1, hi1, v): (u32, u32, u32, u32, u32);
    // SAFETY: rdtsc and a port read touch no memory.
    unsafe {
        asm!(
            "lfence",
            "rdtsc",
            "mov {lo0:e}, eax",
            "mov {hi0:e}, edx",
            "mov dx, {port:x}",
            "in eax, dx",
            "mov {v:e}, eax",
            "lfence",
            "rdtsc",
            port = in(reg) port,
            lo0 = out(reg) lo0,
            hi0 = out(reg) hi0,
            v = out(reg) v,
            out("eax") lo1,
            out("edx") hi1,
            options(nostack),
        );
    }
    let t0 = (u64::from(hi0) << 32) | u64::from(lo0);
    let t1 = (u64::from(hi1) << 32) | u64::from(lo1);
    (t1.wrapping_sub(t0), v)
}

/// Stops the CPU for good (on Xen a halt with interrupts off takes the vCPU down, and with the
/// last one the domain: its `on_poweroff` action follows).
pub fn halt_forever() -> ! {
    loop {
        // SAFETY: hlt with interrupts off just parks the vCPU.
        unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
    }
}

/// Waits forever with the vCPU alive: halts with interrupts enabled. Nothing is set up to
/// interrupt the guest (no event-channel callback, no timer), so the vCPU just stays blocked;
/// an unexpected interrupt reaches the IDT's catch-all, which reports it.
pub fn idle_forever() -> ! {
    loop {
        // SAFETY: sti; hlt only blocks the vCPU until an interrupt, which traps.rs handles.
        unsafe { asm!("sti", "hlt", options(nomem, nostack)) };
    }
}

/// `cpuid` leaf `leaf`: (eax, ebx, ecx, edx).
pub fn cpuid(leaf: u32) -> (u32, u32, u32, u32) {
    let r = core::arch::x86_64::__cpuid(leaf);
    (r.eax, r.ebx, r.ecx, r.edx)
}

/// `wrmsr`.
///
/// # Safety
/// The MSR and value must be ones the platform defines (here: Xen's hypercall-page MSR).
pub unsafe fn wrmsr(msr: u32, value: u64) {
    // SAFETY: the caller's contract.
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack));
    }
}
