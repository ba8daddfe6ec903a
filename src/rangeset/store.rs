//! The rangeset's storage: sorted ranges in chunks of at most [`CHUNK`] (32), so that an insert or a
//! removal moves at most one chunk's tail (and, when a chunk splits or empties, the chunk list's
//! pointers), never the whole set. Lookups bisect the chunks by their first range, then the chunk.
//!
//! A set of up to [`CHUNK`] ranges is one chunk, the `head` vector held inline in the set: small
//! sets cost what a plain sorted vector costs. Later chunks live in `tail`. Every chunk is non-empty,
//! except `head` when the whole store is empty; chunks ascend, so the concatenation is sorted.
//!
//! A position ([`Pos`]) names a chunk and an index in it. Every allocation happens before anything
//! moves: a failed allocation (-ENOMEM) leaves the store unchanged.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use alloc::vec::Vec;

use super::core::Range;
use crate::errno::{Errno, XenResult};

/// Most ranges in one chunk. A full chunk splits in two halves.
pub(super) const CHUNK: usize = 32;

/// A chunk that falls below this many ranges is merged with a neighbour when they fit together in
/// the memory one of them already has (nothing is allocated for it).
const LOW: usize = CHUNK / 4;

/// Sets (or final chunks) of at most this many ranges are searched by counting instead of by
/// bisection: the loads are independent, where a bisection waits for each before the next.
pub(super) const LINEAR_MAX: usize = 16;

/// `ranges.partition_point(pred)` for a `pred` that holds on a prefix of `ranges`, counted
/// without branches on small slices.
#[inline]
pub(super) fn prefix_len(ranges: &[Range], pred: impl Fn(&Range) -> bool) -> usize {
    if ranges.len() <= LINEAR_MAX {
        // At most LINEAR_MAX: the count cannot wrap.
        ranges
            .iter()
            .fold(0usize, |n, r| n.wrapping_add(usize::from(pred(r))))
    } else {
        ranges.partition_point(pred)
    }
}

/// A range's place: chunk `c` (0 is `head`), index `i` in it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) struct Pos {
    pub c: usize,
    pub i: usize,
}

impl Pos {
    /// Packs a position into one word (`containing_hinted`'s hint): chunks hold fewer than 256.
    pub fn pack(self) -> usize {
        self.c.wrapping_shl(8) | (self.i & 0xff)
    }
    pub fn unpack(h: usize) -> Pos {
        Pos {
            c: h >> 8,
            i: h & 0xff,
        }
    }
}
const _: () = assert!(CHUNK < 256);

#[derive(Debug, Default)]
pub(super) struct Store {
    head: Vec<Range>,
    tail: Vec<Vec<Range>>,
    len: usize,
}

impl Store {
    pub fn new() -> Self {
        Store::default()
    }

    #[inline(always)]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline(always)]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The store's only chunk, when it has one (most sets): the lookups' fast path. Its index `i`
    /// is position `(0, i)`, whose packed form is `i`.
    #[inline(always)]
    pub fn single(&self) -> Option<&[Range]> {
        self.tail.is_empty().then_some(self.head.as_slice())
    }

    /// Runs `f` on the store's only chunk when there is one chunk with room for one more range
    /// (the writers' flat fast path, `flat.rs`); None otherwise.
    #[inline(always)]
    pub fn with_single<R>(&mut self, f: impl FnOnce(&mut Vec<Range>) -> R) -> Option<R> {
        if !self.tail.is_empty() || self.head.len() >= CHUNK {
            return None;
        }
        let r = f(&mut self.head);
        self.len = self.head.len();
        Some(r)
    }

    /// Chunk `c` (empty past the end).
    #[inline(always)]
    pub fn chunk(&self, c: usize) -> &[Range] {
        match c.checked_sub(1) {
            None => &self.head,
            Some(t) => self.tail.get(t).map_or(&[], |v| v.as_slice()),
        }
    }

    #[inline(always)]
    fn chunk_vec(&mut self, c: usize) -> Option<&mut Vec<Range>> {
        match c.checked_sub(1) {
            None => Some(&mut self.head),
            Some(t) => self.tail.get_mut(t),
        }
    }

    #[inline(always)]
    pub fn get(&self, p: Pos) -> Option<&Range> {
        self.chunk(p.c).get(p.i)
    }

    #[inline(always)]
    pub fn get_mut(&mut self, p: Pos) -> Option<&mut Range> {
        self.chunk_vec(p.c)?.get_mut(p.i)
    }

    #[inline(always)]
    pub fn first(&self) -> Option<Pos> {
        (!self.head.is_empty()).then_some(Pos { c: 0, i: 0 })
    }

    /// The position after `p`.
    #[inline(always)]
    pub fn next(&self, p: Pos) -> Option<Pos> {
        let i = p.i.checked_add(1)?;
        if i < self.chunk(p.c).len() {
            return Some(Pos { c: p.c, i });
        }
        let c = p.c.checked_add(1)?;
        (!self.chunk(c).is_empty()).then_some(Pos { c, i: 0 })
    }

    /// The position before `p`.
    #[inline(always)]
    pub fn prev(&self, p: Pos) -> Option<Pos> {
        if let Some(i) = p.i.checked_sub(1) {
            return Some(Pos { c: p.c, i });
        }
        let c = p.c.checked_sub(1)?;
        let i = self.chunk(c).len().checked_sub(1)?;
        Some(Pos { c, i })
    }

    /// The last position whose range satisfies `pred`, which must hold on a prefix of the ranges
    /// (as `r.s <= x` or `r.e < x` do). `BISECT`: bisect even a small final chunk (lookups),
    /// instead of counting it (writers).
    #[inline(always)]
    pub fn last_where<const BISECT: bool>(&self, pred: impl Fn(&Range) -> bool) -> Option<Pos> {
        // The last chunk whose first range satisfies pred: head (c = 0) when there is no other
        // chunk, else one past the count of such chunks in tail (tail[k - 1] is chunk k).
        let c = if self.tail.is_empty() {
            0
        } else if !self.head.first().is_some_and(&pred) {
            return None;
        } else {
            self.tail
                .partition_point(|ch| ch.first().is_some_and(&pred))
        };
        let ch = self.chunk(c);
        let n = if BISECT {
            ch.partition_point(&pred)
        } else {
            prefix_len(ch, &pred)
        };
        Some(Pos {
            c,
            i: n.checked_sub(1)?,
        })
    }

    /// Every range, ascending.
    pub fn iter(&self) -> impl Iterator<Item = &Range> + '_ {
        self.head
            .iter()
            .chain(self.tail.iter().flat_map(|ch| ch.iter()))
    }

    /// Inserts `r` right after `after` (at the front for None), in `after`'s chunk; the caller
    /// keeps the order. Returns the new range's position. -ENOMEM leaves the store unchanged.
    pub fn insert_after(&mut self, after: Option<Pos>, r: Range) -> XenResult<Pos> {
        let at = match after {
            None => Pos { c: 0, i: 0 },
            Some(p) => Pos {
                c: p.c,
                i: p.i.checked_add(1).ok_or(Errno::EINVAL)?,
            },
        };
        let len = self.chunk(at.c).len();
        if at.i > len || (at.c > 0 && len == 0) {
            return Err(Errno::EINVAL); // Not a place in the store.
        }
        let pos = if len < CHUNK {
            let ch = self.chunk_vec(at.c).ok_or(Errno::EINVAL)?;
            if ch.len() == ch.capacity() {
                // Grow by doubling, never past CHUNK (exact, so a chunk's memory stays bounded).
                let want = ch.capacity().saturating_mul(2).clamp(4, CHUNK);
                ch.try_reserve_exact(want.saturating_sub(ch.len()))
                    .map_err(|_| Errno::ENOMEM)?;
            }
            if !insert_short(ch, at.i, r) {
                return Err(Errno::ENOMEM);
            }
            at
        } else {
            self.split_insert(at, r)?
        };
        self.len = self.len.saturating_add(1);
        Ok(pos)
    }

    /// Inserts into the full chunk `at.c` by splitting it into two halves first.
    #[allow(
        clippy::arithmetic_side_effects,
        reason = "at.c < chunk count <= tail.len() + 1; CHUNK / 2 and at.i <= CHUNK are small"
    )]
    fn split_insert(&mut self, at: Pos, r: Range) -> XenResult<Pos> {
        self.tail.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
        let mut upper = Vec::new();
        upper.try_reserve_exact(CHUNK).map_err(|_| Errno::ENOMEM)?;
        // Nothing can fail from here on.
        let ch = self.chunk_vec(at.c).ok_or(Errno::EINVAL)?;
        let half = CHUNK / 2;
        upper.extend(ch.drain(half..));
        // Both halves have room (CHUNK / 2 ranges in CHUNK places): the inserts cannot fail.
        let pos = if at.i <= half {
            insert_short(ch, at.i, r);
            at
        } else {
            insert_short(&mut upper, at.i - half, r);
            Pos {
                c: at.c + 1,
                i: at.i - half,
            }
        };
        // The new chunk is chunk at.c + 1, i.e. tail[at.c].
        if at.c <= self.tail.len() {
            self.tail.insert(at.c, upper);
        }
        Ok(pos)
    }

    /// Removes the ranges from `from` through `to` (inclusive, `from` not after `to`); returns
    /// how many.
    pub fn remove_span(&mut self, from: Pos, to: Pos) -> usize {
        let mut removed = 0usize;
        let mut c = to.c;
        loop {
            if let Some(ch) = self.chunk_vec(c) {
                let start = if c == from.c { from.i } else { 0 };
                let end = if c == to.c {
                    to.i.saturating_add(1)
                } else {
                    ch.len()
                };
                let end = end.min(ch.len());
                if start < end {
                    ch.drain(start..end);
                    removed = removed.saturating_add(end.saturating_sub(start));
                }
            }
            if c <= from.c {
                break;
            }
            c = c.saturating_sub(1);
        }
        self.len = self.len.saturating_sub(removed);
        self.tidy(from.c, to.c);
        removed
    }

    /// Removes the range at `p`; false if there is none.
    pub fn remove(&mut self, p: Pos) -> bool {
        let Some(ch) = self.chunk_vec(p.c) else {
            return false;
        };
        if p.i >= ch.len() {
            return false;
        }
        remove_short(ch, p.i);
        self.len = self.len.saturating_sub(1);
        self.tidy(p.c, p.c);
        true
    }

    /// After removals from chunks `lo..=hi`: drops emptied chunks (refilling `head` from `tail`)
    /// and merges a chunk left small with a neighbour it fits into.
    fn tidy(&mut self, lo: usize, hi: usize) {
        let mut c = hi;
        loop {
            if c > 0 && self.chunk(c).is_empty() {
                if let Some(t) = c.checked_sub(1) {
                    if t < self.tail.len() {
                        self.tail.remove(t);
                    }
                }
            }
            if c <= lo {
                break;
            }
            c = c.saturating_sub(1);
        }
        if self.head.is_empty() && !self.tail.is_empty() {
            self.head = self.tail.remove(0);
        }
        if !self.tail.is_empty() {
            let c = lo.min(self.tail.len());
            if self.chunk(c).len() < LOW {
                self.merge_small(c);
            }
        }
    }

    /// Merges chunk `c` into its previous neighbour, or its next neighbour into it, when the
    /// earlier chunk's memory holds both: the ranges move, the later chunk is freed, nothing is
    /// allocated.
    fn merge_small(&mut self, c: usize) {
        for a in [c, c.saturating_sub(1)] {
            // The later chunk is chunk a + 1, i.e. tail[a].
            let Some(later) = self.tail.get(a) else {
                continue;
            };
            let total = later.len().saturating_add(self.chunk(a).len());
            if self.chunk_vec(a).is_some_and(|v| v.capacity() >= total) && a < self.tail.len() {
                let moved = self.tail.remove(a);
                if let Some(v) = self.chunk_vec(a) {
                    v.extend(moved);
                }
                return;
            }
        }
    }

    /// Exchanges the contents of two stores.
    pub fn swap(&mut self, other: &mut Store) {
        core::mem::swap(self, other);
    }

    /// The structural invariants of the chunks (see the module comment).
    pub fn check(&self) -> Result<(), &'static str> {
        if self.head.is_empty() && !self.tail.is_empty() {
            return Err("empty head chunk before others");
        }
        if self.tail.iter().any(|c| c.is_empty()) {
            return Err("empty chunk");
        }
        if self.head.len() > CHUNK || self.tail.iter().any(|c| c.len() > CHUNK) {
            return Err("chunk over its size");
        }
        if self.iter().count() != self.len {
            return Err("length out of step");
        }
        Ok(())
    }
}

/// `v.insert(i, r)` for `i <= len`, with capacity to spare (the callers reserve it; nothing here
/// allocates). In the chunked path the tail is at most one chunk.
#[inline(always)]
fn insert_short(v: &mut Vec<Range>, i: usize, r: Range) -> bool {
    if i > v.len() || v.len() == v.capacity() {
        return false;
    }
    v.insert(i, r);
    true
}

/// `v.remove(i)` for `i < len` (checked by the callers).
#[inline(always)]
fn remove_short(v: &mut Vec<Range>, i: usize) {
    if i < v.len() {
        v.remove(i);
    }
}
