//! The rangeset benchmark: Xen 4.17's `rangeset.c` against the Rust rangeset, both called through
//! their C entry points, out of line, from one C driver (`c/bench.c`), as Xen's C callers call
//! them. Xen's C is built as a release Xen builds it (ASSERT off, atomic qrwlock fast paths; see
//! `c/shim/emul.h`); the Rust is this crate's release profile (fat LTO, opt-level 2, overflow
//! checks on), as `make xen` builds it. Both allocate with malloc.
//!
//! Per row (set size x operation): the same seeded trace on both sides, many samples (C and Rust
//! alternating), min / median / max ns per operation of each, and the C/Rust ratio of the minima;
//! then callgrind's instruction count per operation of one run of each (exact, whatever the load;
//! `valgrind` runs this binary again in a child mode). Prints a table and the summary lines
//!   `bench rangeset: min C/Rust n=4 X, n=256 Y, n=4096 Z`      (from the times)
//!   `bench rangeset instructions: min C/Rust n=4 X, n=256 Y, n=4096 Z`
//! where each figure is the smallest ratio over the operations at that size. Nothing is asserted
//! about speed: a benchmark prints ratios; the results of both sides are compared (checksums and
//! the final sets), and a disagreement stops the run.
//!
//! `cargo bench -p difftest-rangeset --bench rangeset` (`-- --quick`: a few seconds, for make
//! check). `BENCH_NO_CALLGRIND=1` skips the instruction counts.

#[cfg(any(xen_c_unavailable, rust_rangeset_missing))]
fn main() {
    println!("bench rangeset: SKIPPED (Xen C source unavailable)");
}

#[cfg(not(any(xen_c_unavailable, rust_rangeset_missing)))]
fn main() {
    bench::main();
}

#[cfg(not(any(xen_c_unavailable, rust_rangeset_missing)))]
mod bench {
    use std::collections::BTreeMap;
    use std::ffi::CString;
    use std::path::Path;
    use std::process::Command;

    use difftest_rangeset::bench::{BenchOp, BenchSet, Side};
    use difftest_rangeset::ops::SplitMix;

    const STRIDE: u64 = 16;
    const SIZES: [u64; 4] = [4, 64, 256, 4096];
    /// The sizes of the summary line.
    const SUMMARY_SIZES: [u64; 3] = [4, 256, 4096];

    /// The driver's `enum bench_kind`, with names and whether the summary counts the row.
    struct Kind {
        id: i32,
        name: &'static str,
        /// false for the full report: its cost is the n callbacks on both sides (output-bound).
        in_summary: bool,
    }

    const KINDS: [Kind; 8] = [
        Kind {
            id: 0,
            name: "contains",
            in_summary: true,
        },
        Kind {
            id: 1,
            name: "overlaps",
            in_summary: true,
        },
        Kind {
            id: 2,
            name: "add-covered",
            in_summary: true,
        },
        Kind {
            id: 3,
            name: "remove-absent",
            in_summary: true,
        },
        Kind {
            id: 4,
            name: "add+remove",
            in_summary: true,
        },
        Kind {
            id: 5,
            name: "split+heal",
            in_summary: true,
        },
        Kind {
            id: 6,
            name: "report-window",
            in_summary: true,
        },
        Kind {
            id: 7,
            name: "report-all*",
            in_summary: false,
        },
    ];

    struct Config {
        samples: usize,
        /// Operations per sample for a row whose C cost does not grow with n.
        ops: u64,
        /// Operations of the single counted run under callgrind.
        cg_ops: u64,
    }

    /// The trace of a row: the same seed gives the same trace in the timed and counted runs.
    fn trace(n: u64, kind: &Kind, ops: u64) -> Vec<BenchOp> {
        let mut rng = SplitMix(n.wrapping_mul(0x9e37_79b9) ^ kind.id as u64);
        (0..ops)
            .map(|_| {
                let i = rng.next_u64() % n;
                BenchOp {
                    base: i * STRIDE,
                    off: rng.next_u64() % STRIDE,
                    wend: (i + 4).min(n) * STRIDE,
                }
            })
            .collect()
    }

    /// Operations per sample: fewer where the C's cost is O(n) (its list walks), so a sample
    /// stays around a millisecond.
    fn ops_for(cfg: &Config, n: u64, kind: &Kind) -> u64 {
        if kind.in_summary {
            (cfg.ops / (1 + n / 32)).max(64)
        } else {
            (cfg.ops * 8 / n).max(16)
        }
    }

    fn build(n: u64) -> (BenchSet, BenchSet) {
        let c = BenchSet::build(Side::C, n).expect("C set");
        let r = BenchSet::build(Side::Rust, n).expect("Rust set");
        assert_eq!(
            c.digest(),
            r.digest(),
            "the sets differ after building {n} ranges"
        );
        (c, r)
    }

    struct Spread {
        min: f64,
        med: f64,
        max: f64,
    }

    fn spread(mut v: Vec<f64>) -> Spread {
        v.sort_by(f64::total_cmp);
        Spread {
            min: v[0],
            med: v[v.len() / 2],
            max: v[v.len() - 1],
        }
    }

    fn label(n: u64, kind: &Kind, side: Side) -> CString {
        CString::new(format!("n={n} {} {side:?}", kind.name)).expect("no NUL")
    }

    /// Child mode (under callgrind): one warm-up and one counted run per row and side.
    fn callgrind_child(cfg: &Config) {
        for n in SIZES {
            let (c, r) = build(n);
            for kind in &KINDS {
                let ops = ops_for(cfg, n, kind).min(cfg.cg_ops);
                let tr = trace(n, kind, ops);
                for (set, side) in [(&c, Side::C), (&r, Side::Rust)] {
                    set.run(kind.id, &tr, None);
                    set.run(kind.id, &tr, Some(&label(n, kind, side)));
                }
                assert_eq!(c.digest(), r.digest());
            }
        }
    }

    /// Runs this binary under callgrind in child mode; instructions per operation by label.
    /// None (printed as '-') when valgrind is missing or fails.
    fn callgrind(cfg: &Config) -> Option<BTreeMap<String, f64>> {
        if std::env::var_os("BENCH_NO_CALLGRIND").is_some() {
            return None;
        }
        let exe = std::env::current_exe().ok()?;
        let dir = std::env::temp_dir().join(format!("bench-rangeset-cg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let out = dir.join("cg.out");
        let status = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!("--callgrind-out-file={}", out.display()))
            .arg("--quiet")
            .arg(&exe)
            .args(std::env::args().skip(1))
            .env("BENCH_RANGESET_CALLGRIND_CHILD", "1")
            .status();
        let counts = match status {
            Ok(s) if s.success() => read_dumps(&dir),
            Ok(s) => {
                println!("bench rangeset: callgrind run failed ({s}): no instruction counts");
                None
            }
            Err(e) => {
                println!("bench rangeset: valgrind not runnable ({e}): no instruction counts");
                None
            }
        };
        let _ = std::fs::remove_dir_all(&dir);
        let counts = counts?;
        // Instructions per operation: the counted run's total over its operations.
        let mut per_op = BTreeMap::new();
        for n in SIZES {
            for kind in &KINDS {
                let ops = ops_for(cfg, n, kind).min(cfg.cg_ops) as f64;
                for side in [Side::C, Side::Rust] {
                    let l = label(n, kind, side).into_string().expect("utf-8");
                    let ir = *counts.get(&l)?;
                    per_op.insert(l, ir as f64 / ops);
                }
            }
        }
        Some(per_op)
    }

    /// Every callgrind dump in `dir`: its trigger label and instruction total.
    fn read_dumps(dir: &Path) -> Option<BTreeMap<String, u64>> {
        let mut map = BTreeMap::new();
        for entry in std::fs::read_dir(dir).ok()? {
            let text = std::fs::read_to_string(entry.ok()?.path()).ok()?;
            let mut label = None;
            let mut total = None;
            for line in text.lines() {
                if let Some(l) = line.strip_prefix("desc: Trigger: Client Request: ") {
                    label = Some(l.to_string());
                } else if let Some(t) = line.strip_prefix("totals: ") {
                    total = t.split_whitespace().next().and_then(|x| x.parse().ok());
                } else if let Some(t) = line.strip_prefix("summary: ") {
                    total = total.or(t.split_whitespace().next().and_then(|x| x.parse().ok()));
                }
            }
            if let (Some(l), Some(t)) = (label, total) {
                map.insert(l, t);
            }
        }
        Some(map)
    }

    fn fmt_ratio(r: Option<f64>) -> String {
        r.map_or("-".into(), |r| format!("{r:.2}"))
    }

    pub fn main() {
        let quick = std::env::args().any(|a| a == "--quick");
        let cfg = if quick {
            Config {
                samples: 7,
                ops: 4_000,
                cg_ops: 200,
            }
        } else {
            Config {
                samples: 31,
                ops: 20_000,
                cg_ops: 1_000,
            }
        };
        if std::env::var_os("BENCH_RANGESET_CALLGRIND_CHILD").is_some() {
            callgrind_child(&cfg);
            return;
        }
        let ir = callgrind(&cfg);
        println!(
            "bench rangeset: Xen 4.17 rangeset.c (release build) vs Rust, both through their C \
             entry points from one C driver; ns/op over {} samples (min / median / max), \
             callgrind instructions/op; ratios C/Rust (> 1: Rust faster)",
            cfg.samples
        );
        println!(
            "{:>5} {:<14} {:>24} {:>24} {:>7} {:>7} {:>9} {:>9} {:>8}",
            "n",
            "operation",
            "C ns/op min/med/max",
            "Rust ns/op min/med/max",
            "min C/R",
            "med C/R",
            "C Ir/op",
            "Rust Ir/op",
            "Ir C/R"
        );
        let mut worst_time: BTreeMap<u64, f64> = BTreeMap::new();
        let mut worst_ir: BTreeMap<u64, f64> = BTreeMap::new();
        for n in SIZES {
            let (c, r) = build(n);
            for kind in &KINDS {
                let ops = ops_for(&cfg, n, kind);
                let tr = trace(n, kind, ops);
                // Warm up both (caches, lazy binding), then alternate which side goes first.
                let (_, sc) = c.run(kind.id, &tr, None);
                let (_, sr) = r.run(kind.id, &tr, None);
                assert_eq!(sc, sr, "C and Rust disagree on {} at n={n}", kind.name);
                let (mut tc, mut trs) = (Vec::new(), Vec::new());
                for i in 0..cfg.samples {
                    let order = if i % 2 == 0 { [&c, &r] } else { [&r, &c] };
                    for set in order {
                        let (ns, sum) = set.run(kind.id, &tr, None);
                        assert_eq!(sum, sc, "{} at n={n}: results changed", kind.name);
                        let per = ns as f64 / ops as f64;
                        if std::ptr::eq(set, &c) {
                            tc.push(per);
                        } else {
                            trs.push(per);
                        }
                    }
                }
                assert_eq!(c.digest(), r.digest(), "sets differ after {}", kind.name);
                let (sc_, sr_) = (spread(tc), spread(trs));
                let ratio = sc_.min / sr_.min;
                let irs = ir.as_ref().map(|m| {
                    let get = |side| m[&label(n, kind, side).into_string().expect("utf-8")];
                    (get(Side::C), get(Side::Rust))
                });
                let ir_ratio = irs.map(|(a, b)| a / b);
                if kind.in_summary {
                    let w = worst_time.entry(n).or_insert(f64::MAX);
                    *w = w.min(ratio);
                    if let Some(x) = ir_ratio {
                        let w = worst_ir.entry(n).or_insert(f64::MAX);
                        *w = w.min(x);
                    }
                }
                println!(
                    "{n:>5} {:<14} {:>24} {:>24} {:>7.2} {:>7.2} {:>9} {:>9} {:>8}",
                    kind.name,
                    format!("{:.1} / {:.1} / {:.1}", sc_.min, sc_.med, sc_.max),
                    format!("{:.1} / {:.1} / {:.1}", sr_.min, sr_.med, sr_.max),
                    ratio,
                    sc_.med / sr_.med,
                    irs.map_or("-".into(), |(a, _)| format!("{a:.0}")),
                    irs.map_or("-".into(), |(_, b)| format!("{b:.0}")),
                    fmt_ratio(ir_ratio),
                );
            }
        }
        println!(
            "(*: output-bound, n callbacks on both sides; not in the summary. add+remove and \
             split+heal time an add and a remove together.)"
        );
        let line = |m: &BTreeMap<u64, f64>| {
            SUMMARY_SIZES
                .iter()
                .map(|n| format!("n={n} {}", fmt_ratio(m.get(n).copied())))
                .collect::<Vec<_>>()
                .join(", ")
        };
        println!("bench rangeset: min C/Rust {}", line(&worst_time));
        println!(
            "bench rangeset instructions: min C/Rust {}",
            line(&worst_ir)
        );
    }
}
