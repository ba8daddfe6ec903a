//! Differential testing of the Rust rangeset against Xen 4.17's own `rangeset.c`, both linked into
//! one binary (see build.rs).
//!
//! - [`Impl`]: every rangeset operation, implemented by [`c::CRangeset`] (Xen's C, symbols renamed
//!   `xenc_*`) and [`rust::RsRangeset`] (the exports of `xen-ioreq-rs`), each owning one domain.
//! - [`ops`]: operation sequences drawn from an entropy source (a seeded PRNG or fuzzer bytes).
//! - [`oracle`]: runs each operation on both, compares everything observable and classifies each
//!   divergence by the fidelity ledger's IDs (FIDELITY.md), re-syncing so a run continues.
#![deny(unsafe_code)]

use core::ffi::c_void;
use core::ptr::NonNull;
use std::ffi::CStr;

#[allow(unsafe_code)]
mod ffi;
pub mod model;
pub mod ops;
pub mod oracle;

/// Whether Xen's C could be built (build.rs found the verified source).
pub const C_AVAILABLE: bool = !cfg!(xen_c_unavailable);

#[cfg(all(not(xen_c_unavailable), not(rust_rangeset_missing)))]
pub use ffi::bench;
#[cfg(not(xen_c_unavailable))]
pub use ffi::c;
#[cfg(any(not(rust_rangeset_missing), not(xen_c_unavailable)))]
pub use ffi::rust;

/// The rangeset functions `include/xen_ioreq_rs.h` does not declare (empty once the Rust exists).
pub fn missing_rust_declarations() -> Vec<&'static str> {
    include_str!(concat!(env!("OUT_DIR"), "/missing_declarations.txt"))
        .lines()
        .filter(|l| !l.is_empty())
        .collect()
}

/// A `struct rangeset *` of one implementation (opaque: never dereferenced here).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Set(NonNull<c_void>);

impl Set {
    fn ptr(s: Option<Set>) -> *mut c_void {
        s.map_or(core::ptr::null_mut(), |s| s.0.as_ptr())
    }
}

/// `RANGESETF_prettyprint_hex`.
pub const PRETTYPRINT_HEX: u32 = 1;

/// Every operation of Xen 4.17's rangeset.h (plus `rangeset_limit`) on one implementation, which
/// owns one domain (initialised on creation, destroyed on drop). `unsigned long` is u64 (LP64).
pub trait Impl {
    /// "C" or "Rust", for messages.
    const NAME: &'static str;
    /// Whether calls the C forbids (reversed ranges, merge/swap with itself) may be made.
    const ACCEPTS_INVALID: bool;
    /// A new domain with id `domid`, after `rangeset_domain_initialise`.
    fn new(domid: u16) -> Self;
    fn domain_initialise(&mut self);
    fn domain_destroy(&mut self);
    /// `rangeset_new(attach ? d : NULL, name, flags)`.
    fn rangeset_new(&mut self, attach: bool, name: Option<&CStr>, flags: u32) -> Option<Set>;
    fn destroy(&mut self, r: Option<Set>);
    fn limit(&mut self, r: Set, limit: u32);
    fn is_empty(&mut self, r: Option<Set>) -> bool;
    fn add_range(&mut self, r: Set, s: u64, e: u64) -> i32;
    /// Returns the rc and the out-parameter, which starts as `out_init`.
    fn claim_range(&mut self, r: Set, size: u64, out_init: u64) -> (i32, u64);
    fn remove_range(&mut self, r: Set, s: u64, e: u64) -> i32;
    fn contains_range(&mut self, r: Option<Set>, s: u64, e: u64) -> bool;
    fn overlaps_range(&mut self, r: Option<Set>, s: u64, e: u64) -> bool;
    fn report_ranges(&mut self, r: Set, s: u64, e: u64, cb: ReportCb<'_>) -> i32;
    fn consume_ranges(&mut self, r: Set, cb: ConsumeCb<'_>) -> i32;
    fn merge(&mut self, r1: Set, r2: Set) -> i32;
    fn add_singleton(&mut self, r: Set, s: u64) -> i32;
    fn remove_singleton(&mut self, r: Set, s: u64) -> i32;
    fn contains_singleton(&mut self, r: Option<Set>, s: u64) -> bool;
    fn swap(&mut self, a: Set, b: Set);
    /// `rangeset_domain_printk(d)`: the text printed.
    fn domain_printk(&mut self) -> Vec<u8>;
    /// While `fail` is set, every allocation of this implementation on this thread fails.
    fn fail_allocations(&mut self, fail: bool);
    /// One call passing NULL (see [`ops::NullCall`]), with set `r` as the other argument where
    /// there is one: the return value (None for void functions) and the text printed.
    fn null_call(&mut self, call: ops::NullCall, r: Option<Set>) -> (Option<i64>, Vec<u8>);
    /// `report_ranges(r, s, e)` whose callback asks `r` itself, for each range reported, whether
    /// it contains and overlaps that range and whether it is empty (FIDELITY R14).
    fn report_querying_self(&mut self, r: Set, s: u64, e: u64) -> (i32, Vec<SelfQuery>);
    /// `consume_ranges(r)` whose callback asks `r` itself whether it is empty, consumes the whole
    /// first range (unless it ends at ~0UL) and stops (returns 1) (FIDELITY R14).
    fn consume_querying_self(&mut self, r: Set) -> (i32, Vec<SelfQuery>);
    /// `rangeset_domain_destroy` of a fresh domain whose list was never initialised (FIDELITY
    /// R17), then frees that domain.
    fn destroy_uninitialised_domain(&mut self, domid: u16);
    /// `outer` on `r`, whose callback makes `inner` once, on its `at`-th invocation (see
    /// [`ops::Op::Reenter`]): everything returned, reported and printed.
    fn reenter(&mut self, r: Set, outer: ops::Outer, at: u8, inner: InnerCall) -> Reentry;

    /// Every range of `r` in list order, read through `report_ranges(r, 0, ~0)`.
    fn ranges(&mut self, r: Set) -> Vec<(u64, u64)> {
        let mut v = Vec::new();
        let rc = self.report_ranges(r, 0, u64::MAX, &mut |s, e| {
            v.push((s, e));
            0
        });
        assert_eq!(
            rc,
            0,
            "{}: report_ranges with a callback returning 0",
            Self::NAME
        );
        v
    }
}

/// What a callback learnt by querying the set it was walking: the range it was given, and
/// `contains_range`/`overlaps_range` of that range and `is_empty` on the same set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SelfQuery {
    pub range: (u64, u64),
    pub contains: bool,
    pub overlaps: bool,
    pub empty: bool,
}

/// An [`ops::Inner`] call with its sets resolved to this implementation's.
#[derive(Clone, Copy, Debug)]
pub struct InnerCall {
    pub call: ops::Inner,
    pub target: Option<Set>,
    pub partner: Option<Set>,
}

/// What a re-entering walk did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reentry {
    /// The walk's result.
    pub rc: i32,
    /// The walk's callback invocations.
    pub outer_calls: Vec<(u64, u64)>,
    /// Whether the inner call was made (the walk reached invocation `at`).
    pub made: bool,
    /// The inner call's results (booleans as 0/1).
    pub inner_rcs: Vec<i64>,
    /// What the inner call reported or consumed (claim: its out-parameter).
    pub inner_calls: Vec<(u64, u64)>,
    /// printk bytes.
    pub text: Vec<u8>,
}

/// `report_ranges` callback: (s, e) -> rc.
pub type ReportCb<'a> = &'a mut dyn FnMut(u64, u64) -> i32;
/// `consume_ranges` callback: (s, e, &mut consumed) -> rc.
pub type ConsumeCb<'a> = &'a mut dyn FnMut(u64, u64, &mut u64) -> i32;
