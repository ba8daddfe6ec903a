//! FIDELITY R15, the ABI answer: the Rust rangeset called as a caller built against the 2014
//! series' header calls it (`int` queries, `char *` names) and as one built against Xen 4.17's
//! (`bool`, `const char *`), through the C in `c/abi_series_caller.c`. Needs no Xen source.
//!
//! The series' queries returned `int`, so its callers read all of `%eax`; 4.17's return `bool`
//! (`c44d96190f`), of which the x86-64 ABI defines only `%al`. A Rust `bool` return sets only
//! `%al` (it did: e.g. `rangeset_is_empty(NULL)` was `mov $1, %al`, and a false
//! `rangeset_contains_range` on a set of more than 256 ranges left the searched index in the
//! upper bits), so an `int` caller could read "true" for a false answer. The queries now return
//! a 32-bit 0 or 1 (`AbiBool`), which reads the same through either prototype.

use core::ffi::{c_char, c_int, c_uint, c_ulong, c_void};
use std::ffi::CString;
use std::ptr::null_mut;

use xen_ioreq_rs::platform::host::console::take_console;
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::rangeset::ffi::{self as rs, domain, rangeset};

fn v(r: *mut rangeset) -> *mut c_void {
    r.cast()
}

// `c/abi_series_caller.c` (sets and domains as `void *`: the C sees the real types).
#[link(name = "abi_series_caller", kind = "static")]
extern "C" {
    fn abi_series_is_empty(r: *mut c_void) -> c_uint;
    fn abi_series_contains_range(r: *mut c_void, s: c_ulong, e: c_ulong) -> c_uint;
    fn abi_series_overlaps_range(r: *mut c_void, s: c_ulong, e: c_ulong) -> c_uint;
    fn abi_series_contains_singleton(r: *mut c_void, s: c_ulong) -> c_uint;
    fn abi_417_contains_range(r: *mut c_void, s: c_ulong, e: c_ulong) -> bool;
    fn abi_417_overlaps_range(r: *mut c_void, s: c_ulong, e: c_ulong) -> bool;
    fn abi_417_new(d: *mut c_void, name: *const c_char) -> *mut c_void;
    fn abi_series_new(d: *mut c_void, name: *mut c_char) -> *mut c_void;
    fn abi_rangeset_printk_exported() -> c_int;
}

/// A set of `n` disjoint ranges [10k, 10k+4], k = 0..n.
fn set_of(n: u64) -> *mut rangeset {
    // SAFETY: a free-standing set (no domain); the ranges are valid.
    unsafe {
        let r = rs::rangeset_new(null_mut(), c"abi".as_ptr(), 0);
        assert!(!r.is_null());
        for k in 0..n {
            assert_eq!(rs::rangeset_add_range(r, 10 * k, 10 * k + 4), 0);
        }
        r
    }
}

/// Every query, through the series' `int` prototype, gives exactly 0 or 1, and the same truth
/// as through 4.17's `bool` prototype: on sets small and large (more than 256 ranges, where the
/// search index is large), for hits and misses at every position, and for a NULL set.
#[test]
fn r15_series_int_callers_read_0_or_1_c44d96190f() {
    let mut checked = 0;
    for n in [0u64, 1, 3, 300, 1000] {
        let r = set_of(n);
        for k in (0..n + 2).step_by(if n > 10 { 7 } else { 1 }) {
            for (s, e) in [
                (10 * k, 10 * k + 4),
                (10 * k + 2, 10 * k + 3),
                (10 * k + 3, 10 * k + 6),
                (10 * k + 5, 10 * k + 9),
            ] {
                // SAFETY: r is a live set.
                let (c, o, cs, c417, o417) = unsafe {
                    (
                        abi_series_contains_range(v(r), s, e),
                        abi_series_overlaps_range(v(r), s, e),
                        abi_series_contains_singleton(v(r), e),
                        abi_417_contains_range(v(r), s, e),
                        abi_417_overlaps_range(v(r), s, e),
                    )
                };
                let want_contains = k < n && e <= 10 * k + 4;
                let want_overlaps = k < n && s <= 10 * k + 4;
                let want_single = k < n && e <= 10 * k + 4;
                assert_eq!(
                    (c, o, cs),
                    (
                        u32::from(want_contains),
                        u32::from(want_overlaps),
                        u32::from(want_single)
                    ),
                    "{n} ranges, [{s:#x}, {e:#x}]: the series' int callers read these registers"
                );
                assert_eq!((c417, o417), (want_contains, want_overlaps));
                checked += 1;
            }
        }
        // SAFETY: r is a live set.
        assert_eq!(unsafe { abi_series_is_empty(v(r)) }, u32::from(n == 0));
        // SAFETY: r is a live set, destroyed once.
        unsafe { rs::rangeset_destroy(r) };
    }
    // A NULL set (tolerated since ad0a9f273d, R16): false, and true for is_empty.
    // SAFETY: NULL is accepted by the four queries.
    unsafe {
        assert_eq!(abi_series_is_empty(null_mut()), 1);
        assert_eq!(abi_series_contains_range(null_mut(), 0, 1), 0);
        assert_eq!(abi_series_overlaps_range(null_mut(), 0, 1), 0);
        assert_eq!(abi_series_contains_singleton(null_mut(), 0), 0);
    }
    assert!(checked > 500, "only {checked} queries");
}

/// `rangeset_new`'s name is `const char *` in our header (4.17, `91df35e32b`), `char *` in the
/// series': the pointer is passed the same way, and the set gets the same name.
#[test]
fn r15_name_const_char_or_char_91df35e32b() {
    let d = HostDomain::create(15);
    let dp: *mut domain = d.as_ptr().cast();
    let mut mutable = CString::new("series char name")
        .unwrap()
        .into_bytes_with_nul();
    // SAFETY: dp is a live host domain; both names are NUL-terminated.
    unsafe {
        rs::rangeset_domain_initialise(dp);
        assert!(!abi_417_new(dp.cast(), c"const char name".as_ptr()).is_null());
        assert!(!abi_series_new(dp.cast(), mutable.as_mut_ptr().cast()).is_null());
        let _ = take_console();
        rs::rangeset_domain_printk(dp);
    }
    assert_eq!(
        take_console(),
        "Rangesets belonging to domain 15:\n    series char name { }\n    const char name { }\n"
    );
    // SAFETY: dp is live; its sets go with its list.
    unsafe { rs::rangeset_domain_destroy(dp) };
    HostDomain::destroy(d);
}

/// The series exported `rangeset_printk`; 4.17 made it static (`b5b8c93a73`) and the Rust does
/// not export it: no object of this binary (which links the whole Rust library) defines it.
#[test]
fn r15_rangeset_printk_not_exported_b5b8c93a73() {
    // SAFETY: reads whether a weak symbol resolved.
    assert_eq!(unsafe { abi_rangeset_printk_exported() }, 0);
    let header = include_str!("../../../include/xen_ioreq_rs.h");
    assert!(!header.contains("rangeset_printk("));
    assert!(header.contains("void rangeset_domain_printk(struct domain *d);"));
}
