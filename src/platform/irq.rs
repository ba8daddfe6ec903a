//! ISA IRQ lines driven by emulated devices (the PCI hotplug controller's SCI, IRQ 9).
//! (Grows with the hotplug port.)

pub trait IsaIrq {}
