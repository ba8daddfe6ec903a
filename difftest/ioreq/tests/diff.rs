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
    use difftest_ioreq::oracle;

    let _g = difftest_ioreq::c_lock();
    let total: u64 = std::env::var("DIFFTEST_IOREQ_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let seed: u64 = std::env::var("DIFFTEST_IOREQ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x10e1_2014);
    let report = oracle::run_seeded(seed, total);
    println!(
        "difftest ioreq: {} ops compared, {} unexplained divergences",
        report.ops,
        report.unexplained.len()
    );
    println!(
        "difftest ioreq:   {} sequences, {} of them with Xen's ioreq C on the Rust rangeset",
        report.sequences, report.sequences_on_rust_rangeset
    );
    for (id, n) in &report.observed {
        println!("difftest ioreq:   {id} observed {n} times");
    }
    for (what, n) in &report.coverage {
        println!("difftest ioreq:   covered: {what}: {n}");
    }
    for u in report.unexplained.iter().take(20) {
        println!("difftest ioreq: UNEXPLAINED {u}");
    }
    assert!(
        report.unexplained.is_empty(),
        "{} unexplained divergences (first: {:?})",
        report.unexplained.len(),
        report.unexplained.first()
    );
    assert!(report.ops >= total, "only {} ops ran", report.ops);
    let ledger = oracle::check_ledger(&report, total >= oracle::RATCHET_MIN_OPS);
    assert!(ledger.is_empty(), "FIDELITY ledger: {ledger:#?}");
}
