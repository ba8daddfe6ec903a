//! Host implementation of [`crate::platform::IsaIrq`]: the SCI of every domain as a set of source
//! levels, with the line level and counts of its rising and falling edges, per thread.

use core::cell::RefCell;
use std::vec::Vec;

use super::HostPlatform;
use crate::platform::domain::DomainRef;
use crate::platform::irq::{IsaIrq, SciSource};

/// What the host knows of one domain's SCI line.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct SciLine {
    /// Bit `source as u32` set while that source holds the line high.
    pub sources: u32,
    /// Times the line went from low to high (`hvm_isa_irq_assert` calls that changed it).
    pub asserts: u64,
    /// Times the line went from high to low.
    pub deasserts: u64,
    /// Calls of `sci_set_level`, whatever their effect.
    pub updates: u64,
}

impl SciLine {
    /// The line level: the OR of the sources.
    pub fn level(&self) -> bool {
        self.sources != 0
    }
    pub fn source(&self, s: SciSource) -> bool {
        self.sources & (1 << s as u32) != 0
    }
}

std::thread_local! {
    static LINES: RefCell<Vec<(DomainRef, SciLine)>> = const { RefCell::new(Vec::new()) };
}

/// `d`'s SCI as the host has recorded it (all low, no edges, if never driven).
pub fn sci_line(d: DomainRef) -> SciLine {
    LINES.with(|l| {
        l.borrow()
            .iter()
            .find(|(x, _)| *x == d)
            .map(|(_, s)| *s)
            .unwrap_or_default()
    })
}

/// Forgets `d`'s SCI record (for tests that reuse a domain address).
pub fn sci_forget(d: DomainRef) {
    LINES.with(|l| l.borrow_mut().retain(|(x, _)| *x != d));
}

impl IsaIrq for HostPlatform {
    fn sci_set_level(d: DomainRef, source: SciSource, level: bool) {
        LINES.with(|l| {
            let mut l = l.borrow_mut();
            let idx = match l.iter().position(|(x, _)| *x == d) {
                Some(i) => i,
                None => {
                    l.push((d, SciLine::default()));
                    l.len() - 1
                }
            };
            let line = &mut l[idx].1;
            let before = line.level();
            let bit = 1u32 << source as u32;
            if level {
                line.sources |= bit;
            } else {
                line.sources &= !bit;
            }
            line.updates += 1;
            match (before, line.level()) {
                (false, true) => line.asserts += 1,
                (true, false) => line.deasserts += 1,
                _ => {}
            }
        });
    }
}
