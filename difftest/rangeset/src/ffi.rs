//! The only unsafe code of the crate: the two implementations' C ABIs, callback trampolines, and
//! the `Impl`s over them. Every pointer passed is NULL or one the implementation handed out.

use core::ffi::{c_char, c_int, c_uint, c_ulong, c_void};
use core::ptr::NonNull;
use std::ffi::CStr;

use crate::{ops, ConsumeCb, Impl, ReportCb, SelfQuery, Set};

type CReportFn = unsafe extern "C" fn(c_ulong, c_ulong, *mut c_void) -> c_int;
type CConsumeFn = unsafe extern "C" fn(c_ulong, c_ulong, *mut c_void, *mut c_ulong) -> c_int;

/// C-callable trampoline for a [`ReportCb`]; `ctxt` points to the `ReportCb`.
unsafe extern "C" fn report_trampoline(s: c_ulong, e: c_ulong, ctxt: *mut c_void) -> c_int {
    // SAFETY: the impls pass `&mut ReportCb` as ctxt, live for the duration of the call that
    // invokes this callback, and nothing else refers to it meanwhile.
    let cb = unsafe { &mut *ctxt.cast::<ReportCb<'_>>() };
    cb(s, e)
}

/// C-callable trampoline for a [`ConsumeCb`]; `ctxt` points to the `ConsumeCb`.
unsafe extern "C" fn consume_trampoline(
    s: c_ulong,
    e: c_ulong,
    ctxt: *mut c_void,
    consumed: *mut c_ulong,
) -> c_int {
    // SAFETY: as in report_trampoline.
    let cb = unsafe { &mut *ctxt.cast::<ConsumeCb<'_>>() };
    let mut c: u64 = 0;
    let rc = cb(s, e, &mut c);
    // SAFETY: both implementations pass a valid `unsigned long *` for the consumed amount.
    unsafe { *consumed = c };
    rc
}

/// Collects each reported range into the `Vec<(u64, u64)>` at `ctxt`.
unsafe extern "C" fn collect_trampoline(s: c_ulong, e: c_ulong, ctxt: *mut c_void) -> c_int {
    // SAFETY: callers pass a live `Vec<(u64, u64)>` as ctxt, unused elsewhere during the walk.
    unsafe { &mut *ctxt.cast::<Vec<(u64, u64)>>() }.push((s, e));
    0
}

/// Records the first range offered into the `Vec<(u64, u64)>` at `ctxt`, consumes all of it
/// (none of a range ending at ~0UL: R7's case) and stops.
unsafe extern "C" fn consume_first_trampoline(
    s: c_ulong,
    e: c_ulong,
    ctxt: *mut c_void,
    consumed: *mut c_ulong,
) -> c_int {
    // SAFETY: as in collect_trampoline.
    unsafe { &mut *ctxt.cast::<Vec<(u64, u64)>>() }.push((s, e));
    let all = if e == c_ulong::MAX { 0 } else { e - s + 1 };
    // SAFETY: both implementations pass a valid `unsigned long *` for the consumed amount.
    unsafe { *consumed = all };
    1
}

/// How a boolean query's return register is read: as Xen 4.17's callers read it (`bool`: `%al`)
/// or as the 2014 series' callers read it (`int`: all of `%eax`, which must then be 0 or 1).
pub trait QueryReturn: Copy + core::fmt::Debug {
    /// The truth value; panics if a register read as the series' `int` is neither 0 nor 1.
    fn truth(self, what: &str) -> bool;
}

impl QueryReturn for bool {
    fn truth(self, _: &str) -> bool {
        self
    }
}

impl QueryReturn for c_int {
    fn truth(self, what: &str) -> bool {
        match self {
            0 => false,
            1 => true,
            v => panic!(
                "{what} returned {v:#x} in %eax: a caller built against the 2014 series' header \
                 (int) reads that (FIDELITY R15 requires 0 or 1)"
            ),
        }
    }
}

/// Declares the 19 rangeset functions of one implementation under `link_prefix` inside a module
/// `$m`, the boolean queries returning `$q` (see [`QueryReturn`]), and (given a domain type) an
/// [`Impl`] over them.
macro_rules! rangeset_abi {
    ($m:ident, $p:literal, $q:ty) => {
        #[allow(dead_code)]
        mod $m {
            use super::*;
            extern "C" {
                #[link_name = concat!($p, "rangeset_domain_initialise")]
                pub fn domain_initialise(d: *mut c_void);
                #[link_name = concat!($p, "rangeset_domain_destroy")]
                pub fn domain_destroy(d: *mut c_void);
                #[link_name = concat!($p, "rangeset_new")]
                pub fn new(d: *mut c_void, name: *const c_char, flags: c_uint) -> *mut c_void;
                #[link_name = concat!($p, "rangeset_destroy")]
                pub fn destroy(r: *mut c_void);
                #[link_name = concat!($p, "rangeset_limit")]
                pub fn limit(r: *mut c_void, limit: c_uint);
                #[link_name = concat!($p, "rangeset_is_empty")]
                pub fn is_empty(r: *const c_void) -> $q;
                #[link_name = concat!($p, "rangeset_add_range")]
                pub fn add_range(r: *mut c_void, s: c_ulong, e: c_ulong) -> c_int;
                #[link_name = concat!($p, "rangeset_claim_range")]
                pub fn claim_range(r: *mut c_void, size: c_ulong, s: *mut c_ulong) -> c_int;
                #[link_name = concat!($p, "rangeset_remove_range")]
                pub fn remove_range(r: *mut c_void, s: c_ulong, e: c_ulong) -> c_int;
                #[link_name = concat!($p, "rangeset_contains_range")]
                pub fn contains_range(r: *mut c_void, s: c_ulong, e: c_ulong) -> $q;
                #[link_name = concat!($p, "rangeset_overlaps_range")]
                pub fn overlaps_range(r: *mut c_void, s: c_ulong, e: c_ulong) -> $q;
                #[link_name = concat!($p, "rangeset_report_ranges")]
                pub fn report_ranges(
                    r: *mut c_void,
                    s: c_ulong,
                    e: c_ulong,
                    cb: Option<CReportFn>,
                    ctxt: *mut c_void,
                ) -> c_int;
                #[link_name = concat!($p, "rangeset_consume_ranges")]
                pub fn consume_ranges(
                    r: *mut c_void,
                    cb: Option<CConsumeFn>,
                    ctxt: *mut c_void,
                ) -> c_int;
                #[link_name = concat!($p, "rangeset_merge")]
                pub fn merge(r1: *mut c_void, r2: *mut c_void) -> c_int;
                #[link_name = concat!($p, "rangeset_add_singleton")]
                pub fn add_singleton(r: *mut c_void, s: c_ulong) -> c_int;
                #[link_name = concat!($p, "rangeset_remove_singleton")]
                pub fn remove_singleton(r: *mut c_void, s: c_ulong) -> c_int;
                #[link_name = concat!($p, "rangeset_contains_singleton")]
                pub fn contains_singleton(r: *mut c_void, s: c_ulong) -> $q;
                #[link_name = concat!($p, "rangeset_swap")]
                pub fn swap(a: *mut c_void, b: *mut c_void);
                #[link_name = concat!($p, "rangeset_domain_printk")]
                pub fn domain_printk(d: *mut c_void);
            }
        }
    };
}

/// The [`Impl`] methods over a module declared by `rangeset_abi!`, for a type with a `dom()`
/// method giving its `struct domain *` and a `take_console()` giving what it printed.
macro_rules! impl_ops {
    ($m:ident) => {
        fn domain_initialise(&mut self) {
            // SAFETY: dom() is this implementation's live domain.
            unsafe { $m::domain_initialise(self.dom()) }
        }
        fn domain_destroy(&mut self) {
            // SAFETY: dom() is this implementation's live domain.
            unsafe { $m::domain_destroy(self.dom()) }
        }
        fn rangeset_new(&mut self, attach: bool, name: Option<&CStr>, flags: u32) -> Option<Set> {
            let d = if attach {
                self.dom()
            } else {
                core::ptr::null_mut()
            };
            let name = name.map_or(core::ptr::null(), CStr::as_ptr);
            // SAFETY: d is NULL or the live domain; name is NULL or NUL-terminated.
            NonNull::new(unsafe { $m::new(d, name, flags) }).map(Set)
        }
        fn destroy(&mut self, r: Option<Set>) {
            // SAFETY: r is NULL or a live set of this implementation (the driver's bookkeeping).
            unsafe { $m::destroy(Set::ptr(r)) }
        }
        fn limit(&mut self, r: Set, limit: u32) {
            // SAFETY: a live set of this implementation.
            unsafe { $m::limit(Set::ptr(Some(r)), limit) }
        }
        fn is_empty(&mut self, r: Option<Set>) -> bool {
            // SAFETY: NULL or a live set.
            unsafe { $m::is_empty(Set::ptr(r)) }.truth("rangeset_is_empty")
        }
        fn add_range(&mut self, r: Set, s: u64, e: u64) -> i32 {
            // SAFETY: a live set.
            unsafe { $m::add_range(Set::ptr(Some(r)), s, e) }
        }
        fn claim_range(&mut self, r: Set, size: u64, out_init: u64) -> (i32, u64) {
            let mut out: c_ulong = out_init;
            // SAFETY: a live set and a valid out-pointer.
            let rc = unsafe { $m::claim_range(Set::ptr(Some(r)), size, &mut out) };
            (rc, out)
        }
        fn remove_range(&mut self, r: Set, s: u64, e: u64) -> i32 {
            // SAFETY: a live set.
            unsafe { $m::remove_range(Set::ptr(Some(r)), s, e) }
        }
        fn contains_range(&mut self, r: Option<Set>, s: u64, e: u64) -> bool {
            // SAFETY: NULL or a live set.
            unsafe { $m::contains_range(Set::ptr(r), s, e) }.truth("rangeset_contains_range")
        }
        fn overlaps_range(&mut self, r: Option<Set>, s: u64, e: u64) -> bool {
            // SAFETY: NULL or a live set.
            unsafe { $m::overlaps_range(Set::ptr(r), s, e) }.truth("rangeset_overlaps_range")
        }
        fn report_ranges(&mut self, r: Set, s: u64, e: u64, mut cb: ReportCb<'_>) -> i32 {
            let ctxt = (&mut cb as *mut ReportCb<'_>).cast::<c_void>();
            // SAFETY: a live set; ctxt is the callback the trampoline expects, live for the call.
            unsafe { $m::report_ranges(Set::ptr(Some(r)), s, e, Some(report_trampoline), ctxt) }
        }
        fn consume_ranges(&mut self, r: Set, mut cb: ConsumeCb<'_>) -> i32 {
            let ctxt = (&mut cb as *mut ConsumeCb<'_>).cast::<c_void>();
            // SAFETY: a live set; ctxt is the callback the trampoline expects, live for the call.
            unsafe { $m::consume_ranges(Set::ptr(Some(r)), Some(consume_trampoline), ctxt) }
        }
        fn merge(&mut self, r1: Set, r2: Set) -> i32 {
            // SAFETY: two live sets.
            unsafe { $m::merge(Set::ptr(Some(r1)), Set::ptr(Some(r2))) }
        }
        fn add_singleton(&mut self, r: Set, s: u64) -> i32 {
            // SAFETY: a live set.
            unsafe { $m::add_singleton(Set::ptr(Some(r)), s) }
        }
        fn remove_singleton(&mut self, r: Set, s: u64) -> i32 {
            // SAFETY: a live set.
            unsafe { $m::remove_singleton(Set::ptr(Some(r)), s) }
        }
        fn contains_singleton(&mut self, r: Option<Set>, s: u64) -> bool {
            // SAFETY: NULL or a live set.
            unsafe { $m::contains_singleton(Set::ptr(r), s) }.truth("rangeset_contains_singleton")
        }
        fn swap(&mut self, a: Set, b: Set) {
            // SAFETY: two distinct live sets.
            unsafe { $m::swap(Set::ptr(Some(a)), Set::ptr(Some(b))) }
        }
        fn report_querying_self(&mut self, r: Set, s: u64, e: u64) -> (i32, Vec<SelfQuery>) {
            struct Ctxt {
                r: *mut c_void,
                seen: Vec<SelfQuery>,
            }
            /// Asks the set being reported about the range just reported (a reader inside the
            /// read-locked walk: FIDELITY R14).
            unsafe extern "C" fn cb(a: c_ulong, b: c_ulong, ctxt: *mut c_void) -> c_int {
                // SAFETY: ctxt is the Ctxt below, live for the call that invokes this callback.
                let c = unsafe { &mut *ctxt.cast::<Ctxt>() };
                // SAFETY: c.r is the live set being reported.
                let q = unsafe {
                    SelfQuery {
                        range: (a, b),
                        contains: $m::contains_range(c.r, a, b).truth("rangeset_contains_range"),
                        overlaps: $m::overlaps_range(c.r, a, b).truth("rangeset_overlaps_range"),
                        empty: $m::is_empty(c.r).truth("rangeset_is_empty"),
                    }
                };
                c.seen.push(q);
                0
            }
            let mut c = Ctxt {
                r: Set::ptr(Some(r)),
                seen: Vec::new(),
            };
            let ctxt = (&mut c as *mut Ctxt).cast::<c_void>();
            // SAFETY: a live set; ctxt is the Ctxt the callback expects, live for the call.
            let rc = unsafe { $m::report_ranges(c.r, s, e, Some(cb), ctxt) };
            (rc, c.seen)
        }
        fn consume_querying_self(&mut self, r: Set) -> (i32, Vec<SelfQuery>) {
            struct Ctxt {
                r: *mut c_void,
                seen: Vec<SelfQuery>,
            }
            /// Asks whether the set being consumed is empty (`rangeset_is_empty` takes no lock,
            /// so this works inside the write-locked walk: FIDELITY R14), consumes the whole
            /// first range (unless it ends at ~0UL) and stops.
            unsafe extern "C" fn cb(
                a: c_ulong,
                b: c_ulong,
                ctxt: *mut c_void,
                consumed: *mut c_ulong,
            ) -> c_int {
                // SAFETY: ctxt is the Ctxt below, live for the call that invokes this callback.
                let c = unsafe { &mut *ctxt.cast::<Ctxt>() };
                // SAFETY: c.r is the live set being consumed.
                let empty = unsafe { $m::is_empty(c.r) }.truth("rangeset_is_empty");
                c.seen.push(SelfQuery {
                    range: (a, b),
                    contains: false,
                    overlaps: false,
                    empty,
                });
                // A range ending at ~0UL is left alone: exhausting it is R7's case, not this one.
                let all = if b == c_ulong::MAX { 0 } else { b - a + 1 };
                // SAFETY: the implementation passes a valid out-parameter.
                unsafe { *consumed = all };
                1
            }
            let mut c = Ctxt {
                r: Set::ptr(Some(r)),
                seen: Vec::new(),
            };
            let ctxt = (&mut c as *mut Ctxt).cast::<c_void>();
            // SAFETY: a live set; ctxt is the Ctxt the callback expects, live for the call.
            let rc = unsafe { $m::consume_ranges(c.r, Some(cb), ctxt) };
            (rc, c.seen)
        }
        fn reenter(
            &mut self,
            r: Set,
            outer: ops::Outer,
            at: u8,
            inner: crate::InnerCall,
        ) -> crate::Reentry {
            struct Ctxt {
                d: *mut c_void,
                at: u8,
                n: u8,
                inner: crate::InnerCall,
                out: crate::Reentry,
            }
            /// Makes the inner call and records what it gives.
            ///
            /// # Safety
            /// `c.d` is the live domain, the inner call's sets are live sets, and the call is one
            /// the implementation survives where it is made (the oracle's choice).
            unsafe fn inner_call(c: &mut Ctxt) {
                use ops::Inner as I;
                let t = Set::ptr(c.inner.target);
                let p = Set::ptr(c.inner.partner);
                let o = &mut c.out;
                o.made = true;
                let b = |v: bool| i64::from(v);
                // SAFETY: the function's contract.
                unsafe {
                    match c.inner.call {
                        I::DomainInitialise => $m::domain_initialise(c.d),
                        I::DomainDestroy => $m::domain_destroy(c.d),
                        I::New { attach } => {
                            let d = if attach { c.d } else { core::ptr::null_mut() };
                            let n = $m::new(d, c"inner".as_ptr(), 0);
                            o.inner_rcs.push(b(!n.is_null()));
                            if !n.is_null() {
                                o.inner_rcs.push($m::add_singleton(n, 7).into());
                                $m::destroy(n);
                            }
                        }
                        I::Destroy => $m::destroy(t),
                        I::Limit(l) => $m::limit(t, l),
                        I::IsEmpty => o
                            .inner_rcs
                            .push(b($m::is_empty(t).truth("rangeset_is_empty"))),
                        I::Add(s, e) => o.inner_rcs.push($m::add_range(t, s, e).into()),
                        I::Claim(size) => {
                            let mut at: c_ulong = 0x5eed;
                            o.inner_rcs.push($m::claim_range(t, size, &mut at).into());
                            o.inner_calls.push((at, 0));
                        }
                        I::Remove(s, e) => o.inner_rcs.push($m::remove_range(t, s, e).into()),
                        I::Contains(s, e) => o.inner_rcs.push(b(
                            $m::contains_range(t, s, e).truth("rangeset_contains_range")
                        )),
                        I::Overlaps(s, e) => o.inner_rcs.push(b(
                            $m::overlaps_range(t, s, e).truth("rangeset_overlaps_range")
                        )),
                        I::Report(s, e) => {
                            let mut v: Vec<(u64, u64)> = Vec::new();
                            let ctxt = (&mut v as *mut Vec<(u64, u64)>).cast::<c_void>();
                            let rc = $m::report_ranges(t, s, e, Some(collect_trampoline), ctxt);
                            o.inner_rcs.push(rc.into());
                            o.inner_calls.extend(v);
                        }
                        I::Consume => {
                            let mut v: Vec<(u64, u64)> = Vec::new();
                            let ctxt = (&mut v as *mut Vec<(u64, u64)>).cast::<c_void>();
                            let rc = $m::consume_ranges(t, Some(consume_first_trampoline), ctxt);
                            o.inner_rcs.push(rc.into());
                            o.inner_calls.extend(v);
                        }
                        I::Merge => o.inner_rcs.push($m::merge(t, p).into()),
                        I::AddSingleton(s) => o.inner_rcs.push($m::add_singleton(t, s).into()),
                        I::RemoveSingleton(s) => {
                            o.inner_rcs.push($m::remove_singleton(t, s).into())
                        }
                        I::ContainsSingleton(s) => {
                            o.inner_rcs
                                .push(b($m::contains_singleton(t, s)
                                    .truth("rangeset_contains_singleton")))
                        }
                        I::Swap => $m::swap(t, p),
                        I::DomainPrintk => $m::domain_printk(c.d),
                    }
                }
            }
            /// The walk's callback: records the range, makes the inner call on invocation `at`.
            unsafe extern "C" fn report_cb(a: c_ulong, z: c_ulong, ctxt: *mut c_void) -> c_int {
                // SAFETY: ctxt is the Ctxt below, live for the walk; the inner call uses its own.
                let c = unsafe { &mut *ctxt.cast::<Ctxt>() };
                c.out.outer_calls.push((a, z));
                c.n = c.n.saturating_add(1);
                if c.n == c.at {
                    // SAFETY: the contract of `reenter` (the oracle's choice of calls).
                    unsafe { inner_call(c) };
                }
                0
            }
            /// As `report_cb`; consumes each whole range (none of one ending at ~0UL, where it
            /// stops) and stops after invocation `at`.
            unsafe extern "C" fn consume_cb(
                a: c_ulong,
                z: c_ulong,
                ctxt: *mut c_void,
                consumed: *mut c_ulong,
            ) -> c_int {
                // SAFETY: as in report_cb.
                let c = unsafe { &mut *ctxt.cast::<Ctxt>() };
                c.out.outer_calls.push((a, z));
                c.n = c.n.saturating_add(1);
                if c.n == c.at {
                    // SAFETY: as in report_cb.
                    unsafe { inner_call(c) };
                }
                let (all, rc) = if z == c_ulong::MAX {
                    (0, 1)
                } else {
                    (z - a + 1, i32::from(c.n >= c.at))
                };
                // SAFETY: the implementation passes a valid out-parameter.
                unsafe { *consumed = all };
                rc
            }
            let _ = self.take_console();
            let mut c = Ctxt {
                d: self.dom(),
                at,
                n: 0,
                inner,
                out: crate::Reentry::default(),
            };
            let r = Set::ptr(Some(r));
            let ctxt = (&mut c as *mut Ctxt).cast::<c_void>();
            // SAFETY: a live set; ctxt is the Ctxt the callbacks expect, live for the walk; the
            // inner call is one this implementation survives (the caller's choice).
            c.out.rc = unsafe {
                match outer {
                    ops::Outer::Report { s, e } => {
                        $m::report_ranges(r, s, e, Some(report_cb), ctxt)
                    }
                    ops::Outer::Consume => $m::consume_ranges(r, Some(consume_cb), ctxt),
                }
            };
            c.out.text = self.take_console();
            c.out
        }
        fn domain_printk(&mut self) -> Vec<u8> {
            let _ = self.take_console();
            // SAFETY: dom() is this implementation's live domain.
            unsafe { $m::domain_printk(self.dom()) }
            self.take_console()
        }
        fn null_call(&mut self, call: ops::NullCall, r: Option<Set>) -> (Option<i64>, Vec<u8>) {
            use ops::NullCall as N;
            let _ = self.take_console();
            let null = core::ptr::null_mut::<c_void>();
            let r = Set::ptr(r);
            let mut report: ReportCb<'_> = &mut |_, _| 0;
            let mut consume: ConsumeCb<'_> = &mut |_, _, c| {
                *c = 0;
                1
            };
            let report_ctxt = (&mut report as *mut ReportCb<'_>).cast::<c_void>();
            let consume_ctxt = (&mut consume as *mut ConsumeCb<'_>).cast::<c_void>();
            let mut out: c_ulong = 0;
            // SAFETY: each call passes NULL where the ledger (R11) says the implementation accepts
            // it, and otherwise a live set, valid callbacks with their contexts, or `out`.
            let rc: Option<c_int> = unsafe {
                match call {
                    N::Add => Some($m::add_range(null, 1, 2)),
                    N::Remove => Some($m::remove_range(null, 1, 2)),
                    N::AddSingleton => Some($m::add_singleton(null, 1)),
                    N::RemoveSingleton => Some($m::remove_singleton(null, 1)),
                    N::ClaimSet => Some($m::claim_range(null, 1, &mut out)),
                    N::ClaimOut => Some($m::claim_range(r, 1, core::ptr::null_mut())),
                    N::ReportSet => Some($m::report_ranges(
                        null,
                        0,
                        u64::MAX,
                        Some(report_trampoline),
                        report_ctxt,
                    )),
                    N::ReportCb => Some($m::report_ranges(r, 0, u64::MAX, None, null)),
                    N::ConsumeSet => Some($m::consume_ranges(
                        null,
                        Some(consume_trampoline),
                        consume_ctxt,
                    )),
                    N::ConsumeCb => Some($m::consume_ranges(r, None, null)),
                    N::Limit => {
                        $m::limit(null, 5);
                        None
                    }
                    N::SwapFirst => {
                        $m::swap(null, r);
                        None
                    }
                    N::SwapSecond => {
                        $m::swap(r, null);
                        None
                    }
                    N::MergeDst => Some($m::merge(null, r)),
                    N::MergeSrc => Some($m::merge(r, null)),
                    N::DomainPrintk => {
                        $m::domain_printk(null);
                        None
                    }
                    N::DomainInitialise => {
                        $m::domain_initialise(null);
                        None
                    }
                    N::DomainDestroy => {
                        $m::domain_destroy(null);
                        None
                    }
                }
            };
            (rc.map(i64::from), self.take_console())
        }
    };
}

/// Xen's C, compiled by build.rs into the `xenc_*` symbols, with its harness domain.
#[cfg(not(xen_c_unavailable))]
pub mod c {
    use super::*;

    rangeset_abi!(abi, "xenc_", bool);

    extern "C" {
        #[link_name = "xenc_harness_domain_new"]
        fn harness_domain_new(domid: c_uint) -> *mut c_void;
        #[link_name = "xenc_harness_domain_free"]
        fn harness_domain_free(d: *mut c_void);
        #[link_name = "xenc_harness_console_take"]
        fn harness_console_take(len: *mut usize) -> *const c_char;
        #[link_name = "xenc_harness_fail_allocs"]
        fn harness_fail_allocs(fail: bool);
    }

    /// Xen's C rangeset with one harness `struct domain`.
    pub struct CRangeset {
        d: NonNull<c_void>,
    }

    impl CRangeset {
        fn dom(&self) -> *mut c_void {
            self.d.as_ptr()
        }
        fn take_console(&mut self) -> Vec<u8> {
            take_c_console()
        }
    }

    /// What the C printed on this thread since the last call.
    fn take_c_console() -> Vec<u8> {
        let mut len = 0usize;
        // SAFETY: the harness returns a buffer of `len` bytes valid until the next printk.
        let bytes = unsafe {
            let p = harness_console_take(&mut len);
            core::slice::from_raw_parts(p.cast::<u8>(), len)
        };
        bytes.to_vec()
    }

    impl Impl for CRangeset {
        const NAME: &'static str = "C";
        const ACCEPTS_INVALID: bool = false;
        fn fail_allocations(&mut self, fail: bool) {
            // SAFETY: sets a thread-local flag in the harness.
            unsafe { harness_fail_allocs(fail) }
        }
        fn new(domid: u16) -> Self {
            // SAFETY: plain allocation in the harness.
            let d = NonNull::new(unsafe { harness_domain_new(domid.into()) })
                .expect("C harness: out of memory");
            let mut me = CRangeset { d };
            me.domain_initialise();
            me
        }
        impl_ops!(abi);
        fn destroy_uninitialised_domain(&mut self, domid: u16) {
            // SAFETY: plain allocation in the harness: a zeroed domain, its list never initialised.
            let d = unsafe { harness_domain_new(domid.into()) };
            assert!(!d.is_null(), "C harness: out of memory");
            // SAFETY: d is a live (zeroed) harness domain, freed right after.
            unsafe {
                abi::domain_destroy(d);
                harness_domain_free(d);
            }
        }
    }

    impl Drop for CRangeset {
        fn drop(&mut self) {
            self.domain_destroy();
            // SAFETY: the domain came from harness_domain_new and its sets are gone.
            unsafe { harness_domain_free(self.dom()) }
        }
    }
}

/// The Rust rangeset: `xen-ioreq-rs`'s `#[no_mangle]` exports, on the host platform.
#[cfg(not(rust_rangeset_missing))]
pub mod rust {
    use super::*;
    use xen_ioreq_rs::platform::domain::DomainRef;
    use xen_ioreq_rs::platform::host::alloc::fail_allocations_after;
    use xen_ioreq_rs::platform::host::console::take_console;
    use xen_ioreq_rs::platform::host::domain::HostDomain;

    // The boolean queries read as the series' `int` (all of %eax): FIDELITY R15.
    rangeset_abi!(abi, "", c_int);

    /// The Rust rangeset with one fake host domain.
    pub struct RsRangeset {
        d: DomainRef,
    }

    impl RsRangeset {
        fn dom(&self) -> *mut c_void {
            self.d.as_ptr()
        }
        fn take_console(&mut self) -> Vec<u8> {
            take_console().into_bytes()
        }
    }

    impl Impl for RsRangeset {
        const NAME: &'static str = "Rust";
        const ACCEPTS_INVALID: bool = true;
        /// Needs the host platform's `CountingAllocator` as the binary's global allocator;
        /// without it nothing fails.
        fn fail_allocations(&mut self, fail: bool) {
            fail_allocations_after(fail.then_some(0));
        }
        fn new(domid: u16) -> Self {
            let mut me = RsRangeset {
                d: HostDomain::create(domid),
            };
            me.domain_initialise();
            me
        }
        impl_ops!(abi);
        fn destroy_uninitialised_domain(&mut self, domid: u16) {
            let d = HostDomain::create(domid);
            // SAFETY: d is a live host domain whose rangeset list was never initialised.
            unsafe { abi::domain_destroy(d.as_ptr()) };
            HostDomain::destroy(d);
        }
    }

    impl Drop for RsRangeset {
        fn drop(&mut self) {
            self.domain_destroy();
            HostDomain::destroy(self.d);
        }
    }
}

/// Until the Rust rangeset exists: a second copy of the C (`xens_*`) stands in for it, so the
/// harness can be exercised. The tests fail in this configuration.
#[cfg(all(rust_rangeset_missing, not(xen_c_unavailable)))]
pub mod rust {
    use super::*;

    rangeset_abi!(abi, "xens_", bool);

    extern "C" {
        #[link_name = "xens_harness_domain_new"]
        fn harness_domain_new(domid: c_uint) -> *mut c_void;
        #[link_name = "xens_harness_domain_free"]
        fn harness_domain_free(d: *mut c_void);
        #[link_name = "xens_harness_console_take"]
        fn harness_console_take(len: *mut usize) -> *const c_char;
        #[link_name = "xens_harness_fail_allocs"]
        fn harness_fail_allocs(fail: bool);
    }

    /// Stand-in (a second copy of Xen's C) for the missing Rust rangeset.
    pub struct RsRangeset {
        d: NonNull<c_void>,
    }

    impl RsRangeset {
        fn dom(&self) -> *mut c_void {
            self.d.as_ptr()
        }
        fn take_console(&mut self) -> Vec<u8> {
            let mut len = 0usize;
            // SAFETY: the harness returns a buffer of `len` bytes valid until the next printk.
            let bytes = unsafe {
                let p = harness_console_take(&mut len);
                core::slice::from_raw_parts(p.cast::<u8>(), len)
            };
            bytes.to_vec()
        }
    }

    impl Impl for RsRangeset {
        const NAME: &'static str = "Rust(stand-in: C copy)";
        const ACCEPTS_INVALID: bool = false;
        fn fail_allocations(&mut self, fail: bool) {
            // SAFETY: sets a thread-local flag in the harness.
            unsafe { harness_fail_allocs(fail) }
        }
        fn new(domid: u16) -> Self {
            // SAFETY: plain allocation in the harness.
            let d = NonNull::new(unsafe { harness_domain_new(domid.into()) })
                .expect("C harness: out of memory");
            let mut me = RsRangeset { d };
            me.domain_initialise();
            me
        }
        impl_ops!(abi);
        fn destroy_uninitialised_domain(&mut self, domid: u16) {
            // SAFETY: plain allocation in the harness: a zeroed domain, its list never initialised.
            let d = unsafe { harness_domain_new(domid.into()) };
            assert!(!d.is_null(), "C harness: out of memory");
            // SAFETY: d is a live (zeroed) harness domain, freed right after.
            unsafe {
                abi::domain_destroy(d);
                harness_domain_free(d);
            }
        }
    }

    impl Drop for RsRangeset {
        fn drop(&mut self) {
            self.domain_destroy();
            // SAFETY: the domain came from harness_domain_new and its sets are gone.
            unsafe { harness_domain_free(self.dom()) }
        }
    }
}

/// The benchmark's C driver (`c/bench.c`): both rangesets called through their C entry points
/// from one C loop, Xen's C built as a release Xen builds it (`xenb_*`).
#[cfg(all(not(xen_c_unavailable), not(rust_rangeset_missing)))]
pub mod bench {
    use super::*;

    /// Which implementation a driver call uses.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    #[repr(i32)]
    pub enum Side {
        C = 0,
        Rust = 1,
    }

    /// One operation's arguments (`struct bench_op`).
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct BenchOp {
        pub base: u64,
        pub off: u64,
        pub wend: u64,
    }

    extern "C" {
        fn bench_rs_build(side: c_int, n: c_ulong) -> *mut c_void;
        fn bench_rs_destroy(side: c_int, r: *mut c_void);
        fn bench_rs_digest(side: c_int, r: *mut c_void) -> u64;
        fn bench_rs_run(
            side: c_int,
            r: *mut c_void,
            kind: c_int,
            op: *const BenchOp,
            nops: usize,
            label: *const c_char,
            sum: *mut u64,
        ) -> u64;
    }

    /// A benchmark set of `n` ranges on one side, destroyed on drop.
    pub struct BenchSet {
        side: Side,
        r: NonNull<c_void>,
    }

    impl BenchSet {
        /// `[16 i, 16 i + 7]` for i in 0..n; None when the set cannot be built.
        pub fn build(side: Side, n: u64) -> Option<Self> {
            // SAFETY: the driver creates the set through the side's own rangeset_new/add_range.
            let r = NonNull::new(unsafe { bench_rs_build(side as c_int, n) })?;
            Some(BenchSet { side, r })
        }

        /// A digest of every range (equal digests: equal sets, for the driver's checks).
        pub fn digest(&self) -> u64 {
            // SAFETY: a live set of this side.
            unsafe { bench_rs_digest(self.side as c_int, self.r.as_ptr()) }
        }

        /// Runs `ops` of `kind` (the driver's `enum bench_kind`); returns (ns, checksum). With a
        /// label, callgrind's counters cover exactly this run and are dumped under it.
        pub fn run(&self, kind: i32, ops: &[BenchOp], label: Option<&CStr>) -> (u64, u64) {
            let mut sum = 0u64;
            // SAFETY: a live set of this side; `ops` is a live slice of `ops.len()` records; the
            // label is NULL or NUL-terminated; `sum` is a live local.
            let ns = unsafe {
                bench_rs_run(
                    self.side as c_int,
                    self.r.as_ptr(),
                    kind,
                    ops.as_ptr(),
                    ops.len(),
                    label.map_or(core::ptr::null(), CStr::as_ptr),
                    &mut sum,
                )
            };
            (ns, sum)
        }
    }

    impl Drop for BenchSet {
        fn drop(&mut self) {
            // SAFETY: a live set of this side, not used afterwards.
            unsafe { bench_rs_destroy(self.side as c_int, self.r.as_ptr()) }
        }
    }
}
