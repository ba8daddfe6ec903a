//! The exported C ABI: the 19 functions of Xen 4.17's `xen/include/xen/rangeset.h` (plus
//! `rangeset_limit` from the 2014 series, also in that header), with its exact signatures
//! (`bool_t` is `bool` in Xen 4.17). Each function converts pointers and calls [`super::domain`].
//!
//! NULL is tolerated where Xen tolerates it (`rangeset_destroy`, `rangeset_is_empty`,
//! `rangeset_contains_*`, `rangeset_overlaps_range`) with Xen's result. Where Xen would dereference
//! NULL, the function instead does nothing and returns -EINVAL (or NULL/false/void): FIDELITY R11.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::ffi::{c_char, c_int, c_uint, c_ulong, c_void};

use super::core::{RangesetFlags, NAME_MAX};
use super::domain::{domain_destroy, domain_initialise, domain_printk, LockedRangeset, Rangeset};
use crate::errno::{to_c, Errno};
pub use crate::ffi::domain;
use crate::ffi::AbiBool;
use crate::platform::{Active, DomainRef};

/// Xen's `struct rangeset`: opaque to C.
#[allow(non_camel_case_types)]
pub struct rangeset {
    _private: [u8; 0],
}

// `unsigned long` is u64 (LP64: x86-64 Xen), so values pass between C and the core unconverted.
const _: () = assert!(core::mem::size_of::<c_ulong>() == core::mem::size_of::<u64>());

type Set = LockedRangeset<Active>;

/// `int (*)(unsigned long s, unsigned long e, void *ctxt)` of `rangeset_report_ranges` (spelled
/// out in the signatures so that the header shows the C type, as Xen's does).
type ReportCb = Option<unsafe extern "C" fn(c_ulong, c_ulong, *mut c_void) -> c_int>;

/// Borrows a set handed out by `rangeset_new`.
///
/// # Safety
/// `r` must be NULL or a live pointer from `rangeset_new`.
unsafe fn set<'a>(r: *const rangeset) -> Option<&'a Set> {
    // SAFETY: by the caller's contract, a non-NULL `r` is a live LockedRangeset<Active>
    // (rangeset_new returns Rangeset::into_raw, cast to the opaque type).
    unsafe { r.cast::<Set>().as_ref() }
}

/// # Safety
/// `d` is NULL or a live domain ([`domain::handle`]).
unsafe fn dom(d: *mut domain) -> Option<DomainRef> {
    // SAFETY: the caller's contract.
    unsafe { domain::handle(d) }
}

/// Calls a C report callback, or fails with -EINVAL where Xen would jump to NULL.
fn call_report(cb: ReportCb, s: u64, e: u64, ctxt: *mut c_void) -> c_int {
    match cb {
        // SAFETY: the caller of rangeset_report_ranges supplies a callback valid for `ctxt`.
        Some(f) => unsafe { f(s, e, ctxt) },
        None => Errno::EINVAL.to_neg(),
    }
}

/// `rangeset_domain_initialise`. An allocation failure is silent (the signature is void): later
/// `rangeset_new(d, ...)` calls then return NULL.
///
/// # Safety
/// `d` must be NULL or a live domain.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn rangeset_domain_initialise(d: *mut domain) {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    if let Some(d) = unsafe { dom(d) } {
        let _ = domain_initialise::<Active>(d);
    }
}

/// `rangeset_domain_destroy`: frees every set still attached to `d`. Idempotent.
///
/// # Safety
/// `d` must be NULL or a live domain; none of its sets may be created, destroyed or printed
/// concurrently, and its sets must not be used afterwards ([`domain_destroy`]).
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn rangeset_domain_destroy(d: *mut domain) {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    if let Some(d) = unsafe { dom(d) } {
        // SAFETY: the function's contract is domain_destroy's.
        unsafe { domain_destroy::<Active>(d) };
    }
}

/// `rangeset_new`: NULL when out of memory, for invalid flags (R9: Xen BUG()s), or when `d` has no
/// rangeset list (not initialised or already destroyed).
///
/// # Safety
/// `d` must be NULL or a live, initialised domain; `name` NULL or a NUL-terminated string (at
/// most 31 bytes of it are read).
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn rangeset_new(
    d: *mut domain,
    name: *const c_char,
    flags: c_uint,
) -> *mut rangeset {
    let Some(flags) = RangesetFlags::from_bits(flags) else {
        return core::ptr::null_mut();
    };
    let mut buf = [0u8; NAME_MAX];
    let name = if name.is_null() {
        None
    } else {
        let mut len = 0;
        for (i, dst) in buf.iter_mut().enumerate() {
            // SAFETY: `name` is a NUL-terminated string and no NUL was seen before index `i`, so
            // byte `i` is part of it.
            let b = unsafe { name.add(i).cast::<u8>().read() };
            if b == 0 {
                break;
            }
            *dst = b;
            len = i.saturating_add(1);
        }
        Some(buf.get(..len).unwrap_or(&buf))
    };
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    match Rangeset::<Active>::new(unsafe { dom(d) }, name, flags) {
        Ok(b) => b.into_raw().cast(),
        Err(_) => core::ptr::null_mut(),
    }
}

/// `rangeset_destroy`: unlinks from the domain and frees. NULL: no-op.
///
/// # Safety
/// `r` must be NULL or a live set, not used afterwards.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn rangeset_destroy(r: *mut rangeset) {
    if !r.is_null() {
        // SAFETY: a live pointer from rangeset_new (into_raw) is owned by the caller, who gives it
        // up here.
        drop(unsafe { Rangeset::from_raw(r.cast::<Set>()) });
    }
}

/// `rangeset_limit`.
///
/// # Safety
/// `r` must be NULL or a live set.
#[no_mangle]
pub unsafe extern "C" fn rangeset_limit(r: *mut rangeset, limit: c_uint) {
    // SAFETY: forwarded caller contract.
    if let Some(r) = unsafe { set(r) } {
        r.limit(limit);
    }
}

/// `rangeset_is_empty`: true for NULL, as in Xen.
///
/// # Safety
/// `r` must be NULL or a live set.
#[no_mangle]
pub unsafe extern "C" fn rangeset_is_empty(r: *const rangeset) -> AbiBool {
    // SAFETY: forwarded caller contract.
    AbiBool::from(unsafe { set(r) }.is_none_or(|r| r.is_empty()))
}

/// `rangeset_add_range`: 0, -ENOMEM, or -EINVAL for s > e (R4) or NULL (R11).
///
/// # Safety
/// `r` must be NULL or a live set.
#[no_mangle]
pub unsafe extern "C" fn rangeset_add_range(r: *mut rangeset, s: c_ulong, e: c_ulong) -> c_int {
    // SAFETY: forwarded caller contract.
    match unsafe { set(r) } {
        Some(r) => to_c(r.add_range(s, e)),
        None => Errno::EINVAL.to_neg(),
    }
}

/// `rangeset_claim_range`: 0 with `*s` set, -ENOSPC, -ENOMEM, or -EINVAL for size 0 (R6) or NULL
/// `r`/`s` (R11, set unchanged).
///
/// # Safety
/// `r` must be NULL or a live set; `s` NULL or writable.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn rangeset_claim_range(
    r: *mut rangeset,
    size: c_ulong,
    s: *mut c_ulong,
) -> c_int {
    // SAFETY: forwarded caller contract.
    let Some(r) = (unsafe { set(r) }) else {
        return Errno::EINVAL.to_neg();
    };
    if s.is_null() {
        return Errno::EINVAL.to_neg();
    }
    match r.claim_range(size) {
        Ok(start) => {
            // SAFETY: `s` is non-NULL and writable by the caller's contract.
            unsafe { s.write(start) };
            0
        }
        Err(e) => e.to_neg(),
    }
}

/// `rangeset_remove_range`: 0, -ENOMEM, or -EINVAL for s > e (R4) or NULL (R11).
///
/// # Safety
/// `r` must be NULL or a live set.
#[no_mangle]
pub unsafe extern "C" fn rangeset_remove_range(r: *mut rangeset, s: c_ulong, e: c_ulong) -> c_int {
    // SAFETY: forwarded caller contract.
    match unsafe { set(r) } {
        Some(r) => to_c(r.remove_range(s, e)),
        None => Errno::EINVAL.to_neg(),
    }
}

/// `rangeset_contains_range`: false for NULL (as Xen) and for s > e (R4).
///
/// # Safety
/// `r` must be NULL or a live set.
#[no_mangle]
pub unsafe extern "C" fn rangeset_contains_range(
    r: *mut rangeset,
    s: c_ulong,
    e: c_ulong,
) -> AbiBool {
    // SAFETY: forwarded caller contract.
    AbiBool::from(unsafe { set(r) }.is_some_and(|r| r.contains_range(s, e)))
}

/// `rangeset_overlaps_range`: false for NULL (as Xen) and for s > e (R4).
///
/// # Safety
/// `r` must be NULL or a live set.
#[no_mangle]
pub unsafe extern "C" fn rangeset_overlaps_range(
    r: *mut rangeset,
    s: c_ulong,
    e: c_ulong,
) -> AbiBool {
    // SAFETY: forwarded caller contract.
    AbiBool::from(unsafe { set(r) }.is_some_and(|r| r.overlaps_range(s, e)))
}

/// `rangeset_report_ranges`: the first non-zero callback result, else 0. -EINVAL for a NULL set,
/// or where a NULL callback would be called (R11).
///
/// # Safety
/// `r` must be NULL or a live set; `cb` valid for `ctxt`; `cb` must not modify `r`.
#[no_mangle]
pub unsafe extern "C" fn rangeset_report_ranges(
    r: *mut rangeset,
    s: c_ulong,
    e: c_ulong,
    cb: Option<unsafe extern "C" fn(c_ulong, c_ulong, *mut c_void) -> c_int>,
    ctxt: *mut c_void,
) -> c_int {
    // SAFETY: forwarded caller contract.
    let Some(r) = (unsafe { set(r) }) else {
        return Errno::EINVAL.to_neg();
    };
    r.report_ranges(s, e, |s, e| call_report(cb, s, e, ctxt))
}

/// `rangeset_consume_ranges`: the first non-zero callback result, else 0. -EINVAL for a NULL set,
/// or where a NULL callback would be called (R11).
///
/// # Safety
/// `r` must be NULL or a live set; `cb` valid for `ctxt`; `cb` must not touch `r`.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn rangeset_consume_ranges(
    r: *mut rangeset,
    cb: Option<unsafe extern "C" fn(c_ulong, c_ulong, *mut c_void, *mut c_ulong) -> c_int>,
    ctxt: *mut c_void,
) -> c_int {
    // SAFETY: forwarded caller contract.
    let Some(r) = (unsafe { set(r) }) else {
        return Errno::EINVAL.to_neg();
    };
    r.consume_ranges(|s, e, consumed| {
        let Some(f) = cb else {
            return Errno::EINVAL.to_neg();
        };
        let mut c: c_ulong = 0;
        // SAFETY: the caller supplies a callback valid for `ctxt`; `c` is a live local.
        let rc = unsafe { f(s, e, ctxt, &mut c) };
        *consumed = c;
        rc
    })
}

/// `rangeset_merge(r1, r2)`: adds every range of `r2` into `r1`; 0 or -ENOMEM. `r1 == r2` returns
/// 0 (R8). NULL `r2`, or NULL `r1` with a non-empty `r2`: -EINVAL (R11; Xen returns 0 for an empty
/// `r2` without touching `r1`, and so does this).
///
/// # Safety
/// `r1`, `r2` must be NULL or live sets.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn rangeset_merge(r1: *mut rangeset, r2: *mut rangeset) -> c_int {
    // SAFETY: forwarded caller contract.
    let (a, b) = unsafe { (set(r1), set(r2)) };
    match (a, b) {
        (Some(a), Some(b)) => to_c(a.merge(b)),
        (None, Some(b)) if b.is_empty() => 0,
        _ => Errno::EINVAL.to_neg(),
    }
}

/// `rangeset_add_singleton`.
///
/// # Safety
/// `r` must be NULL or a live set.
#[no_mangle]
pub unsafe extern "C" fn rangeset_add_singleton(r: *mut rangeset, s: c_ulong) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { rangeset_add_range(r, s, s) }
}

/// `rangeset_remove_singleton`.
///
/// # Safety
/// `r` must be NULL or a live set.
#[no_mangle]
pub unsafe extern "C" fn rangeset_remove_singleton(r: *mut rangeset, s: c_ulong) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { rangeset_remove_range(r, s, s) }
}

/// `rangeset_contains_singleton`: false for NULL.
///
/// # Safety
/// `r` must be NULL or a live set.
#[no_mangle]
pub unsafe extern "C" fn rangeset_contains_singleton(r: *mut rangeset, s: c_ulong) -> AbiBool {
    // SAFETY: forwarded caller contract.
    unsafe { rangeset_contains_range(r, s, s) }
}

/// `rangeset_swap`: exchanges the ranges (not names, flags or budgets). `a == b` or a NULL
/// argument: no-op (R8, R11).
///
/// # Safety
/// `a`, `b` must be NULL or live sets.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn rangeset_swap(a: *mut rangeset, b: *mut rangeset) {
    // SAFETY: forwarded caller contract.
    if let (Some(a), Some(b)) = unsafe { (set(a), set(b)) } {
        a.swap(b);
    }
}

/// `rangeset_domain_printk`. NULL: no-op (R11).
///
/// # Safety
/// `d` must be NULL or a live domain.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn rangeset_domain_printk(d: *mut domain) {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    if let Some(d) = unsafe { dom(d) } {
        domain_printk::<Active>(d);
    }
}
