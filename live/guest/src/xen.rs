//! Xen from inside the guest: the hypercall page, HVM params, event channels and the PV console
//! ring that xenconsoled drains into dom0 (`xl console`).

use core::arch::asm;
use core::cell::UnsafeCell;
use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use crate::abi::{HvmParam, IntoBytes, DOMID_SELF, HVMOP_GET_PARAM};
use crate::hw;

const HYPERVISOR_SCHED_OP: usize = 29;
const HYPERVISOR_EVENT_CHANNEL_OP: usize = 32;
const HYPERVISOR_HVM_OP: usize = 34;
const SCHEDOP_YIELD: u64 = 0;
const EVTCHNOP_SEND: u64 = 4;
const HVM_PARAM_CONSOLE_PFN: u32 = 17;
const HVM_PARAM_CONSOLE_EVTCHN: u32 = 18;

/// `struct xencons_interface` (xen/include/public/io/console.h): `in[1024]`, `out[2048]`, then
/// `in_cons`, `in_prod`, `out_cons`, `out_prod` (u32 each).
const CONS_OUT: usize = 1024;
const CONS_OUT_SIZE: u32 = 2048;
const CONS_OUT_CONS: usize = 3080;
const CONS_OUT_PROD: usize = 3084;

#[repr(C, align(4096))]
struct Page(UnsafeCell<[u8; 4096]>);
// SAFETY: the guest runs on one vCPU with interrupts off; the page is only written by Xen.
unsafe impl Sync for Page {}

/// Xen fills this page with one 32-byte call stub per hypercall.
static HYPERCALL_PAGE: Page = Page(UnsafeCell::new([0; 4096]));

/// The console `detect` found (ring 0: none yet), for the exception handler.
static FOUND_RING: AtomicU64 = AtomicU64::new(0);
static FOUND_PORT: AtomicU32 = AtomicU32::new(0);

/// Xen as this guest found it.
pub struct Xen {
    console_ring: u64,
    console_port: u32,
}

fn hypercall2(nr: usize, a1: u64, a2: u64) -> i64 {
    let entry = (HYPERCALL_PAGE.0.get() as usize).wrapping_add(nr.wrapping_mul(32));
    let ret: i64;
    // SAFETY: `entry` is the stub Xen wrote for hypercall `nr` (only called after `detect`
    // installed the page); a debug Xen may clobber every argument register, so all are outputs.
    unsafe {
        asm!(
            "call {entry}",
            entry = in(reg) entry,
            inout("rdi") a1 => _,
            inout("rsi") a2 => _,
            lateout("rax") ret,
            out("rdx") _,
            out("r10") _,
            out("r8") _,
            out("rcx") _,
            out("r11") _,
        );
    }
    ret
}

impl Xen {
    /// Finds Xen's CPUID leaves, installs the hypercall page and looks up the PV console.
    /// `None` when not running on Xen (e.g. QEMU booting the ELF directly) or without a console.
    pub fn detect() -> Option<Self> {
        let base = (0x4000_0000u32..0x4001_0000).step_by(0x100).find(|&leaf| {
            let (_, b, c, d) = hw::cpuid(leaf);
            (b, c, d) == (0x566e_6558, 0x65584d4d, 0x4d4d566e) // "XenVMMXenVMM"
        })?;
        let (_pages, msr, _, _) = hw::cpuid(base.wrapping_add(2));
        // SAFETY: CPUID leaf base+2 names Xen's hypercall-page MSR; the page is ours, aligned.
        unsafe { hw::wrmsr(msr, HYPERCALL_PAGE.0.get() as u64) };
        let pfn = get_param(HVM_PARAM_CONSOLE_PFN)?;
        let port = get_param(HVM_PARAM_CONSOLE_EVTCHN)?;
        let found = (pfn != 0).then_some(Self {
            console_ring: pfn.wrapping_mul(4096),
            console_port: u32::try_from(port).ok()?,
        })?;
        FOUND_PORT.store(found.console_port, Ordering::Relaxed);
        FOUND_RING.store(found.console_ring, Ordering::Release);
        Some(found)
    }

    /// What an earlier `detect` found, if it found Xen and its console.
    pub fn found() -> Option<Self> {
        let ring = FOUND_RING.load(Ordering::Acquire);
        (ring != 0).then(|| Self {
            console_ring: ring,
            console_port: FOUND_PORT.load(Ordering::Relaxed),
        })
    }

    fn notify(&self) {
        let port = self.console_port;
        hypercall2(
            HYPERVISOR_EVENT_CHANNEL_OP,
            EVTCHNOP_SEND,
            &port as *const u32 as u64,
        );
    }

    /// Appends `bytes` to the console's output ring, waiting (yielding to Xen) while it is full.
    pub fn console_write(&self, bytes: &[u8]) {
        let ring = self.console_ring;
        let mut rest = bytes;
        while !rest.is_empty() {
            // SAFETY: the console page is identity-mapped guest RAM that Xen gave us; the
            // indices are u32 fields at fixed offsets inside it.
            let (cons, prod) = unsafe {
                (
                    core::ptr::read_volatile((ring + CONS_OUT_CONS as u64) as *const u32),
                    core::ptr::read_volatile((ring + CONS_OUT_PROD as u64) as *const u32),
                )
            };
            fence(Ordering::SeqCst);
            let used = prod.wrapping_sub(cons);
            let space = CONS_OUT_SIZE.saturating_sub(used) as usize;
            if space == 0 {
                self.notify();
                hypercall2(HYPERVISOR_SCHED_OP, SCHEDOP_YIELD, 0);
                continue;
            }
            let n = space.min(rest.len());
            let (now, later) = rest.split_at(n);
            for (i, b) in now.iter().enumerate() {
                let idx = prod.wrapping_add(i as u32) % CONS_OUT_SIZE;
                // SAFETY: idx < 2048, inside the page's out[] array.
                unsafe {
                    core::ptr::write_volatile(
                        (ring + (CONS_OUT as u64) + u64::from(idx)) as *mut u8,
                        *b,
                    )
                };
            }
            fence(Ordering::SeqCst);
            // SAFETY: as above.
            unsafe {
                core::ptr::write_volatile(
                    (ring + CONS_OUT_PROD as u64) as *mut u32,
                    prod.wrapping_add(n as u32),
                )
            };
            self.notify();
            rest = later;
        }
    }

    /// Gives the CPU back to Xen once.
    pub fn yield_cpu(&self) {
        hypercall2(HYPERVISOR_SCHED_OP, SCHEDOP_YIELD, 0);
    }
}

/// `HVMOP_get_param` for this domain.
fn get_param(index: u32) -> Option<u64> {
    let mut arg = HvmParam {
        domid: DOMID_SELF,
        pad: 0,
        index,
        value: 0,
    };
    let rc = hypercall2(
        HYPERVISOR_HVM_OP,
        u64::from(HVMOP_GET_PARAM),
        arg.as_mut_bytes().as_mut_ptr() as u64,
    );
    (rc == 0).then_some(arg.value)
}
