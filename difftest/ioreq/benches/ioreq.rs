//! The ioreq benchmark: server selection, and the synchronous round trip every emulated guest
//! access pays (select, send, the emulator's answer, completion), through Xen 4.17's C and the
//! Rust port, both called through their C entry points, out of line, from one C driver
//! (`c/bench.c`). Xen's C is built as a release Xen builds it (ASSERT off, Xen's atomic ticket
//! spinlocks and qrwlock fast paths; see `c/emul.h`), on Xen's own rangeset.c; the Rust is the
//! crate's release profile (fat LTO, opt-level 2, overflow checks), on the host platform.
//!
//! Worlds: 1 or 8 enabled servers with 1, 16 or 256 ranges per type; PIO, MMIO and PCI config
//! accesses aimed at the oldest server (every newer server is tried first: their ranges lie below
//! the oldest's, so Xen's sorted range lists are walked to their end), hitting its lowest range
//! (`first`) or its highest (`last`).
//!
//! Per row: many samples (C and Rust alternating), min / median / max ns per call, the C/Rust
//! ratio of the minima, and callgrind's instructions per call of one run of each (this binary
//! re-run under valgrind in a child mode). Summary:
//!   `bench ioreq: min C/Rust select X, round trip Y`                (times)
//!   `bench ioreq instructions: min C/Rust select X, round trip Y`
//! each the smallest ratio over the rows. Nothing about speed is asserted; both sides' results
//! are compared and a disagreement stops the run. `BENCH_IOREQ_SHORT=1`: a few seconds (make
//! check); `BENCH_NO_CALLGRIND=1`: no instruction counts.

#[cfg(xen_c_unavailable)]
fn main() {
    println!("bench ioreq: SKIPPED (Xen 4.17 source unavailable)");
}

#[cfg(not(xen_c_unavailable))]
fn main() {
    bench::main();
}

#[cfg(not(xen_c_unavailable))]
mod bench {
    use std::collections::BTreeMap;
    use std::ffi::CString;
    use std::path::Path;
    use std::process::Command;

    use difftest_ioreq::ffi::bench::{self as drv, BenchIo, Side, What};
    use difftest_ioreq::ffi::RawIoreq;
    use difftest_ioreq::rside::RustSide;
    use difftest_ioreq::side::{Side as _, World};
    use xen_ioreq_rs::platform::host::domain::HostDomain;

    #[derive(Clone, Copy, Debug)]
    enum Kind {
        Pio,
        Mmio,
        Pci,
    }

    struct Config {
        samples: usize,
        iters: usize,
        cg_iters: usize,
    }

    /// One world per side, and the oldest server's lowest and highest range start.
    struct Worlds {
        c_guest: std::ptr::NonNull<core::ffi::c_void>,
        c: BenchIo,
        r_side: RustSide,
        r: BenchIo,
        first: u64,
        last: u64,
    }

    fn build(servers: u16, ranges: u64) -> Worlds {
        let (c_guest, c_page) = drv::c_world(u32::from(servers), ranges).expect("C world");
        let w = World::standard(1, 64);
        let mut r = RustSide::new(w);
        let mut oldest = None;
        for k in 0..servers {
            let id = r.create(w.dm0, w.guest, 0, 0).expect("Rust create");
            r.get_info(w.dm0, w.guest, id).expect("Rust info");
            let base = u64::from(servers - 1 - k) * ranges * 4;
            for j in 0..ranges {
                let s = base + 2 * j;
                for (ty, off) in [(0u32, 0x1000u64), (1, 0xe000_0000), (2, 0)] {
                    assert_eq!(r.map(w.dm0, w.guest, id, ty, off + s, off + s, 0), 0);
                }
            }
            assert_eq!(r.set_state(w.dm0, w.guest, id, 1, 0), 0);
            oldest.get_or_insert(id);
        }
        let page = r
            .emulator_page_ptr(oldest.expect("a server"))
            .expect("the emulator's mapping");
        let vcpu = r.vcpu_ref(0);
        let oldest_base = u64::from(servers - 1) * ranges * 4;
        Worlds {
            c_guest,
            c: BenchIo {
                d: c_guest.as_ptr(),
                v: core::ptr::null_mut(),
                slot: c_page.as_ptr().cast(),
                req: RawIoreq::default(),
            },
            r: BenchIo {
                d: r.guest.as_ptr(),
                v: vcpu.as_ptr(),
                slot: page.as_ptr().cast(),
                req: RawIoreq::default(),
            },
            r_side: r,
            first: oldest_base,
            last: oldest_base + 2 * (ranges - 1),
        }
    }

    /// Sets both sides' request to an access of `kind` at range start `at` (for PCI: the guest
    /// latches device `at` in CF8 on both sides first).
    fn aim(wd: &mut Worlds, kind: Kind, at: u64) {
        let mut p = RawIoreq {
            count: 1,
            size: 1,
            ..Default::default()
        };
        match kind {
            Kind::Pio => p.addr = 0x1000 + at,
            Kind::Mmio => {
                p.type_ = 1;
                p.addr = 0xe000_0000 + at;
            }
            Kind::Pci => {
                let cf8 = 0x8000_0010 | ((at as u32) << 8);
                drv::c_cf8(wd.c_guest, cf8);
                wd.r_side.portio(0, 0, 0xcf8, 4, cf8);
                p.addr = 0xcfc;
            }
        }
        wd.c.req = p;
        wd.r.req = p;
    }

    fn label(row: &str, what: What, side: Side) -> CString {
        CString::new(format!("{row} {what:?} {side:?}")).expect("no NUL")
    }

    /// Every (servers, ranges, kind, hit) row, in print order.
    fn rows() -> Vec<(u16, u64, Kind, &'static str)> {
        let mut v = Vec::new();
        for servers in [1u16, 8] {
            for ranges in [1u64, 16, 256] {
                for kind in [Kind::Pio, Kind::Mmio, Kind::Pci] {
                    for hit in ["first", "last"] {
                        if ranges > 1 || hit == "first" {
                            v.push((servers, ranges, kind, hit));
                        }
                    }
                }
            }
        }
        v
    }

    fn row_name(servers: u16, ranges: u64, kind: Kind, hit: &str) -> String {
        format!(
            "servers={servers} ranges={ranges:<3} {:<4} {hit:<5}",
            format!("{kind:?}")
        )
    }

    /// Runs `f` for every row with both worlds built and aimed (the Rust vcpu current).
    fn for_each_row(mut f: impl FnMut(&str, &Worlds)) {
        let all = rows();
        let mut i = 0;
        while i < all.len() {
            let (servers, ranges, _, _) = all[i];
            let mut wd = build(servers, ranges);
            HostDomain::set_current_vcpu(Some(wd.r_side.vcpu_ref(0)));
            while i < all.len() && all[i].0 == servers && all[i].1 == ranges {
                let (_, _, kind, hit) = all[i];
                let at = if hit == "first" { wd.first } else { wd.last };
                aim(&mut wd, kind, at);
                f(&row_name(servers, ranges, kind, hit), &wd);
                i += 1;
            }
            HostDomain::set_current_vcpu(None);
            drv::c_teardown(wd.c_guest);
            wd.r_side.teardown();
        }
    }

    fn run(
        side: Side,
        what: What,
        wd: &Worlds,
        iters: usize,
        label: Option<&CString>,
    ) -> (u64, u64) {
        let w = if side == Side::C { &wd.c } else { &wd.r };
        // SAFETY: both worlds are live (for_each_row) and the Rust vcpu is current.
        unsafe { drv::run(side, what, w, iters, label.map(|l| l.as_c_str())) }
    }

    /// The checksum both sides must produce: for a round trip, 3 steps per iteration.
    fn check(row: &str, what: What, iters: usize, sc: u64, sr: u64) {
        assert_eq!(sc, sr, "{row} {what:?}: C and Rust disagree");
        if what == What::RoundTrip {
            assert_eq!(sc, 3 * iters as u64, "{row}: a round trip step failed");
        }
    }

    fn callgrind_child(cfg: &Config) {
        for_each_row(|row, wd| {
            for what in [What::Select, What::RoundTrip] {
                let mut sums = Vec::new();
                for side in [Side::C, Side::Rust] {
                    run(side, what, wd, cfg.cg_iters, None);
                    let (_, s) = run(side, what, wd, cfg.cg_iters, Some(&label(row, what, side)));
                    sums.push(s);
                }
                check(row, what, cfg.cg_iters, sums[0], sums[1]);
            }
        });
    }

    /// Instructions per call by label, from this binary re-run under callgrind; None when
    /// valgrind is missing or fails (printed as '-').
    fn callgrind(cfg: &Config) -> Option<BTreeMap<String, f64>> {
        if std::env::var_os("BENCH_NO_CALLGRIND").is_some() {
            return None;
        }
        let exe = std::env::current_exe().ok()?;
        let dir = std::env::temp_dir().join(format!("bench-ioreq-cg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let status = Command::new("valgrind")
            .arg("--tool=callgrind")
            .arg(format!(
                "--callgrind-out-file={}",
                dir.join("cg.out").display()
            ))
            .arg("--quiet")
            .arg(&exe)
            .env("BENCH_IOREQ_CALLGRIND_CHILD", "1")
            .status();
        let counts = match status {
            Ok(s) if s.success() => read_dumps(&dir),
            Ok(s) => {
                println!("bench ioreq: callgrind run failed ({s}): no instruction counts");
                None
            }
            Err(e) => {
                println!("bench ioreq: valgrind not runnable ({e}): no instruction counts");
                None
            }
        };
        let _ = std::fs::remove_dir_all(&dir);
        Some(
            counts?
                .into_iter()
                .map(|(l, ir)| (l, ir as f64 / cfg.cg_iters as f64))
                .collect(),
        )
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

    fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
        v.sort_by(f64::total_cmp);
        (v[0], v[v.len() / 2], v[v.len() - 1])
    }

    pub fn main() {
        let short = std::env::var("BENCH_IOREQ_SHORT").as_deref() == Ok("1");
        let cfg = if short {
            Config {
                samples: 5,
                iters: 300,
                cg_iters: 50,
            }
        } else {
            Config {
                samples: 21,
                iters: 3_000,
                cg_iters: 300,
            }
        };
        if std::env::var_os("BENCH_IOREQ_CALLGRIND_CHILD").is_some() {
            callgrind_child(&cfg);
            return;
        }
        let ir = callgrind(&cfg);
        println!(
            "bench ioreq: Xen 4.17 ioreq C (release build) vs Rust, both through their C entry \
             points from one C driver; ns/call over {} samples of {} calls (min / median / max), \
             callgrind instructions/call; ratios C/Rust (> 1: Rust faster)",
            cfg.samples, cfg.iters
        );
        println!(
            "{:<34} {:<9} {:>22} {:>22} {:>7} {:>7} {:>7} {:>7} {:>6}",
            "world / access",
            "call",
            "C ns min/med/max",
            "Rust ns min/med/max",
            "min C/R",
            "med C/R",
            "C Ir",
            "Rust Ir",
            "Ir C/R"
        );
        let mut worst: BTreeMap<&str, (f64, f64)> = BTreeMap::new();
        for_each_row(|row, wd| {
            for what in [What::Select, What::RoundTrip] {
                let (_, sc) = run(Side::C, what, wd, cfg.iters, None);
                let (_, sr) = run(Side::Rust, what, wd, cfg.iters, None);
                check(row, what, cfg.iters, sc, sr);
                let (mut tc, mut tr) = (Vec::new(), Vec::new());
                for i in 0..cfg.samples {
                    let order = if i % 2 == 0 {
                        [Side::C, Side::Rust]
                    } else {
                        [Side::Rust, Side::C]
                    };
                    for side in order {
                        let (ns, s) = run(side, what, wd, cfg.iters, None);
                        assert_eq!(s, sc, "{row} {what:?}: results changed");
                        let per = ns as f64 / cfg.iters as f64;
                        if side == Side::C {
                            tc.push(per)
                        } else {
                            tr.push(per)
                        }
                    }
                }
                let (c, r) = (spread(tc), spread(tr));
                let irs = ir.as_ref().and_then(|m| {
                    let get = |side| m.get(label(row, what, side).to_str().ok()?).copied();
                    Some((get(Side::C)?, get(Side::Rust)?))
                });
                let name = if what == What::Select {
                    "select"
                } else {
                    "round trip"
                };
                let e = worst.entry(name).or_insert((f64::MAX, f64::MAX));
                e.0 = e.0.min(c.0 / r.0);
                if let Some((a, b)) = irs {
                    e.1 = e.1.min(a / b);
                }
                println!(
                    "{row:<34} {name:<10} {:>21} {:>22} {:>7.2} {:>7.2} {:>7} {:>7} {:>6}",
                    format!("{:.1} / {:.1} / {:.1}", c.0, c.1, c.2),
                    format!("{:.1} / {:.1} / {:.1}", r.0, r.1, r.2),
                    c.0 / r.0,
                    c.1 / r.1,
                    irs.map_or("-".into(), |(a, _)| format!("{a:.0}")),
                    irs.map_or("-".into(), |(_, b)| format!("{b:.0}")),
                    irs.map_or("-".into(), |(a, b)| format!("{:.2}", a / b)),
                );
            }
        });
        let fmt = |x: f64| {
            if x == f64::MAX {
                "-".to_string()
            } else {
                format!("{x:.2}")
            }
        };
        let (s, t) = (worst["select"], worst["round trip"]);
        println!(
            "bench ioreq: min C/Rust select {}, round trip {}",
            fmt(s.0),
            fmt(t.0)
        );
        println!(
            "bench ioreq instructions: min C/Rust select {}, round trip {}",
            fmt(s.1),
            fmt(t.1)
        );
    }
}
