//! Rangeset operations as data, drawn from an [`Entropy`] source: a seeded PRNG for the test and
//! the benchmark, raw bytes for the fuzzer. Values cluster near 0, near `~0UL` and around 2^32 so
//! that ranges touch, overlap and wrap often.

/// A source of random decisions.
pub trait Entropy {
    /// `nbytes` (1..=8) bytes of entropy as an integer.
    fn bits(&mut self, nbytes: usize) -> u64;

    /// A value in `0..n` (n > 0), using as few bytes as `n` needs.
    fn below(&mut self, n: u64) -> u64 {
        let nbytes = match n {
            0..=0x100 => 1,
            0x101..=0x1_0000 => 2,
            0x1_0001..=0x1_0000_0000 => 4,
            _ => 8,
        };
        self.bits(nbytes) % n.max(1)
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

/// splitmix64: a small, good, seedable PRNG.
pub struct SplitMix(pub u64);

impl SplitMix {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl Entropy for SplitMix {
    fn bits(&mut self, nbytes: usize) -> u64 {
        let v = self.next_u64();
        if nbytes >= 8 {
            v
        } else {
            v & ((1u64 << (8 * nbytes)) - 1)
        }
    }
}

/// Fuzzer bytes, read front to back; zeros once exhausted.
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

impl Entropy for Bytes<'_> {
    fn bits(&mut self, nbytes: usize) -> u64 {
        let n = nbytes.min(8).min(self.data.len());
        let mut v = 0u64;
        for &b in &self.data[..n] {
            v = (v << 8) | u64::from(b);
        }
        self.data = &self.data[n..];
        v
    }
}

/// How many set slots a sequence works with.
pub const SLOTS: u8 = 4;

/// The name passed to `rangeset_new`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameKind {
    Null,
    Empty,
    /// `s<slot>`-style short name.
    Short,
    /// Exactly 31 bytes: the longest kept whole.
    Exact31,
    /// 32 bytes: one too many.
    Exact32,
    /// Long, truncated to 31.
    Long,
    /// Contains printf conversions, which must be printed literally.
    Percent,
    /// Bytes that are not UTF-8.
    NotUtf8,
    /// A 2-byte UTF-8 character cut in half by the 31-byte truncation.
    CutUtf8,
}

impl NameKind {
    pub fn bytes(self, slot: u8) -> Option<Vec<u8>> {
        Some(match self {
            NameKind::Null => return None,
            NameKind::Empty => Vec::new(),
            NameKind::Short => format!("s{slot}").into_bytes(),
            NameKind::Exact31 => format!("limited-name-that-is-longer-th{slot}").into_bytes(),
            NameKind::Exact32 => format!("limited-name-that-is-longer-tha{slot}").into_bytes(),
            NameKind::Long => {
                format!("ioreq_server {slot} memory and a great deal more").into_bytes()
            }
            NameKind::Percent => format!("%s%d%n{slot}%").into_bytes(),
            NameKind::NotUtf8 => [b"bad\xff\xfe", &[b'0' + slot][..]].concat(),
            NameKind::CutUtf8 => {
                format!("{slot}-thirty-bytes-of-ascii-name--\u{e9}\u{e9}").into_bytes()
            }
        })
    }
}

/// How a `consume_ranges` callback behaves on its i-th call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConsumePlan {
    /// 0: all of the range, 1: half (rounded up), 2: one, 3: none, 4: all but one.
    pub amount: u8,
    /// The callback returns `stop_rc` on call number `calls` (1-based) and 0 before it; it also
    /// stops (with `stop_rc`) whenever it consumes nothing, so the C cannot loop forever.
    pub calls: u8,
    pub stop_rc: i32,
}

/// A call passing NULL where Xen 4.17 dereferences it (ledger R11: the Rust refuses it), or where
/// Xen tolerates it (then both run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NullCall {
    Add,
    Remove,
    AddSingleton,
    RemoveSingleton,
    /// NULL set.
    ClaimSet,
    /// NULL `*s`.
    ClaimOut,
    ReportSet,
    /// NULL callback over [0, ~0]: Xen tolerates it on an empty set.
    ReportCb,
    ConsumeSet,
    /// NULL callback: Xen tolerates it on an empty set.
    ConsumeCb,
    Limit,
    SwapFirst,
    SwapSecond,
    /// `merge(NULL, r)`: Xen tolerates it when `r` is empty.
    MergeDst,
    MergeSrc,
    DomainPrintk,
    DomainInitialise,
    DomainDestroy,
}

const NULL_CALLS: [NullCall; 18] = [
    NullCall::Add,
    NullCall::Remove,
    NullCall::AddSingleton,
    NullCall::RemoveSingleton,
    NullCall::ClaimSet,
    NullCall::ClaimOut,
    NullCall::ReportSet,
    NullCall::ReportCb,
    NullCall::ConsumeSet,
    NullCall::ConsumeCb,
    NullCall::Limit,
    NullCall::SwapFirst,
    NullCall::SwapSecond,
    NullCall::MergeDst,
    NullCall::MergeSrc,
    NullCall::DomainPrintk,
    NullCall::DomainInitialise,
    NullCall::DomainDestroy,
];

/// The walk whose callback re-enters the API: `report_ranges` (the set read-locked) or
/// `consume_ranges` (the set write-locked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outer {
    /// `report_ranges(r, s, e)`; the callback returns 0.
    Report { s: u64, e: u64 },
    /// `consume_ranges(r)`; the callback consumes each whole range offered (none of one ending at
    /// ~0UL, which it stops at) and stops (returns 1) after the call that re-enters.
    Consume,
}

/// A call of one of the 19 functions made from inside an [`Outer`] callback, on the walked set,
/// on another set (`target`), or with a second set (`partner`: merge, swap), as [`Op::Reenter`]
/// names them. The oracle makes only the calls Xen's C survives (see `oracle::reentry_runs_on_c`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inner {
    DomainInitialise,
    DomainDestroy,
    /// `rangeset_new` (on the domain if `attach` and it has a list), then `add_singleton(7)` and
    /// `rangeset_destroy` of the new set.
    New {
        attach: bool,
    },
    Destroy,
    Limit(u32),
    IsEmpty,
    Add(u64, u64),
    Claim(u64),
    Remove(u64, u64),
    Contains(u64, u64),
    Overlaps(u64, u64),
    /// Collects what it reports (callback returns 0).
    Report(u64, u64),
    /// Consumes the whole first range (unless it ends at ~0UL) and stops (returns 1).
    Consume,
    /// `merge(target, partner)`.
    Merge,
    AddSingleton(u64),
    RemoveSingleton(u64),
    ContainsSingleton(u64),
    /// `swap(target, partner)`.
    Swap,
    DomainPrintk,
}

impl Inner {
    /// Whether the call passes `target` (and, for merge and swap, `partner`).
    pub fn uses_target(self) -> bool {
        !matches!(
            self,
            Inner::DomainInitialise
                | Inner::DomainDestroy
                | Inner::New { .. }
                | Inner::DomainPrintk
        )
    }
    pub fn uses_partner(self) -> bool {
        matches!(self, Inner::Merge | Inner::Swap)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    New {
        slot: u8,
        attach: bool,
        name: NameKind,
        hex: bool,
    },
    Destroy {
        slot: u8,
    },
    DestroyNull,
    Limit {
        slot: u8,
        limit: u32,
    },
    /// `slot: None` passes NULL.
    IsEmpty {
        slot: Option<u8>,
    },
    Add {
        slot: u8,
        s: u64,
        e: u64,
    },
    AddSingleton {
        slot: u8,
        s: u64,
    },
    Remove {
        slot: u8,
        s: u64,
        e: u64,
    },
    RemoveSingleton {
        slot: u8,
        s: u64,
    },
    Contains {
        slot: Option<u8>,
        s: u64,
        e: u64,
    },
    ContainsSingleton {
        slot: Option<u8>,
        s: u64,
    },
    Overlaps {
        slot: Option<u8>,
        s: u64,
        e: u64,
    },
    Claim {
        slot: u8,
        size: u64,
    },
    /// The callback returns `rc` on call number `stop_at` (1-based; 0: never) and 0 otherwise.
    Report {
        slot: u8,
        s: u64,
        e: u64,
        stop_at: u8,
        rc: i32,
    },
    Consume {
        slot: u8,
        plan: ConsumePlan,
    },
    /// Two distinct slots (see `two_slots`).
    Merge {
        dst: u8,
        src: u8,
    },
    /// `rangeset_merge(r, r)`: Xen deadlocks (write lock inside its own read lock): Rust only.
    MergeSelf {
        slot: u8,
    },
    /// `rangeset_swap(r, r)`: Xen takes the write lock twice and deadlocks: Rust only.
    SwapSelf {
        slot: u8,
    },
    /// Two distinct slots (the C would take the same lock twice).
    Swap {
        a: u8,
        b: u8,
    },
    /// `count` add_range calls of [start + i*stride, start + i*stride + len], building big sets.
    Fill {
        slot: u8,
        start: u64,
        count: u16,
        stride: u64,
        len: u64,
    },
    DomainPrintk,
    DomainDestroy,
    /// After DomainDestroy, or again on a live list (Xen initialises a domain's list once, at
    /// creation; again while it holds sets: R19, Rust only).
    DomainInitialise,
    /// `rangeset_new` with flags Xen BUG()s on: Rust only (R9).
    NewBadFlags {
        flags: u32,
    },
    /// A call with a NULL argument; `slot` is the other argument where there is one.
    Null {
        call: NullCall,
        slot: u8,
    },
    /// consume_ranges whose callback claims `extra` more than the first range holds, then stops:
    /// the C only ASSERTs against it, so Rust only (R7: the range is freed).
    ConsumeOver {
        slot: u8,
        extra: u64,
    },
    /// report_ranges whose callback queries the set being reported (R14).
    ReportQueryingSelf {
        slot: u8,
        s: u64,
        e: u64,
    },
    /// consume_ranges whose callback asks whether its own set is empty (R14).
    ConsumeQueryingSelf {
        slot: u8,
    },
    /// rangeset_domain_destroy of a domain whose list was never initialised (R17).
    DomainDestroyUninitialised,
    /// add_range while every allocation fails (R12).
    AddOom {
        slot: u8,
        s: u64,
        e: u64,
    },
    /// remove_range while every allocation fails (R12).
    RemoveOom {
        slot: u8,
        s: u64,
        e: u64,
    },
    /// `outer` on set `slot` whose callback makes the `inner` call (on `target`, with `partner`)
    /// once, on its `at`-th invocation (1-based; none if the walk has fewer).
    Reenter {
        slot: u8,
        outer: Outer,
        at: u8,
        inner: Inner,
        target: u8,
        partner: u8,
    },
}

impl Op {
    /// The slots the operation can change (their contents are re-read and compared afterwards).
    pub fn touched(&self) -> Vec<u8> {
        match *self {
            Op::New { slot, .. }
            | Op::Destroy { slot }
            | Op::Limit { slot, .. }
            | Op::Add { slot, .. }
            | Op::AddSingleton { slot, .. }
            | Op::Remove { slot, .. }
            | Op::RemoveSingleton { slot, .. }
            | Op::Claim { slot, .. }
            | Op::Consume { slot, .. }
            | Op::Fill { slot, .. }
            | Op::MergeSelf { slot }
            | Op::SwapSelf { slot }
            | Op::Null { slot, .. }
            | Op::ConsumeOver { slot, .. }
            | Op::ConsumeQueryingSelf { slot }
            | Op::AddOom { slot, .. }
            | Op::RemoveOom { slot, .. } => vec![slot],
            Op::Merge { dst, src } => vec![dst, src],
            Op::Swap { a, b } => vec![a, b],
            Op::DomainDestroy
            | Op::Reenter {
                inner: Inner::DomainDestroy,
                ..
            } => (0..SLOTS).collect(),
            Op::Reenter {
                slot,
                inner,
                target,
                partner,
                ..
            } => {
                let mut v = vec![slot];
                if inner.uses_target() && target != slot {
                    v.push(target);
                }
                if inner.uses_partner() && !v.contains(&partner) {
                    v.push(partner);
                }
                v
            }
            _ => vec![],
        }
    }
}

impl Op {
    /// The slots whose sets the operation passes (beyond [`Op::touched`]'s: the read-only ones).
    pub fn uses(&self) -> Vec<u8> {
        match *self {
            Op::New { .. }
            | Op::DestroyNull
            | Op::DomainPrintk
            | Op::DomainDestroy
            | Op::DomainInitialise
            | Op::DomainDestroyUninitialised
            | Op::NewBadFlags { .. } => vec![],
            Op::IsEmpty { slot }
            | Op::Contains { slot, .. }
            | Op::ContainsSingleton { slot, .. }
            | Op::Overlaps { slot, .. } => slot.into_iter().collect(),
            Op::Report { slot, .. } | Op::ReportQueryingSelf { slot, .. } => vec![slot],
            Op::Reenter {
                slot,
                inner: Inner::DomainDestroy,
                ..
            } => vec![slot],
            _ => self.touched(),
        }
    }
}

/// A value clustered where rangesets have edge cases.
pub fn value(e: &mut impl Entropy) -> u64 {
    match e.below(16) {
        0..=6 => e.below(40),
        7..=8 => u64::MAX - e.below(40),
        9 => (1u64 << 32) - 20 + e.below(40),
        10..=12 => e.below(400),
        13 => (1u64 << 63) - 2 + e.below(4),
        _ => e.bits(8),
    }
}

/// An ordered pair `s <= e`: near each other mostly, sometimes far apart.
pub fn range(e: &mut impl Entropy) -> (u64, u64) {
    let s = value(e);
    match e.below(4) {
        0 => (s, s),
        1 | 2 => (s, s.saturating_add(e.below(12))),
        _ => {
            let t = value(e);
            (s.min(t), s.max(t))
        }
    }
}

/// Like [`range`], but one in 32 comes out reversed (s > e), which Xen's ASSERTs forbid.
pub fn range_or_reversed(e: &mut impl Entropy) -> (u64, u64) {
    let (s, t) = range(e);
    if s < t && e.chance(32) {
        (t, s)
    } else {
        (s, t)
    }
}

fn slot(e: &mut impl Entropy) -> u8 {
    e.below(u64::from(SLOTS)) as u8
}

/// Two distinct slots: the C takes a set's lock for reading and then writing (merge) or twice
/// (swap) when both are one set, which deadlocks in Xen (and merge would free under its iterator).
fn two_slots(e: &mut impl Entropy) -> (u8, u8) {
    let a = slot(e);
    let b = (a + 1 + e.below(u64::from(SLOTS) - 1) as u8) % SLOTS;
    (a, b)
}

fn maybe_null_slot(e: &mut impl Entropy) -> Option<u8> {
    if e.chance(16) {
        None
    } else {
        Some(slot(e))
    }
}

fn callback_rc(e: &mut impl Entropy) -> i32 {
    // 1, -1, -ERESTART (85 in Xen), and an arbitrary value.
    match e.below(4) {
        0 => 1,
        1 => -1,
        2 => -85,
        _ => e.bits(4) as u32 as i32 | 1,
    }
}

/// A call to make from inside a callback.
fn inner(e: &mut impl Entropy) -> Inner {
    let (s, t) = range(e);
    match e.below(19) {
        0 => Inner::DomainInitialise,
        1 => Inner::DomainDestroy,
        2 => Inner::New {
            attach: e.chance(2),
        },
        3 => Inner::Destroy,
        4 => Inner::Limit(match e.below(4) {
            0 => 0,
            1 => 1,
            2 => u32::MAX,
            _ => e.below(8) as u32,
        }),
        5 => Inner::IsEmpty,
        6 => Inner::Add(s, t),
        7 => Inner::Claim(1 + e.below(40)),
        8 => Inner::Remove(s, t),
        9 => Inner::Contains(s, t),
        10 => Inner::Overlaps(s, t),
        11 => Inner::Report(s, t),
        12 => Inner::Consume,
        13 => Inner::Merge,
        14 => Inner::AddSingleton(s),
        15 => Inner::RemoveSingleton(s),
        16 => Inner::ContainsSingleton(s),
        17 => Inner::Swap,
        _ => Inner::DomainPrintk,
    }
}

/// A re-entering operation: half the time on the walked set itself.
fn reenter(e: &mut impl Entropy) -> Op {
    let walked = slot(e);
    let outer = if e.chance(2) {
        let (s, t) = if e.chance(2) { (0, u64::MAX) } else { range(e) };
        Outer::Report { s, e: t }
    } else {
        Outer::Consume
    };
    let target = if e.chance(2) { walked } else { slot(e) };
    Op::Reenter {
        slot: walked,
        outer,
        at: 1 + e.below(3) as u8,
        inner: inner(e),
        target,
        partner: slot(e),
    }
}

/// A burst of domain life-cycle calls in and out of order, with sets created and printed
/// around them (the sequence is data: the caller runs each in turn).
pub fn lifecycle(e: &mut impl Entropy) -> Vec<Op> {
    (0..2 + e.below(5))
        .map(|_| match e.below(6) {
            0 => Op::DomainDestroy,
            1 => Op::DomainInitialise,
            2 => Op::DomainPrintk,
            3 => Op::Destroy { slot: slot(e) },
            4 => Op::AddSingleton {
                slot: slot(e),
                s: value(e),
            },
            _ => Op::New {
                slot: slot(e),
                attach: !e.chance(4),
                name: NameKind::Short,
                hex: e.chance(2),
            },
        })
        .collect()
}

/// One operation. `big` allows Fill to build sets of up to ~4000 ranges.
pub fn op(e: &mut impl Entropy, big: bool) -> Op {
    if e.chance(24) {
        return reenter(e);
    }
    match e.below(100) {
        0..=2 => Op::New {
            slot: slot(e),
            attach: !e.chance(4),
            name: match e.below(10) {
                0 => NameKind::Null,
                1 => NameKind::Empty,
                2 => NameKind::Exact31,
                3 => NameKind::Exact32,
                4 => NameKind::Long,
                5 => NameKind::Percent,
                6 if e.chance(2) => NameKind::NotUtf8,
                7 if e.chance(2) => NameKind::CutUtf8,
                _ => NameKind::Short,
            },
            hex: e.chance(2),
        },
        3 => Op::Destroy { slot: slot(e) },
        4 => match e.below(16) {
            0 => Op::DestroyNull,
            1 => Op::DomainDestroy,
            2 | 3 => Op::DomainInitialise,
            4 => Op::NewBadFlags {
                flags: 2 << e.below(31),
            },
            10 => Op::DomainDestroyUninitialised,
            5..=9 => Op::Null {
                call: NULL_CALLS[e.below(NULL_CALLS.len() as u64) as usize],
                slot: slot(e),
            },
            _ => Op::IsEmpty {
                slot: maybe_null_slot(e),
            },
        },
        5..=6 => Op::Limit {
            slot: slot(e),
            limit: match e.below(8) {
                0 => 0,
                1 => 1,
                2 => 2,
                3 => 3,
                4 => 256,
                5 => u32::MAX,
                _ => e.below(8) as u32,
            },
        },
        7..=26 => {
            let (s, t) = range_or_reversed(e);
            Op::Add {
                slot: slot(e),
                s,
                e: t,
            }
        }
        27..=31 => Op::AddSingleton {
            slot: slot(e),
            s: value(e),
        },
        32..=51 => {
            let (s, t) = range_or_reversed(e);
            Op::Remove {
                slot: slot(e),
                s,
                e: t,
            }
        }
        52..=55 => Op::RemoveSingleton {
            slot: slot(e),
            s: value(e),
        },
        56..=60 => {
            let (s, t) = range_or_reversed(e);
            Op::Contains {
                slot: maybe_null_slot(e),
                s,
                e: t,
            }
        }
        61..=62 => Op::ContainsSingleton {
            slot: maybe_null_slot(e),
            s: value(e),
        },
        63..=67 => {
            let (s, t) = range_or_reversed(e);
            Op::Overlaps {
                slot: maybe_null_slot(e),
                s,
                e: t,
            }
        }
        68..=72 => Op::Claim {
            slot: slot(e),
            size: match e.below(10) {
                0 => 0,
                1 | 2 => 1,
                3 => u64::MAX,
                4 => u64::MAX - e.below(40),
                5 => 1 << 32,
                6 => 1 << 63,
                _ => 1 + e.below(40),
            },
        },
        73..=78 if e.chance(8) => {
            let (s, t) = if e.chance(2) { (0, u64::MAX) } else { range(e) };
            Op::ReportQueryingSelf {
                slot: slot(e),
                s,
                e: t,
            }
        }
        73..=78 => {
            let (s, t) = if e.chance(3) {
                (0, u64::MAX)
            } else {
                range_or_reversed(e)
            };
            Op::Report {
                slot: slot(e),
                s,
                e: t,
                stop_at: if e.chance(2) { 0 } else { 1 + e.below(4) as u8 },
                rc: callback_rc(e),
            }
        }
        79 if e.chance(8) => Op::ConsumeOver {
            slot: slot(e),
            extra: 1u64.saturating_add(e.below(3).saturating_mul(value(e))),
        },
        79..=82 if e.chance(8) => Op::ConsumeQueryingSelf { slot: slot(e) },
        79..=82 => Op::Consume {
            slot: slot(e),
            plan: ConsumePlan {
                amount: e.below(5) as u8,
                calls: 1 + e.below(6) as u8,
                stop_rc: callback_rc(e),
            },
        },
        83..=87 => {
            if e.chance(32) {
                return Op::MergeSelf { slot: slot(e) };
            }
            let (dst, src) = two_slots(e);
            Op::Merge { dst, src }
        }
        88..=90 => {
            if e.chance(32) {
                return Op::SwapSelf { slot: slot(e) };
            }
            let (a, b) = two_slots(e);
            Op::Swap { a, b }
        }
        91 => {
            let (s, t) = range(e);
            if e.chance(2) {
                Op::AddOom {
                    slot: slot(e),
                    s,
                    e: t,
                }
            } else {
                Op::RemoveOom {
                    slot: slot(e),
                    s,
                    e: t,
                }
            }
        }
        92..=93 if big || e.chance(4) => {
            let start = value(e);
            Op::Fill {
                slot: slot(e),
                start,
                count: if big && e.chance(12) {
                    1 + e.below(4200) as u16
                } else if big && e.chance(3) {
                    1 + e.below(1000) as u16
                } else {
                    1 + e.below(24) as u16
                },
                stride: 2 + e.below(6),
                len: e.below(3),
            }
        }
        _ => Op::DomainPrintk,
    }
}
