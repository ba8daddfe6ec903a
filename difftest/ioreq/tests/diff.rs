//! Differential test: seeded random operation sequences through the Rust ioreq servers (2014
//! series semantics, B1-B10 fixed) and through Xen 4.17's C (entered through the DMOP handler
//! `ioreq_server_dm_op` and the public select/send functions), compared after every step.
//!
//! Prints `difftest ioreq: N ops compared, M unexplained divergences`. Env:
//! `DIFFTEST_IOREQ_OPS` (default 100000), `DIFFTEST_IOREQ_SEED` (default fixed),
//! `XEN_DIFF_REQUIRED=1` turns a missing Xen source into a failure.

#[cfg(xen_c_unavailable)]
#[test]
fn ioreq_differential() {
    difftest_ioreq::skip("ioreq", "Xen 4.17 source unavailable");
}

#[cfg(not(xen_c_unavailable))]
#[test]
fn ioreq_differential() {
    difftest_ioreq::oracle::seeded_test("ioreq", difftest_ioreq::ffi::XenC::V417);
}
