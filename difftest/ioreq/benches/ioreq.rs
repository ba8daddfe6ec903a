//! Benchmark (issue 3 item 6): server selection, and a full synchronous round trip (select, send,
//! emulator answer, completion), through Xen 4.17's C and the Rust port in the same process, on
//! the same worlds: 1 or 8 enabled servers, 1, 16 or 256 ranges per type, PIO, MMIO and PCI
//! config accesses aimed at the oldest server (every server is walked first). The newer servers'
//! ranges all lie below the oldest's, so Xen's sorted range lists are walked to their end for each
//! of them; within the oldest server the access hits its lowest range (`hit=first`) or its
//! highest (`hit=last`, its whole list walked too).
//! Prints C time / Rust time; nothing is asserted. `BENCH_IOREQ_SHORT=1` runs a quick version
//! (make check).

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
    use std::hint::black_box;
    use std::time::Instant;

    use difftest_ioreq::cside::CSide;
    use difftest_ioreq::ffi::{self, RawIoreq};
    use difftest_ioreq::rside::RustSide;
    use difftest_ioreq::side::{Side, World};
    use xen_ioreq_rs::ioreq::{self, IoreqSlot};
    use xen_ioreq_rs::platform::host::domain::HostDomain;
    use xen_ioreq_rs::platform::host::HostPlatform as H;

    #[derive(Clone, Copy, Debug)]
    enum Kind {
        Pio,
        Mmio,
        Pci,
    }

    struct Worlds {
        c: CSide,
        r: RustSide,
        /// The oldest server's lowest and highest range start (same for every type).
        first: u64,
        last: u64,
    }

    /// `servers` enabled servers, each with `ranges` ranges per type; the oldest server's first
    /// range of each type is what the accesses hit.
    fn build(servers: u16, ranges: u64) -> Worlds {
        let w = World::standard(1, 64);
        let mut c = CSide::new(w);
        let mut r = RustSide::new(w);
        let oldest_base = u64::from(servers - 1) * ranges * 4;
        for k in 0..servers {
            let cid = c.create(w.dm0, w.guest, 0, 0).expect("C create");
            let rid = r.create(w.dm0, w.guest, 0, 0).expect("Rust create");
            c.get_info(w.dm0, w.guest, cid).expect("C info");
            r.get_info(w.dm0, w.guest, rid).expect("Rust info");
            // Disjoint ranges with gaps (no merging); newer servers' ranges lie below older ones'.
            let base = u64::from(servers - 1 - k) * ranges * 4;
            for j in 0..ranges {
                let s = base + 2 * j;
                for (ty, off) in [(0u32, 0x1000u64), (1, 0xe000_0000), (2, 0)] {
                    assert_eq!(c.map(w.dm0, w.guest, cid, ty, off + s, off + s, 0), 0);
                    assert_eq!(r.map(w.dm0, w.guest, rid, ty, off + s, off + s, 0), 0);
                }
            }
            assert_eq!(c.set_state(w.dm0, w.guest, cid, 1, 0), 0);
            assert_eq!(r.set_state(w.dm0, w.guest, rid, 1, 0), 0);
        }
        Worlds {
            c,
            r,
            first: oldest_base,
            last: oldest_base + 2 * (ranges - 1),
        }
    }

    /// An access to range start `at` of the given kind (for PCI: latches device `at` in CF8 on
    /// both sides first).
    fn request(wd: &mut Worlds, kind: Kind, at: u64) -> IoreqSlot {
        let mut p = IoreqSlot {
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
                wd.c.portio(0, 0, 0xcf8, 4, cf8);
                wd.r.portio(0, 0, 0xcf8, 4, cf8);
                p.addr = 0xcfc;
            }
        }
        p
    }

    fn raw(p: &IoreqSlot) -> RawIoreq {
        RawIoreq {
            addr: p.addr,
            data: p.data,
            count: p.count,
            size: p.size,
            vp_eport: p.vp_eport,
            pad0: p.pad0,
            bits: p.flags,
            type_: p.type_,
        }
    }

    /// Best of `reps` timings of `iters` calls, in ns per call.
    fn time(reps: u32, iters: u32, mut f: impl FnMut()) -> f64 {
        let mut best = f64::MAX;
        for _ in 0..reps {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            best = best.min(t.elapsed().as_nanos() as f64 / f64::from(iters));
        }
        best
    }

    pub fn main() {
        let short = std::env::var("BENCH_IOREQ_SHORT").as_deref() == Ok("1");
        let (reps, iters) = if short { (3, 2_000) } else { (7, 50_000) };
        let _g = difftest_ioreq::c_lock();
        println!("bench ioreq: Xen 4.17 C vs Rust, same process; ns per call (best of {reps} x {iters}); ratio = C/Rust");
        for servers in [1u16, 8] {
            for ranges in [1u64, 16, 256] {
                let mut wd = build(servers, ranges);
                let vcpu = wd.r.vcpu_ref(0);
                HostDomain::set_current_vcpu(Some(vcpu));
                wd.c.guest.make_current(0);
                for (kind, hit) in [Kind::Pio, Kind::Mmio, Kind::Pci]
                    .into_iter()
                    .flat_map(|k| [(k, "first"), (k, "last")])
                {
                    let at = if hit == "first" { wd.first } else { wd.last };
                    let p = request(&mut wd, kind, at);
                    // Selection.
                    let tc = time(reps, iters, || {
                        let mut q = raw(&p);
                        black_box(wd.c.guest.select(black_box(&mut q)));
                    });
                    let tr = time(reps, iters, || {
                        let mut q = p;
                        black_box(ioreq::select_server::<H>(wd.r.guest, black_box(&mut q)));
                    });
                    println!(
                        "bench ioreq: select    {:4} servers={servers} ranges={ranges:3} hit={hit:5}: C {tc:7.1} ns, Rust {tr:7.1} ns, C/Rust {:.2}",
                        format!("{kind:?}"),
                        tc / tr
                    );
                    // Round trip: select, send, the emulator answers, the vcpu completes.
                    let tc = time(reps, iters / 4, || {
                        let mut q = raw(&p);
                        let id = wd.c.guest.select(&mut q).expect("C selects");
                        assert_eq!(wd.c.guest.send(id, &mut q, false), 3);
                        assert!(wd.c.guest.emulator_respond(id, 0, 7));
                        black_box(ffi::handle_completion());
                    });
                    let tr = time(reps, iters / 4, || {
                        let mut q = p;
                        let s =
                            ioreq::select_server::<H>(wd.r.guest, &mut q).expect("Rust selects");
                        assert!(ioreq::send_to_server::<H>(wd.r.guest, vcpu, s, &mut q));
                        assert!(wd.r.emulator_respond(s.id, 0, 7));
                        black_box(ioreq::complete_io::<H>(wd.r.guest, vcpu));
                    });
                    println!(
                        "bench ioreq: roundtrip {:4} servers={servers} ranges={ranges:3} hit={hit:5}: C {tc:7.1} ns, Rust {tr:7.1} ns, C/Rust {:.2}",
                        format!("{kind:?}"),
                        tc / tr
                    );
                }
                wd.c.teardown();
                wd.r.teardown();
            }
        }
    }
}
