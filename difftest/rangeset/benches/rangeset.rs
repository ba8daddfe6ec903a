//! C time / Rust time for identical operation traces through Xen 4.17's rangeset.c and the Rust
//! rangeset, in one process, at 4, 16, 256 and 4096 ranges, per kind of operation. Each figure is
//! the median of several repetitions. Not a test: nothing is asserted.
//!
//! `cargo bench -p difftest-rangeset --bench rangeset` (add `-- --quick` for a short smoke).

#[cfg(not(xen_c_unavailable))]
use std::hint::black_box;
#[cfg(not(xen_c_unavailable))]
use std::time::{Duration, Instant};

use difftest_rangeset::ops::SplitMix;
#[cfg(not(xen_c_unavailable))]
use difftest_rangeset::{c::CRangeset, rust::RsRangeset, Impl, Set};

/// Ranges of the benchmark sets: [16i, 16i + 7] for i in 0..n (gaps of 8 between them).
const STRIDE: u64 = 16;

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// contains_singleton of a random value in the covered span.
    Contains,
    /// overlaps_range of a random 4-value window.
    Overlaps,
    /// add_range of a new range in a gap, then remove_range of it: the set's size is unchanged.
    AddRemove,
    /// add_range of a range inside an existing one (no change).
    AddCovered,
    /// remove_range splitting a range, then add_range healing it.
    RemoveSplit,
    /// report_ranges over a window of about 4 ranges.
    ReportWindow,
    /// report_ranges over everything.
    ReportAll,
}

const KINDS: [Kind; 7] = [
    Kind::Contains,
    Kind::Overlaps,
    Kind::AddRemove,
    Kind::AddCovered,
    Kind::RemoveSplit,
    Kind::ReportWindow,
    Kind::ReportAll,
];

/// One operation's arguments: a range index and an offset, drawn once and replayed on both.
fn trace(n: u64, ops: usize, seed: u64) -> Vec<(u64, u64)> {
    let mut rng = SplitMix(seed);
    (0..ops)
        .map(|_| (rng.next_u64() % n, rng.next_u64() % STRIDE))
        .collect()
}

#[cfg(not(xen_c_unavailable))]
fn build<I: Impl>(imp: &mut I, n: u64) -> Set {
    let r = imp
        .rangeset_new(true, Some(c"bench"), 0)
        .expect("rangeset_new");
    for i in 0..n {
        assert_eq!(imp.add_range(r, i * STRIDE, i * STRIDE + 7), 0);
    }
    r
}

/// Runs `tr` of kind `k` on `r`; returns the elapsed time and a checksum of the results.
#[cfg(not(xen_c_unavailable))]
fn run<I: Impl>(imp: &mut I, r: Set, k: Kind, n: u64, tr: &[(u64, u64)]) -> (Duration, u64) {
    let mut sum = 0u64;
    let t = Instant::now();
    for &(i, off) in tr {
        let base = i * STRIDE;
        match k {
            Kind::Contains => sum += u64::from(imp.contains_singleton(Some(r), base + off)),
            Kind::Overlaps => {
                sum += u64::from(imp.overlaps_range(Some(r), base + off, base + off + 3))
            }
            Kind::AddRemove => {
                // [base + 10, base + 12] lies in the gap after range i, touching neither side.
                sum += imp.add_range(r, base + 10, base + 12) as u64;
                sum += imp.remove_range(r, base + 10, base + 12) as u64;
            }
            Kind::AddCovered => sum += imp.add_range(r, base + 1, base + 1 + off % 6) as u64,
            Kind::RemoveSplit => {
                sum += imp.remove_range(r, base + 3, base + 4) as u64;
                sum += imp.add_range(r, base + 3, base + 4) as u64;
            }
            Kind::ReportWindow => {
                let end = (i + 4).min(n) * STRIDE;
                sum += imp.report_ranges(r, base + off, end, &mut |s, e| {
                    black_box((s, e));
                    0
                }) as u64;
            }
            Kind::ReportAll => {
                let mut c = 0u64;
                imp.report_ranges(r, 0, u64::MAX, &mut |_, _| {
                    c += 1;
                    0
                });
                sum += c;
            }
        }
    }
    (t.elapsed(), black_box(sum))
}

#[cfg(not(xen_c_unavailable))]
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

#[cfg(not(xen_c_unavailable))]
fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let reps = if quick { 5 } else { 9 };
    let budget_ops: u64 = if quick { 200_000 } else { 2_000_000 };
    let mut c = CRangeset::new(1);
    let mut rs = RsRangeset::new(1);
    println!(
        "bench rangeset: C time / Rust time, median of {reps} runs (> 1: Rust faster; 'best' \
         compares the fastest runs, less sensitive to a busy machine)"
    );
    println!(
        "{:>6} {:>13} {:>12} {:>12} {:>8} {:>8}",
        "ranges", "operation", "C ns/op", "Rust ns/op", "C/Rust", "best"
    );
    let mut slower = Vec::new();
    for n in [4u64, 16, 256, 4096] {
        let cr = build(&mut c, n);
        let rr = build(&mut rs, n);
        for k in KINDS {
            // Fewer operations where each costs O(n).
            let per_op = if matches!(k, Kind::ReportAll) {
                n
            } else {
                1 + n / 64
            };
            let ops = (budget_ops / per_op).clamp(200, 200_000) as usize;
            let tr = trace(n, ops, n ^ k as u64);
            let (mut tc, mut tru) = (Vec::new(), Vec::new());
            for _ in 0..reps {
                let (dc, sc) = run(&mut c, cr, k, n, &tr);
                let (dr, sr) = run(&mut rs, rr, k, n, &tr);
                assert_eq!(sc, sr, "C and Rust disagree on {k:?} at {n} ranges");
                tc.push(dc.as_nanos() as f64 / ops as f64);
                tru.push(dr.as_nanos() as f64 / ops as f64);
            }
            assert_eq!(c.ranges(cr), rs.ranges(rr), "sets differ after {k:?}");
            let best = tc.iter().copied().fold(f64::MAX, f64::min)
                / tru.iter().copied().fold(f64::MAX, f64::min);
            let (mc, mr) = (median(tc), median(tru));
            let ratio = mc / mr;
            println!(
                "{n:>6} {:>13} {mc:>12.1} {mr:>12.1} {ratio:>8.2} {best:>8.2}",
                format!("{k:?}")
            );
            if ratio < 1.0 {
                slower.push(format!("{k:?}@{n}"));
            }
        }
        c.destroy(Some(cr));
        rs.destroy(Some(rr));
    }
    if slower.is_empty() {
        println!("bench rangeset: Rust at least as fast as C everywhere");
    } else {
        println!(
            "bench rangeset: Rust slower than C at: {}",
            slower.join(", ")
        );
    }
}

#[cfg(xen_c_unavailable)]
fn main() {
    let _ = (KINDS, trace(1, 1, 1));
    println!("bench rangeset: SKIPPED (Xen C source unavailable)");
}
