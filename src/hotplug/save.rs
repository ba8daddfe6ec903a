//! The controller's save record for migration: a versioned, fixed-size, little-endian record
//! (the HVM save stream carries it as one typed entry). Restoring validates every field and
//! either replaces the whole state or leaves it untouched.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use super::controller::{HotplugController, SLOT_MASK};
use crate::errno::{Errno, XenResult};
use crate::platform::guest_copy::bytes_at;

/// "HPCR" read as a little-endian u32.
pub const HVM_PCI_HOTPLUG_MAGIC: u32 = u32::from_le_bytes(*b"HPCR");
pub const HVM_PCI_HOTPLUG_VERSION: u16 = 1;
/// Bytes in a record (`sizeof(struct hvm_pci_hotplug_record)`).
pub const HVM_PCI_HOTPLUG_RECORD_SIZE: usize = 32;

/// The save record as C sees it. x86 is little-endian, so its memory image is the byte string
/// [`HotplugController::save`] produces.
#[repr(C)]
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
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

const _: () = {
    assert!(core::mem::size_of::<hvm_pci_hotplug_record>() == HVM_PCI_HOTPLUG_RECORD_SIZE);
    assert!(core::mem::align_of::<hvm_pci_hotplug_record>() == 4);
    assert!(core::mem::offset_of!(hvm_pci_hotplug_record, magic) == 0);
    assert!(core::mem::offset_of!(hvm_pci_hotplug_record, version) == 4);
    assert!(core::mem::offset_of!(hvm_pci_hotplug_record, size) == 6);
    assert!(core::mem::offset_of!(hvm_pci_hotplug_record, gpe_sts) == 8);
    assert!(core::mem::offset_of!(hvm_pci_hotplug_record, gpe_en) == 10);
    assert!(core::mem::offset_of!(hvm_pci_hotplug_record, present) == 12);
    assert!(core::mem::offset_of!(hvm_pci_hotplug_record, up) == 16);
    assert!(core::mem::offset_of!(hvm_pci_hotplug_record, down) == 20);
    assert!(core::mem::offset_of!(hvm_pci_hotplug_record, ejected) == 24);
    assert!(core::mem::offset_of!(hvm_pci_hotplug_record, reserved) == 28);
};

fn u16_at(b: &[u8; HVM_PCI_HOTPLUG_RECORD_SIZE], off: usize) -> u16 {
    u16::from_le_bytes(bytes_at(b, off))
}

fn u32_at(b: &[u8; HVM_PCI_HOTPLUG_RECORD_SIZE], off: usize) -> u32 {
    u32::from_le_bytes(bytes_at(b, off))
}

impl hvm_pci_hotplug_record {
    pub fn to_bytes(&self) -> [u8; HVM_PCI_HOTPLUG_RECORD_SIZE] {
        let mut b = [0u8; HVM_PCI_HOTPLUG_RECORD_SIZE];
        b[0..4].copy_from_slice(&self.magic.to_le_bytes());
        b[4..6].copy_from_slice(&self.version.to_le_bytes());
        b[6..8].copy_from_slice(&self.size.to_le_bytes());
        b[8..10].copy_from_slice(&self.gpe_sts.to_le_bytes());
        b[10..12].copy_from_slice(&self.gpe_en.to_le_bytes());
        b[12..16].copy_from_slice(&self.present.to_le_bytes());
        b[16..20].copy_from_slice(&self.up.to_le_bytes());
        b[20..24].copy_from_slice(&self.down.to_le_bytes());
        b[24..28].copy_from_slice(&self.ejected.to_le_bytes());
        b[28..32].copy_from_slice(&self.reserved.to_le_bytes());
        b
    }

    /// Parses exactly [`HVM_PCI_HOTPLUG_RECORD_SIZE`] bytes (-EINVAL for any other length).
    pub fn from_bytes(bytes: &[u8]) -> XenResult<Self> {
        let b: &[u8; HVM_PCI_HOTPLUG_RECORD_SIZE] = bytes.try_into().map_err(|_| Errno::EINVAL)?;
        Ok(Self {
            magic: u32_at(b, 0),
            version: u16_at(b, 4),
            size: u16_at(b, 6),
            gpe_sts: u16_at(b, 8),
            gpe_en: u16_at(b, 10),
            present: u32_at(b, 12),
            up: u32_at(b, 16),
            down: u32_at(b, 20),
            ejected: u32_at(b, 24),
            reserved: u32_at(b, 28),
        })
    }
}

impl HotplugController {
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
    pub fn restore(bytes: &[u8]) -> XenResult<Self> {
        let r = hvm_pci_hotplug_record::from_bytes(bytes)?;
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
        let good = c.save().to_bytes();
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
