//! Differential tests of the ioreq servers against Xen's own C (issue 3).
//!
//! `build.rs` compiles Xen 4.17's ioreq C, and Xen 4.14.6's, unchanged beside our harness
//! (`c/`, built once per version); [`ffi`] reaches either (`ffi::select_xen`). When Xen's source could not be fetched the crate builds without it (cfg
//! `xen_c_unavailable`) and the tests report SKIPPED.

/// True when the C side was built (Xen's source was available).
pub const C_AVAILABLE: bool = cfg!(not(xen_c_unavailable));

#[cfg(not(xen_c_unavailable))]
pub mod ffi;

/// Serialises every user of the C harness (its fakes hold process-global state). Selects the
/// Xen 4.17 build (`ffi::select_xen`): a user of the 4.14 build selects it after locking.
pub fn c_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let g = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    #[cfg(not(xen_c_unavailable))]
    ffi::select_xen(ffi::XenC::V417);
    g
}

/// Reports a skipped differential test loudly; fails it when `XEN_DIFF_REQUIRED=1`.
pub fn skip(name: &str, why: &str) {
    println!("difftest {name}: SKIPPED ({why})");
    eprintln!("difftest {name}: SKIPPED ({why})");
    if std::env::var("XEN_DIFF_REQUIRED").as_deref() == Ok("1") {
        panic!("difftest {name}: SKIPPED but XEN_DIFF_REQUIRED=1: {why}");
    }
}

/// The crate's mirrors of Xen's ioreq ABI.
pub use xen_ioreq_rs::ioreq::abi;

#[cfg(not(xen_c_unavailable))]
pub mod cside;
#[cfg(not(xen_c_unavailable))]
pub mod engine;
pub mod entropy;
#[cfg(not(xen_c_unavailable))]
pub mod oracle;
pub mod rside;
pub mod side;

/// The differential fuzz target's body: one sequence driven by `data`, compared step by step;
/// panics on an unexplained divergence or a leak. Does nothing without Xen's C.
pub fn fuzz_one(data: &[u8]) {
    #[cfg(not(xen_c_unavailable))]
    {
        let _g = c_lock();
        let report = oracle::run_bytes(data, 64);
        for id in report.observed.keys() {
            assert!(
                engine::is_known(id),
                "observed {id}, which the oracle does not list"
            );
        }
        assert!(
            report.unexplained.is_empty(),
            "unexplained divergences: {:#?}",
            report.unexplained
        );
    }
    #[cfg(xen_c_unavailable)]
    let _ = data;
}
