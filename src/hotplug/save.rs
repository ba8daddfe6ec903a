//! The controller's save record for migration: a versioned, fixed-size, little-endian record
//! (the HVM save stream carries it as one typed entry). Restoring validates every field and
//! either replaces the whole state or leaves it untouched.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use super::controller::{HotplugController, SLOT_MASK};
use crate::errno::{Errno, XenResult};
use crate::ioreq::abi::{assert_layout, FromBytes, Immutable, IntoBytes, KnownLayout};

/// "HPCR" read as a little-endian u32.
pub const HVM_PCI_HOTPLUG_MAGIC: u32 = u32::from_le_bytes(*b"HPCR");
pub const HVM_PCI_HOTPLUG_VERSION: u16 = 1;
/// Bytes in a record (`sizeof(struct hvm_pci_hotplug_record)`).
pub const HVM_PCI_HOTPLUG_RECORD_SIZE: usize = 32;

/// The save record as C sees it; its bytes are its memory image (`as_bytes`, `read_from_bytes`),
/// little-endian on x86.
#[repr(C)]
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[allow(non_camel_case_types)]
pub struct hvm_pci_hotplug_record {
    /// [`HVM_PCI_HOTPLUG_MAGIC`].
    pub magic: u32,
    /// [`HVM_PCI_HOTPLUG_VERSION`].
    pub version: u16,
    /// [`HVM_PCI_HOTPLUG_RECORD_SIZE`].
    pub size: u16,
    /// GPE0 status bytes 0-1.
    pub gpe_sts: u16,
    /// GPE0 enable bytes 2-3.
    pub gpe_en: u16,
    /// Slots holding a plugged device.
    pub present: u32,
    /// PCIU latch.
    pub up: u32,
    /// PCID latch.
    pub down: u32,
    /// Slots ejected by the guest, not yet plugged again.
    pub ejected: u32,
    /// Must be 0.
    pub reserved: u32,
}

assert_layout!(hvm_pci_hotplug_record, size HVM_PCI_HOTPLUG_RECORD_SIZE, align 4,
    magic @ 0, version @ 4, size @ 6, gpe_sts @ 8, gpe_en @ 10, present @ 12, up @ 16,
    down @ 20, ejected @ 24, reserved @ 28);

impl HotplugController {
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn save(&self) -> hvm_pci_hotplug_record {
        hvm_pci_hotplug_record {
            magic: HVM_PCI_HOTPLUG_MAGIC,
            version: HVM_PCI_HOTPLUG_VERSION,
            // 32: the const assertion above pins it, so the cast cannot truncate.
            size: HVM_PCI_HOTPLUG_RECORD_SIZE as u16,
            gpe_sts: self.gpe_sts,
            gpe_en: self.gpe_en,
            present: self.present,
            up: self.up,
            down: self.down,
            ejected: self.ejected,
            reserved: 0,
        }
    }

    /// The controller a record describes, or -EINVAL if the record is malformed: wrong length,
    /// magic, version or size field, reserved bits set, slot 0 named, or a state the controller
    /// cannot reach (a latch on an empty slot, an ejected slot still present).
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn restore(bytes: &[u8]) -> XenResult<Self> {
        let r = hvm_pci_hotplug_record::read_from_bytes(bytes).map_err(|_| Errno::EINVAL)?;
        if r.magic != HVM_PCI_HOTPLUG_MAGIC
            || r.version != HVM_PCI_HOTPLUG_VERSION
            || usize::from(r.size) != HVM_PCI_HOTPLUG_RECORD_SIZE
            || r.reserved != 0
            || (r.present | r.up | r.down | r.ejected) & !SLOT_MASK != 0
        {
            return Err(Errno::EINVAL);
        }
        let c = HotplugController {
            gpe_sts: r.gpe_sts,
            gpe_en: r.gpe_en,
            present: r.present,
            up: r.up,
            down: r.down,
            ejected: r.ejected,
        };
        if !c.is_consistent() {
            return Err(Errno::EINVAL);
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let mut c = HotplugController::new();
        c.plug(5).unwrap();
        c.plug(7).unwrap();
        c.unplug_request(7).unwrap();
        c.gpe_write(2, 1, 0x06);
        let good: [u8; HVM_PCI_HOTPLUG_RECORD_SIZE] = zerocopy::transmute!(c.save());
        assert_eq!(&good[0..4], b"HPCR");
        assert_eq!(HotplugController::restore(&good), Ok(c));

        let patch = |off: usize, val: u8| {
            let mut b = good;
            b[off] = val;
            HotplugController::restore(&b)
        };
        assert_eq!(patch(0, b'X'), Err(Errno::EINVAL)); // magic
        assert_eq!(patch(4, 2), Err(Errno::EINVAL)); // version
        assert_eq!(patch(6, 31), Err(Errno::EINVAL)); // size field
        assert_eq!(patch(28, 1), Err(Errno::EINVAL)); // reserved
        assert_eq!(patch(12, 0xa1), Err(Errno::EINVAL)); // slot 0 present
        assert_eq!(patch(16, 0x01), Err(Errno::EINVAL)); // slot 0 up
        assert_eq!(patch(17, 0x01), Err(Errno::EINVAL)); // up on empty slot 8
        assert_eq!(patch(24, 0x20), Err(Errno::EINVAL)); // ejected yet present (slot 5)
        assert_eq!(HotplugController::restore(&good[..31]), Err(Errno::EINVAL));
        let mut long = [0u8; 33];
        long[..32].copy_from_slice(&good);
        assert_eq!(HotplugController::restore(&long), Err(Errno::EINVAL));
    }
}
