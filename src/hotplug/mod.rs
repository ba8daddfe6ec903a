//! The PCI hotplug controller of the series' patch 9: Xen emulates the ACPI GPE0 block and the
//! PCI hotplug registers that hvmloader's qemu-xen DSDT drives, so that a secondary emulator can
//! hotplug its PCI device into the guest.
//!
//! * [`controller`]: the registers and state machine (no platform).
//! * [`domain`]: per-domain storage and locking, the SCI source, port dispatch.
//! * [`hypercall`]: `HVMOP_pci_hotplug` from an emulator.
//! * [`save`]: the migration record.
//! * [`ffi`]: the C ABI.

/// cbindgen:ignore
pub mod controller;
pub mod domain;
pub mod ffi;
/// cbindgen:ignore
pub mod hypercall;
pub mod save;

pub use controller::HotplugController;
