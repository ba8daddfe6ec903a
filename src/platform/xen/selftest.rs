//! The in-hypervisor self-test (`CONFIG_RUST_IOREQ_SELFTEST`): an initcall in the C glue calls
//! [`xen_ioreq_rs_selftest`] once at boot. It runs the library on Xen's real heap, locks and
//! console, and goes through the same C ABI the rest of Xen calls (the rangeset functions are
//! declared here as Xen declares them, so the link resolves them to our own exports).
//!
//! It prints one verdict line, which the boot test (`scripts/xen-boot`) looks for:
//! `xen-ioreq-rs selftest: N checks, M failed`.

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::alloc::Layout;
use core::ffi::{c_char, c_int, c_long, c_ulong, c_void};

use super::XenRwLock;
use crate::errno::Errno;
use crate::platform::console::Piece;
use crate::platform::fallible::{try_box, try_push};
use crate::platform::sync::RwLock;
use crate::platform::{Console, DomainRef, DomainSlot, Domains, GuestCopy, GuestHandle};

use super::XenPlatform;

/// Xen's `RANGESETF_prettyprint_hex`.
const PRETTYPRINT_HEX: u32 = 1;
/// `DOMID_XEN` and `DOMID_IDLE` (public/xen.h).
const DOMID_XEN: u16 = 0x7ff2;
const DOMID_IDLE: u16 = 0x7fff;
/// The start of x86-64 Xen's direct map: hypervisor memory, outside every guest's range.
const XEN_DIRECTMAP: usize = 0xffff_8300_0000_0000;

// The rangeset C ABI (Xen 4.17's xen/rangeset.h), as the hypervisor's C code sees it.
extern "C" {
    fn rangeset_new(d: *mut c_void, name: *const c_char, flags: u32) -> *mut c_void;
    fn rangeset_destroy(r: *mut c_void);
    fn rangeset_limit(r: *mut c_void, limit: u32);
    fn rangeset_is_empty(r: *const c_void) -> bool;
    fn rangeset_add_range(r: *mut c_void, s: c_ulong, e: c_ulong) -> c_int;
    fn rangeset_claim_range(r: *mut c_void, size: c_ulong, s: *mut c_ulong) -> c_int;
    fn rangeset_remove_range(r: *mut c_void, s: c_ulong, e: c_ulong) -> c_int;
    fn rangeset_contains_range(r: *mut c_void, s: c_ulong, e: c_ulong) -> bool;
    fn rangeset_overlaps_range(r: *mut c_void, s: c_ulong, e: c_ulong) -> bool;
    fn rangeset_report_ranges(
        r: *mut c_void,
        s: c_ulong,
        e: c_ulong,
        cb: extern "C" fn(c_ulong, c_ulong, *mut c_void) -> c_int,
        ctxt: *mut c_void,
    ) -> c_int;
    fn rangeset_consume_ranges(
        r: *mut c_void,
        cb: extern "C" fn(c_ulong, c_ulong, *mut c_void, *mut c_ulong) -> c_int,
        ctxt: *mut c_void,
    ) -> c_int;
    fn rangeset_merge(r1: *mut c_void, r2: *mut c_void) -> c_int;
    fn rangeset_add_singleton(r: *mut c_void, s: c_ulong) -> c_int;
    fn rangeset_remove_singleton(r: *mut c_void, s: c_ulong) -> c_int;
    fn rangeset_contains_singleton(r: *mut c_void, s: c_ulong) -> bool;
    fn rangeset_swap(a: *mut c_void, b: *mut c_void);
    fn rangeset_domain_printk(d: *mut c_void);
}

// The hypercall entry points of the ioreq servers and the hotplug controller.
extern "C" {
    fn hvmop_ioreq_server(op: c_ulong, arg: *mut c_void) -> c_long;
    fn hvmop_pci_hotplug(arg: *mut c_void) -> c_int;
}

/// `HVMOP_create_ioreq_server`.
const HVMOP_CREATE_IOREQ_SERVER: c_ulong = 17;

/// Counts checks and failures; each failure is printed with its line so the log says what broke.
struct Tally {
    checks: u32,
    failed: u32,
}

impl Tally {
    fn check(&mut self, ok: bool, what: &str, line: u32) {
        self.checks += 1;
        if !ok {
            self.failed += 1;
            XenPlatform::printk(&[
                Piece::Str("xen-ioreq-rs selftest: FAILED "),
                Piece::Str(what),
                Piece::Str(" (selftest.rs:"),
                Piece::Dec(line.into()),
                Piece::Str(")\n"),
            ]);
        }
    }
}

macro_rules! check {
    ($t:expr, $cond:expr) => {
        $t.check($cond, stringify!($cond), line!())
    };
}

/// Up to 8 ranges collected by the report callback.
struct Collected {
    ranges: [(c_ulong, c_ulong); 8],
    len: usize,
}

extern "C" fn collect(s: c_ulong, e: c_ulong, ctxt: *mut c_void) -> c_int {
    // SAFETY: `ctxt` is the `&mut Collected` that `ranges_of` passes to rangeset_report_ranges,
    // which calls us synchronously while that borrow is live.
    let c = unsafe { &mut *ctxt.cast::<Collected>() };
    match c.ranges.get_mut(c.len) {
        Some(slot) => {
            *slot = (s, e);
            c.len += 1;
            0
        }
        None => Errno::ENOSPC.to_neg(),
    }
}

/// The ranges of `r` intersected with [0, ~0], in order.
fn ranges_of(r: *mut c_void) -> Option<Collected> {
    let mut c = Collected {
        ranges: [(0, 0); 8],
        len: 0,
    };
    // SAFETY: `r` is a live rangeset; `collect` only touches `c` through the context pointer.
    let rc = unsafe { rangeset_report_ranges(r, 0, c_ulong::MAX, collect, (&raw mut c).cast()) };
    (rc == 0).then_some(c)
}

fn ranges_are(r: *mut c_void, want: &[(c_ulong, c_ulong)]) -> bool {
    ranges_of(r).is_some_and(|c| c.ranges.get(..c.len) == Some(want))
}

/// Consumes at most 4 numbers per call and stops (rc 1) once it has seen 10.
extern "C" fn consume_some(s: c_ulong, e: c_ulong, ctxt: *mut c_void, c: *mut c_ulong) -> c_int {
    // SAFETY: `ctxt` is the `&mut c_ulong` counter passed by the test; `c` is the consumed
    // counter rangeset_consume_ranges passes for this call. Both are live and unaliased here.
    let (seen, consumed) = unsafe { (&mut *ctxt.cast::<c_ulong>(), &mut *c) };
    let n = e.saturating_sub(s).saturating_add(1).min(4);
    *consumed = n;
    *seen = seen.saturating_add(n);
    if *seen >= 10 {
        1
    } else {
        0
    }
}

fn heap_and_locks(t: &mut Tally) {
    // Box and Vec growth on Xen's xmalloc/xrealloc.
    let b = try_box([7u64; 16]);
    check!(t, b.as_ref().is_ok_and(|b| b.iter().all(|&x| x == 7)));
    let mut v: Vec<u64> = Vec::new();
    let mut ok = true;
    for i in 0..1000u64 {
        ok &= try_push(&mut v, i.wrapping_mul(3)).is_ok();
    }
    check!(t, ok && v.len() == 1000);
    check!(t, v.iter().enumerate().all(|(i, &x)| x == (i as u64) * 3));
    v.shrink_to_fit();
    check!(t, v.get(999) == Some(&2997));
    drop(v);

    // Zeroed and over-aligned allocations.
    if let Ok(layout) = Layout::from_size_align(8192, 4096) {
        // SAFETY: the layout has a non-zero size.
        let p = unsafe { alloc::alloc::alloc_zeroed(layout) };
        check!(t, !p.is_null());
        if !p.is_null() {
            check!(t, (p as usize) % 4096 == 0);
            // SAFETY: `p` is a live allocation of `layout.size()` bytes.
            let bytes = unsafe { core::slice::from_raw_parts(p, layout.size()) };
            check!(t, bytes.iter().all(|&x| x == 0));
            // SAFETY: `p` came from alloc_zeroed with this layout.
            unsafe { alloc::alloc::dealloc(p, layout) };
        }
    }

    // Xen rwlocks behind the platform's RwLock.
    match RwLock::<XenRwLock, u64>::new(1) {
        Ok(lock) => {
            {
                let r1 = lock.read();
                let r2 = lock.read();
                check!(t, *r1 == 1 && *r2 == 1);
            }
            *lock.write() += 41;
            check!(t, *lock.read() == 42);
        }
        Err(_) => check!(t, false),
    }
    let boxed: Result<Box<u32>, _> = try_box(5);
    check!(t, boxed.is_ok_and(|b| *b == 5));
}

/// The domain hooks, at initcall time: `d` is DOMID_XEN, the caller the idle vCPU, and no guest
/// domain exists yet.
fn domains(t: &mut Tally, d: DomainRef) {
    check!(t, XenPlatform::domain_id(d) == DOMID_XEN);
    check!(
        t,
        XenPlatform::domain_id(XenPlatform::current_domain()) == DOMID_IDLE
    );
    check!(t, !XenPlatform::is_hvm(d) && !XenPlatform::is_dying(d));
    // DOMID_XEN has no ioreq servers: nobody claims a slot of it.
    check!(
        t,
        !crate::ioreq::claims::pci_sbdf_claimed_by::<XenPlatform>(d, DOMID_XEN, 1 << 3)
    );
    check!(t, XenPlatform::lock_remote_domain(0) == Err(Errno::ESRCH));
    let s0 = XenPlatform::domain_slot(d, DomainSlot::Rangesets).as_ptr() as usize;
    let s1 = XenPlatform::domain_slot(d, DomainSlot::Ioreq).as_ptr() as usize;
    let s2 = XenPlatform::domain_slot(d, DomainSlot::Hotplug).as_ptr() as usize;
    let word = core::mem::size_of::<usize>();
    check!(
        t,
        s1.wrapping_sub(s0) == word && s2.wrapping_sub(s1) == word
    );
    XenPlatform::pause(d);
    XenPlatform::unpause(d);
    // A hypervisor address is never a guest's: the copy fails cleanly, and Xen zero-fills the
    // part it could not copy (here: all of it).
    let mut buf = [0x5au8; 8];
    check!(
        t,
        XenPlatform::copy_from_guest(&mut buf, GuestHandle(XEN_DIRECTMAP)) == Err(Errno::EFAULT)
    );
    check!(t, buf == [0; 8]);
    check!(
        t,
        XenPlatform::copy_to_guest(GuestHandle(XEN_DIRECTMAP), &buf) == Err(Errno::EFAULT)
    );
}

/// The hypercall entry points reject an argument the caller cannot access before anything else.
fn hypercalls(t: &mut Tally) {
    let bad = XEN_DIRECTMAP as *mut c_void;
    // SAFETY: the argument is only used through the guest-copy hooks, which refuse it.
    let rc = unsafe { hvmop_ioreq_server(HVMOP_CREATE_IOREQ_SERVER, bad) };
    check!(t, rc == c_long::from(Errno::EFAULT.to_neg()));
    // SAFETY: as above; an unknown op is refused before the argument is looked at.
    let rc = unsafe { hvmop_ioreq_server(99, bad) };
    check!(t, rc == c_long::from(Errno::ENOSYS.to_neg()));
    // SAFETY: as above.
    let rc = unsafe { hvmop_pci_hotplug(bad) };
    check!(t, rc == Errno::EFAULT.to_neg());
}

fn rangesets(t: &mut Tally, d: DomainRef) {
    // SAFETY: the name is a NUL-terminated literal; `d` is a live domain.
    let r = unsafe { rangeset_new(d.as_ptr(), c"rs-selftest".as_ptr(), PRETTYPRINT_HEX) };
    // SAFETY: a NULL domain is allowed: the set belongs to no domain.
    let r2 = unsafe { rangeset_new(core::ptr::null_mut(), c"rs-selftest2".as_ptr(), 0) };
    check!(t, !r.is_null() && !r2.is_null());
    if r.is_null() || r2.is_null() {
        // SAFETY: destroy accepts NULL; non-NULL ones are live and unused elsewhere.
        unsafe {
            rangeset_destroy(r);
            rangeset_destroy(r2);
        }
        return;
    }

    // SAFETY: `r` and `r2` are live rangesets that only this function uses, destroyed once at
    // the end; every other pointer passed is a live local.
    unsafe {
        check!(t, rangeset_is_empty(r));
        check!(t, rangeset_add_range(r, 0x10, 0x1f) == 0);
        check!(t, rangeset_add_range(r, 0x30, 0x3f) == 0);
        check!(t, rangeset_add_singleton(r, 0x20) == 0);
        check!(t, !rangeset_is_empty(r));
        check!(t, ranges_are(r, &[(0x10, 0x20), (0x30, 0x3f)]));
        check!(t, rangeset_contains_range(r, 0x10, 0x20));
        check!(t, !rangeset_contains_range(r, 0x10, 0x30));
        check!(t, !rangeset_overlaps_range(r, 0x21, 0x2f));
        check!(t, rangeset_overlaps_range(r, 0x21, 0x30));
        check!(t, rangeset_contains_singleton(r, 0x3f));
        check!(t, rangeset_remove_range(r, 0x14, 0x15) == 0);
        check!(
            t,
            ranges_are(r, &[(0x10, 0x13), (0x16, 0x20), (0x30, 0x3f)])
        );
        check!(t, rangeset_remove_singleton(r, 0x30) == 0);
        check!(t, !rangeset_contains_singleton(r, 0x30));

        // The allocation limit: a third range needs a third allocation.
        rangeset_limit(r2, 2);
        check!(t, rangeset_add_range(r2, 1, 1) == 0);
        check!(t, rangeset_add_range(r2, 5, 5) == 0);
        check!(t, rangeset_add_range(r2, 9, 9) == Errno::ENOMEM.to_neg());
        check!(t, rangeset_add_range(r2, 2, 4) == 0);
        check!(t, ranges_are(r2, &[(1, 5)]));

        // First fit from 0; the claimed range is not coalesced with its neighbour.
        let mut s: c_ulong = c_ulong::MAX;
        check!(t, rangeset_claim_range(r, 0x10, &mut s) == 0 && s == 0);
        check!(
            t,
            ranges_are(r, &[(0, 0xf), (0x10, 0x13), (0x16, 0x20), (0x31, 0x3f)])
        );

        // r2 has one allocation left: the merge stops at the second new range.
        check!(t, rangeset_merge(r2, r) == Errno::ENOMEM.to_neg());
        check!(t, ranges_are(r2, &[(0, 0x13), (0x16, 0x20)]));
        rangeset_limit(r2, 100);
        check!(t, rangeset_merge(r2, r) == 0);
        check!(t, ranges_are(r2, &[(0, 0x13), (0x16, 0x20), (0x31, 0x3f)]));
        check!(t, rangeset_remove_range(r2, 0, 0x13) == 0);

        rangeset_swap(r, r2);
        check!(t, ranges_are(r, &[(0x16, 0x20), (0x31, 0x3f)]));
        check!(
            t,
            ranges_are(r2, &[(0, 0xf), (0x10, 0x13), (0x16, 0x20), (0x31, 0x3f)])
        );

        // Consume 4 at a time until 10 have been seen: 0-3, 4-7, 8-11 (rc 1 stops it).
        let mut seen: c_ulong = 0;
        let rc = rangeset_consume_ranges(r2, consume_some, (&raw mut seen).cast());
        check!(t, rc == 1 && seen == 12);
        check!(
            t,
            ranges_are(r2, &[(0xc, 0xf), (0x10, 0x13), (0x16, 0x20), (0x31, 0x3f)])
        );

        // The owning domain's list shows the set, in hex as flagged: the boot test expects
        // the line `    rs-selftest { 16-20, 31-3f }` in the log.
        rangeset_domain_printk(d.as_ptr());

        rangeset_destroy(r);
        rangeset_destroy(r2);
    }
}

/// Runs every check and prints the verdict; returns the number of failed checks. `scratch_domain`
/// is a domain the test may attach rangesets to for a moment (the glue passes `dom_xen`).
///
/// # Safety
/// `scratch_domain` is NULL or a live `struct domain` for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn xen_ioreq_rs_selftest(scratch_domain: *mut c_void) -> c_int {
    let mut t = Tally {
        checks: 0,
        failed: 0,
    };
    heap_and_locks(&mut t);
    // SAFETY: the function's contract.
    match unsafe { DomainRef::from_ptr(scratch_domain) } {
        Some(d) => {
            domains(&mut t, d);
            rangesets(&mut t, d);
            hypercalls(&mut t);
        }
        None => t.check(false, "scratch domain is not NULL", line!()),
    }
    XenPlatform::printk(&[
        Piece::Str("xen-ioreq-rs selftest: "),
        Piece::Dec(t.checks.into()),
        Piece::Str(" checks, "),
        Piece::Dec(t.failed.into()),
        Piece::Str(" failed\n"),
    ]);
    c_int::try_from(t.failed).unwrap_or(c_int::MAX)
}

/// For debug key 'j' (xen-patches' rust-glue.c): whether the registry of `d` has a server of
/// `emulator` claiming `sbdf`, as the PCI hotplug controller asks before a plug (H10, X5).
///
/// # Safety
/// `d` is NULL or a live `struct domain` for the duration of the call.
#[no_mangle]
pub unsafe extern "C" fn xen_ioreq_rs_selftest_claimed(
    d: *mut c_void,
    emulator: u16,
    sbdf: u32,
) -> bool {
    // SAFETY: the function's contract.
    unsafe { DomainRef::from_ptr(d) }.is_some_and(|d| {
        crate::ioreq::claims::pci_sbdf_claimed_by::<XenPlatform>(d, emulator, sbdf)
    })
}

/// For debug key 'j': `*p` selected and sent as a request of `v` (a vCPU of `d` that is not
/// running) through the live registry, in one step, as `hvm_ioreq_select_and_send` does for the
/// current vCPU. Returns what that returns.
///
/// # Safety
/// `d` and `v` are NULL or live, `v` a vCPU of `d`; `p` is NULL or a writable `ioreq_t`.
#[no_mangle]
pub unsafe extern "C" fn xen_ioreq_rs_selftest_send(
    d: *mut c_void,
    v: *mut c_void,
    p: *mut crate::ioreq::abi::IoreqSlot,
) -> c_int {
    use crate::ioreq::abi::{X86EMUL_RETRY, X86EMUL_UNHANDLEABLE};
    use crate::ioreq::{select_and_send, Route, Routed, Sent};
    // SAFETY: the function's contract: `d` and `v` are NULL or live.
    let (Some(d), Some(v)) = (unsafe { DomainRef::from_ptr(d) }, unsafe {
        crate::platform::VcpuRef::from_ptr(v)
    }) else {
        return Errno::EINVAL.to_neg();
    };
    if p.is_null() {
        return Errno::EINVAL.to_neg();
    }
    // SAFETY: non-NULL; the caller passes a writable ioreq_t nothing else uses now.
    let req = unsafe { &mut *p };
    match select_and_send::<XenPlatform>(d, v, req, Route::ByRange) {
        Routed::NoServer => crate::ioreq::ffi::HVM_IOREQ_NO_SERVER,
        Routed::Sent(Sent::Posted) => X86EMUL_RETRY,
        Routed::Sent(Sent::Deferred) => crate::ioreq::ffi::HVM_IOREQ_DEFERRED,
        Routed::Sent(Sent::NotPosted) => X86EMUL_UNHANDLEABLE,
    }
}
