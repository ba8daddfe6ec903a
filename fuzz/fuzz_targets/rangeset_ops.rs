//! Arbitrary operation sequences on two rangesets (safe API over the host platform), checked after
//! every step against the structural invariants, the budget conservation law and a naive model of
//! the covered values.
//!
//! Invariants: ranges sorted, disjoint, s <= e; non-touching unless claim_range was used on those
//! ranges; `budget + number of ranges` constant between limit/swap calls; -ENOMEM only with a zero
//! budget (no allocation failures are injected), and exactly when a new range is needed while the
//! set is coalesced; a failed operation changes nothing; no panic.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

use xen_ioreq_rs::platform::host::alloc::{fail_allocations_after, CountingAllocator};
use xen_ioreq_rs::platform::host::console::take_console;
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::HostPlatform as H;
use xen_ioreq_rs::rangeset::core::{RangeList, RangesetFlags};
use xen_ioreq_rs::rangeset::domain::{domain_destroy, domain_initialise, domain_printk, Rangeset};
use xen_ioreq_rs::Errno;

#[global_allocator]
static A: CountingAllocator = CountingAllocator;

/// A value biased towards the interesting places: small, near u64::MAX, or anything.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Val {
    Small(u8),
    Top(u8),
    Any(u64),
}

impl Val {
    fn get(self) -> u64 {
        match self {
            Val::Small(v) => u64::from(v),
            Val::Top(v) => u64::MAX - u64::from(v),
            Val::Any(v) => v,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Add {
        set: bool,
        s: Val,
        e: Val,
    },
    AddLen {
        set: bool,
        s: Val,
        len: u8,
    },
    Remove {
        set: bool,
        s: Val,
        e: Val,
    },
    RemoveLen {
        set: bool,
        s: Val,
        len: u8,
    },
    Contains {
        set: bool,
        s: Val,
        e: Val,
    },
    Overlaps {
        set: bool,
        s: Val,
        e: Val,
    },
    Report {
        set: bool,
        s: Val,
        e: Val,
        stop_after: u8,
    },
    Claim {
        set: bool,
        size: Val,
    },
    Consume {
        set: bool,
        chunks: Vec<Val>,
        stop_after: u8,
    },
    Limit {
        set: bool,
        limit: u8,
    },
    Merge {
        into_first: bool,
    },
    Swap,
    SelfMerge {
        set: bool,
    },
    SelfSwap {
        set: bool,
    },
    Recreate {
        set: bool,
        name: Vec<u8>,
        hex: bool,
    },
    /// Add/remove/claim with real allocation failures after `after` allocations.
    Oom {
        set: bool,
        kind: u8,
        s: Val,
        len: u8,
        after: u8,
    },
    Print,
}

/// The covered values as sorted, disjoint, non-touching intervals: a deliberately naive model.
#[derive(Clone, Debug, PartialEq, Default)]
struct Model(Vec<(u64, u64)>);

impl Model {
    fn normalise(mut v: Vec<(u64, u64)>) -> Model {
        v.sort();
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (a, b) in v {
            match out.last_mut() {
                Some(last) if u128::from(a) <= u128::from(last.1) + 1 => last.1 = last.1.max(b),
                _ => out.push((a, b)),
            }
        }
        Model(out)
    }
    fn of(r: &RangeList) -> Model {
        Model::normalise(r.ranges().iter().map(|x| (x.s, x.e)).collect())
    }
    fn add(&mut self, s: u64, e: u64) {
        let mut v = self.0.clone();
        v.push((s, e));
        *self = Model::normalise(v);
    }
    fn remove(&mut self, s: u64, e: u64) {
        let mut out = Vec::new();
        for &(a, b) in &self.0 {
            if b < s || a > e {
                out.push((a, b));
                continue;
            }
            if a < s {
                out.push((a, s - 1));
            }
            if b > e {
                out.push((e + 1, b));
            }
        }
        self.0 = out;
    }
    fn covers(&self, s: u64, e: u64) -> bool {
        self.0.iter().any(|&(a, b)| a <= s && e <= b)
    }
    fn intersects(&self, s: u64, e: u64) -> bool {
        self.0.iter().any(|&(a, b)| a <= e && b >= s)
    }
    fn lowest_gap(&self, size: u64) -> Option<u64> {
        let size = u128::from(size);
        let mut start: u128 = 0;
        for &(a, b) in &self.0 {
            if u128::from(a) - start >= size {
                return Some(start as u64);
            }
            start = u128::from(b) + 1;
        }
        if (1u128 << 64) - start >= size {
            Some(start as u64)
        } else {
            None
        }
    }
    /// Does Xen's add need a new range on this (coalesced) set? Only if no range starts in
    /// (s, e] and the range at or below s ends before s - 1.
    fn add_needs_range(&self, s: u64, e: u64) -> bool {
        if self.0.iter().any(|&(a, _)| a > s && a <= e) {
            return false;
        }
        match self.0.iter().rfind(|&&(a, _)| a <= s) {
            None => true,
            Some(&(_, b)) => u128::from(b) + 1 < u128::from(s),
        }
    }
    fn remove_needs_range(&self, s: u64, e: u64) -> bool {
        self.0.iter().any(|&(a, b)| a < s && b > e)
    }
}

/// One fuzzed set plus what the checks know about it.
struct Slot {
    set: Rangeset<H>,
    model: Model,
    /// `budget + number of ranges`, constant between limit/swap.
    conserved: i64,
    /// claim_range has been used on these ranges: touching ranges allowed.
    claimed: bool,
}

impl Slot {
    fn new(name: Option<&[u8]>, hex: bool, d: Option<xen_ioreq_rs::platform::DomainRef>) -> Slot {
        let flags = if hex {
            RangesetFlags::PRETTYPRINT_HEX
        } else {
            RangesetFlags::empty()
        };
        let set = Rangeset::<H>::new(d, name, flags).expect("host allocation");
        Slot {
            set,
            model: Model::default(),
            conserved: -1,
            claimed: false,
        }
    }
    fn budget(&self) -> i64 {
        self.set.budget()
    }
    fn len(&self) -> usize {
        self.set.read().ranges().len()
    }
    fn coalesced(&self) -> bool {
        self.set.read().check_invariants(true).is_ok()
    }
    fn check(&self) {
        let budget = self.budget();
        let r = self.set.read();
        if let Err(why) = r.check_invariants(!self.claimed) {
            panic!("invariant: {why}: {:?}", r.ranges());
        }
        assert_eq!(Model::of(&r), self.model, "coverage differs from the model");
        assert_eq!(
            budget + r.ranges().len() as i64,
            self.conserved,
            "budget not conserved"
        );
    }
    fn recount(&mut self) {
        self.conserved = self.budget() + self.len() as i64;
    }
}

fn bounds(s: Val, len: u8) -> (u64, u64) {
    let s = s.get();
    (s, s.saturating_add(u64::from(len)))
}

fn add(sl: &mut Slot, s: u64, e: u64) {
    let before = sl.set.read().ranges().to_vec();
    let (budget, coalesced) = (sl.budget(), sl.coalesced());
    let needs = coalesced && sl.model.add_needs_range(s, e);
    match sl.set.add_range(s, e) {
        Ok(()) => {
            assert!(s <= e);
            assert!(!(needs && budget == 0), "add succeeded without budget");
            sl.model.add(s, e);
        }
        Err(err) => {
            assert_eq!(
                sl.set.read().ranges(),
                &before[..],
                "failed add changed the set"
            );
            if s > e {
                assert_eq!(err, Errno::EINVAL);
            } else {
                assert_eq!(err, Errno::ENOMEM);
                assert_eq!(budget, 0);
                assert!(
                    !coalesced || needs,
                    "-ENOMEM though no new range was needed"
                );
            }
        }
    }
}

fn remove(sl: &mut Slot, s: u64, e: u64) {
    let before = sl.set.read().ranges().to_vec();
    let (budget, coalesced) = (sl.budget(), sl.coalesced());
    // On touching ranges the model (which joins them) cannot tell a split from a two-range cut.
    let needs = s <= e && coalesced && sl.model.remove_needs_range(s, e);
    match sl.set.remove_range(s, e) {
        Ok(()) => {
            assert!(!(needs && budget == 0), "split without budget");
            sl.model.remove(s, e);
        }
        Err(err) => {
            assert_eq!(
                sl.set.read().ranges(),
                &before[..],
                "failed remove changed the set"
            );
            if s > e {
                assert_eq!(err, Errno::EINVAL);
            } else {
                assert_eq!(err, Errno::ENOMEM);
                assert_eq!(budget, 0);
                assert!(!coalesced || needs, "-ENOMEM though no split was needed");
            }
        }
    }
}

fn run(ops: Vec<Op>) {
    let d = HostDomain::create(1);
    domain_initialise::<H>(d).expect("host allocation");
    let mut slots = [
        Slot::new(Some(b"a"), true, Some(d)),
        Slot::new(None, false, None),
    ];
    for op in ops {
        match op {
            Op::Add { set, s, e } => add(&mut slots[set as usize], s.get(), e.get()),
            Op::AddLen { set, s, len } => {
                let (s, e) = bounds(s, len);
                add(&mut slots[set as usize], s, e)
            }
            Op::Remove { set, s, e } => remove(&mut slots[set as usize], s.get(), e.get()),
            Op::RemoveLen { set, s, len } => {
                let (s, e) = bounds(s, len);
                remove(&mut slots[set as usize], s, e)
            }
            Op::Contains { set, s, e } => {
                let sl = &slots[set as usize];
                let (s, e) = (s.get(), e.get());
                let got = sl.set.contains_range(s, e);
                if s > e {
                    assert!(!got);
                } else if sl.coalesced() {
                    assert_eq!(got, sl.model.covers(s, e));
                } else if got {
                    assert!(sl.model.covers(s, e));
                }
                assert_eq!(sl.set.contains_singleton(s), sl.model.covers(s, s));
            }
            Op::Overlaps { set, s, e } => {
                let sl = &slots[set as usize];
                let (s, e) = (s.get(), e.get());
                let got = sl.set.overlaps_range(s, e);
                assert_eq!(got, s <= e && sl.model.intersects(s, e));
            }
            Op::Report {
                set,
                s,
                e,
                stop_after,
            } => {
                let sl = &slots[set as usize];
                let (s, e) = (s.get(), e.get());
                let mut got = Vec::new();
                let rc = sl.set.report_ranges(s, e, |a, b| {
                    got.push((a, b));
                    if got.len() == usize::from(stop_after) {
                        -1
                    } else {
                        0
                    }
                });
                if s <= e && sl.coalesced() {
                    let mut want: Vec<(u64, u64)> = sl
                        .model
                        .0
                        .iter()
                        .filter(|&&(a, b)| a <= e && b >= s)
                        .map(|&(a, b)| (a.max(s), b.min(e)))
                        .collect();
                    if stop_after != 0 && want.len() >= usize::from(stop_after) {
                        want.truncate(usize::from(stop_after));
                        assert_eq!(rc, -1);
                    } else {
                        assert_eq!(rc, 0);
                    }
                    assert_eq!(got, want);
                }
            }
            Op::Claim { set, size } => {
                let sl = &mut slots[set as usize];
                let size = size.get();
                let before = sl.set.read().ranges().to_vec();
                let budget = sl.budget();
                let gap = if size == 0 {
                    None
                } else {
                    sl.model.lowest_gap(size)
                };
                match sl.set.claim_range(size) {
                    Ok(start) => {
                        assert_eq!(Some(start), gap, "claim found another gap");
                        sl.model.add(start, start + (size - 1));
                        sl.claimed = true;
                    }
                    Err(err) => {
                        assert_eq!(sl.set.read().ranges(), &before[..]);
                        if size == 0 {
                            assert_eq!(err, Errno::EINVAL);
                        } else if err == Errno::ENOMEM {
                            assert_eq!(budget, 0);
                            let g = gap.expect("ENOMEM only when a gap exists");
                            assert!(
                                before.first().is_none_or(|f| g < f.s),
                                "extension needed a range"
                            );
                        } else {
                            assert_eq!(err, Errno::ENOSPC);
                            assert_eq!(gap, None);
                        }
                    }
                }
            }
            Op::Consume {
                set,
                chunks,
                stop_after,
            } => {
                let sl = &mut slots[set as usize];
                let mut calls = 0usize;
                let mut taken = Vec::new();
                let rc = sl.set.consume_ranges(|s, e, c| {
                    // Without chunks, consume whole ranges (bounded: the set only shrinks).
                    let want = chunks
                        .get(calls % chunks.len().max(1))
                        .map_or(u64::MAX, |v| v.get());
                    calls += 1;
                    *c = want.min(e - s).saturating_add(u64::from(want > e - s));
                    taken.push((s, *c));
                    if calls >= usize::from(stop_after).max(1) || calls > 64 {
                        -85
                    } else {
                        0
                    }
                });
                assert!(rc == 0 || rc == -85);
                for (s, n) in taken {
                    if n > 0 {
                        sl.model.remove(s, s + (n - 1));
                    }
                }
            }
            Op::Limit { set, limit } => {
                let sl = &mut slots[set as usize];
                sl.set.limit(u32::from(limit));
                sl.recount();
            }
            Op::Merge { into_first } => {
                let (dst, src) = if into_first { (0, 1) } else { (1, 0) };
                let before = slots[dst].model.clone();
                let src_model = slots[src].model.clone();
                let src_claimed = slots[src].claimed;
                let (a, b) = slots.split_at_mut(1);
                let (d_sl, s_sl) = if into_first {
                    (&mut a[0], &b[0])
                } else {
                    (&mut b[0], &a[0])
                };
                let res = d_sl.set.merge(&s_sl.set);
                let mut union = before.clone();
                for &(x, y) in &src_model.0 {
                    union.add(x, y);
                }
                match res {
                    Ok(()) => d_sl.model = union,
                    Err(err) => {
                        assert_eq!(err, Errno::ENOMEM);
                        assert_eq!(d_sl.budget(), 0);
                        // Partial: at least the old values, at most the union.
                        let now = Model::of(&d_sl.set.read());
                        for &(x, y) in &before.0 {
                            assert!(now.covers(x, y));
                        }
                        for &(x, y) in &now.0 {
                            assert!(union.covers(x, y));
                        }
                        d_sl.model = now;
                    }
                }
                d_sl.claimed |= src_claimed;
            }
            Op::Swap => {
                let (a, b) = slots.split_at_mut(1);
                a[0].set.swap(&b[0].set);
                core::mem::swap(&mut a[0].model, &mut b[0].model);
                core::mem::swap(&mut a[0].claimed, &mut b[0].claimed);
                a[0].recount();
                b[0].recount();
            }
            Op::SelfMerge { set } => {
                let sl = &slots[set as usize];
                let before = sl.set.read().ranges().to_vec();
                assert_eq!(sl.set.merge(&sl.set), Ok(()));
                assert_eq!(sl.set.read().ranges(), &before[..]);
            }
            Op::SelfSwap { set } => {
                let sl = &slots[set as usize];
                let before = sl.set.read().ranges().to_vec();
                sl.set.swap(&sl.set);
                assert_eq!(sl.set.read().ranges(), &before[..]);
            }
            Op::Recreate { set, name, hex } => {
                let attach = if set { None } else { Some(d) };
                slots[set as usize] = Slot::new(Some(&name), hex, attach);
            }
            Op::Oom {
                set,
                kind,
                s,
                len,
                after,
            } => {
                let sl = &mut slots[set as usize];
                let (s, e) = bounds(s, len);
                let before = sl.set.read().ranges().to_vec();
                let budget = sl.budget();
                fail_allocations_after(Some(usize::from(after % 4)));
                let res = match kind % 3 {
                    0 => sl.set.add_range(s, e).map(|()| s),
                    1 => sl.set.remove_range(s, e).map(|()| s),
                    _ => sl.set.claim_range(u64::from(len) + 1),
                };
                fail_allocations_after(None);
                match res {
                    Ok(v) => match kind % 3 {
                        0 => sl.model.add(s, e),
                        1 => sl.model.remove(s, e),
                        _ => {
                            sl.model.add(v, v + u64::from(len));
                            sl.claimed = true;
                        }
                    },
                    Err(err) => {
                        if err == Errno::ENOSPC {
                            assert!(
                                kind % 3 == 2 && sl.model.lowest_gap(u64::from(len) + 1).is_none()
                            );
                        } else {
                            assert_eq!(err, Errno::ENOMEM, "only -ENOMEM can come from OOM here");
                        }
                        assert_eq!(sl.set.read().ranges(), &before[..], "OOM changed the set");
                        assert_eq!(sl.budget(), budget, "OOM changed the budget");
                    }
                }
            }
            Op::Print => {
                domain_printk::<H>(d);
                slots[1].set.printk();
                let out = take_console();
                assert!(out.starts_with("Rangesets belonging to domain 1:\n    "));
            }
        }
        for sl in &slots {
            sl.check();
        }
    }
    // SAFETY: teardown on this one thread: nothing uses the domain's Rust state any more
    // and nothing else runs on it.
    unsafe { domain_destroy::<H>(d) };
    drop(slots);
    HostDomain::destroy(d);
}

fuzz_target!(|ops: Vec<Op>| run(ops));
