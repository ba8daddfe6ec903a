//! Xen's ioreq servers, rangesets and PCI hotplug controller, from Paul Durrant's 2014 series
//! "Support for running secondary emulators", ported to Rust as a hypervisor component.
//!
//! Layout: one safe core per component (`rangeset`, `ioreq`, `hotplug`, `hvmop`), each with a thin
//! `ffi` module exporting the series' C symbols, and one [`platform`] boundary through which the
//! cores reach the rest of Xen. The `xen` feature implements that boundary with `extern "C"` hooks
//! supplied by the C glue in `xen-patches/`; the `host` feature implements it on std with resource
//! counters, for tests, fuzzing, benchmarks and the demo.
#![no_std]
// Cold paths (creation, destruction, control operations, printing) carry
// `#[cfg_attr(feature = "xen", optimize(size))]`: the hypervisor build compiles them for size and
// the hot paths (rangeset lookups and writers, ioreq selection, send and completion) for speed.
// That build already runs with RUSTC_BOOTSTRAP=1 (scripts/xen-rust-lib) for its -Z flags.
#![cfg_attr(feature = "xen", feature(optimize_attribute))]
#![cfg_attr(
    not(test),
    warn(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

extern crate alloc;
#[cfg(any(feature = "host", test))]
extern crate std;

/// cbindgen:ignore
pub mod errno;
pub mod ffi;
/// cbindgen:ignore
pub mod platform;

pub mod hotplug;
pub mod hvmop;
pub mod ioreq;
pub mod rangeset;

pub use errno::{Errno, XenResult};
