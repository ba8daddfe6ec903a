//! The divergence oracle: applies each operation to the C and to the Rust, compares everything
//! observable (return values, out-parameters, callback calls, every touched set's ranges, the
//! domain's printk text), and classifies each difference by the fidelity ledger's IDs. After a
//! classified (or unexplained) divergence the C is rebuilt from the Rust's state, so the run
//! continues from identical states.

use std::collections::BTreeMap;
use std::ffi::CString;

use crate::model::{self, Ranges, RemoveDefects};
use crate::ops::{ConsumePlan, Op, SLOTS};
use crate::{Impl, Set};

/// The divergences this oracle recognises: FIDELITY.md's rangeset IDs, exactly.
pub const KNOWN: &[(&str, &str)] = &[
    (
        GROWTH,
        "remove_range spanning several ranges grows the range below the removed one",
    ),
    (
        WRAP,
        "remove_range spanning several ranges up to ~0UL wraps to a range starting at 0",
    ),
];

/// Ledger ID of Xen 4.17's remove_range growth defect.
pub const GROWTH: &str = "R1";
/// Ledger ID of Xen 4.17's remove_range wrap at ~0UL.
pub const WRAP: &str = "R2";

/// The `R<n>` IDs of FIDELITY.md's rangeset section (headings `### R<n>: title`).
pub fn ledger_ids(fidelity_md: &str) -> Vec<String> {
    fidelity_md
        .lines()
        .filter_map(|l| l.strip_prefix("### R"))
        .filter_map(|rest| {
            let (num, _) = rest.split_once(':')?;
            (!num.is_empty() && num.chars().all(|c| c.is_ascii_digit())).then(|| format!("R{num}"))
        })
        .collect()
}

/// Counters of a run.
#[derive(Default, Debug)]
pub struct Stats {
    pub ops: u64,
    pub unexplained: u64,
    /// How often each known divergence was seen.
    pub observed: BTreeMap<&'static str, u64>,
    /// Details of the first unexplained divergences.
    pub reports: Vec<String>,
}

impl Stats {
    pub fn merge(&mut self, o: Stats) {
        self.ops += o.ops;
        self.unexplained += o.unexplained;
        for (k, v) in o.observed {
            *self.observed.entry(k).or_default() += v;
        }
        for r in o.reports {
            if self.reports.len() < 10 {
                self.reports.push(r);
            }
        }
    }
}

/// What one implementation did in one operation.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Return values (one per underlying call; booleans as 0/1).
    pub rcs: Vec<i64>,
    /// Callback invocations (report/consume) and out-parameters (claim).
    pub calls: Vec<(u64, u64)>,
    /// printk text.
    pub text: String,
    /// Ranges of each touched slot afterwards, in list order.
    pub after: Vec<(u8, Ranges)>,
}

/// The synchronised state of one slot (identical on both sides).
struct Slot<C: Impl, R: Impl> {
    c: Set,
    r: Set,
    attached: bool,
    name_arg: Option<CString>,
    name: String,
    hex: bool,
    ranges: Ranges,
    /// Range budget counter + live ranges: invariant except under limit and swap, so it gives
    /// the C's internal counter when the C must be rebuilt.
    base: i64,
    /// Creation order (the domain lists sets newest first).
    seq: u64,
    _p: core::marker::PhantomData<(C, R)>,
}

/// Runs operations on both implementations.
pub struct Driver<C: Impl, R: Impl> {
    c: C,
    r: R,
    domid: u16,
    slots: Vec<Option<Slot<C, R>>>,
    seq: u64,
    pub stats: Stats,
    /// Compare the full domain printk after every operation while the sets are this small.
    pub printk_every_op_below: usize,
}

const CLAIM_SENTINEL: u64 = 0x5eed_5eed_5eed_5eed;

impl<C: Impl, R: Impl> Driver<C, R> {
    pub fn new(domid: u16) -> Self {
        Driver {
            c: C::new(domid),
            r: R::new(domid),
            domid,
            slots: (0..SLOTS).map(|_| None).collect(),
            seq: 0,
            stats: Stats::default(),
            printk_every_op_below: 64,
        }
    }

    fn live(&self, slot: u8) -> bool {
        self.slots[usize::from(slot)].is_some()
    }

    fn slot(&self, slot: u8) -> &Slot<C, R> {
        self.slots[usize::from(slot)].as_ref().expect("live slot")
    }

    /// Makes `op` applicable: creates the sets it names that do not exist yet (counted as ops).
    fn prepare(&mut self, op: &Op) {
        let needs = op.uses();
        for s in needs {
            if !self.live(s) {
                self.step(&Op::New {
                    slot: s,
                    attach: true,
                    name: crate::ops::NameKind::Short,
                    hex: s % 2 == 0,
                });
            }
        }
    }

    /// Applies one operation to both and compares; returns false on an unexplained divergence.
    pub fn step(&mut self, op: &Op) -> bool {
        self.prepare(op);
        if let Op::New { slot, .. } = *op {
            if self.live(slot) {
                self.step(&Op::Destroy { slot });
            }
        }
        self.stats.ops += 1;
        let pre: Vec<(u8, Ranges)> = op
            .touched()
            .into_iter()
            .filter(|&s| self.live(s))
            .map(|s| (s, self.slot(s).ranges.clone()))
            .collect();

        let (oc, cs) = run(&mut self.c, op, &self.slots, |sl| sl.c);
        let (or, rs) = run(&mut self.r, op, &self.slots, |sl| sl.r);
        let new_sets = match (cs, rs) {
            (Some(c), Some(r)) => Some((c, r)),
            (None, None) => None,
            _ => {
                // One side failed to allocate a set: cannot continue this sequence sensibly.
                panic!("rangeset_new: C gave {cs:?}, Rust gave {rs:?}");
            }
        };
        self.apply_bookkeeping(op, new_sets, &pre);

        let oc = self.read_after(oc, op, true);
        let or = self.read_after(or, op, false);
        let mut ok = true;
        if oc != or {
            match classify(op, &pre, &oc, &or) {
                Ok(ids) => {
                    for id in ids {
                        *self.stats.observed.entry(id).or_default() += 1;
                    }
                }
                Err(why) => {
                    ok = false;
                    self.unexplained(op, &pre, &oc, &or, &why);
                }
            }
        }
        for (s, ranges) in or.after {
            if let Some(sl) = self.slots[usize::from(s)].as_mut() {
                sl.ranges = ranges;
            }
        }
        if oc.after != self.current(op) {
            self.rebuild_c();
        }
        if ok {
            ok = self.check_printk(op);
        }
        ok
    }

    fn current(&self, op: &Op) -> Vec<(u8, Ranges)> {
        op.touched()
            .into_iter()
            .filter(|&s| self.live(s))
            .map(|s| (s, self.slot(s).ranges.clone()))
            .collect()
    }

    fn read_after(&mut self, mut o: Outcome, op: &Op, c_side: bool) -> Outcome {
        for s in op.touched() {
            if let Some(sl) = self.slots[usize::from(s)].as_ref() {
                let r = if c_side {
                    self.c.ranges(sl.c)
                } else {
                    self.r.ranges(sl.r)
                };
                o.after.push((s, r));
            }
        }
        o
    }

    /// Slot bookkeeping that does not depend on the outcome: creation, destruction, budgets.
    fn apply_bookkeeping(&mut self, op: &Op, new_sets: Option<(Set, Set)>, pre: &[(u8, Ranges)]) {
        let live_pre = |s: u8| -> i64 {
            pre.iter()
                .find(|(t, _)| *t == s)
                .map_or(0, |(_, r)| r.len() as i64)
        };
        match *op {
            Op::New {
                slot,
                attach,
                name,
                hex,
            } => {
                if let Some((c, r)) = new_sets {
                    let bytes = name.bytes(slot);
                    self.seq += 1;
                    self.slots[usize::from(slot)] = Some(Slot {
                        c,
                        r,
                        attached: attach,
                        name: model::stored_name(bytes.as_deref()),
                        name_arg: bytes.map(|b| CString::new(b).expect("no NUL in names")),
                        hex,
                        ranges: Vec::new(),
                        base: -1,
                        seq: self.seq,
                        _p: core::marker::PhantomData,
                    });
                }
            }
            Op::Destroy { slot } => self.slots[usize::from(slot)] = None,
            Op::DomainDestroy => {
                for s in self.slots.iter_mut() {
                    if s.as_ref().is_some_and(|s| s.attached) {
                        *s = None;
                    }
                }
            }
            Op::Limit { slot, limit } => {
                let l = live_pre(slot);
                if let Some(sl) = self.slots[usize::from(slot)].as_mut() {
                    sl.base = i64::from(limit) + l;
                }
            }
            Op::Swap { a, b } => {
                let (la, lb) = (live_pre(a), live_pre(b));
                let ca = self.slot(a).base - la;
                let cb = self.slot(b).base - lb;
                self.slots[usize::from(a)].as_mut().expect("live").base = ca + lb;
                self.slots[usize::from(b)].as_mut().expect("live").base = cb + la;
            }
            _ => {}
        }
    }

    /// Compares both domains' printk text with the text the synchronised state must give.
    fn check_printk(&mut self, op: &Op) -> bool {
        let total: usize = self.slots.iter().flatten().map(|s| s.ranges.len()).sum();
        if total >= self.printk_every_op_below && !matches!(op, Op::DomainPrintk) {
            return true;
        }
        let mut sets: Vec<&Slot<C, R>> = self.slots.iter().flatten().filter(|s| s.attached).collect();
        sets.sort_by_key(|s| std::cmp::Reverse(s.seq));
        let view: Vec<(&str, bool, &[(u64, u64)])> = sets
            .iter()
            .map(|s| (s.name.as_str(), s.hex, s.ranges.as_slice()))
            .collect();
        let want = model::format_domain(self.domid, &view);
        let c = self.c.domain_printk();
        let r = self.r.domain_printk();
        if c == want && r == want {
            return true;
        }
        self.stats.unexplained += 1;
        if self.stats.reports.len() < 10 {
            self.stats.reports.push(format!(
                "domain printk after {op:?} differs:\n  expected {want:?}\n  C        {c:?}\n  Rust     {r:?}"
            ));
        }
        false
    }

    fn unexplained(&mut self, op: &Op, pre: &[(u8, Ranges)], oc: &Outcome, or: &Outcome, why: &str) {
        self.stats.unexplained += 1;
        if self.stats.reports.len() < 10 {
            self.stats.reports.push(format!(
                "UNEXPLAINED divergence ({why}) in {op:?}\n  before: {pre:?}\n  C:    {oc:?}\n  Rust: {or:?}"
            ));
        }
    }

    /// Rebuilds every C set from the synchronised state, recreating attached sets oldest first so
    /// the domain lists them in the same order, with the same budget counters.
    fn rebuild_c(&mut self) {
        let mut order: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].is_some())
            .collect();
        order.sort_by_key(|&i| self.slots[i].as_ref().map(|s| s.seq));
        for &i in &order {
            let sl = self.slots[i].as_ref().expect("live");
            self.c.destroy(Some(sl.c));
        }
        for &i in &order {
            let sl = self.slots[i].as_ref().expect("live");
            let tmp = self.c.rangeset_new(false, None, 0).expect("C: out of memory");
            for &(s, e) in &sl.ranges {
                assert_eq!(self.c.add_range(tmp, s, e), 0, "rebuild: add to an unlimited set");
            }
            let flags = if sl.hex { crate::PRETTYPRINT_HEX } else { 0 };
            let set = self
                .c
                .rangeset_new(sl.attached, sl.name_arg.as_deref(), flags)
                .expect("C: out of memory");
            let counter = sl.base - sl.ranges.len() as i64;
            if counter >= 0 {
                self.c
                    .limit(set, u32::try_from(counter).expect("budget counter fits the C's limit"));
            } else {
                // A fresh set counts -1; each extra range allocated lowers it by one.
                for k in 0..(-1 - counter) as u64 {
                    assert_eq!(self.c.add_singleton(set, 2 * k), 0, "rebuild: dummy range");
                }
            }
            self.c.swap(set, tmp);
            self.c.destroy(Some(tmp));
            let got = self.c.ranges(set);
            assert_eq!(got, sl.ranges, "rebuild of C slot {i} failed");
            self.slots[i].as_mut().expect("live").c = set;
        }
    }

    /// Runs `n` operations from `e`, resetting the domain every `episode` operations.
    pub fn run_ops(&mut self, e: &mut impl crate::ops::Entropy, n: u64, big: bool) {
        let trace = std::env::var_os("DIFFTEST_TRACE").is_some();
        for _ in 0..n {
            let op = crate::ops::op(e, big);
            if trace {
                eprintln!("op {op:?}");
            }
            self.step(&op);
        }
    }
}

impl<C: Impl, R: Impl> Drop for Driver<C, R> {
    fn drop(&mut self) {
        for s in self.slots.iter_mut().filter_map(Option::take) {
            if !s.attached {
                self.c.destroy(Some(s.c));
                self.r.destroy(Some(s.r));
            }
        }
        // Attached sets go with the domains (Impl's drop runs rangeset_domain_destroy).
    }
}

/// Runs `op` on one implementation; returns its outcome and, for New, the set created.
fn run<I: Impl, C: Impl, R: Impl>(
    imp: &mut I,
    op: &Op,
    slots: &[Option<Slot<C, R>>],
    pick: impl Fn(&Slot<C, R>) -> Set,
) -> (Outcome, Option<Set>) {
    let set = |s: u8| pick(slots[usize::from(s)].as_ref().expect("prepared slot"));
    let opt = |s: Option<u8>| s.map(set);
    let mut o = Outcome::default();
    let mut created = None;
    let b = |v: bool| i64::from(v);
    match *op {
        Op::New {
            slot,
            attach,
            name,
            hex,
        } => {
            let bytes = name.bytes(slot).map(|b| CString::new(b).expect("no NUL"));
            let flags = if hex { crate::PRETTYPRINT_HEX } else { 0 };
            created = imp.rangeset_new(attach, bytes.as_deref(), flags);
            o.rcs.push(b(created.is_some()));
        }
        Op::Destroy { slot } => imp.destroy(Some(set(slot))),
        Op::DestroyNull => imp.destroy(None),
        Op::Limit { slot, limit } => imp.limit(set(slot), limit),
        Op::IsEmpty { slot } => o.rcs.push(b(imp.is_empty(opt(slot)))),
        Op::Add { slot, s, e } => o.rcs.push(imp.add_range(set(slot), s, e).into()),
        Op::AddSingleton { slot, s } => o.rcs.push(imp.add_singleton(set(slot), s).into()),
        Op::Remove { slot, s, e } => o.rcs.push(imp.remove_range(set(slot), s, e).into()),
        Op::RemoveSingleton { slot, s } => o.rcs.push(imp.remove_singleton(set(slot), s).into()),
        Op::Contains { slot, s, e } => o.rcs.push(b(imp.contains_range(opt(slot), s, e))),
        Op::ContainsSingleton { slot, s } => o.rcs.push(b(imp.contains_singleton(opt(slot), s))),
        Op::Overlaps { slot, s, e } => o.rcs.push(b(imp.overlaps_range(opt(slot), s, e))),
        Op::Claim { slot, size } => {
            let (rc, out) = imp.claim_range(set(slot), size, CLAIM_SENTINEL);
            o.rcs.push(rc.into());
            o.calls.push((out, 0));
        }
        Op::Report {
            slot,
            s,
            e,
            stop_at,
            rc,
        } => {
            let mut calls = Vec::new();
            let r = imp.report_ranges(set(slot), s, e, &mut |a, z| {
                calls.push((a, z));
                // Bounded: a broken implementation must not run forever.
                if calls.len() == usize::from(stop_at) || calls.len() > 100_000 {
                    rc
                } else {
                    0
                }
            });
            o.rcs.push(r.into());
            o.calls = calls;
        }
        Op::Consume { slot, plan } => {
            let mut calls = Vec::new();
            let r = imp.consume_ranges(set(slot), &mut |a, z, consumed| {
                calls.push((a, z));
                consume_step(plan, calls.len(), a, z, consumed)
            });
            o.rcs.push(r.into());
            o.calls = calls;
        }
        Op::Merge { dst, src } => o.rcs.push(imp.merge(set(dst), set(src)).into()),
        Op::Swap { a, b } => imp.swap(set(a), set(b)),
        Op::Fill {
            slot,
            start,
            count,
            stride,
            len,
        } => {
            for i in 0..u64::from(count) {
                let Some(s) = i.checked_mul(stride).and_then(|o| start.checked_add(o)) else {
                    break;
                };
                o.rcs.push(imp.add_range(set(slot), s, s.saturating_add(len)).into());
            }
        }
        Op::DomainPrintk => o.text = imp.domain_printk(),
        Op::DomainDestroy => imp.domain_destroy(),
    }
    (o, created)
}

/// The consume callback's `call`-th (1-based) invocation on [a, z]: how much it consumes (never
/// more than the C's ASSERT allows: `z - a + 1`, computed modulo 2^64) and what it returns.
pub fn consume_step(plan: ConsumePlan, call: usize, a: u64, z: u64, consumed: &mut u64) -> i32 {
    let len = z.wrapping_sub(a).wrapping_add(1); // 0 for [0, ~0]
    let amount = match plan.amount {
        0 => len,
        1 => len / 2 + (len & 1),
        2 => len.min(1),
        3 => 0,
        _ => len.saturating_sub(1),
    };
    *consumed = amount;
    if amount == 0 || call >= usize::from(plan.calls) || call > 1000 {
        plan.stop_rc
    } else {
        0
    }
}

/// Explains a difference between the C's and the Rust's outcome of `op` by the ledger's IDs, or
/// says why it cannot.
pub fn classify(
    op: &Op,
    pre: &[(u8, Ranges)],
    oc: &Outcome,
    or: &Outcome,
) -> Result<Vec<&'static str>, String> {
    if let Op::Remove { slot, s, e } = *op {
        let Some((_, before)) = pre.iter().find(|(t, _)| *t == slot) else {
            return Err("no state before".into());
        };
        let correct = model::remove(before, s, e, RemoveDefects::default());
        let rust_after = or.after.iter().find(|(t, _)| *t == slot).map(|(_, r)| r);
        let c_after = oc.after.iter().find(|(t, _)| *t == slot).map(|(_, r)| r);
        if or.rcs != [0] || oc.rcs != [0] || rust_after != Some(&correct) {
            return Err("Rust result is not the correct removal".into());
        }
        // The smallest combination of the C's known defects that yields what the C did.
        for (grow, wrap) in [(true, false), (false, true), (true, true)] {
            let d = RemoveDefects {
                grows_lower_neighbour: grow,
                wraps_at_max: wrap,
            };
            if c_after == Some(&model::remove(before, s, e, d)) {
                let mut ids = Vec::new();
                if grow && model::defect_applies(before, s, e, RemoveDefects { wraps_at_max: false, ..d }) {
                    ids.push(GROWTH);
                }
                if wrap && model::defect_applies(before, s, e, RemoveDefects { grows_lower_neighbour: false, ..d }) {
                    ids.push(WRAP);
                }
                if !ids.is_empty() {
                    return Ok(ids);
                }
            }
        }
        return Err("C result matches no known removal defect".into());
    }
    Err("no known divergence for this operation".into())
}
