//! Xen's rangeset (`xen/common/rangeset.c` of Xen 4.17, with the 2014 series' `rangeset_limit`).
//!
//! One name per role:
//! * [`core::RangeList`]: the ranges themselves (with name, flags and limit), safe and
//!   platform-free, no lock.
//! * [`domain::Rangeset`]: the one safe type the other components use: it owns a
//!   [`domain::LockedRangeset`] (Xen's `struct rangeset`: a `RangeList` behind the platform's
//!   rwlock, optionally attached to a domain) and frees it on drop (`rangeset_destroy`).
//!   [`domain::ExclusiveRangeset`] is a `Rangeset` whose writers take `&mut` (lock-free reads).
//! * [`ffi::rangeset`]: the opaque C type of the exported ABI (`struct rangeset *`, the signatures
//!   of Xen 4.17's `xen/include/xen/rangeset.h`).
//!
//! One ownership rule: a `LockedRangeset` is freed exactly once, by its owner. A `Rangeset` owns
//! it until [`domain::Rangeset::into_raw`] hands it to C (`rangeset_new`); C's pointer is then
//! freed by `rangeset_destroy` (`Rangeset::from_raw` + drop) or, if the set is still attached, by
//! the domain's `rangeset_domain_destroy`, which only detaches the sets a `Rangeset` owns.

/// cbindgen:ignore
pub mod core;
/// cbindgen:ignore
pub mod domain;
#[cfg(any(feature = "host", feature = "xen"))]
pub mod ffi;
/// cbindgen:ignore
mod flat;
/// cbindgen:ignore
mod store;
