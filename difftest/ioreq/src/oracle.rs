//! Runs the engine over whole sequences (world set-up, operations, teardown, leak checks) and
//! holds the result against FIDELITY.md's ioreq ledger.

use std::collections::BTreeMap;

use crate::cside::CSide;
use crate::engine::{self, Engine, Setup};
use crate::entropy::{Bytes, Entropy, Rng};
use crate::ffi;
use crate::rside::RustSide;
use crate::side::World;

/// Operations per sequence in seeded runs.
pub const OPS_PER_SEQUENCE: u64 = 200;
/// Below this many operations a run is too short to expect every mapped divergence.
pub const RATCHET_MIN_OPS: u64 = 50_000;

#[derive(Default, Debug)]
pub struct Report {
    pub ops: u64,
    pub sequences: u64,
    /// Sequences in which Xen's ioreq C ran on the Rust rangeset instead of Xen's.
    pub sequences_on_rust_rangeset: u64,
    pub observed: BTreeMap<&'static str, u64>,
    pub coverage: BTreeMap<&'static str, u64>,
    pub unexplained: Vec<String>,
}

impl Report {
    fn absorb<R: crate::side::Side>(&mut self, e: &Engine<R>) {
        self.ops += e.ops;
        for (k, v) in &e.observed {
            *self.observed.entry(k).or_insert(0) += v;
        }
        for (k, v) in &e.coverage {
            *self.coverage.entry(k).or_insert(0) += v;
        }
        self.unexplained.extend(e.unexplained.iter().cloned());
    }
}

fn setup(e: &mut impl Entropy) -> Setup {
    let nr_vcpus = 1 + e.below(4) as u32;
    let pool_pages = if e.chance(30) { 8 } else { 64 };
    Setup {
        world: World::standard(nr_vcpus, pool_pages),
        amd_cf8_ext: e.chance(50),
        c_on_rust_rangeset: e.chance(25),
    }
}

/// One sequence of `ops` operations; the engine's findings are merged into `report`.
fn sequence(e: &mut impl Entropy, ops: u64, report: &mut Report) {
    let s = setup(e);
    ffi::use_rust_rangeset(s.c_on_rust_rangeset);
    if s.c_on_rust_rangeset {
        report.sequences_on_rust_rangeset += 1;
    }
    let c_base = ffi::counters();
    let c = CSide::new(s.world);
    let r = RustSide::new(s.world);
    let mut eng = Engine::new(c, r, s);
    for k in 0..ops {
        eng.context = format!("sequence {} op {k}", report.sequences);
        eng.step(e);
    }
    finish(eng, c_base, report);
}

fn finish(eng: Engine<RustSide>, c_base: ffi::Counters, report: &mut Report) {
    report.absorb(&eng);
    let Engine { c, r, .. } = eng;
    c.teardown();
    r.teardown();
    ffi::use_rust_rangeset(false);
    let end = ffi::counters();
    let mut leak = |what: &str, a: i64, b: i64| {
        if a != b {
            report.unexplained.push(format!(
                "sequence {}: C leak of {what}: {a} -> {b}",
                report.sequences
            ));
        }
    };
    leak("xmalloc blocks", c_base.live_allocs, end.live_allocs);
    leak("pages", c_base.live_pages, end.live_pages);
    leak(
        "global mappings",
        c_base.live_global_maps,
        end.live_global_maps,
    );
    leak("event channels", c_base.live_evtchns, end.live_evtchns);
    use xen_ioreq_rs::platform::host::{evtchn, memory};
    for (what, n) in [
        ("event channels", evtchn::live_evtchns() as i64),
        ("pages", memory::live_pages() as i64),
        ("hypervisor mappings", memory::mapped_pages()),
        ("P2M entries", memory::p2m_entries() as i64),
    ] {
        if n != 0 {
            report.unexplained.push(format!(
                "sequence {}: Rust leak of {what}: {n}",
                report.sequences
            ));
        }
    }
    report.sequences += 1;
}

/// Seeded sequences until `total` operations have been compared. Callers hold [`crate::c_lock`].
pub fn run_seeded(seed: u64, total: u64) -> Report {
    let mut report = Report::default();
    let mut rng = Rng(seed);
    while report.ops < total {
        let n = OPS_PER_SEQUENCE.min(total - report.ops).max(1);
        sequence(&mut rng, n, &mut report);
    }
    report
}

/// [`run_seeded`] on one of the C builds (the 4.17 build is selected again afterwards). Callers
/// hold [`crate::c_lock`].
pub fn run_seeded_on(which: ffi::XenC, seed: u64, total: u64) -> Report {
    ffi::select_xen(which);
    let report = run_seeded(seed, total);
    ffi::select_xen(ffi::XenC::V417);
    report
}

/// The body of the seeded differential tests: `DIFFTEST_IOREQ_OPS` operations (default 100000)
/// from `DIFFTEST_IOREQ_SEED` against `which` C build; prints
/// `difftest NAME: N ops compared, M unexplained divergences` and the details, and panics on an
/// unexplained divergence, a short run or a ledger problem.
pub fn seeded_test(name: &str, which: ffi::XenC) {
    let _g = crate::c_lock();
    let total: u64 = std::env::var("DIFFTEST_IOREQ_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    let seed: u64 = std::env::var("DIFFTEST_IOREQ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x10e1_2014);
    let report = run_seeded_on(which, seed, total);
    println!(
        "difftest {name}: {} ops compared, {} unexplained divergences",
        report.ops,
        report.unexplained.len()
    );
    println!(
        "difftest {name}:   {} sequences, {} of them with Xen's ioreq C on the Rust rangeset",
        report.sequences, report.sequences_on_rust_rangeset
    );
    for (id, n) in &report.observed {
        println!("difftest {name}:   {id} observed {n} times");
    }
    for (what, n) in &report.coverage {
        println!("difftest {name}:   covered: {what}: {n}");
    }
    for u in report.unexplained.iter().take(20) {
        println!("difftest {name}: UNEXPLAINED {u}");
    }
    assert!(
        report.unexplained.is_empty(),
        "{} unexplained divergences (first: {:?})",
        report.unexplained.len(),
        report.unexplained.first()
    );
    assert!(report.ops >= total, "only {} ops ran", report.ops);
    let ledger = check_ledger(&report, total >= RATCHET_MIN_OPS);
    assert!(ledger.is_empty(), "FIDELITY ledger: {ledger:#?}");
}

/// One sequence driven by fuzzer bytes (until they run out, at most `max_ops`).
pub fn run_bytes(data: &[u8], max_ops: u64) -> Report {
    let mut report = Report::default();
    let mut src = Bytes::new(data);
    let s = setup(&mut src);
    ffi::use_rust_rangeset(s.c_on_rust_rangeset);
    let c_base = ffi::counters();
    let c = CSide::new(s.world);
    let r = RustSide::new(s.world);
    let mut eng = Engine::new(c, r, s);
    let mut k = 0;
    while !src.exhausted() && k < max_ops {
        eng.context = format!("op {k}");
        eng.step(&mut src);
        k += 1;
    }
    finish(eng, c_base, &mut report);
    report
}

/// FIDELITY ids of the ioreq section that concern the Rust against the 2014 C (the ioreq port's
/// own entries) and cannot show as a divergence against Xen 4.17 in these operations, each with
/// the reason. Every I-id in FIDELITY.md must be here or in [`engine::ids::ALL`].
pub const NOT_AGAINST_4_17: &[(&str, &str)] = &[
    (
        "I1",
        "4.17 returns gfns to the pool as well; both pool models are checked",
    ),
    (
        "I2",
        "no allocation failure is injected; both sides unwind without leaks (checked)",
    ),
    (
        "I3",
        "4.17 also uses its own port record; the oracle's emulator never corrupts vp_eport",
    ),
    (
        "I4",
        "4.17's destroy disables first as well; the P2M is compared after every step",
    ),
    (
        "I5",
        "4.17 has no default server and selects a lone server too; compared",
    ),
    (
        "I6",
        "4.17 refuses start > end with -EINVAL before the lookup as well; compared",
    ),
    (
        "I7",
        "4.17 broadcasts to enabled servers only as well; broadcasts are not generated",
    ),
    ("I8", "the ring pointers never come near 2^32 in a sequence"),
    (
        "I9",
        "HVM params are not part of the compared operations (4.17 has no default server)",
    ),
    (
        "I10",
        "HVM params are not part of the compared operations (4.17 has no default server)",
    ),
    (
        "I11",
        "4.17 honours DF as well; accesses are generated without wrap-around",
    ),
    ("I12", "at most 8 vcpus, all known to every server"),
    ("I13", "no allocation failure is injected"),
    ("I14", "the oracle uses the safe API, never NULL pointers"),
    (
        "I15",
        "vcpus are added once each; the repeated add is shown by tests/vcpu_add_again.rs",
    ),
    // The series against its later upstream history (I200+): the port keeps the series' behaviour
    // where 4.17 differs only with a misbehaving emulator, a shutting-down domain or a failing
    // P2M, none of which these operations produce; each has its own test (tests/).
    (
        "I200",
        "the oracle's emulator never moves a slot's state backwards (XSA-262)",
    ),
    (
        "I201",
        "no domain is shut down during a sequence (b7e0d89788)",
    ),
    (
        "I202",
        "no P2M operation is made to fail (XSA-222, a0cce6048d)",
    ),
];

/// The repository's FIDELITY.md.
pub fn fidelity_text() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../FIDELITY.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

/// Problems between the run and the ledger: unknown ids, ids the ledger lacks, and (with
/// `ratchet`) listed divergences of the engine that the run never observed.
pub fn check_ledger(report: &Report, ratchet: bool) -> Vec<String> {
    let listed = engine::fidelity_ioreq_ids(&fidelity_text());
    let mut problems = Vec::new();
    for id in &listed {
        let known = engine::is_known(id) || NOT_AGAINST_4_17.iter().any(|(k, _)| k == id);
        if !known {
            problems.push(format!(
                "FIDELITY.md lists {id}, unknown to the ioreq oracle (classify it in difftest/ioreq/src/oracle.rs NOT_AGAINST_4_17 or engine::ids)"
            ));
        }
    }
    for id in engine::ids::ALL
        .iter()
        .map(|s| s.to_string())
        .chain(NOT_AGAINST_4_17.iter().map(|(k, _)| k.to_string()))
    {
        if !listed.contains(&id) {
            problems.push(format!(
                "the ioreq oracle knows {id}, which FIDELITY.md does not list"
            ));
        }
    }
    for id in report.observed.keys() {
        if !listed.iter().any(|l| l == id) {
            problems.push(format!("observed {id}, which FIDELITY.md does not list"));
        }
    }
    if ratchet {
        for id in engine::ids::ALL {
            if !report.observed.contains_key(id) {
                problems.push(format!("{id} is listed but was never observed"));
            }
        }
    }
    problems
}
