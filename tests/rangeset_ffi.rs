//! The rangeset's exported C ABI on the host platform: NULL handling, byte-exact domain printk,
//! callbacks, -ENOMEM leaving state unchanged, and no leaks (counting allocator).

use core::ffi::{c_int, c_ulong, c_void};
use std::ffi::CString;
use std::ptr::null_mut;

use xen_ioreq_rs::platform::host::alloc::{
    fail_allocations_after, live_allocations, CountingAllocator,
};
use xen_ioreq_rs::platform::host::console::take_console;
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::DomainRef;
use xen_ioreq_rs::rangeset::ffi::*;

#[global_allocator]
static A: CountingAllocator = CountingAllocator;

const HEX: u32 = 1;

fn dptr(d: DomainRef) -> *mut domain {
    d.as_ptr().cast()
}

unsafe extern "C" fn collect(s: c_ulong, e: c_ulong, ctxt: *mut c_void) -> c_int {
    // SAFETY: the tests pass a Vec<(u64, u64)> as ctxt.
    let v = unsafe { &mut *ctxt.cast::<Vec<(u64, u64)>>() };
    v.push((s, e));
    0
}

fn ranges(r: *mut rangeset) -> Vec<(u64, u64)> {
    let mut v: Vec<(u64, u64)> = Vec::new();
    // SAFETY: r is live; collect gets a Vec.
    let rc =
        unsafe { rangeset_report_ranges(r, 0, !0, Some(collect), (&mut v as *mut Vec<_>).cast()) };
    assert_eq!(rc, 0);
    v
}

unsafe extern "C" fn consume_all(
    s: c_ulong,
    e: c_ulong,
    ctxt: *mut c_void,
    c: *mut c_ulong,
) -> c_int {
    // SAFETY: ctxt is a u32 counter, c the consumed out-parameter.
    unsafe {
        *ctxt.cast::<u32>() += 1;
        *c = e - s + 1;
    }
    0
}

unsafe extern "C" fn consume_one_restart(
    _s: c_ulong,
    _e: c_ulong,
    _ctxt: *mut c_void,
    c: *mut c_ulong,
) -> c_int {
    // SAFETY: c is the consumed out-parameter.
    unsafe { *c = 1 };
    -85 // -ERESTART
}

#[test]
fn nulls_are_tolerated() {
    // SAFETY: every call passes NULL or live objects.
    unsafe {
        // Where Xen tolerates NULL: its results.
        assert!(rangeset_is_empty(std::ptr::null()).get());
        assert!(!rangeset_contains_range(null_mut(), 0, 1).get());
        assert!(!rangeset_overlaps_range(null_mut(), 0, 1).get());
        assert!(!rangeset_contains_singleton(null_mut(), 0).get());
        rangeset_destroy(null_mut());
        // Where Xen would crash (R11): -EINVAL or nothing.
        assert_eq!(rangeset_add_range(null_mut(), 0, 1), -22);
        assert_eq!(rangeset_remove_range(null_mut(), 0, 1), -22);
        assert_eq!(rangeset_add_singleton(null_mut(), 0), -22);
        assert_eq!(rangeset_remove_singleton(null_mut(), 0), -22);
        let mut s: c_ulong = 7;
        assert_eq!(rangeset_claim_range(null_mut(), 1, &mut s), -22);
        assert_eq!(
            rangeset_report_ranges(null_mut(), 0, 1, Some(collect), null_mut()),
            -22
        );
        assert_eq!(
            rangeset_consume_ranges(null_mut(), Some(consume_all), null_mut()),
            -22
        );
        assert_eq!(rangeset_merge(null_mut(), null_mut()), -22);
        rangeset_limit(null_mut(), 1);
        rangeset_swap(null_mut(), null_mut());
        rangeset_domain_initialise(null_mut());
        rangeset_domain_destroy(null_mut());
        rangeset_domain_printk(null_mut());

        let r = rangeset_new(null_mut(), std::ptr::null(), HEX);
        assert!(!r.is_null());
        assert!(rangeset_is_empty(r).get());
        // Nothing to report: a NULL callback is never called, as in Xen.
        assert_eq!(rangeset_report_ranges(r, 0, !0, None, null_mut()), 0);
        assert_eq!(rangeset_consume_ranges(r, None, null_mut()), 0);
        assert_eq!(rangeset_add_range(r, 5, 6), 0);
        assert_eq!(rangeset_report_ranges(r, 0, !0, None, null_mut()), -22);
        assert_eq!(rangeset_consume_ranges(r, None, null_mut()), -22);
        assert_eq!(ranges(r), [(5, 6)]);
        assert_eq!(rangeset_claim_range(r, 1, null_mut()), -22);
        assert_eq!(ranges(r), [(5, 6)]);
        rangeset_swap(r, null_mut());
        assert_eq!(rangeset_merge(r, null_mut()), -22);
        let empty = rangeset_new(null_mut(), std::ptr::null(), 0);
        assert_eq!(rangeset_merge(null_mut(), empty), 0);
        assert_eq!(rangeset_merge(null_mut(), r), -22);
        rangeset_destroy(empty);
        rangeset_destroy(r);
    }
}

#[test]
fn invalid_flags_give_null() {
    // SAFETY: plain calls with valid arguments.
    unsafe {
        assert!(rangeset_new(null_mut(), std::ptr::null(), 2).is_null());
        assert!(rangeset_new(null_mut(), std::ptr::null(), 0x8000_0001).is_null());
    }
}

#[test]
fn operations_through_the_abi() {
    // SAFETY: live sets throughout.
    unsafe {
        let r = rangeset_new(null_mut(), c"ops".as_ptr(), HEX);
        assert_eq!(rangeset_add_range(r, 0x13, 0x1f), 0);
        assert_eq!(rangeset_add_range(r, 0x30, 0x40), 0);
        assert_eq!(rangeset_add_range(r, 5, 3), -22); // R4
        assert!(rangeset_contains_range(r, 0x14, 0x1f).get());
        assert!(!rangeset_contains_range(r, 0x1f, 0x14).get()); // R4
        assert!(rangeset_overlaps_range(r, 0, 0x13).get());
        assert!(rangeset_contains_singleton(r, 0x30).get());
        let mut v: Vec<(u64, u64)> = Vec::new();
        assert_eq!(
            rangeset_report_ranges(r, 0x14, 0x35, Some(collect), (&mut v as *mut Vec<_>).cast()),
            0
        );
        assert_eq!(v, [(0x14, 0x1f), (0x30, 0x35)]);
        let mut s: c_ulong = 0xdead;
        assert_eq!(rangeset_claim_range(r, 0x10, &mut s), 0);
        assert_eq!(s, 0);
        assert_eq!(rangeset_claim_range(r, 3, &mut s), 0);
        assert_eq!(s, 0x10);
        assert_eq!(rangeset_claim_range(r, 0, &mut s), -22); // R6
        assert_eq!(s, 0x10);
        assert_eq!(ranges(r), [(0, 0x12), (0x13, 0x1f), (0x30, 0x40)]);
        assert_eq!(rangeset_remove_singleton(r, 0x30), 0);
        assert_eq!(rangeset_remove_range(r, 0x3, 0x2), -22); // R4

        let full = rangeset_new(null_mut(), c"full".as_ptr(), 0);
        assert_eq!(rangeset_add_range(full, 0, !0), 0);
        assert_eq!(rangeset_claim_range(full, 1, &mut s), -28);
        assert_eq!(rangeset_merge(full, r), 0);
        assert_eq!(ranges(full), [(0, !0)]);
        assert_eq!(rangeset_merge(r, r), 0); // R8
        rangeset_swap(r, r); // R8
        rangeset_swap(r, full);
        assert_eq!(ranges(r), [(0, !0)]);

        let mut calls = 0u32;
        assert_eq!(
            rangeset_consume_ranges(
                full,
                Some(consume_one_restart),
                (&mut calls as *mut u32).cast()
            ),
            -85
        );
        assert_eq!(ranges(full)[0], (1, 0x12));
        assert_eq!(
            rangeset_consume_ranges(full, Some(consume_all), (&mut calls as *mut u32).cast()),
            0
        );
        assert_eq!(calls, 3);
        assert!(rangeset_is_empty(full).get());

        rangeset_limit(full, 1);
        assert_eq!(rangeset_add_singleton(full, 1), 0);
        assert_eq!(rangeset_add_singleton(full, 3), -12);
        assert_eq!(rangeset_add_range(full, 0, 2), 0);
        assert_eq!(ranges(full), [(0, 2)]);
        rangeset_destroy(full);
        rangeset_destroy(r);
    }
}

#[test]
fn domain_printk_byte_exact_and_no_leaks() {
    // Warm up the host registry (its vector keeps its buffer) before taking the baseline.
    HostDomain::destroy(HostDomain::create(99));
    let base = live_allocations();
    let d = HostDomain::create(3);
    let after_domain = live_allocations();
    // SAFETY: `d` is live until HostDomain::destroy below; sets are used only while live.
    unsafe {
        rangeset_domain_printk(dptr(d));
        assert_eq!(
            take_console(),
            "Rangesets belonging to domain 3:\n    None\n"
        );
        rangeset_domain_initialise(dptr(d));
        rangeset_domain_printk(dptr(d));
        assert_eq!(
            take_console(),
            "Rangesets belonging to domain 3:\n    None\n"
        );

        // Two servers, created in id order, three sets each, as the ioreq code does.
        for id in 1..=2 {
            for kind in ["port", "memory", "pci"] {
                let name = CString::new(format!("ioreq_server {id} {kind}")).unwrap();
                let r = rangeset_new(dptr(d), name.as_ptr(), HEX);
                assert!(!r.is_null());
                rangeset_limit(r, 256);
                if id == 1 && kind == "port" {
                    for (s, e) in [(0x13, 0x1f), (0x30, 0x40), (0x50, 0x3ef)] {
                        assert_eq!(rangeset_add_range(r, s, e), 0);
                    }
                }
            }
        }
        let anon = rangeset_new(dptr(d), std::ptr::null(), HEX);
        assert_eq!(rangeset_add_range(anon, 0, 2), 0);
        assert_eq!(rangeset_add_singleton(anon, 5), 0);
        let dec = rangeset_new(dptr(d), c"dec".as_ptr(), 0);
        assert_eq!(rangeset_add_range(dec, 0, !0), 0);
        let long = rangeset_new(
            dptr(d),
            c"limited-name-that-is-longer-than-31".as_ptr(),
            HEX,
        );
        assert_eq!(rangeset_add_range(long, 2, 3), 0);
        assert_eq!(rangeset_add_singleton(long, 5), 0);
        let gone = rangeset_new(dptr(d), c"destroyed early".as_ptr(), HEX);
        rangeset_destroy(gone);
        // Not attached: not listed.
        let loose = rangeset_new(null_mut(), c"loose".as_ptr(), HEX);
        assert_eq!(rangeset_add_range(loose, 1, 1), 0);

        rangeset_domain_printk(dptr(d));
        assert_eq!(
            take_console(),
            "Rangesets belonging to domain 3:\n\
             \x20   limited-name-that-is-longer-tha { 2-3, 5 }\n\
             \x20   dec        { 0-18446744073709551615 }\n\
             \x20   (no name)  { 0-2, 5 }\n\
             \x20   ioreq_server 2 pci { }\n\
             \x20   ioreq_server 2 memory { }\n\
             \x20   ioreq_server 2 port { }\n\
             \x20   ioreq_server 1 pci { }\n\
             \x20   ioreq_server 1 memory { }\n\
             \x20   ioreq_server 1 port { 13-1f, 30-40, 50-3ef }\n"
        );

        // Every attached set is freed with the domain; twice is harmless.
        rangeset_domain_destroy(dptr(d));
        rangeset_domain_destroy(dptr(d));
        rangeset_domain_printk(dptr(d));
        assert_eq!(
            take_console(),
            "Rangesets belonging to domain 3:\n    None\n"
        );
        // After destroy, the domain takes no new sets.
        assert!(rangeset_new(dptr(d), std::ptr::null(), 0).is_null());
        assert_eq!(live_allocations(), after_domain + 2); // `loose` and its ranges
        rangeset_destroy(loose);
    }
    HostDomain::destroy(d);
    assert_eq!(live_allocations(), base);
}

#[test]
fn enomem_leaves_state_unchanged() {
    let base = live_allocations();
    // SAFETY: live sets throughout.
    unsafe {
        fail_allocations_after(Some(0));
        assert!(rangeset_new(null_mut(), c"x".as_ptr(), 0).is_null());
        fail_allocations_after(None);
        assert_eq!(live_allocations(), base);

        let r = rangeset_new(null_mut(), c"x".as_ptr(), HEX);
        // Fill the vector's first allocation (4 ranges), so that the next new range must grow it.
        for i in 0..4 {
            assert_eq!(rangeset_add_singleton(r, 10 * i), 0);
        }
        fail_allocations_after(Some(0));
        assert_eq!(rangeset_add_singleton(r, 100), -12);
        assert_eq!(rangeset_remove_singleton(r, 0), 0); // no allocation needed
        assert_eq!(rangeset_add_singleton(r, 0), 0); // fits again
        assert_eq!(rangeset_add_range(r, 11, 29), 0); // swallowing needs nothing
        let mut s: c_ulong = 99;
        fail_allocations_after(None);
        assert_eq!(rangeset_add_range(r, 20, 20), 0);
        assert_eq!(rangeset_add_range(r, 10, 30), 0);
        assert_eq!(ranges(r), [(0, 0), (10, 30)]);
        assert_eq!(rangeset_add_range(r, 40, 41), 0);
        assert_eq!(rangeset_add_range(r, 50, 51), 0);
        assert_eq!(rangeset_remove_singleton(r, 0), 0);
        let now = ranges(r);
        assert_eq!(now, [(10, 30), (40, 41), (50, 51)]);
        // 3 ranges in a capacity-4 vector: add one to fill it, then splits and claims must fail.
        assert_eq!(rangeset_add_singleton(r, 60), 0);
        let full = ranges(r);
        fail_allocations_after(Some(0));
        assert_eq!(rangeset_remove_singleton(r, 20), -12); // split
        assert_eq!(rangeset_add_singleton(r, 5), -12);
        assert_eq!(rangeset_claim_range(r, 5, &mut s), -12); // before the first range
        fail_allocations_after(None);
        assert_eq!(s, 99);
        assert_eq!(ranges(r), full);
        rangeset_destroy(r);
    }
    assert_eq!(live_allocations(), base);
}

#[test]
fn names_are_read_up_to_31_bytes_or_the_nul() {
    let d = HostDomain::create(31);
    let first_31 = "abcdefghijklmnopqrstuvwxyz01234";
    // SAFETY: a live host domain and NUL-terminated names; every set is destroyed before the
    // domain.
    unsafe {
        rangeset_domain_initialise(dptr(d));
        let long = rangeset_new(dptr(d), c"abcdefghijklmnopqrstuvwxyz0123456789".as_ptr(), 0);
        let exact = rangeset_new(dptr(d), c"abcdefghijklmnopqrstuvwxyz01234".as_ptr(), 0);
        let empty = rangeset_new(dptr(d), c"".as_ptr(), 0);
        assert!(!long.is_null() && !exact.is_null() && !empty.is_null());
        let _ = take_console();
        rangeset_domain_printk(dptr(d));
        assert_eq!(
            take_console(),
            format!(
                "Rangesets belonging to domain 31:\n    {:<10} {{ }}\n    {first_31} {{ }}\n    \
                 {first_31} {{ }}\n",
                ""
            )
        );
        for r in [long, exact, empty] {
            rangeset_destroy(r);
        }
        rangeset_domain_destroy(dptr(d));
    }
    HostDomain::destroy(d);
}

/// R19: `rangeset_domain_initialise` of a domain whose list already holds sets. Xen's C
/// re-initialises the list head, dropping the sets from the domain's list (its dump says `None`
/// and `rangeset_domain_destroy` no longer frees them) while their links still point at the
/// head, so destroying one later corrupts the fresh list. The Rust changes nothing: the sets stay
/// listed, printed and freed with the domain.
#[test]
fn r19_initialise_again_keeps_the_domains_sets() {
    HostDomain::destroy(HostDomain::create(98));
    let base = live_allocations();
    let d = HostDomain::create(4);
    // SAFETY: `d` is live until HostDomain::destroy below; its sets go with its list.
    unsafe {
        rangeset_domain_initialise(dptr(d));
        let a = rangeset_new(dptr(d), c"a".as_ptr(), HEX);
        let b = rangeset_new(dptr(d), c"b".as_ptr(), 0);
        assert_eq!(rangeset_add_range(a, 0x10, 0x1f), 0);
        assert_eq!(rangeset_add_singleton(b, 7), 0);
        rangeset_domain_printk(dptr(d));
        let listed = take_console();
        assert_eq!(
            listed,
            "Rangesets belonging to domain 4:\n    b          { 7 }\n    a          { 10-1f }\n"
        );
        rangeset_domain_initialise(dptr(d));
        rangeset_domain_initialise(dptr(d));
        rangeset_domain_printk(dptr(d));
        assert_eq!(
            take_console(),
            listed,
            "still listed after initialising again"
        );
        rangeset_destroy(b);
        let c = rangeset_new(dptr(d), c"c".as_ptr(), 0);
        assert!(!c.is_null());
        rangeset_domain_printk(dptr(d));
        assert_eq!(
            take_console(),
            "Rangesets belonging to domain 4:\n    c          { }\n    a          { 10-1f }\n"
        );
        rangeset_domain_destroy(dptr(d));
        rangeset_domain_destroy(dptr(d));
        rangeset_domain_printk(dptr(d));
        assert_eq!(
            take_console(),
            "Rangesets belonging to domain 4:\n    None\n"
        );
    }
    HostDomain::destroy(d);
    assert_eq!(
        live_allocations(),
        base,
        "the domain's sets were freed with it"
    );
}

/// R14: `rangeset_limit` takes no lock (as in Xen, where it is a plain store), so a report or a
/// consume callback may limit the very set it walks; in a consume walk the new budget counts
/// before the consumed range is freed, as Xen's `nr_ranges` does.
#[test]
fn r14_limit_from_the_sets_own_callbacks() {
    unsafe extern "C" fn limit_and_consume(
        s: c_ulong,
        e: c_ulong,
        ctxt: *mut c_void,
        consumed: *mut c_ulong,
    ) -> c_int {
        // SAFETY: ctxt is the set being consumed; `consumed` is the walk's out-parameter.
        unsafe {
            rangeset_limit(ctxt.cast(), 0);
            *consumed = e - s + 1;
        }
        1
    }
    unsafe extern "C" fn limit_in_report(_: c_ulong, _: c_ulong, ctxt: *mut c_void) -> c_int {
        // SAFETY: ctxt is the set being reported.
        unsafe { rangeset_limit(ctxt.cast(), 1) };
        0
    }
    // SAFETY: a free-standing set, used only here; each callback gets the set as its context.
    unsafe {
        let r = rangeset_new(null_mut(), c"r14 limit".as_ptr(), HEX);
        for s in [1, 5, 9] {
            assert_eq!(rangeset_add_range(r, s, s + 1), 0);
        }
        // Budget 0 set in the callback, then the consumed range's unit returned: 1.
        assert_eq!(
            rangeset_consume_ranges(r, Some(limit_and_consume), r.cast()),
            1
        );
        assert_eq!(ranges(r), [(5, 6), (9, 10)]);
        assert_eq!(rangeset_add_singleton(r, 20), 0);
        assert_eq!(rangeset_add_singleton(r, 30), -12);
        // From a report walk: budget 1, one more range, then none.
        assert_eq!(
            rangeset_report_ranges(r, 0, !0, Some(limit_in_report), r.cast()),
            0
        );
        assert_eq!(rangeset_add_singleton(r, 40), 0);
        assert_eq!(rangeset_add_singleton(r, 50), -12);
        assert_eq!(ranges(r), [(5, 6), (9, 10), (20, 20), (40, 40)]);
        rangeset_destroy(r);
    }
}
