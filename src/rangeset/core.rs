//! The rangeset itself: a set of inclusive `u64` ranges with Xen 4.17's semantics, a range budget
//! (`rangeset_limit`), a name and flags for printing. Safe, allocation-fallible, platform-free.
//!
//! Ranges live in a sorted `Vec`; lookups are binary searches (add/remove/report count the ranges
//! of sets of up to 16 instead, see `prefix_len`). The set is always sorted and
//! disjoint. It is also coalesced (no two ranges touch) unless [`RangeSet::claim_range`] was used:
//! claiming extends a range up to its neighbour without merging them, exactly as Xen does, and the
//! other operations then treat the touching ranges exactly as Xen's list walk would.
//!
//! Deliberate differences from Xen's C are the `R` entries of FIDELITY.md; each is marked `R<n>`
//! at the line that implements it.
//!
//! Indexing and arithmetic here are on indices found by binary search and on range bounds whose
//! order the invariants fix; the few functions that need them carry an `allow` with the argument
//! why nothing can go out of bounds or wrap. Everything else uses checked forms.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use alloc::vec::Vec;
use core::fmt;

use bitflags::bitflags;

use crate::errno::{Errno, XenResult};
use crate::platform::fallible::try_insert;

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

/// Tails of at most this many ranges are moved element by element when a range is inserted or
/// removed, instead of by `Vec::insert`/`drain` (a memmove call).
const SHORT_MOVE: usize = 8;

/// Sets of at most this many ranges are searched by counting instead of by bisection.
const LINEAR_MAX: usize = 16;

/// `ranges.partition_point(pred)`, for a `pred` that holds on a prefix of `ranges` (starts and ends
/// ascend). On small sets every range is tested and the hits counted, without branches: those
/// loads are independent, where a binary search waits for each before the next.
#[inline]
fn prefix_len(ranges: &[Range], pred: impl Fn(&Range) -> bool) -> usize {
    if ranges.len() <= LINEAR_MAX {
        // At most LINEAR_MAX: the count cannot wrap.
        ranges
            .iter()
            .fold(0usize, |n, r| n.wrapping_add(usize::from(pred(r))))
    } else {
        ranges.partition_point(pred)
    }
}

/// A rangeset: Xen's `struct rangeset` minus its lock and domain link (see `domain.rs`).
#[derive(Debug)]
pub struct RangeSet {
    ranges: Vec<Range>,
    /// Xen's `long nr_ranges`: ranges that may still be allocated; 0 blocks allocation. Decremented
    /// per allocated range and incremented per freed range, also when it is "unlimited" (< 0).
    nr_ranges: i64,
    flags: RangesetFlags,
    name: [u8; NAME_MAX],
    name_len: u8,
}

impl RangeSet {
    /// An empty, unlimited set. `name` is cut at its first NUL and at 31 bytes (strlcpy into
    /// `char[32]`); `None` gives `"(no name)"`. Allocates nothing.
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
        RangeSet {
            ranges: Vec::new(),
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
    pub fn ranges(&self) -> &[Range] {
        &self.ranges
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
        self.ranges.is_empty()
    }

    /// Index of the highest range starting at or below `x` (Xen's `find_range`), for the writers:
    /// small sets are counted ([`prefix_len`]).
    fn find(&self, x: u64) -> Option<usize> {
        prefix_len(&self.ranges, |r| r.s <= x).checked_sub(1)
    }

    /// [`RangeSet::find`] by bisection at every size, for the lookups (contains, overlaps): there
    /// the set is not just written and a tiny set takes one or two steps, which beats the count.
    fn lookup(&self, x: u64) -> Option<usize> {
        self.ranges.partition_point(|r| r.s <= x).checked_sub(1)
    }

    /// `find(e)` for an `e` at or above a value whose `find` is `first`: only ranges after `first`
    /// can differ, and usually the next one already starts above `e` (no second binary search).
    #[inline]
    fn find_after(&self, first: Option<usize>, e: u64) -> Option<usize> {
        let base = first.map_or(0, |i| i.saturating_add(1));
        let rest = self.ranges.get(base..).unwrap_or_default();
        match rest.first() {
            Some(r) if r.s <= e => base
                .checked_add(prefix_len(rest, |r| r.s <= e))
                .and_then(|n| n.checked_sub(1)),
            _ => first,
        }
    }

    /// Xen's `alloc_range` + `insert_range`: refused when the budget is 0 or memory runs out,
    /// leaving the set unchanged.
    #[inline(always)]
    fn insert_new(&mut self, at: usize, r: Range) -> XenResult<()> {
        if self.nr_ranges == 0 {
            return Err(Errno::ENOMEM);
        }
        let spare = self.ranges.capacity() > self.ranges.len();
        match self.ranges.get_mut(at..) {
            // A short tail moves up by one as the new range is carried through it; a library
            // memmove call costs more than the move itself for a few ranges.
            Some(tail) if spare && tail.len() <= SHORT_MOVE => {
                let mut carry = r;
                for x in tail.iter_mut() {
                    core::mem::swap(x, &mut carry);
                }
                // Capacity is there (checked above): push cannot reallocate.
                self.ranges.push(carry);
            }
            _ => try_insert(&mut self.ranges, at, r)?,
        }
        self.nr_ranges = self.nr_ranges.wrapping_sub(1);
        Ok(())
    }

    /// Xen's `destroy_range` for every range in `idx`; each returns one unit of budget. Callers
    /// pass index ranges inside the set (derived from `find`), so the drain cannot go out of bounds.
    fn free(&mut self, idx: core::ops::Range<usize>) {
        if idx.len() == 1 {
            self.free_one(idx.start);
            return;
        }
        let n = idx.len();
        self.ranges.drain(idx);
        self.nr_ranges = self.nr_ranges.wrapping_add(n as i64);
    }

    /// [`RangeSet::free`] of the one range at `i` (< len), the common case.
    #[inline(always)]
    fn free_one(&mut self, i: usize) {
        let len = self.ranges.len();
        if i >= len {
            return; // Not a range of the set: nothing to free.
        }
        if len.saturating_sub(i) <= SHORT_MOVE {
            // A short tail moves down by one, carried from the end.
            if let Some(mut carry) = self.ranges.pop() {
                if let Some(tail) = self.ranges.get_mut(i..) {
                    for x in tail.iter_mut().rev() {
                        core::mem::swap(x, &mut carry);
                    }
                }
            }
        } else {
            self.ranges.remove(i);
        }
        self.nr_ranges = self.nr_ranges.wrapping_add(1);
    }

    /// Frees every range (what `rangeset_destroy` does before freeing the set).
    pub fn clear(&mut self) {
        self.free(0..self.ranges.len());
    }

    /// `rangeset_add_range`: adds `[s, e]`, coalescing with touching neighbours. Only a range that
    /// touches nothing needs a new range (-ENOMEM if the budget or memory is exhausted, set
    /// unchanged); extending, merging and swallowing always succeed.
    #[allow(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        reason = "indices come from `find` (< len) or are first < x <= last < len; `+ 1` on an \
                  index cannot overflow a Vec length"
    )]
    pub fn add_range(&mut self, s: u64, e: u64) -> XenResult<()> {
        if s > e {
            return Err(Errno::EINVAL); // R4
        }
        let first = self.find(s);
        let last = self.find_after(first, e);
        // Does the range at index i end too early to touch a range starting at s?
        let apart = |r: &Range| r.e < s && r.e.wrapping_add(1) != s;

        let x = if first == last {
            match first {
                Some(i) if !apart(&self.ranges[i]) => {
                    let r = &mut self.ranges[i];
                    r.e = r.e.max(e);
                    i
                }
                _ => {
                    let at = last.map_or(0, |y| y + 1);
                    self.insert_new(at, Range { s, e })?;
                    at
                }
            }
        } else {
            // `last` is a later range than `first` (find is monotonic and s <= e).
            let Some(y) = last else {
                return Err(Errno::EINVAL);
            };
            // The range that absorbs [s, e]: the one touching s, else the next one, lowered to s.
            let x = match first {
                Some(i) if !apart(&self.ranges[i]) => i,
                Some(i) => i + 1,
                None => 0,
            };
            if Some(x) != first {
                self.ranges[x].s = s;
            }
            let end = self.ranges[y].e.max(e);
            self.ranges[x].e = end;
            // Ranges now inside the absorbing one go; ends are ascending, so they are contiguous.
            let upto = x + 1 + self.ranges[x + 1..].partition_point(|r| r.e <= end);
            self.free(x + 1..upto);
            x
        };

        // Coalesce with the following range if it now touches. Only one: on a set made
        // non-coalesced by claim_range, Xen merges just the immediate neighbour too.
        if let Some(next) = self.ranges.get(x + 1).copied() {
            if self.ranges[x].e.wrapping_add(1) == next.s {
                self.ranges[x].e = next.e;
                self.free_one(x + 1);
            }
        }
        Ok(())
    }

    /// `rangeset_remove_range`: subtracts `[s, e]`. Only splitting a range in two needs a new range
    /// (-ENOMEM if the budget or memory is exhausted, set unchanged).
    #[allow(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        reason = "indices come from `find` (< len) and x <= last; `s - 1` only where a range starts \
                  below s, `e + 1` only where a range ends above e (see the comments)"
    )]
    pub fn remove_range(&mut self, s: u64, e: u64) -> XenResult<()> {
        if s > e {
            return Err(Errno::EINVAL); // R4
        }
        let first = self.find(s);
        let last = self.find_after(first, e);

        if first == last {
            let Some(i) = first else { return Ok(()) };
            let x = self.ranges[i];
            if x.e < s {
                return Ok(());
            }
            // Here x.s <= s <= x.e, so s - 1 and e + 1 below cannot wrap.
            if x.s < s && x.e > e {
                self.insert_new(i + 1, Range { s: e + 1, e: x.e })?;
                self.ranges[i].e = s - 1;
            } else if x.s == s && x.e <= e {
                self.free_one(i);
            } else if x.s == s {
                self.ranges[i].s = e + 1;
            } else {
                self.ranges[i].e = s - 1;
            }
            return Ok(());
        }

        let Some(y) = last else { return Ok(()) };
        let mut x = first.unwrap_or(0);
        if self.ranges[x].s < s {
            // R1: trim only a range that reaches s. (Xen sets x.e = s - 1 unconditionally, which
            // extends a range ending below s - 1.)
            if self.ranges[x].e >= s {
                self.ranges[x].e = s - 1;
            }
            x += 1;
        }
        self.free(x..y);
        // The range that contained or followed e is now at x.
        // R2: a range ending at or below e goes, also when e is u64::MAX. (Xen sets its start to
        // e + 1, which wraps to 0 and keeps a corrupt range.)
        if self.ranges[x].e <= e {
            self.free(x..x + 1);
        } else {
            self.ranges[x].s = e + 1;
        }
        Ok(())
    }

    /// `rangeset_contains_range`: is `[s, e]` inside one single range?
    pub fn contains_range(&self, s: u64, e: u64) -> bool {
        self.containing(s, e).is_some()
    }

    /// The index of the range holding all of `[s, e]`, if there is one: what
    /// [`RangeSet::contains_range`] tests. None when `s > e` (R4).
    pub fn containing(&self, s: u64, e: u64) -> Option<usize> {
        if s > e {
            return None; // R4
        }
        let i = self.lookup(s)?;
        self.ranges.get(i).filter(|r| r.e >= e).map(|_| i)
    }

    /// [`RangeSet::containing`], trying the range at index `hint` first (e.g. the one the last
    /// lookup found); any `hint` gives the same answer. A range holding `[s, e]` is the one the
    /// binary search finds: it starts at or below `s`, and every later range starts above its end,
    /// so above `s`.
    pub fn containing_hinted(&self, s: u64, e: u64, hint: usize) -> Option<usize> {
        if s <= e && self.ranges.get(hint).is_some_and(|r| r.s <= s && e <= r.e) {
            return Some(hint);
        }
        self.containing(s, e)
    }

    /// `rangeset_overlaps_range`: does any range meet `[s, e]`?
    pub fn overlaps_range(&self, s: u64, e: u64) -> bool {
        if s > e {
            return false; // R4
        }
        self.lookup(e)
            .and_then(|i| self.ranges.get(i))
            .is_some_and(|r| r.e >= s)
    }

    pub fn add_singleton(&mut self, x: u64) -> XenResult<()> {
        self.add_range(x, x)
    }

    pub fn remove_singleton(&mut self, x: u64) -> XenResult<()> {
        self.remove_range(x, x)
    }

    pub fn contains_singleton(&self, x: u64) -> bool {
        self.contains_range(x, x)
    }

    /// `rangeset_report_ranges`: calls `cb(max(r.s, s), min(r.e, e))` for each range meeting
    /// `[s, e]`, ascending, and stops at the first non-zero result, which it returns (else 0).
    /// As in Xen there is no `s <= e` check: a range containing both gets `cb(s, e)` with s > e.
    pub fn report_ranges(&self, s: u64, e: u64, mut cb: impl FnMut(u64, u64) -> i32) -> i32 {
        // Xen walks from the first range and skips those ending below s (R3 is the 2014 bug of
        // starting at find(s)); ends are ascending, so a binary search finds the same start.
        let from = prefix_len(&self.ranges, |r| r.e < s);
        for r in self.ranges.iter().skip(from) {
            if r.s > e {
                break;
            }
            let rc = cb(r.s.max(s), r.e.min(e));
            if rc != 0 {
                return rc;
            }
        }
        0
    }

    /// `rangeset_claim_range`: takes the lowest free block of `size` values and returns its start.
    /// A block before the first range gets a new range (-ENOMEM possible); otherwise the range
    /// before the block is extended, without merging it with the range after (so they can touch).
    /// -ENOSPC if no gap is big enough.
    #[allow(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        reason = "`r.e + 1` after checking r.e != MAX; size >= 1; the block fits below the next \
                  range or below 2^64 (checked), so `start + (size - 1)` and `e += size` cannot \
                  wrap; `prev` is an index of the loop"
    )]
    pub fn claim_range(&mut self, size: u64) -> XenResult<u64> {
        if size == 0 {
            return Err(Errno::EINVAL); // R6
        }
        let mut start = 0u64;
        let mut prev: Option<usize> = None;
        let mut found = false;
        for (i, r) in self.ranges.iter().enumerate() {
            if r.s.wrapping_sub(start) >= size {
                found = true;
                break;
            }
            if r.e == u64::MAX {
                return Err(Errno::ENOSPC);
            }
            start = r.e + 1;
            prev = Some(i);
        }
        // R5: the space above `start` holds 2^64 - start values; compare without computing that
        // (Xen's `(~0UL - start) + 1` wraps to 0 for an empty set and refuses every claim).
        if !found && u64::MAX - start < size - 1 {
            return Err(Errno::ENOSPC);
        }
        match prev {
            None => self.insert_new(
                0,
                Range {
                    s: start,
                    e: start + (size - 1),
                },
            )?,
            Some(p) => self.ranges[p].e += size,
        }
        Ok(start)
    }

    /// `rangeset_consume_ranges`: repeatedly offers the first range to `cb(s, e, &mut consumed)`,
    /// drops the first `consumed` values of it (the whole range once all are consumed) and stops
    /// when `cb` returns non-zero (returned) or the set is empty (0).
    #[allow(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        reason = "ranges have s <= e; `r.s + consumed` only when consumed <= e - s; `done` is the \
                  index `get` just returned a range for"
    )]
    pub fn consume_ranges(&mut self, mut cb: impl FnMut(u64, u64, &mut u64) -> i32) -> i32 {
        // Exhausted ranges are dropped in one go at the end: nobody can look at the set meanwhile.
        let mut done = 0;
        let mut rc = 0;
        while let Some(r) = self.ranges.get(done).copied() {
            let mut consumed = 0u64;
            rc = cb(r.s, r.e, &mut consumed);
            // R7: `consumed` covering the whole range exhausts it, also for a range ending at
            // u64::MAX (Xen's `x->s += consumed` wraps to 0 there and keeps a corrupt range).
            if consumed > r.e - r.s {
                done += 1;
            } else {
                self.ranges[done].s = r.s + consumed;
            }
            if rc != 0 {
                break;
            }
        }
        self.free(0..done);
        rc
    }

    /// `rangeset_merge(self, other)`: adds every range of `other`, in ascending order, stopping at
    /// the first failure (ranges added before it stay, as in Xen).
    pub fn merge(&mut self, other: &RangeSet) -> XenResult<()> {
        let rc = other.report_ranges(0, u64::MAX, |s, e| match self.add_range(s, e) {
            Ok(()) => 0,
            Err(err) => err.to_neg(),
        });
        Errno::from_ret(rc).map(|_| ())
    }

    /// `rangeset_swap`: exchanges the ranges only. Names, flags and the budget counters stay, so
    /// each counter now accounts for the other set's ranges, exactly as in Xen.
    pub fn swap_ranges(&mut self, other: &mut RangeSet) {
        core::mem::swap(&mut self.ranges, &mut other.ranges);
    }

    /// Checks the structural invariants: each range has s <= e, ranges ascend and are disjoint,
    /// and (if `coalesced`) none touch. Returns a description of the first violation.
    pub fn check_invariants(&self, coalesced: bool) -> Result<(), &'static str> {
        let mut prev: Option<Range> = None;
        for r in &self.ranges {
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

/// Writes one bound as Xen's `print_limit` does: `%lx` or `%lu`.
fn write_bound(f: &mut fmt::Formatter<'_>, hex: bool, v: u64) -> fmt::Result {
    if hex {
        write!(f, "{v:x}")
    } else {
        write!(f, "{v}")
    }
}

/// Xen's `rangeset_printk`: `%-10s {` with the name, then ` s-e` or ` s` per range separated by
/// commas, then ` }`; no newline.
impl fmt::Display for RangeSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.name();
        // R10: bytes that are not UTF-8 print as U+FFFD (the console takes text).
        for chunk in name.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{fffd}")?;
            }
        }
        // `%-10s` pads by bytes.
        for _ in name.len()..10 {
            f.write_str(" ")?;
        }
        f.write_str(" {")?;
        let hex = self.flags.contains(RangesetFlags::PRETTYPRINT_HEX);
        for (i, r) in self.ranges.iter().enumerate() {
            f.write_str(if i == 0 { " " } else { ", " })?;
            write_bound(f, hex, r.s)?;
            if r.s != r.e {
                f.write_str("-")?;
                write_bound(f, hex, r.e)?;
            }
        }
        f.write_str(" }")
    }
}

#[cfg(test)]
#[path = "core_tests.rs"]
mod tests;
