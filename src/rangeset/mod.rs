//! Xen's rangeset (`xen/common/rangeset.c` of Xen 4.17, with the 2014 series' `rangeset_limit`).
//!
//! * [`core`]: the set itself, safe and platform-free.
//! * [`domain`]: sets behind the platform's rwlock, optionally attached to a domain, with an owning
//!   handle ([`domain::RangesetBox`]); this is what the other components use.
//! * [`ffi`]: the exported C ABI, with the signatures of Xen 4.17's `xen/include/xen/rangeset.h`.

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
