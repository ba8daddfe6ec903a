//! The rangeset itself: a set of inclusive `u64` ranges with Xen 4.17's semantics, a range budget
//! (`rangeset_limit`), a name and flags for printing. Safe, allocation-fallible, platform-free.
//!
//! Ranges live in a chunked sorted vector (`store.rs`): lookups bisect, inserts and removals move
//! at most one chunk (add/remove/report count the ranges of a final chunk of up to 16 instead of
//! bisecting it). The set is always sorted and disjoint. It is also coalesced (no two ranges
//! touch) unless [`RangeList::claim_range`] was used: claiming extends a range up to its neighbour without merging them, exactly as Xen does, and the
//! other operations then treat the touching ranges exactly as Xen's list walk would.
//!
//! Deliberate differences from Xen's C are the `R` entries of FIDELITY.md; each is marked `R<n>`
//! at the line that implements it.
//!
//! Ranges are reached by position through checked accessors; arithmetic on range bounds whose
//! order the invariants fix carries an `allow` with the argument why nothing can wrap.
//! Everything else uses checked forms.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use alloc::vec::Vec;
use core::fmt;

use bitflags::bitflags;

use super::flat::Flat;
#[cfg(test)]
use super::store::{prefix_len, CHUNK, LINEAR_MAX};
use super::store::{Pos, Store};
use crate::errno::{Errno, XenResult};
#[cfg(any(test, feature = "host"))]
use crate::platform::console::write_pieces;
use crate::platform::console::Piece;

/// An inclusive range `[s, e]` (`s <= e`), Xen's `struct range` without the list links.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct Range {
    pub s: u64,
    pub e: u64,
}

bitflags! {
    /// `RANGESETF_*`: the flags `rangeset_new` accepts.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub struct RangesetFlags: u32 {
        /// `RANGESETF_prettyprint_hex`: print bounds as `%lx` instead of `%lu`.
        const PRETTYPRINT_HEX = 1 << 0;
    }
}

/// Longest name kept: Xen copies names into `char name[32]` with `strlcpy`.
pub const NAME_MAX: usize = 31;

/// The name used when none is given.
pub const NO_NAME: &[u8] = b"(no name)";

/// `nr_ranges` of a set without a limit. Xen's counter starts here and keeps counting down, so an
/// unlimited set never reaches 0.
const UNLIMITED: i64 = -1;

/// A rangeset: Xen's `struct rangeset` minus its lock and domain link (see `domain.rs`).
#[derive(Debug)]
pub struct RangeList {
    store: Store,
    /// Xen's `long nr_ranges`: ranges that may still be allocated; 0 blocks allocation. Decremented
    /// per allocated range and incremented per freed range, also when it is "unlimited" (< 0).
    nr_ranges: i64,
    flags: RangesetFlags,
    name: [u8; NAME_MAX],
    name_len: u8,
}

/// The ranges of a set, ascending (a view: see [`RangeList::ranges`]).
#[derive(Clone, Copy)]
pub struct Ranges<'a>(&'a Store);

impl<'a> Ranges<'a> {
    pub fn iter(&self) -> impl Iterator<Item = &'a Range> + 'a {
        self.0.iter()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// A copy; -ENOMEM when it cannot be allocated.
    pub fn try_to_vec(&self) -> XenResult<Vec<Range>> {
        let mut v = Vec::new();
        v.try_reserve_exact(self.len()).map_err(|_| Errno::ENOMEM)?;
        v.extend(self.iter().copied());
        Ok(v)
    }
    /// A copy (for tests and tools on the host; panics when out of memory, as `Vec` does).
    #[cfg(any(test, feature = "host"))]
    pub fn to_vec(&self) -> Vec<Range> {
        self.iter().copied().collect()
    }
}

impl fmt::Debug for Ranges<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq<[Range]> for Ranges<'_> {
    fn eq(&self, other: &[Range]) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl PartialEq<&[Range]> for Ranges<'_> {
    fn eq(&self, other: &&[Range]) -> bool {
        *self == **other
    }
}

impl RangeList {
    /// An empty, unlimited set. `name` is cut at its first NUL and at 31 bytes (strlcpy into
    /// `char[32]`); `None` gives `"(no name)"`. Allocates nothing.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn new(name: Option<&[u8]>, flags: RangesetFlags) -> Self {
        let src = name.unwrap_or(NO_NAME);
        let src = src.split(|&b| b == 0).next().unwrap_or(&[]);
        let mut buf = [0u8; NAME_MAX];
        let mut len = 0u8;
        for (dst, &b) in buf.iter_mut().zip(src) {
            *dst = b;
            // At most NAME_MAX (31) iterations: cannot overflow a u8.
            len = len.saturating_add(1);
        }
        RangeList {
            store: Store::new(),
            nr_ranges: UNLIMITED,
            flags,
            name: buf,
            name_len: len,
        }
    }

    /// The (possibly truncated) name, without a terminator.
    pub fn name(&self) -> &[u8] {
        self.name
            .get(..usize::from(self.name_len))
            .unwrap_or(&self.name)
    }

    pub fn flags(&self) -> RangesetFlags {
        self.flags
    }

    /// The ranges, ascending.
    pub fn ranges(&self) -> Ranges<'_> {
        Ranges(&self.store)
    }

    /// Xen's `nr_ranges` counter as it stands (for tests and the differential oracle).
    pub fn budget(&self) -> i64 {
        self.nr_ranges
    }

    /// `rangeset_limit`: at most `limit` more ranges may be allocated from now on. Meant for an
    /// empty set; on a non-empty one it is, as in Xen, a budget of `limit` *more* ranges.
    pub fn set_limit(&mut self, limit: u32) {
        self.nr_ranges = i64::from(limit);
    }

    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }

    /// The highest range starting at or below `x` (Xen's `find_range`), for the writers' general
    /// path (sets of more than one chunk; `flat.rs` counts the ranges of one-chunk sets instead).
    #[inline(always)]
    fn find(&self, x: u64) -> Option<Pos> {
        self.store.last_where::<true>(|r| r.s <= x)
    }

    /// [`RangeList::find`] by bisection at every size, for the lookups (contains, overlaps): there
    /// the set is not just written and a tiny set takes one or two steps, which beats the count.
    #[inline(always)]
    fn lookup(&self, x: u64) -> Option<Pos> {
        self.store.last_where::<true>(|r| r.s <= x)
    }

    #[inline(always)]
    fn get(&self, p: Pos) -> XenResult<Range> {
        self.store.get(p).copied().ok_or(Errno::EINVAL)
    }

    /// Runs `f` on the range at `p` (a position just found; nothing if there is none).
    #[inline(always)]
    fn update(&mut self, p: Pos, f: impl FnOnce(&mut Range)) {
        if let Some(r) = self.store.get_mut(p) {
            f(r);
        }
    }

    /// `find(e)` for an `e` at or above a value whose `find` is `first`: only ranges after `first`
    /// can differ, and usually the next one already starts above `e` (no second search).
    #[inline]
    fn find_after(&self, first: Option<Pos>, e: u64) -> Option<Pos> {
        let next = match first {
            Some(p) => self.store.next(p),
            None => self.store.first(),
        };
        match next.and_then(|p| self.store.get(p)) {
            Some(r) if r.s <= e => self.find(e),
            _ => first,
        }
    }

    /// Xen's `alloc_range` + `insert_range` after `after` (first for None): refused when the
    /// budget is 0 or memory runs out, leaving the set unchanged. The new range's position.
    #[inline(always)]
    fn insert_new(&mut self, after: Option<Pos>, r: Range) -> XenResult<Pos> {
        if self.nr_ranges == 0 {
            return Err(Errno::ENOMEM);
        }
        let p = self.store.insert_after(after, r)?;
        self.nr_ranges = self.nr_ranges.wrapping_sub(1);
        Ok(p)
    }

    /// Xen's `destroy_range` for the ranges `from` through `to`; each returns one unit of budget.
    /// Positions found before it may be stale afterwards (chunks merge).
    fn free_span(&mut self, from: Pos, to: Pos) {
        let n = self.store.remove_span(from, to);
        self.nr_ranges = self.nr_ranges.wrapping_add(n as i64);
    }

    /// [`RangeList::free_span`] of the one range at `p`, the common case.
    #[inline(always)]
    fn free_one(&mut self, p: Pos) {
        if self.store.remove(p) {
            self.nr_ranges = self.nr_ranges.wrapping_add(1);
        }
    }

    /// Frees every range (what `rangeset_destroy` does before freeing the set).
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn clear(&mut self) {
        let n = self.store.len();
        self.store = Store::new();
        self.nr_ranges = self.nr_ranges.wrapping_add(n as i64);
    }

    /// `rangeset_add_range`: adds `[s, e]`, coalescing with touching neighbours. Only a range that
    /// touches nothing needs a new range (-ENOMEM if the budget or memory is exhausted, set
    /// unchanged); extending, merging and swallowing always succeed.
    pub fn add_range(&mut self, s: u64, e: u64) -> XenResult<()> {
        if s > e {
            return Err(Errno::EINVAL); // R4
        }
        let nr_ranges = &mut self.nr_ranges;
        if let Some(rc) = self
            .store
            .with_single(|ranges| Flat { ranges, nr_ranges }.add_range(s, e))
        {
            return rc;
        }
        let first = self.find(s);
        let last = self.find_after(first, e);
        // Does a range end too early to touch a range starting at s?
        let apart = |r: &Range| r.e < s && r.e.wrapping_add(1) != s;

        let x = if first == last {
            match first {
                Some(i) if !apart(&self.get(i)?) => {
                    self.update(i, |r| r.e = r.e.max(e));
                    i
                }
                _ => self.insert_new(last, Range { s, e })?,
            }
        } else {
            // `last` is a later range than `first` (find is monotonic and s <= e).
            let Some(y) = last else {
                return Err(Errno::EINVAL);
            };
            // The range that absorbs [s, e]: the one touching s, else the next one, lowered to s.
            let x = match first {
                Some(i) if !apart(&self.get(i)?) => i,
                Some(i) => self.store.next(i).ok_or(Errno::EINVAL)?,
                None => self.store.first().ok_or(Errno::EINVAL)?,
            };
            let end = self.get(y)?.e.max(e);
            let lowered = Some(x) != first;
            self.update(x, |r| {
                if lowered {
                    r.s = s;
                }
                r.e = end;
            });
            // The ranges after x through y now lie inside it (each starts at or below e and ends
            // below the next one's start, so at or below `end`); every later one starts above
            // both e and y's end, so above `end`. They go, and x is found again (chunks may have
            // merged).
            if x != y {
                let xs = self.get(x)?.s;
                let from = self.store.next(x).ok_or(Errno::EINVAL)?;
                self.free_span(from, y);
                self.find(xs).ok_or(Errno::EINVAL)?
            } else {
                x
            }
        };

        // Coalesce with the following range if it now touches. Only one: on a set made
        // non-coalesced by claim_range, Xen merges just the immediate neighbour too.
        if let Some(nx) = self.store.next(x) {
            let next = self.get(nx)?;
            if self.get(x)?.e.wrapping_add(1) == next.s {
                self.update(x, |r| r.e = next.e);
                self.free_one(nx);
            }
        }
        Ok(())
    }

    /// `rangeset_remove_range`: subtracts `[s, e]`. Only splitting a range in two needs a new range
    /// (-ENOMEM if the budget or memory is exhausted, set unchanged).
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "`s - 1` only where a range starts below s, `e + 1` only where a range ends above \
                  e (see the comments)"
    )]
    pub fn remove_range(&mut self, s: u64, e: u64) -> XenResult<()> {
        if s > e {
            return Err(Errno::EINVAL); // R4
        }
        let nr_ranges = &mut self.nr_ranges;
        if let Some(rc) = self
            .store
            .with_single(|ranges| Flat { ranges, nr_ranges }.remove_range(s, e))
        {
            return rc;
        }
        let first = self.find(s);
        let last = self.find_after(first, e);

        if first == last {
            let Some(i) = first else { return Ok(()) };
            let x = self.get(i)?;
            if x.e < s {
                return Ok(());
            }
            // Here x.s <= s <= x.e, so s - 1 and e + 1 below cannot wrap.
            if x.s < s && x.e > e {
                // Split: the lower part keeps the range, the upper part is a new one. Trimmed
                // first (the insert may move the range into a new chunk), restored on failure.
                self.update(i, |r| r.e = s - 1);
                if let Err(err) = self.insert_new(Some(i), Range { s: e + 1, e: x.e }) {
                    self.update(i, |r| r.e = x.e);
                    return Err(err);
                }
            } else if x.s == s && x.e <= e {
                self.free_one(i);
            } else if x.s == s {
                self.update(i, |r| r.s = e + 1);
            } else {
                self.update(i, |r| r.e = s - 1);
            }
            return Ok(());
        }

        let Some(y) = last else { return Ok(()) };
        let mut x = match first {
            Some(i) => i,
            None => self.store.first().ok_or(Errno::EINVAL)?,
        };
        let xr = self.get(x)?;
        if xr.s < s {
            // R1: trim only a range that reaches s. (Xen sets x.e = s - 1 unconditionally, which
            // extends a range ending below s - 1.)
            if xr.e >= s {
                self.update(x, |r| r.e = s - 1);
            }
            x = self.store.next(x).ok_or(Errno::EINVAL)?;
        }
        // The ranges from x up to y go; y, the range that contained or followed e, goes too if it
        // ends at or below e, else it is cut to start at e + 1.
        // R2: a range ending at or below e goes, also when e is u64::MAX. (Xen sets its start to
        // e + 1, which wraps to 0 and keeps a corrupt range.)
        if self.get(y)?.e <= e {
            self.free_span(x, y);
        } else {
            self.update(y, |r| r.s = e + 1);
            if x != y {
                let before_y = self.store.prev(y).ok_or(Errno::EINVAL)?;
                self.free_span(x, before_y);
            }
        }
        Ok(())
    }

    /// `rangeset_contains_range`: is `[s, e]` inside one single range?
    #[inline(always)]
    pub fn contains_range(&self, s: u64, e: u64) -> bool {
        self.containing(s, e).is_some()
    }

    /// A handle of the range holding all of `[s, e]`, if there is one: what
    /// [`RangeList::contains_range`] tests. None when `s > e` (R4).
    #[inline(always)]
    pub fn containing(&self, s: u64, e: u64) -> Option<usize> {
        if s > e {
            return None; // R4
        }
        if let Some(h) = self.store.single() {
            let i = h.partition_point(|r| r.s <= s).checked_sub(1)?;
            return h.get(i).filter(|r| r.e >= e).map(|_| i);
        }
        let p = self.lookup(s)?;
        self.store.get(p).filter(|r| r.e >= e).map(|_| p.pack())
    }

    /// [`RangeList::containing`], trying the range of handle `hint` first (e.g. the one the last
    /// lookup found); any `hint` gives the same answer. A range holding `[s, e]` is the one the
    /// search finds: it starts at or below `s`, and every later range starts above its end, so
    /// above `s`.
    #[inline(always)]
    pub fn containing_hinted(&self, s: u64, e: u64, hint: usize) -> Option<usize> {
        if self.holds_at(hint, s, e) {
            // (`hint` is a valid handle: unpacking and packing give it back.)
            return Some(hint);
        }
        self.containing(s, e)
    }

    /// Whether the range of handle `hint` (any value: none may be there) holds `[s, e]`: the
    /// first step of [`RangeList::containing_hinted`], for callers that keep the search out of
    /// line.
    #[inline(always)]
    pub fn holds_at(&self, hint: usize, s: u64, e: u64) -> bool {
        // (s <= e: R4 makes a reversed range contained nowhere.)
        let holds = |r: &Range| s <= e && r.s <= s && e <= r.e;
        match self.store.single() {
            Some(h) => h.get(hint).is_some_and(holds),
            None => self.store.get(Pos::unpack(hint)).is_some_and(holds),
        }
    }

    /// `rangeset_overlaps_range`: does any range meet `[s, e]`?
    #[inline(always)]
    pub fn overlaps_range(&self, s: u64, e: u64) -> bool {
        if s > e {
            return false; // R4
        }
        if let Some(h) = self.store.single() {
            let n = h.partition_point(|r| r.s <= e);
            return n
                .checked_sub(1)
                .and_then(|i| h.get(i))
                .is_some_and(|r| r.e >= s);
        }
        self.lookup(e)
            .and_then(|p| self.store.get(p))
            .is_some_and(|r| r.e >= s)
    }

    #[inline(always)]
    pub fn add_singleton(&mut self, x: u64) -> XenResult<()> {
        self.add_range(x, x)
    }

    #[inline(always)]
    pub fn remove_singleton(&mut self, x: u64) -> XenResult<()> {
        self.remove_range(x, x)
    }

    #[inline(always)]
    pub fn contains_singleton(&self, x: u64) -> bool {
        self.contains_range(x, x)
    }

    /// `rangeset_report_ranges`: calls `cb(max(r.s, s), min(r.e, e))` for each range meeting
    /// `[s, e]`, ascending, and stops at the first non-zero result, which it returns (else 0).
    /// As in Xen there is no `s <= e` check: a range containing both gets `cb(s, e)` with s > e.
    pub fn report_ranges(&self, s: u64, e: u64, mut cb: impl FnMut(u64, u64) -> i32) -> i32 {
        // Xen walks from the first range and skips those ending below s (R3 is the 2014 bug of
        // starting at find(s)); ends are ascending, so a search finds the same start. Then the
        // walk goes chunk by chunk.
        let start = match self.store.last_where::<false>(|r| r.e < s) {
            Some(p) => self.store.next(p),
            None => self.store.first(),
        };
        let Some(mut at) = start else { return 0 };
        loop {
            let chunk = self.store.chunk(at.c);
            for r in chunk.get(at.i..).unwrap_or_default() {
                if r.s > e {
                    return 0;
                }
                let rc = cb(r.s.max(s), r.e.min(e));
                if rc != 0 {
                    return rc;
                }
            }
            match at.c.checked_add(1) {
                Some(c) if !self.store.chunk(c).is_empty() => at = Pos { c, i: 0 },
                _ => return 0,
            }
        }
    }

    /// `rangeset_claim_range`: takes the lowest free block of `size` values and returns its start.
    /// A block before the first range gets a new range (-ENOMEM possible); otherwise the range
    /// before the block is extended, without merging it with the range after (so they can touch).
    /// -ENOSPC if no gap is big enough.
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "`r.e + 1` after checking r.e != MAX; size >= 1; the block fits below the next \
                  range or below 2^64 (checked), so `start + (size - 1)` and `e += size` cannot \
                  wrap"
    )]
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn claim_range(&mut self, size: u64) -> XenResult<u64> {
        if size == 0 {
            return Err(Errno::EINVAL); // R6
        }
        let mut start = 0u64;
        let mut prev: Option<Pos> = None;
        let mut found = false;
        let mut at = self.store.first();
        while let Some(p) = at {
            let r = self.get(p)?;
            if r.s.wrapping_sub(start) >= size {
                found = true;
                break;
            }
            if r.e == u64::MAX {
                return Err(Errno::ENOSPC);
            }
            start = r.e + 1;
            prev = Some(p);
            at = self.store.next(p);
        }
        // R5: the space above `start` holds 2^64 - start values; compare without computing that
        // (Xen's `(~0UL - start) + 1` wraps to 0 for an empty set and refuses every claim).
        if !found && u64::MAX - start < size - 1 {
            return Err(Errno::ENOSPC);
        }
        match prev {
            None => {
                self.insert_new(
                    None,
                    Range {
                        s: start,
                        e: start + (size - 1),
                    },
                )?;
            }
            Some(p) => self.update(p, |r| r.e += size),
        }
        Ok(start)
    }

    /// `rangeset_consume_ranges`: repeatedly offers the first range to `cb(s, e, &mut consumed)`,
    /// drops the first `consumed` values of it (the whole range once all are consumed) and stops
    /// when `cb` returns non-zero (returned) or the set is empty (0).
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "ranges have s <= e; `r.s + consumed` only when consumed <= e - s"
    )]
    pub fn consume_ranges(&mut self, cb: impl FnMut(u64, u64, &mut u64) -> i32) -> i32 {
        self.consume_ranges_with_limits(cb, || None)
    }

    /// [`RangeList::consume_ranges`] where `limit_set_by_cb` tells, after each callback, whether
    /// the callback called `rangeset_limit` on this very set (which takes no lock in Xen, so its
    /// new budget counts before the consumed range is freed, exactly as Xen's `nr_ranges` store).
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "ranges have s <= e; `r.s + consumed` only when consumed <= e - s"
    )]
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn consume_ranges_with_limits(
        &mut self,
        mut cb: impl FnMut(u64, u64, &mut u64) -> i32,
        mut limit_set_by_cb: impl FnMut() -> Option<u32>,
    ) -> i32 {
        let mut rc = 0;
        while let Some(p) = self.store.first() {
            let Ok(r) = self.get(p) else { break };
            let mut consumed = 0u64;
            rc = cb(r.s, r.e, &mut consumed);
            if let Some(limit) = limit_set_by_cb() {
                self.set_limit(limit);
            }
            // R7: `consumed` covering the whole range exhausts it, also for a range ending at
            // u64::MAX (Xen's `x->s += consumed` wraps to 0 there and keeps a corrupt range).
            if consumed > r.e - r.s {
                self.free_one(p);
            } else {
                self.update(p, |x| x.s = r.s + consumed);
            }
            if rc != 0 {
                break;
            }
        }
        rc
    }

    /// `rangeset_merge(self, other)`: adds every range of `other`, in ascending order, stopping at
    /// the first failure (ranges added before it stay, as in Xen).
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn merge(&mut self, other: &RangeList) -> XenResult<()> {
        let rc = other.report_ranges(0, u64::MAX, |s, e| match self.add_range(s, e) {
            Ok(()) => 0,
            Err(err) => err.to_neg(),
        });
        Errno::from_ret(rc).map(|_| ())
    }

    /// `rangeset_swap`: exchanges the ranges only. Names, flags and the budget counters stay, so
    /// each counter now accounts for the other set's ranges, exactly as in Xen.
    pub fn swap_ranges(&mut self, other: &mut RangeList) {
        self.store.swap(&mut other.store);
    }

    /// Checks the structural invariants: each range has s <= e, ranges ascend and are disjoint,
    /// and (if `coalesced`) none touch; and the chunks' own. Returns the first violation.
    pub fn check_invariants(&self, coalesced: bool) -> Result<(), &'static str> {
        self.store.check()?;
        let mut prev: Option<Range> = None;
        for r in self.store.iter() {
            if r.s > r.e {
                return Err("range with s > e");
            }
            if let Some(p) = prev {
                if p.e >= r.s {
                    return Err("ranges out of order or overlapping");
                }
                if coalesced && p.e.checked_add(1) == Some(r.s) {
                    return Err("touching ranges in a coalesced set");
                }
            }
            prev = Some(*r);
        }
        Ok(())
    }
}

impl RangeList {
    /// Xen's `rangeset_printk`: `%-10s {` with the name, then ` s-e` or ` s` per range separated
    /// by commas (bounds as `print_limit` prints them: `%lx` or `%lu`), then ` }`; no newline.
    /// Handed to `out` in pieces (the name, then one call per range): a long set is never held in
    /// one buffer.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn print(&self, out: &mut dyn FnMut(&[Piece<'_>])) {
        let name = self.name();
        // R10: bytes that are not UTF-8 print as U+FFFD (the console takes text).
        for chunk in name.utf8_chunks() {
            out(&[Piece::Str(chunk.valid())]);
            if !chunk.invalid().is_empty() {
                out(&[Piece::Str("\u{fffd}")]);
            }
        }
        // `%-10s` pads by bytes.
        const PAD: &str = "          ";
        let pad = PAD.get(name.len().min(PAD.len())..).unwrap_or_default();
        out(&[Piece::Str(pad), Piece::Str(" {")]);
        let hex = self.flags.contains(RangesetFlags::PRETTYPRINT_HEX);
        let bound = |v: u64| if hex { Piece::Hex(v) } else { Piece::Dec(v) };
        for (i, r) in self.store.iter().enumerate() {
            let sep = Piece::Str(if i == 0 { " " } else { ", " });
            if r.s == r.e {
                out(&[sep, bound(r.s)]);
            } else {
                out(&[sep, bound(r.s), Piece::Str("-"), bound(r.e)]);
            }
        }
        out(&[Piece::Str(" }")]);
    }
}

/// [`RangeList::print`] as text, for tests and tools on the host.
#[cfg(any(test, feature = "host"))]
impl fmt::Display for RangeList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut text = alloc::string::String::new();
        self.print(&mut |pieces| {
            write_pieces(pieces, &mut |b| {
                text.push_str(&alloc::string::String::from_utf8_lossy(b))
            })
        });
        f.write_str(&text)
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
