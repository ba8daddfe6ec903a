//! The three I/O range sets of a secondary server (port, memory, PCI SBDF).
//!
//! Each is a domain-attached rangeset ([`Rangeset`]): it appears in the target domain's 'q'
//! dump and is unlinked when the server drops it.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::sync::atomic::{AtomicUsize, Ordering};

use crate::errno::XenResult;
use crate::ioreq::abi::MAX_NR_IO_RANGES;
use crate::platform::console::Piece;
use crate::platform::DomainRef;
use crate::rangeset::core::RangesetFlags;
use crate::rangeset::domain::ExclusiveRangeset;

use super::IoreqPlatform;

/// One of a server's range sets: `"ioreq_server <id> port|memory|pci"`, printed in hex, limited
/// to [`MAX_NR_IO_RANGES`] ranges, attached to the target domain.
///
/// Changed only through `&mut self`, i.e. under the registry's write lock; the lookups of the I/O
/// path run with the registry held for reading (their vCPU's flag, or the read lock) and so take
/// no lock of their own ([`ExclusiveRangeset`]).
pub(crate) struct IoRanges<P: IoreqPlatform> {
    set: ExclusiveRangeset<P>,
    /// Index of the range the last successful lookup found: tried first, since a guest's accesses
    /// tend to stay on one device. Only a hint (any value gives the same answers); relaxed, and
    /// stored only when it changes, so that vCPUs hitting one range do not bounce its line.
    hint: AtomicUsize,
    /// The lowest start and the highest end of the set (`(u64::MAX, 0)` when empty), kept by the
    /// writers: an access outside them is in no range, which is what selection finds for every
    /// server but the one that claims it.
    bounds: (u64, u64),
}

pub(crate) const RANGE_TYPE_NAMES: [&str; 3] = ["port", "memory", "pci"];

impl<P: IoreqPlatform> IoRanges<P> {
    #[cfg_attr(feature = "xen", optimize(size))]
    pub(crate) fn new(target: DomainRef, server_id: u16, kind: &str) -> XenResult<Self> {
        // Formatted without allocating (`asprintf` in the C); at most 26 bytes, so never cut.
        let mut set = ExclusiveRangeset::<P>::new_named(
            Some(target),
            &[
                Piece::Str("ioreq_server "),
                Piece::Dec(server_id.into()),
                Piece::Str(" "),
                Piece::Str(kind),
            ],
            RangesetFlags::PRETTYPRINT_HEX,
        )?;
        set.limit(MAX_NR_IO_RANGES);
        Ok(Self {
            set,
            hint: AtomicUsize::new(0),
            bounds: (u64::MAX, 0),
        })
    }

    pub(crate) fn add_range(&mut self, s: u64, e: u64) -> XenResult<()> {
        let rc = self.set.add_range(s, e);
        self.update_bounds();
        rc
    }
    pub(crate) fn remove_range(&mut self, s: u64, e: u64) -> XenResult<()> {
        let rc = self.set.remove_range(s, e);
        self.update_bounds();
        rc
    }
    /// Recomputes `bounds` after a change (a walk of at most `MAX_NR_IO_RANGES` ranges, under the
    /// registry's write lock). One copy for both writers.
    #[inline(never)]
    fn update_bounds(&mut self) {
        let ranges = self.set.get().ranges();
        let mut it = ranges.iter();
        self.bounds = match (it.next(), it.last()) {
            (Some(first), Some(last)) => (first.s, last.e),
            (Some(only), None) => (only.s, only.e),
            _ => (u64::MAX, 0),
        };
    }
    /// Inlined up to the hinted range (selection's usual answer); the search is out of line.
    #[inline(always)]
    pub(crate) fn contains_range(&self, s: u64, e: u64) -> bool {
        // Outside the bounds (or an empty set): in no range.
        if s < self.bounds.0 || e > self.bounds.1 {
            return false;
        }
        if self
            .set
            .get()
            .holds_at(self.hint.load(Ordering::Relaxed), s, e)
        {
            return true;
        }
        self.contains_searched(s, e)
    }

    #[inline(never)]
    fn contains_searched(&self, s: u64, e: u64) -> bool {
        match self.set.get().containing(s, e) {
            Some(i) => {
                self.hint.store(i, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }
    pub(crate) fn overlaps_range(&self, s: u64, e: u64) -> bool {
        self.set.get().overlaps_range(s, e)
    }
    pub(crate) fn contains_singleton(&self, x: u64) -> bool {
        self.contains_range(x, x)
    }
    /// The stored ranges, for snapshots.
    pub(crate) fn ranges(&self) -> alloc::vec::Vec<(u64, u64)> {
        self.set.get().ranges().iter().map(|r| (r.s, r.e)).collect()
    }
}
