//! Differential test against Xen 4.14.6: the same seeded sequences as `tests/diff.rs`, through the
//! Rust and through Xen 4.14's `xen/arch/x86/hvm/ioreq.c` (with its `rangeset.c`), entered
//! through its public `hvm_*` functions behind our rendering of 4.14's DMOP checks
//! (`c/c414/dm414.c`), compared after every step by the same engine and oracle. 4.14 behaves as
//! 4.17 in everything compared, so the same FIDELITY mappings (I100-I115) explain every
//! divergence; the oracle fails on anything else.
//!
//! Prints `difftest ioreq-4.14: N ops compared, M unexplained divergences`. Env as `diff.rs`;
//! without Xen 4.14's source it prints SKIPPED (a failure with `XEN_DIFF_REQUIRED=1`).

#[cfg(any(xen_c_unavailable, xen_c_414_unavailable))]
#[test]
fn ioreq_differential_414() {
    difftest_ioreq::skip("ioreq-4.14", "Xen 4.14 source unavailable");
}

#[cfg(not(any(xen_c_unavailable, xen_c_414_unavailable)))]
#[test]
fn ioreq_differential_414() {
    difftest_ioreq::oracle::seeded_test("ioreq-4.14", difftest_ioreq::ffi::XenC::V414);
}
