//! The writers' fast path for a set held in a single chunk with room for one more range: the
//! same steps as `core.rs`'s general `add_range` / `remove_range`, on a plain sorted vector with
//! indices instead of chunk positions (most sets are small: a guest's I/O ranges, an ioreq
//! server's claims). Differential tests and fuzzing run both paths: sets cross the chunk size.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use alloc::vec::Vec;

use super::core::Range;
use super::store::{prefix_len, CHUNK};
use crate::errno::{Errno, XenResult};

/// Tails of at most this many ranges move element by element (a memmove call costs more).
const SHORT_MOVE: usize = 8;

/// One chunk's ranges and the set's budget (Xen's `nr_ranges`).
pub(super) struct Flat<'a> {
    pub ranges: &'a mut Vec<Range>,
    pub nr_ranges: &'a mut i64,
}

impl Flat<'_> {
    #[inline(always)]
    fn find(&self, x: u64) -> Option<usize> {
        prefix_len(self.ranges, |r| r.s <= x).checked_sub(1)
    }

    /// `find(e)` for an `e` at or above a value whose `find` is `first`: usually the next range
    /// already starts above `e` (one compare instead of a second search).
    #[inline(always)]
    fn find_after(&self, first: Option<usize>, e: u64) -> Option<usize> {
        // `i + 1` on an index below a Vec's length cannot wrap.
        let next = first.map_or(0, |i| i.wrapping_add(1));
        match self.ranges.get(next) {
            Some(r) if r.s <= e => self.find(e),
            _ => first,
        }
    }

    /// Xen's `alloc_range` + `insert_range` at index `at`: -ENOMEM (nothing changed) when the
    /// budget or memory is exhausted. The chunk never grows past CHUNK (the caller leaves room).
    /// Out of line: it keeps the common no-allocation paths of its callers short.
    #[inline(never)]
    fn insert_new(&mut self, at: usize, r: Range) -> XenResult<()> {
        if *self.nr_ranges == 0 {
            return Err(Errno::ENOMEM);
        }
        let v = &mut *self.ranges;
        if at > v.len() || v.len() >= CHUNK {
            return Err(Errno::EINVAL);
        }
        if v.len() == v.capacity() {
            let want = v.capacity().saturating_mul(2).clamp(4, CHUNK);
            v.try_reserve_exact(want.saturating_sub(v.len()))
                .map_err(|_| Errno::ENOMEM)?;
        }
        if v.len().saturating_sub(at) <= SHORT_MOVE {
            // A short tail moves up by one as the new range is carried through it.
            let mut carry = r;
            if let Some(tail) = v.get_mut(at..) {
                for x in tail.iter_mut() {
                    core::mem::swap(x, &mut carry);
                }
            }
            v.push(carry); // Capacity is there: no allocation.
        } else {
            v.insert(at, r);
        }
        *self.nr_ranges = self.nr_ranges.wrapping_sub(1);
        Ok(())
    }

    /// Xen's `destroy_range` for the ranges at `idx` (inside the set: derived from `find`).
    #[inline(never)]
    fn free(&mut self, idx: core::ops::Range<usize>) {
        if idx.len() == 1 {
            self.free_one(idx.start);
            return;
        }
        if idx.end > self.ranges.len() || idx.start > idx.end {
            return;
        }
        let n = idx.len();
        self.ranges.drain(idx);
        *self.nr_ranges = self.nr_ranges.wrapping_add(n as i64);
    }

    #[inline(never)]
    fn free_one(&mut self, i: usize) {
        let v = &mut *self.ranges;
        let len = v.len();
        if i >= len {
            return;
        }
        if len.saturating_sub(i) <= SHORT_MOVE {
            // A short tail moves down by one, carried from the end.
            if let Some(mut carry) = v.pop() {
                if let Some(tail) = v.get_mut(i..) {
                    for x in tail.iter_mut().rev() {
                        core::mem::swap(x, &mut carry);
                    }
                }
            }
        } else {
            v.remove(i);
        }
        *self.nr_ranges = self.nr_ranges.wrapping_add(1);
    }

    /// `rangeset_add_range` (s <= e checked by the caller).
    #[allow(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        reason = "indices come from `find` (< len) or are first < x <= last < len; `+ 1` on an \
                  index cannot overflow a Vec length"
    )]
    pub fn add_range(&mut self, s: u64, e: u64) -> XenResult<()> {
        let first = self.find(s);
        let last = self.find_after(first, e);
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
            let Some(y) = last else {
                return Err(Errno::EINVAL);
            };
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
            // Ranges x + 1 ..= y now lie inside x (see the general path).
            self.free(x + 1..y + 1);
            x
        };
        if let Some(next) = self.ranges.get(x + 1).copied() {
            if self.ranges[x].e.wrapping_add(1) == next.s {
                self.ranges[x].e = next.e;
                self.free_one(x + 1);
            }
        }
        Ok(())
    }

    /// `rangeset_remove_range` (s <= e checked by the caller).
    #[allow(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        reason = "indices come from `find` (< len) and x <= last; `s - 1` only where a range starts \
                  below s, `e + 1` only where a range ends above e"
    )]
    pub fn remove_range(&mut self, s: u64, e: u64) -> XenResult<()> {
        let first = self.find(s);
        let last = self.find_after(first, e);

        if first == last {
            let Some(i) = first else { return Ok(()) };
            let x = self.ranges[i];
            if x.e < s {
                return Ok(());
            }
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
            // R1 (see the general path).
            if self.ranges[x].e >= s {
                self.ranges[x].e = s - 1;
            }
            x += 1;
        }
        self.free(x..y);
        // R2 (see the general path).
        if self.ranges[x].e <= e {
            self.free(x..x + 1);
        } else {
            self.ranges[x].s = e + 1;
        }
        Ok(())
    }
}
