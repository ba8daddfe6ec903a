//! The three I/O range sets of a secondary server (port, memory, PCI SBDF).
//!
//! Each is a domain-attached rangeset ([`RangesetBox`]): it appears in the target domain's 'q'
//! dump and is unlinked when the server drops it.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use crate::errno::XenResult;
use crate::ioreq::abi::MAX_NR_IO_RANGES;
use crate::platform::DomainRef;
use crate::rangeset::core::RangesetFlags;
use crate::rangeset::domain::RangesetBox;

use super::IoreqPlatform;

/// One of a server's range sets: `"ioreq_server <id> port|memory|pci"`, printed in hex, limited
/// to [`MAX_NR_IO_RANGES`] ranges, attached to the target domain.
pub(crate) struct IoRanges<P: IoreqPlatform> {
    set: RangesetBox<P>,
}

pub(crate) const RANGE_TYPE_NAMES: [&str; 3] = ["port", "memory", "pci"];

impl<P: IoreqPlatform> IoRanges<P> {
    pub(crate) fn new(target: DomainRef, server_id: u16, kind: &str) -> XenResult<Self> {
        // Formatted without allocating (`asprintf` in the C); at most 26 bytes, so never cut.
        let set = RangesetBox::<P>::new_named(
            Some(target),
            format_args!("ioreq_server {server_id} {kind}"),
            RangesetFlags::PRETTYPRINT_HEX,
        )?;
        set.limit(MAX_NR_IO_RANGES);
        Ok(Self { set })
    }

    pub(crate) fn add_range(&self, s: u64, e: u64) -> XenResult<()> {
        self.set.add_range(s, e)
    }
    pub(crate) fn remove_range(&self, s: u64, e: u64) -> XenResult<()> {
        self.set.remove_range(s, e)
    }
    pub(crate) fn contains_range(&self, s: u64, e: u64) -> bool {
        self.set.contains_range(s, e)
    }
    pub(crate) fn overlaps_range(&self, s: u64, e: u64) -> bool {
        self.set.overlaps_range(s, e)
    }
    pub(crate) fn contains_singleton(&self, x: u64) -> bool {
        self.set.contains_singleton(x)
    }
    /// The stored ranges, for snapshots.
    pub(crate) fn ranges(&self) -> alloc::vec::Vec<(u64, u64)> {
        self.set
            .read()
            .ranges()
            .iter()
            .map(|r| (r.s, r.e))
            .collect()
    }
}
