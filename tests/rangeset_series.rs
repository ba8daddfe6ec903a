//! The rangeset against the 2014 series itself (FIDELITY R14-R18): what upstream changed between
//! the series' last commit (41b41c0b0d, 2014) and Xen 4.17, which the port follows, shown through
//! the C ABI on the host platform. Each test says in words what the series did instead. The
//! differential test (difftest/rangeset) also observes each of these against Xen 4.17's own C.
//! R3 (`b1c780cd31`) is `src/rangeset/core_tests.rs` `r3_report_from_below_first_range`; R15's
//! tests (`c44d96190f`, `91df35e32b`, `b5b8c93a73`) are in `difftest/rangeset/tests/abi.rs`.

use core::ffi::{c_int, c_ulong, c_void};
use std::ptr::null_mut;

use xen_ioreq_rs::platform::host::console::take_console;
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::rangeset::ffi::*;

const HEX: u32 = 1;

/// What a callback saw when it asked the set it was walking about the range it was given.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    range: (u64, u64),
    contains: bool,
    overlaps: bool,
    empty: bool,
    nested: Vec<(u64, u64)>,
}

struct Walk {
    r: *mut rangeset,
    seen: Vec<Seen>,
}

unsafe extern "C" fn push(s: c_ulong, e: c_ulong, ctxt: *mut c_void) -> c_int {
    // SAFETY: ctxt is a Vec<(u64, u64)>.
    unsafe { (*ctxt.cast::<Vec<(u64, u64)>>()).push((s, e)) };
    0
}

unsafe extern "C" fn query_own_set(s: c_ulong, e: c_ulong, ctxt: *mut c_void) -> c_int {
    // SAFETY: ctxt is the Walk of the running report, whose set is live.
    unsafe {
        let w = &mut *ctxt.cast::<Walk>();
        let mut nested = Vec::new();
        let rc = rangeset_report_ranges(w.r, s, e, Some(push), (&mut nested as *mut Vec<_>).cast());
        assert_eq!(rc, 0);
        w.seen.push(Seen {
            range: (s, e),
            contains: rangeset_contains_range(w.r, s, e).get(),
            overlaps: rangeset_overlaps_range(w.r, s, e).get(),
            empty: rangeset_is_empty(w.r).get(),
            nested,
        });
    }
    0
}

unsafe extern "C" fn ask_empty_and_consume(
    s: c_ulong,
    e: c_ulong,
    ctxt: *mut c_void,
    consumed: *mut c_ulong,
) -> c_int {
    // SAFETY: ctxt is the Walk of the running consume, whose set is live; consumed is valid.
    unsafe {
        let w = &mut *ctxt.cast::<Walk>();
        w.seen.push(Seen {
            range: (s, e),
            contains: false,
            overlaps: false,
            empty: rangeset_is_empty(w.r).get(),
            nested: vec![],
        });
        *consumed = e - s + 1;
    }
    0
}

/// R14, `adea5dca0d` (2014-10, "switch rangeset's lock to rwlock"). In the series every
/// operation but `rangeset_is_empty` took the set's spinlock, and `rangeset_report_ranges` held it
/// while calling back: a callback that asked its own set anything (contains, overlaps, a nested
/// report) spun forever on the lock its own walk held. Since the rwlock the walk holds it for
/// reading and such readers nest; the Rust does the same. `rangeset_is_empty` takes no lock in
/// either C, so even a `rangeset_consume_ranges` callback (which runs under the write lock) may
/// ask it; the Rust's answer comes from a flag its writers keep current.
#[test]
fn r14_callbacks_query_their_own_set_adea5dca0d() {
    // SAFETY: a free-standing set, used only here; callbacks get a matching Walk.
    unsafe {
        let r = rangeset_new(null_mut(), c"r14".as_ptr(), HEX);
        assert_eq!(rangeset_add_range(r, 0x10, 0x1f), 0);
        assert_eq!(rangeset_add_range(r, 0x30, 0x3f), 0);
        let mut w = Walk { r, seen: vec![] };
        let rc = rangeset_report_ranges(
            r,
            0x18,
            0x38,
            Some(query_own_set),
            (&mut w as *mut Walk).cast(),
        );
        assert_eq!(rc, 0);
        let seen = |range: (u64, u64)| Seen {
            range,
            contains: true,
            overlaps: true,
            empty: false,
            nested: vec![range],
        };
        assert_eq!(w.seen, [seen((0x18, 0x1f)), seen((0x30, 0x38))]);

        let mut w = Walk { r, seen: vec![] };
        let rc =
            rangeset_consume_ranges(r, Some(ask_empty_and_consume), (&mut w as *mut Walk).cast());
        assert_eq!(rc, 0);
        // Each range is still in the set while its callback runs (Xen frees it afterwards).
        let empty: Vec<_> = w.seen.iter().map(|s| (s.range, s.empty)).collect();
        assert_eq!(empty, [((0x10, 0x1f), false), ((0x30, 0x3f), false)]);
        assert!(rangeset_is_empty(r).get());
        rangeset_destroy(r);
    }
}

/// R16, `ad0a9f273d` (2018, "make inquiry functions tolerate NULL inputs"). The series'
/// `rangeset_contains_range`, `rangeset_contains_singleton` and `rangeset_overlaps_range` locked
/// the set before looking at it, so a NULL set (a rangeset never allocated, e.g. `iomem_caps` of
/// `dom_xen`) was a NULL dereference; only `rangeset_is_empty` accepted NULL (true). Since then a
/// NULL set contains and overlaps nothing; the Rust answers so too.
#[test]
fn r16_queries_of_a_null_set_ad0a9f273d() {
    // SAFETY: these four accept NULL.
    unsafe {
        assert!(!rangeset_contains_range(null_mut(), 0, !0).get());
        assert!(!rangeset_contains_singleton(null_mut(), 0).get());
        assert!(!rangeset_overlaps_range(null_mut(), 0, !0).get());
        assert!(rangeset_is_empty(std::ptr::null()).get());
    }
}

/// R17, `da3bd81118` (2018, "Make rangeset_domain_destroy() idempotent"). In the series
/// `rangeset_domain_destroy` walked `d->rangesets` unconditionally: for a domain whose list was
/// never initialised (zeroed, as when `domain_create` fails before `rangeset_domain_initialise`)
/// the list looked non-empty and its NULL "first set" was dereferenced. Since then such a call
/// returns at once, so domain teardown may call it on any path; the Rust does nothing there
/// (and a second destroy is harmless in every version).
#[test]
fn r17_destroying_a_never_initialised_domain_da3bd81118() {
    let d = HostDomain::create(17);
    let dp: *mut domain = d.as_ptr().cast();
    // SAFETY: dp is a live host domain.
    unsafe {
        rangeset_domain_destroy(dp);
        rangeset_domain_destroy(dp);
        // Still usable afterwards, as in Xen (it initialises a list it never had).
        rangeset_domain_initialise(dp);
        let r = rangeset_new(dp, c"after".as_ptr(), HEX);
        assert!(!r.is_null());
        assert_eq!(rangeset_add_range(r, 1, 2), 0);
        let _ = take_console();
        rangeset_domain_printk(dp);
        rangeset_domain_destroy(dp);
        rangeset_domain_destroy(dp);
    }
    assert_eq!(
        take_console(),
        "Rangesets belonging to domain 17:\n    after      { 1-2 }\n"
    );
    HostDomain::destroy(d);
}

unsafe extern "C" fn consume_two(
    _s: c_ulong,
    _e: c_ulong,
    ctxt: *mut c_void,
    consumed: *mut c_ulong,
) -> c_int {
    // SAFETY: ctxt is a u32 call counter; consumed is valid.
    unsafe {
        *ctxt.cast::<u32>() += 1;
        *consumed = 2;
    }
    -85 // -ERESTART after each step, as vPCI's deferred mapping does
}

/// R18: `rangeset_claim_range` (`770e5c7f62`, 2018), `rangeset_consume_ranges` (`ccd12ff648`,
/// 2018) and `rangeset_merge` (`761de0b892`, 2018) do not exist in the series (whose header has 17
/// functions). The Rust exports them with 4.17's behaviour (except where R5-R8 list a fixed
/// defect), since the 4.17 build that links it calls them (vPCI, the IOMMU and domain building
/// code); a caller of the series' API is unaffected.
#[test]
fn r18_claim_consume_merge_added_since_the_series() {
    // SAFETY: free-standing sets used only here; callbacks get matching contexts.
    unsafe {
        let r = rangeset_new(null_mut(), c"r18".as_ptr(), HEX);
        assert_eq!(rangeset_add_range(r, 0x13, 0x1f), 0);
        assert_eq!(rangeset_add_range(r, 0x30, 0x40), 0);
        // claim: the lowest free block.
        let mut s: c_ulong = 0;
        assert_eq!(rangeset_claim_range(r, 0x10, &mut s), 0);
        assert_eq!(s, 0);
        assert_eq!(rangeset_claim_range(r, 0x100, &mut s), 0);
        assert_eq!(s, 0x41);
        // merge: every range of the second set into the first.
        let m = rangeset_new(null_mut(), c"m".as_ptr(), HEX);
        assert_eq!(rangeset_add_range(m, 0x1000, 0x1001), 0);
        assert_eq!(rangeset_merge(m, r), 0);
        let mut got: Vec<(u64, u64)> = Vec::new();
        assert_eq!(
            rangeset_report_ranges(m, 0, !0, Some(push), (&mut got as *mut Vec<_>).cast()),
            0
        );
        assert_eq!(
            got,
            [(0, 0xf), (0x13, 0x1f), (0x30, 0x140), (0x1000, 0x1001)]
        );
        // consume: two values per call, stopping with -ERESTART each time.
        let mut calls = 0u32;
        assert_eq!(
            rangeset_consume_ranges(m, Some(consume_two), (&mut calls as *mut u32).cast()),
            -85
        );
        assert_eq!(calls, 1);
        let mut got: Vec<(u64, u64)> = Vec::new();
        assert_eq!(
            rangeset_report_ranges(m, 0, 3, Some(push), (&mut got as *mut Vec<_>).cast()),
            0
        );
        assert_eq!(got, [(2, 3)]);
        rangeset_destroy(m);
        rangeset_destroy(r);
    }
}
