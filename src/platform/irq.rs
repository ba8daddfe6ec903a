//! ISA IRQ lines driven by emulated devices.
//!
//! The one line the Rust components drive is the ACPI SCI (ISA IRQ 9). In Xen it already has a
//! driver, `pmtimer.c` (PM1a status & enable), and Xen's `hvm_isa_irq_assert/deassert` keep a
//! single bit per ISA IRQ: if two devices drove it directly, a deassert from one would drop the
//! other's assertion. So each device contributes its own level as a *source* and the platform
//! drives the line with the OR of all sources.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use super::domain::DomainRef;

/// The ISA IRQ the FADT names as the SCI (`SCI_INT = 9`).
pub const SCI_ISA_IRQ: u32 = 9;

/// A device that contributes to a domain's SCI.
#[repr(u32)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SciSource {
    /// PM1a status & enable (Xen's `pmtimer.c`, in C).
    Pm1a = 0,
    /// GPE0 status & enable (the PCI hotplug controller's GPE block).
    Gpe0 = 1,
}

/// How many [`SciSource`]s exist (the glue's per-domain source mask has this many bits).
pub const NR_SCI_SOURCES: u32 = 2;

pub trait IsaIrq {
    /// Sets `source`'s contribution to `d`'s SCI. The line is asserted while any source's level
    /// is high and deasserted when all are low. Called with the caller's device lock held, so it
    /// must not call back into the device.
    fn sci_set_level(d: DomainRef, source: SciSource, level: bool);
}
