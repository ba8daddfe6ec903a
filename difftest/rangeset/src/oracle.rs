//! The divergence oracle: applies each operation to the C and to the Rust, compares everything
//! observable (return values, out-parameters, callback calls, every touched set's ranges, the
//! domain's printk text), and classifies each difference by the fidelity ledger's IDs. After a
//! classified (or unexplained) divergence the C is rebuilt from the Rust's state, so the run
//! continues from identical states.

use std::collections::BTreeMap;
use std::ffi::CString;

use crate::model::{self, Ranges, RemoveDefects};
use crate::ops::{Inner, NullCall, Op, Outer, SLOTS};
use crate::{Impl, Set};

/// The divergences this oracle recognises: FIDELITY.md's rangeset IDs, exactly, each with what
/// the oracle checks.
pub const KNOWN: &[(&str, &str)] = &[
    (
        GROWTH,
        "remove_range spanning ranges: the C grows the range below s",
    ),
    (
        WRAP,
        "remove_range spanning ranges up to ~0UL: the C keeps a range [0, end]",
    ),
    (
        REPORT_2014,
        "2014-only: confirmed identical here (4.17 reports from below the first range too)",
    ),
    (
        REVERSED,
        "s > e: the C ASSERTs (not run); the Rust gives -EINVAL / false, unchanged",
    ),
    (
        RWLOCK_2014,
        "2014-only (adea5dca0d): callbacks querying their own set agree with 4.17 (the series \
         deadlocked)",
    ),
    (
        INT_RETURNS_2014,
        "ABI (c44d96190f): the Rust's boolean queries read as the series' int (all of %eax) are \
         0/1 and equal 4.17's bool",
    ),
    (
        NULL_QUERIES_2014,
        "2014-only (ad0a9f273d): queries of a NULL set give false/true as 4.17 (the series \
         dereferenced it)",
    ),
    (
        UNINIT_DESTROY_2014,
        "2014-only (da3bd81118): destroying a never-initialised domain's list does nothing, as \
         4.17 (the series crashed)",
    ),
    (
        ADDED_SINCE_2014,
        "2014-only (770e5c7f62, ccd12ff648, 761de0b892): claim/consume/merge, absent from the \
         series, agree with 4.17",
    ),
    (
        CLAIM_EMPTY,
        "claim_range on an empty set: the C gives -ENOSPC; the Rust claims from 0",
    ),
    (
        CLAIM_ZERO,
        "claim_range of size 0: the C inserts [0, ~0UL]; the Rust gives -EINVAL",
    ),
    (
        CONSUME_WRAP,
        "consume_ranges exhausting a range ending at ~0UL: the C keeps [0, ~0UL]",
    ),
    (
        SELF,
        "merge/swap of a set with itself: the C deadlocks (not run); the Rust does nothing",
    ),
    (
        BAD_FLAGS,
        "rangeset_new with unknown flags: the C BUG()s (not run); the Rust gives NULL",
    ),
    (
        NOT_UTF8,
        "printk of a name that is not UTF-8: the Rust prints U+FFFD for bad bytes",
    ),
    (
        NULLS,
        "NULL where the C dereferences (not run): the Rust gives -EINVAL or does nothing",
    ),
    (
        OOM,
        "allocation failure: the C fails every new range; the Rust only when its vector grows",
    ),
    (
        DOMAIN_LIST,
        "rangeset_new on a destroyed domain: the C links the set in; the Rust gives NULL",
    ),
    (
        REINIT,
        "rangeset_domain_initialise of a domain holding sets: the C orphans them (not run); the \
         Rust changes nothing",
    ),
];

/// Xen 4.17's remove_range growth defect.
pub const GROWTH: &str = "R1";
/// Xen 4.17's remove_range wrap at ~0UL.
pub const WRAP: &str = "R2";
/// Reversed ranges (s > e).
pub const REVERSED: &str = "R4";
/// claim_range on an empty set.
pub const CLAIM_EMPTY: &str = "R5";
/// claim_range of size 0.
pub const CLAIM_ZERO: &str = "R6";
/// consume_ranges at ~0UL.
pub const CONSUME_WRAP: &str = "R7";
/// merge/swap with itself.
pub const SELF: &str = "R8";
/// Names that are not UTF-8 in printk.
pub const NOT_UTF8: &str = "R10";
/// The 2014 series' report_ranges bug: not a divergence from 4.17; observed as agreement.
pub const REPORT_2014: &str = "R3";
/// rangeset_new with unknown flags.
pub const BAD_FLAGS: &str = "R9";
/// The series' spinlock became an rwlock (adea5dca0d): callbacks may query their own set.
pub const RWLOCK_2014: &str = "R14";
/// The series' `int` queries became `bool` (c44d96190f): the ABI answer.
pub const INT_RETURNS_2014: &str = "R15";
/// Queries tolerate a NULL set (ad0a9f273d).
pub const NULL_QUERIES_2014: &str = "R16";
/// rangeset_domain_destroy of a never-initialised domain (da3bd81118).
pub const UNINIT_DESTROY_2014: &str = "R17";
/// claim/consume/merge, added after the series.
pub const ADDED_SINCE_2014: &str = "R18";
/// NULL arguments.
pub const NULLS: &str = "R11";
/// Real allocation failure.
pub const OOM: &str = "R12";
/// Per-domain lists.
pub const DOMAIN_LIST: &str = "R13";
/// Initialising a domain's list again while it holds sets.
pub const REINIT: &str = "R19";

const EINVAL: i64 = -22;
const ENOMEM: i64 = -12;
const ENOSPC: i64 = -28;

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
    /// The most ranges one set held.
    pub max_ranges: usize,
    /// Re-entrant calls compared, by "walk/inner/same|other" (made calls only).
    pub reentries: BTreeMap<String, u64>,
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
        self.max_ranges = self.max_ranges.max(o.max_ranges);
        for (k, v) in o.reentries {
            *self.reentries.entry(k).or_default() += v;
        }
    }

    /// Re-entrant calls compared: (total, on the walked set, on another set, walks of each kind
    /// `[report, consume]`, distinct inner functions).
    pub fn reentry_summary(&self) -> (u64, u64, u64, [u64; 2], usize) {
        let (mut same, mut other, mut walks) = (0, 0, [0, 0]);
        let mut inner = std::collections::BTreeSet::new();
        for (k, v) in &self.reentries {
            let mut it = k.split('/');
            let (w, f, t) = (it.next(), it.next(), it.next());
            walks[usize::from(w == Some("consume"))] += v;
            inner.insert(f.unwrap_or_default().to_owned());
            if t == Some("same") {
                same += v;
            } else {
                other += v;
            }
        }
        (same + other, same, other, walks, inner.len())
    }
}

/// What one implementation did in one operation.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Outcome {
    /// Return values (one per underlying call; booleans as 0/1).
    pub rcs: Vec<i64>,
    /// Callback invocations (report/consume) and out-parameters (claim).
    pub calls: Vec<(u64, u64)>,
    /// printk bytes.
    pub text: Vec<u8>,
    /// Ranges of each touched slot afterwards, in list order.
    pub after: Vec<(u8, Ranges)>,
}

impl Outcome {
    fn after_of(&self, slot: u8) -> Option<&Ranges> {
        self.after.iter().find(|(t, _)| *t == slot).map(|(_, r)| r)
    }
}

/// The synchronised state of one slot (identical on both sides).
struct Slot {
    c: Set,
    r: Set,
    attached: bool,
    name_arg: Option<CString>,
    name: Vec<u8>,
    hex: bool,
    ranges: Ranges,
    /// Range budget counter + live ranges: invariant except under limit and swap, so it gives
    /// the implementations' internal counter (needed to predict -ENOMEM and to rebuild the C).
    base: i64,
    /// Creation order (the domain lists sets newest first).
    seq: u64,
}

/// The state of the slots an operation touches, before it.
#[derive(Clone, Debug)]
pub struct Before {
    pub ranges: Vec<(u8, Ranges)>,
    /// Budget counter (`nr_ranges`) of each of those slots.
    pub counters: Vec<(u8, i64)>,
}

impl Before {
    fn ranges_of(&self, slot: u8) -> Option<&Ranges> {
        self.ranges.iter().find(|(t, _)| *t == slot).map(|(_, r)| r)
    }
    fn counter_of(&self, slot: u8) -> i64 {
        self.counters
            .iter()
            .find(|(t, _)| *t == slot)
            .map_or(-1, |(_, c)| *c)
    }
}

/// Runs operations on both implementations.
pub struct Driver<C: Impl, R: Impl> {
    c: C,
    r: R,
    domid: u16,
    slots: Vec<Option<Slot>>,
    seq: u64,
    pub stats: Stats,
    /// Compare the full domain printk after every operation while the sets hold fewer ranges
    /// (after every 16th beyond).
    pub printk_every_op_below: usize,
    /// Print every operation to stderr (env DIFFTEST_TRACE).
    pub trace: bool,
    /// rangeset_domain_destroy ran (and no rangeset_domain_initialise since).
    destroyed: bool,
}

const CLAIM_SENTINEL: u64 = 0x5eed_5eed_5eed_5eed;
/// What an over-consuming callback returns (it stops after one call).
const CONSUME_OVER_RC: i32 = -7;

impl<C: Impl, R: Impl> Driver<C, R> {
    pub fn new(domid: u16) -> Self {
        Driver {
            c: C::new(domid),
            r: R::new(domid),
            domid,
            slots: (0..SLOTS).map(|_| None).collect(),
            seq: 0,
            stats: Stats::default(),
            printk_every_op_below: 32,
            trace: std::env::var_os("DIFFTEST_TRACE").is_some(),
            destroyed: false,
        }
    }

    /// The second implementation (e.g. to configure a test double).
    pub fn r_mut(&mut self) -> &mut R {
        &mut self.r
    }

    fn live(&self, slot: u8) -> bool {
        self.slots[usize::from(slot)].is_some()
    }

    fn slot(&self, slot: u8) -> &Slot {
        self.slots[usize::from(slot)].as_ref().expect("live slot")
    }

    fn slot_mut(&mut self, slot: u8) -> &mut Slot {
        self.slots[usize::from(slot)].as_mut().expect("live slot")
    }

    /// Makes `op` applicable: creates the sets it names that do not exist yet (counted as ops).
    fn prepare(&mut self, op: &Op) {
        for s in op.uses() {
            if !self.live(s) {
                self.step(&Op::New {
                    slot: s,
                    // A destroyed domain takes no sets (R13): make a free-standing one.
                    attach: !self.destroyed,
                    name: crate::ops::NameKind::Short,
                    hex: s % 2 == 0,
                });
            }
        }
        if let Op::New { slot, .. } = *op {
            if self.live(slot) {
                self.step(&Op::Destroy { slot });
            }
        }
    }

    /// Applies one operation to both and compares; returns false on an unexplained divergence.
    pub fn step(&mut self, op: &Op) -> bool {
        // A new set inside a callback goes on the domain only while it has a list (R13 is the
        // top-level operations' business).
        let normalised;
        let op = match *op {
            Op::Reenter {
                slot,
                outer,
                at,
                inner: Inner::New { attach: true },
                target,
                partner,
            } if self.destroyed => {
                normalised = Op::Reenter {
                    slot,
                    outer,
                    at,
                    inner: Inner::New { attach: false },
                    target,
                    partner,
                };
                &normalised
            }
            _ => op,
        };
        self.prepare(op);
        if !self.reentry_runs_on_c(op) {
            return true; // not generated: the C would deadlock, use freed memory, or corrupt
        }
        let rust_only = self.rust_only(op);
        if rust_only && !R::ACCEPTS_INVALID {
            return true;
        }
        if self.trace {
            eprintln!("op {op:?}");
        }
        self.stats.ops += 1;
        let touched: Vec<u8> = op.touched().into_iter().filter(|&s| self.live(s)).collect();
        let before = Before {
            ranges: touched
                .iter()
                .map(|&s| (s, self.slot(s).ranges.clone()))
                .collect(),
            counters: touched
                .iter()
                .map(|&s| (s, self.slot(s).base - self.slot(s).ranges.len() as i64))
                .collect(),
        };

        let (oc, cs) = if rust_only {
            (Outcome::default(), None)
        } else {
            run(&mut self.c, op, &self.slots, |sl| sl.c)
        };
        let (or, rs) = run(&mut self.r, op, &self.slots, |sl| sl.r);
        let mut verdict = None;
        let new_sets = match (cs, rs) {
            (Some(c), Some(r)) => Some((c, r)),
            (None, None) => None,
            (Some(c), None) if self.destroyed && matches!(op, Op::New { attach: true, .. }) => {
                // R13: the C links the set into the emptied list; the Rust has no list any more.
                self.c.destroy(Some(c));
                verdict = Some(Ok(vec![DOMAIN_LIST]));
                None
            }
            (c, r) => {
                // Unexplained: drop whatever was created and go on without the set.
                if c.is_some() {
                    self.c.destroy(c);
                }
                if r.is_some() {
                    self.r.destroy(r);
                }
                verdict = Some(Err(format!("rangeset_new: C gave {c:?}, Rust gave {r:?}")));
                None
            }
        };
        let made = or.rcs.get(1) == Some(&1);
        if let Op::Reenter {
            slot,
            outer,
            inner,
            target,
            ..
        } = *op
        {
            if made && matches!(op, Op::Reenter { .. }) {
                let walk = if outer == Outer::Consume {
                    "consume"
                } else {
                    "report"
                };
                let name = format!("{inner:?}");
                let name = name.split([' ', '(']).next().unwrap_or_default();
                let on = if inner.uses_target() && target != slot {
                    "other"
                } else {
                    "same"
                };
                *self
                    .stats
                    .reentries
                    .entry(format!("{walk}/{name}/{on}"))
                    .or_default() += 1;
            }
        }
        self.apply_bookkeeping(op, new_sets, &before, made);
        match op {
            Op::DomainDestroy => self.destroyed = true,
            Op::DomainInitialise => self.destroyed = false,
            Op::Reenter {
                inner: Inner::DomainDestroy,
                ..
            } if made => self.destroyed = true,
            Op::Reenter {
                inner: Inner::DomainInitialise,
                ..
            } if made => self.destroyed = false,
            _ => {}
        }

        let oc = self.read_after(oc, op, true);
        let or = self.read_after(or, op, false);
        let mut ok = true;
        let verdict = if let Some(v) = verdict {
            v
        } else if rust_only {
            expect_rust_only(op, &before, &or)
        } else if oc != or {
            self.classify_oom(op, &before, &oc, &or)
                .unwrap_or_else(|| classify(op, &before, &oc, &or))
        } else {
            Ok(self.agreement(op, &oc))
        };
        match verdict {
            Ok(ids) => {
                for id in ids {
                    *self.stats.observed.entry(id).or_default() += 1;
                }
            }
            Err(why) => {
                ok = false;
                self.unexplained(op, &before, &oc, &or, &why);
            }
        }
        // The Rust's state becomes the synchronised state; the C is rebuilt if it differs.
        for (s, ranges) in &or.after {
            if let Some(sl) = self.slots[usize::from(*s)].as_mut() {
                sl.ranges = ranges.clone();
            }
        }
        let synced: Vec<(u8, Ranges)> = op
            .touched()
            .into_iter()
            .filter(|&s| self.live(s))
            .map(|s| (s, self.slot(s).ranges.clone()))
            .collect();
        if oc.after != synced {
            self.rebuild_c();
        }
        for sl in self.slots.iter().flatten() {
            self.stats.max_ranges = self.stats.max_ranges.max(sl.ranges.len());
        }
        if ok {
            ok = self.check_printk(op);
        }
        if ok && self.stats.ops.is_multiple_of(64) {
            ok = self.check_all_slots(op);
        }
        ok
    }

    /// Every set, touched by the last operation or not, on both sides, against the synchronised
    /// state (catches an operation that changes a set it was not given).
    fn check_all_slots(&mut self, op: &Op) -> bool {
        for i in 0..self.slots.len() {
            let Some(sl) = self.slots[i].as_ref() else {
                continue;
            };
            let (cs, rs, want) = (sl.c, sl.r, sl.ranges.clone());
            let c = self.c.ranges(cs);
            let r = self.r.ranges(rs);
            if c != want || r != want {
                self.stats.unexplained += 1;
                if self.stats.reports.len() < 10 {
                    self.stats.reports.push(format!(
                        "slot {i} changed behind the oracle's back (last op {op:?}):\n  \
                         expected {want:?}\n  C    {c:?}\n  Rust {r:?}"
                    ));
                }
                self.rebuild_c();
                return false;
            }
        }
        true
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
    fn apply_bookkeeping(
        &mut self,
        op: &Op,
        new_sets: Option<(Set, Set)>,
        before: &Before,
        made: bool,
    ) {
        let live_pre = |s: u8| before.ranges_of(s).map_or(0, |r| r.len() as i64);
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
                self.slot_mut(slot).base = i64::from(limit) + live_pre(slot);
            }
            Op::Swap { a, b }
            | Op::Reenter {
                inner: Inner::Swap,
                target: a,
                partner: b,
                ..
            } if made || matches!(op, Op::Swap { .. }) => {
                let ca = before.counter_of(a);
                let cb = before.counter_of(b);
                self.slot_mut(a).base = ca + live_pre(b);
                self.slot_mut(b).base = cb + live_pre(a);
            }
            Op::Reenter {
                inner: Inner::Destroy,
                target,
                ..
            } if made => self.slots[usize::from(target)] = None,
            Op::Reenter {
                inner: Inner::DomainDestroy,
                ..
            } if made => {
                for s in self.slots.iter_mut() {
                    if s.as_ref().is_some_and(|s| s.attached) {
                        *s = None;
                    }
                }
            }
            Op::Reenter {
                slot,
                outer,
                at,
                inner: Inner::Limit(limit),
                target,
                ..
            } if made => {
                // The ranges the target held when the callback ran: a consume walk of the same
                // set has freed one whole range per earlier invocation.
                let freed = if target == slot && outer == Outer::Consume {
                    i64::from(at) - 1
                } else {
                    0
                };
                self.slot_mut(target).base = i64::from(limit) + live_pre(target) - freed;
            }
            _ => {}
        }
    }

    /// Compares both domains' printk bytes with those the synchronised state must give.
    fn check_printk(&mut self, op: &Op) -> bool {
        let total: usize = self.slots.iter().flatten().map(|s| s.ranges.len()).sum();
        if total >= self.printk_every_op_below
            && !self.stats.ops.is_multiple_of(16)
            && !matches!(op, Op::DomainPrintk)
        {
            return true;
        }
        let mut sets: Vec<&Slot> = self.slots.iter().flatten().filter(|s| s.attached).collect();
        sets.sort_by_key(|s| std::cmp::Reverse(s.seq));
        let view: Vec<model::SetView<'_>> = sets
            .iter()
            .map(|s| (s.name.as_slice(), s.hex, s.ranges.as_slice()))
            .collect();
        let want = model::format_domain(self.domid, &view);
        let c = self.c.domain_printk();
        let r = self.r.domain_printk();
        if c == want && r == want {
            return true;
        }
        if c == want && r == String::from_utf8_lossy(&want).as_bytes() {
            *self.stats.observed.entry(NOT_UTF8).or_default() += 1;
            return true;
        }
        self.stats.unexplained += 1;
        if self.stats.reports.len() < 10 {
            let show = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            self.stats.reports.push(format!(
                "domain printk after {op:?} differs:\n  expected {:?}\n  C        {:?}\n  Rust     {:?}",
                show(&want),
                show(&c),
                show(&r)
            ));
        }
        false
    }

    fn unexplained(&mut self, op: &Op, before: &Before, oc: &Outcome, or: &Outcome, why: &str) {
        self.stats.unexplained += 1;
        if self.stats.reports.len() < 10 {
            self.stats.reports.push(format!(
                "UNEXPLAINED divergence ({why}) in {op:?}\n  before: {before:?}\n  C:    {oc:?}\n  Rust: {or:?}"
            ));
        }
    }

    fn any_attached(&self) -> bool {
        self.slots.iter().flatten().any(|s| s.attached)
    }

    /// Whether Xen 4.17's C survives the call a re-entering walk makes from its callback (Xen's
    /// rwlocks do not nest a writer inside a reader or writer of the same set), and whether the
    /// call is one this generator compares (the divergences a top-level operation shows already,
    /// R1/R2 on removal and R5 on an empty claim, are not generated here). For every other
    /// operation: true.
    ///
    /// `report_ranges` holds the walked set's read lock, `consume_ranges` its write lock, across
    /// the callback. From there, on the walked set `o`: `rangeset_limit` and `rangeset_is_empty`
    /// take no lock (both walks); the readers (contains, overlaps, contains_singleton, report,
    /// merge with `o` as the source, domain_printk of a domain listing `o`) nest in a report walk
    /// but spin on a consume walk's write lock; every writer (add, remove, claim, the singletons,
    /// consume, merge into `o`, swap) spins on either; `rangeset_destroy(o)`, or
    /// `rangeset_domain_destroy` of a domain listing `o`, frees the set under its walk. On other
    /// sets everything runs. `rangeset_new` takes only the domain's list lock.
    /// `rangeset_domain_initialise` of a domain whose list holds sets is R19 (the C orphans them);
    /// it is made only when the list is empty or destroyed.
    fn reentry_runs_on_c(&self, op: &Op) -> bool {
        let Op::Reenter {
            slot: o,
            outer,
            inner,
            target: t,
            partner: p,
            ..
        } = *op
        else {
            return true;
        };
        let writing = outer == Outer::Consume;
        let attached = |s: u8| {
            self.slots[usize::from(s)]
                .as_ref()
                .is_some_and(|s| s.attached)
        };
        let ranges = |s: u8| {
            self.slots[usize::from(s)]
                .as_ref()
                .map_or(&[][..], |s| s.ranges.as_slice())
        };
        match inner {
            Inner::DomainInitialise => self.destroyed || !self.any_attached(),
            Inner::DomainDestroy => !attached(o),
            Inner::New { .. } | Inner::Limit(_) | Inner::IsEmpty => true,
            Inner::DomainPrintk => !(writing && attached(o)),
            Inner::Contains(..)
            | Inner::Overlaps(..)
            | Inner::ContainsSingleton(_)
            | Inner::Report(..) => t != o || !writing,
            Inner::Destroy | Inner::Add(..) | Inner::AddSingleton(_) | Inner::Consume => t != o,
            Inner::RemoveSingleton(_) => t != o,
            Inner::Remove(s, e) => {
                let both = RemoveDefects {
                    grows_lower_neighbour: true,
                    wraps_at_max: true,
                };
                t != o && !model::defect_applies(ranges(t), s, e, both)
            }
            Inner::Claim(_) => t != o && !ranges(t).is_empty(),
            Inner::Merge => t != p && t != o && (p != o || !writing),
            Inner::Swap => t != p && t != o && p != o,
        }
    }

    /// Operations the C cannot run (they violate its ASSERTs, BUG() or deadlock it, or it would
    /// dereference NULL): only the Rust runs them, and the ledger says what it must do.
    fn rust_only(&self, op: &Op) -> bool {
        let empty = |s: u8| {
            self.slots[usize::from(s)]
                .as_ref()
                .is_none_or(|sl| sl.ranges.is_empty())
        };
        match *op {
            Op::Add { s, e, .. }
            | Op::Remove { s, e, .. }
            | Op::Contains { s, e, .. }
            | Op::Overlaps { s, e, .. } => s > e,
            Op::MergeSelf { .. }
            | Op::SwapSelf { .. }
            | Op::NewBadFlags { .. }
            | Op::ConsumeOver { .. } => true,
            // R19: the C would drop the domain's sets from its list and corrupt it later.
            Op::DomainInitialise => !self.destroyed && self.any_attached(),
            Op::Null { call, slot } => match call {
                // Xen tolerates these when it has nothing to walk.
                NullCall::ReportCb | NullCall::ConsumeCb | NullCall::MergeDst => !empty(slot),
                _ => true,
            },
            _ => false,
        }
    }

    /// Known entries observed as agreement, where the 2014 series differs from both Xen 4.17 and
    /// the Rust (so these are the series' history, R3 and R14-R18): R3 (4.17 reports from below
    /// the first range); R14 (a callback queries the set it walks: the 2014 spinlock deadlocked);
    /// R15 (a boolean query read through the series' `int`: the Rust side reads all of %eax,
    /// see `ffi::QueryReturn`, and must equal 4.17's `bool`); R16 (queries of a NULL set: the
    /// series dereferenced it); R17 (destroying a never-initialised domain's list: the series
    /// crashed); R18 (claim, consume and merge, which the series does not have).
    fn agreement(&self, op: &Op, oc: &Outcome) -> Vec<&'static str> {
        match *op {
            Op::Report { slot, s, .. } => {
                let first = self.slot(slot).ranges.first().map(|r| r.0);
                if first.is_some_and(|f| s < f) && !oc.calls.is_empty() {
                    return vec![REPORT_2014];
                }
                vec![]
            }
            Op::ReportQueryingSelf { .. } | Op::ConsumeQueryingSelf { .. }
                if !oc.calls.is_empty() =>
            {
                vec![RWLOCK_2014]
            }
            Op::IsEmpty { slot: Some(_) }
            | Op::Contains { slot: Some(_), .. }
            | Op::ContainsSingleton { slot: Some(_), .. }
            | Op::Overlaps { slot: Some(_), .. } => vec![INT_RETURNS_2014],
            Op::IsEmpty { slot: None }
            | Op::Contains { slot: None, .. }
            | Op::ContainsSingleton { slot: None, .. }
            | Op::Overlaps { slot: None, .. } => vec![INT_RETURNS_2014, NULL_QUERIES_2014],
            Op::DomainDestroyUninitialised => vec![UNINIT_DESTROY_2014],
            // A walk's callback asking its own set (the series' spinlock deadlocked).
            Op::Reenter {
                slot,
                inner:
                    Inner::Contains(..)
                    | Inner::Overlaps(..)
                    | Inner::ContainsSingleton(_)
                    | Inner::Report(..)
                    | Inner::IsEmpty,
                target,
                ..
            } if slot == target && oc.rcs.get(1) == Some(&1) => vec![RWLOCK_2014],
            Op::Claim { .. } | Op::Consume { .. } | Op::Merge { .. } => vec![ADDED_SINCE_2014],
            _ => vec![],
        }
    }

    /// R12: under allocation failure the C failed with -ENOMEM (unchanged) where the Rust, not
    /// needing memory, did what the C does with memory. None if that is not the situation.
    fn classify_oom(
        &mut self,
        op: &Op,
        before: &Before,
        oc: &Outcome,
        or: &Outcome,
    ) -> Option<Result<Vec<&'static str>, String>> {
        let (slot, s, e, add) = match *op {
            Op::AddOom { slot, s, e } => (slot, s, e, true),
            Op::RemoveOom { slot, s, e } => (slot, s, e, false),
            _ => return None,
        };
        let pre = before.ranges_of(slot)?.clone();
        if oc.rcs != [ENOMEM] || oc.after_of(slot) != Some(&pre) {
            return None;
        }
        // What the C does with memory: the same call on a scratch copy.
        let tmp = self
            .c
            .rangeset_new(false, None, 0)
            .expect("C: out of memory");
        self.build_c(tmp, &pre);
        let rc = if add {
            self.c.add_range(tmp, s, e)
        } else {
            self.c.remove_range(tmp, s, e)
        };
        let with_memory = self.c.ranges(tmp);
        self.c.destroy(Some(tmp));
        if or.rcs == [i64::from(rc)] && rc == 0 && or.after_of(slot) == Some(&with_memory) {
            Some(Ok(vec![OOM]))
        } else {
            Some(Err(format!(
                "allocation failure: the Rust should match the C with memory: {rc} {with_memory:?}"
            )))
        }
    }

    /// Fills the empty, unlimited C set `set` with exactly `ranges` (sorted, disjoint), one node
    /// per range, also where ranges touch (which only claim_range produces). Works from the top
    /// down: a range touching the one above is claimed from 0 (the gap below the lowest range
    /// fits it exactly), then cut from below to its start.
    fn build_c(&mut self, set: Set, ranges: &[(u64, u64)]) {
        for (i, &(s, e)) in ranges.iter().enumerate().rev() {
            let touches_next = ranges
                .get(i + 1)
                .is_some_and(|n| e.checked_add(1) == Some(n.0));
            if touches_next {
                let (rc, at) = self.c.claim_range(set, e + 1, 0);
                assert_eq!((rc, at), (0, 0), "rebuild: claim below the lowest range");
                if s > 0 {
                    assert_eq!(self.c.remove_range(set, 0, s - 1), 0, "rebuild: cut");
                }
            } else {
                assert_eq!(self.c.add_range(set, s, e), 0, "rebuild: add");
            }
        }
    }

    /// Gives the empty, fresh (counter -1) C set `set` the budget counter `counter`, using only
    /// the C's own operations: `rangeset_limit` sets it (0..=u32::MAX), each allocated range
    /// lowers it and each freed range raises it.
    fn set_c_counter(&mut self, set: Set, counter: i64) {
        let limit = u32::MAX as i64;
        let dummies = if counter < 0 {
            -1 - counter
        } else {
            (counter - limit).max(0)
        };
        for k in 0..dummies as u64 {
            assert_eq!(self.c.add_singleton(set, 2 * k), 0, "rebuild: dummy range");
        }
        if counter >= 0 {
            self.c.limit(set, counter.min(limit) as u32);
            let rc = self.c.consume_ranges(set, &mut |a, z, c| {
                *c = z - a + 1;
                0
            });
            assert_eq!(rc, 0, "rebuild: consume the dummies");
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
            let (ranges, attached, hex, base) = (sl.ranges.clone(), sl.attached, sl.hex, sl.base);
            let name = sl.name_arg.clone();
            let tmp = self
                .c
                .rangeset_new(false, None, 0)
                .expect("C: out of memory");
            self.build_c(tmp, &ranges);
            let flags = if hex { crate::PRETTYPRINT_HEX } else { 0 };
            let set = self
                .c
                .rangeset_new(attached && !self.destroyed, name.as_deref(), flags)
                .expect("C: out of memory");
            let counter = base - ranges.len() as i64;
            self.set_c_counter(set, counter);
            self.c.swap(set, tmp);
            self.c.destroy(Some(tmp));
            let got = self.c.ranges(set);
            assert_eq!(got, ranges, "rebuild of C slot {i} failed");
            self.slots[i].as_mut().expect("live").c = set;
        }
    }

    /// Runs `n` operations drawn from `e`.
    pub fn run_ops(&mut self, e: &mut impl crate::ops::Entropy, n: u64, big: bool) {
        for _ in 0..n {
            if e.chance(128) {
                for op in crate::ops::lifecycle(e) {
                    self.step(&op);
                }
            } else {
                let op = crate::ops::op(e, big);
                self.step(&op);
            }
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

/// Checks the Rust's outcome of a Rust-only operation against the ledger.
fn expect_rust_only(op: &Op, before: &Before, or: &Outcome) -> Result<Vec<&'static str>, String> {
    use NullCall as N;
    if let Op::ConsumeOver { slot, .. } = *op {
        // The first range goes (unless it is [0, ~0], which nothing can over-consume).
        let pre = before.ranges_of(slot).ok_or("no state before")?;
        let want = match pre.first() {
            None => Outcome {
                rcs: vec![0],
                after: vec![(slot, vec![])],
                ..Outcome::default()
            },
            Some(&first) => Outcome {
                rcs: vec![CONSUME_OVER_RC.into()],
                calls: vec![first],
                text: vec![],
                after: vec![(
                    slot,
                    if first == (0, u64::MAX) {
                        pre.clone()
                    } else {
                        pre[1..].to_vec()
                    },
                )],
            },
        };
        return if *or == want {
            Ok(vec![CONSUME_WRAP])
        } else {
            Err(format!("over-consumption: expected {want:?} (R7)"))
        };
    }
    let (id, rcs) = match *op {
        Op::Add { .. } | Op::Remove { .. } => (REVERSED, vec![EINVAL]),
        Op::Contains { .. } | Op::Overlaps { .. } => (REVERSED, vec![0]),
        Op::MergeSelf { .. } => (SELF, vec![0]),
        Op::DomainInitialise => (REINIT, vec![]),
        Op::SwapSelf { .. } => (SELF, vec![]),
        Op::NewBadFlags { .. } => (BAD_FLAGS, vec![0]),
        Op::Null { call, .. } => match call {
            N::Limit
            | N::SwapFirst
            | N::SwapSecond
            | N::DomainPrintk
            | N::DomainInitialise
            | N::DomainDestroy => (NULLS, vec![]),
            _ => (NULLS, vec![EINVAL]),
        },
        _ => return Err("not a Rust-only operation".into()),
    };
    let want = Outcome {
        rcs,
        calls: vec![],
        text: vec![],
        after: before.ranges.clone(),
    };
    if *or == want {
        Ok(vec![id])
    } else {
        Err(format!("Rust-only operation: expected {want:?} ({id})"))
    }
}

/// Runs `op` on one implementation; returns its outcome and, for New, the set created.
fn run<I: Impl>(
    imp: &mut I,
    op: &Op,
    slots: &[Option<Slot>],
    pick: impl Fn(&Slot) -> Set,
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
                model::consume_step(plan, calls.len(), a, z, consumed)
            });
            o.rcs.push(r.into());
            o.calls = calls;
        }
        Op::ConsumeOver { slot, extra } => {
            let mut calls = Vec::new();
            let r = imp.consume_ranges(set(slot), &mut |a, z, consumed| {
                calls.push((a, z));
                let len = z.wrapping_sub(a).wrapping_add(1);
                // More than the range holds (nothing is more than [0, ~0]).
                *consumed = if len == 0 {
                    0
                } else {
                    len.saturating_add(extra)
                };
                CONSUME_OVER_RC
            });
            o.rcs.push(r.into());
            o.calls = calls;
        }
        Op::Merge { dst, src } => o.rcs.push(imp.merge(set(dst), set(src)).into()),
        Op::MergeSelf { slot } => o.rcs.push(imp.merge(set(slot), set(slot)).into()),
        Op::Swap { a, b } => imp.swap(set(a), set(b)),
        Op::SwapSelf { slot } => imp.swap(set(slot), set(slot)),
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
                o.rcs
                    .push(imp.add_range(set(slot), s, s.saturating_add(len)).into());
            }
        }
        Op::DomainPrintk => o.text = imp.domain_printk(),
        Op::DomainDestroy => imp.domain_destroy(),
        Op::DomainInitialise => imp.domain_initialise(),
        Op::NewBadFlags { flags } => {
            created = imp.rangeset_new(true, Some(c"bad flags"), flags);
            o.rcs.push(b(created.is_some()));
        }
        Op::Null { call, slot } => {
            let (rc, text) = imp.null_call(call, Some(set(slot)));
            o.rcs.extend(rc);
            o.text = text;
        }
        Op::ReportQueryingSelf { slot, s, e } => {
            let (rc, seen) = imp.report_querying_self(set(slot), s, e);
            o.rcs.push(rc.into());
            for q in seen {
                o.calls.push(q.range);
                o.rcs.extend([b(q.contains), b(q.overlaps), b(q.empty)]);
            }
        }
        Op::ConsumeQueryingSelf { slot } => {
            let (rc, seen) = imp.consume_querying_self(set(slot));
            o.rcs.push(rc.into());
            for q in seen {
                o.calls.push(q.range);
                o.rcs.push(b(q.empty));
            }
        }
        Op::DomainDestroyUninitialised => imp.destroy_uninitialised_domain(0x7ff0),
        Op::Reenter {
            slot,
            outer,
            at,
            inner,
            target,
            partner,
        } => {
            let call = crate::InnerCall {
                call: inner,
                target: inner.uses_target().then(|| set(target)),
                partner: inner.uses_partner().then(|| set(partner)),
            };
            let r = imp.reenter(set(slot), outer, at, call);
            o.rcs.push(r.rc.into());
            o.rcs.push(b(r.made));
            o.rcs.extend(r.inner_rcs);
            o.calls = r.outer_calls;
            o.calls.extend(r.inner_calls);
            o.text = r.text;
        }
        Op::AddOom { slot, s, e } => {
            imp.fail_allocations(true);
            let rc = imp.add_range(set(slot), s, e);
            imp.fail_allocations(false);
            o.rcs.push(rc.into());
        }
        Op::RemoveOom { slot, s, e } => {
            imp.fail_allocations(true);
            let rc = imp.remove_range(set(slot), s, e);
            imp.fail_allocations(false);
            o.rcs.push(rc.into());
        }
    }
    (o, created)
}

/// Explains a difference between the C's and the Rust's outcome of `op` by the ledger's IDs:
/// the Rust must give the correct result and the C exactly the result of its known defect.
pub fn classify(
    op: &Op,
    before: &Before,
    oc: &Outcome,
    or: &Outcome,
) -> Result<Vec<&'static str>, String> {
    let outcome = |rcs: Vec<i64>, calls: Vec<(u64, u64)>, slot: u8, after: Ranges| Outcome {
        rcs,
        calls,
        text: vec![],
        after: vec![(slot, after)],
    };
    match *op {
        Op::Remove { slot, s, e } | Op::RemoveOom { slot, s, e } => {
            let pre = before.ranges_of(slot).ok_or("no state before")?;
            let correct = model::remove(pre, s, e, RemoveDefects::default());
            if or.rcs != [0] || oc.rcs != [0] || or.after_of(slot) != Some(&correct) {
                return Err("Rust result is not the correct removal".into());
            }
            // The smallest combination of the C's known defects that yields what the C did.
            for (grow, wrap) in [(true, false), (false, true), (true, true)] {
                let d = RemoveDefects {
                    grows_lower_neighbour: grow,
                    wraps_at_max: wrap,
                };
                if oc.after_of(slot) == Some(&model::remove(pre, s, e, d)) {
                    let only_grow = RemoveDefects {
                        wraps_at_max: false,
                        ..d
                    };
                    let only_wrap = RemoveDefects {
                        grows_lower_neighbour: false,
                        ..d
                    };
                    let mut ids = Vec::new();
                    if grow && model::defect_applies(pre, s, e, only_grow) {
                        ids.push(GROWTH);
                    }
                    if wrap && model::defect_applies(pre, s, e, only_wrap) {
                        ids.push(WRAP);
                    }
                    if !ids.is_empty() {
                        return Ok(ids);
                    }
                }
            }
            Err("C result matches no known removal defect".into())
        }
        Op::Claim { slot, size } => {
            let pre = before.ranges_of(slot).ok_or("no state before")?.clone();
            let budget = before.counter_of(slot);
            let untouched = || outcome(vec![ENOSPC], vec![(CLAIM_SENTINEL, 0)], slot, pre.clone());
            if size == 0 {
                // C: a new range [0, ~0] at the head (if the budget allows), s = 0.
                let c_want = if budget == 0 {
                    outcome(vec![ENOMEM], vec![(CLAIM_SENTINEL, 0)], slot, pre.clone())
                } else {
                    let mut a = vec![(0, u64::MAX)];
                    a.extend_from_slice(&pre);
                    outcome(vec![0], vec![(0, 0)], slot, a)
                };
                let r_want = outcome(vec![EINVAL], vec![(CLAIM_SENTINEL, 0)], slot, pre.clone());
                return if *oc == c_want && *or == r_want {
                    Ok(vec![CLAIM_ZERO])
                } else {
                    Err(format!(
                        "claim of 0: expected C {c_want:?}, Rust {r_want:?}"
                    ))
                };
            }
            if pre.is_empty() {
                let r_want = if budget == 0 {
                    outcome(vec![ENOMEM], vec![(CLAIM_SENTINEL, 0)], slot, vec![])
                } else {
                    outcome(vec![0], vec![(0, 0)], slot, vec![(0, size - 1)])
                };
                return if *oc == untouched() && *or == r_want {
                    Ok(vec![CLAIM_EMPTY])
                } else {
                    Err(format!("claim on an empty set: expected Rust {r_want:?}"))
                };
            }
            Err("no known divergence for claim_range on a non-empty set".into())
        }
        Op::Consume { slot, plan } => {
            let pre = before.ranges_of(slot).ok_or("no state before")?;
            let (rc, calls, after) = model::consume(pre, plan, false);
            let r_want = outcome(vec![rc.into()], calls, slot, after);
            let (rc, calls, after) = model::consume(pre, plan, true);
            let c_want = outcome(vec![rc.into()], calls, slot, after);
            if *oc == c_want && *or == r_want {
                Ok(vec![CONSUME_WRAP])
            } else {
                Err("consume_ranges: not the known wrap at ~0".into())
            }
        }
        Op::DomainPrintk
        | Op::Reenter {
            inner: Inner::DomainPrintk,
            ..
        } => {
            let lossy = String::from_utf8_lossy(&oc.text);
            if or.text == lossy.as_bytes() && oc.rcs == or.rcs && oc.after == or.after {
                Ok(vec![NOT_UTF8])
            } else {
                Err("printk text differs".into())
            }
        }
        _ => Err("no known divergence for this operation".into()),
    }
}

/// One fuzz input: operations decoded from `data`, run on Xen's C and the Rust; panics on any
/// unexplained divergence (the fuzz target `rangeset_diff`). Without the C source it does nothing
/// (after saying so once), or panics if `XEN_DIFF_REQUIRED=1`.
pub fn fuzz_one(data: &[u8]) {
    #[cfg(not(xen_c_unavailable))]
    {
        let mut d: Driver<crate::c::CRangeset, crate::rust::RsRangeset> = Driver::new(1);
        // Cheaper per operation than the test (printk is still compared every 16 operations and
        // on every DomainPrintk); inputs beyond 300 operations add little but time.
        d.printk_every_op_below = 8;
        let mut e = crate::ops::Bytes::new(data);
        while !e.is_empty() && d.stats.ops < 300 {
            let op = crate::ops::op(&mut e, false);
            if !d.step(&op) {
                panic!("unexplained divergence:\n{}", d.stats.reports.join("\n"));
            }
        }
    }
    #[cfg(xen_c_unavailable)]
    {
        let _ = data;
        static SAID: std::sync::Once = std::sync::Once::new();
        SAID.call_once(|| eprintln!("difftest rangeset: SKIPPED (Xen C source unavailable)"));
        assert!(
            std::env::var("XEN_DIFF_REQUIRED").as_deref() != Ok("1"),
            "XEN_DIFF_REQUIRED=1 but Xen's C source is unavailable"
        );
    }
}
