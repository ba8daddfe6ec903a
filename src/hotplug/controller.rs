//! The controller's registers and state machine, free of any platform: what the guest sees at the
//! GPE0 block (0xafe0) and the PCI hotplug registers (0xae00), and the events an emulator causes.
//!
//! Behaviour follows QEMU 2.1's `pcihp` (legacy mode), which is what hvmloader's qemu-xen DSDT
//! drives; where this port chooses differently, FIDELITY.md says so (H entries):
//! * GPE0: 2 status bytes (write-1-to-clear) then 2 enable bytes (read/write); any access of 1, 2 or
//!   4 bytes is handled one byte at a time from its offset, little-endian (H1).
//! * SCI level = any(status & enable) over all 16 GPE bits (H2).
//! * PCIU latches plugged slots until the guest ejects them; PCID latches removal requests (H3).
//! * B0EJ ejects the lowest set slot, and only if its removal was requested (H4).
//! * The 0xae00 registers take aligned 4-byte accesses only (H5).
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use crate::errno::{Errno, XenResult};

/// First port of the GPE0 block (FADT `GPE0_BLK`).
pub const GPE0_BASE: u32 = 0xafe0;
/// Length of the GPE0 block: 2 status bytes, 2 enable bytes (FADT `GPE0_BLK_LEN`).
pub const GPE0_LEN: u32 = 4;
/// First port of the PCI hotplug registers (the DSDT's `PCST`/`SEJ` regions).
pub const PCIHP_BASE: u32 = 0xae00;
/// Ports decoded at [`PCIHP_BASE`] (the DSDT reserves 0xae00-0xae0f).
pub const PCIHP_LEN: u32 = 0x10;

/// The controller's two port blocks. Xen registers each once, with its own handler; the
/// controller only ever sees an offset into a block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortBlock {
    /// The GPE0 block at [`GPE0_BASE`].
    Gpe0,
    /// The PCI hotplug registers at [`PCIHP_BASE`].
    PciHotplug,
}

impl PortBlock {
    /// The block's first port.
    pub const fn base(self) -> u32 {
        match self {
            PortBlock::Gpe0 => GPE0_BASE,
            PortBlock::PciHotplug => PCIHP_BASE,
        }
    }

    /// The number of ports the block decodes.
    pub const fn port_count(self) -> u32 {
        match self {
            PortBlock::Gpe0 => GPE0_LEN,
            PortBlock::PciHotplug => PCIHP_LEN,
        }
    }

    /// `port`'s offset into the block, or `None` outside it.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn offset_of(self, port: u32) -> Option<u32> {
        port.checked_sub(self.base())
            .filter(|o| *o < self.port_count())
    }
}

/// PCIU: slots with a pending insertion (read-only).
pub const PCIHP_PCIU: u32 = 0x0;
/// PCID: slots with a pending removal request (read-only).
pub const PCIHP_PCID: u32 = 0x4;
/// B0EJ: the guest writes `1 << slot` to eject a slot (write-only, reads 0).
pub const PCIHP_B0EJ: u32 = 0x8;
/// RMV: slots whose device this controller can remove (read-only).
pub const PCIHP_RMV: u32 = 0xc;

/// GPE0 status bit the DSDT's `_E01` handles: PCI hotplug.
pub const GPE_PCI_HOTPLUG: u32 = 1;
/// GPE0 status bit the DSDT's `_E02` handles: CPU hotplug (QEMU's bitmap at 0xaf00).
pub const GPE_CPU_HOTPLUG: u32 = 2;
/// Number of GPEs in the block (16: two status bytes).
pub const NR_GPES: u32 = 16;

/// Hot-pluggable slots: 1..=31 (slot 0 is the host bridge).
pub const SLOT_MASK: u32 = !1;

/// What an emulator can learn of one slot ([`HotplugController::slot_state`]).
pub mod slot_state {
    /// A device was plugged and not yet ejected by the guest.
    pub const PRESENT: u32 = 1 << 0;
    /// The plug is still latched in PCIU (the guest has not ejected the slot since).
    pub const INSERT_PENDING: u32 = 1 << 1;
    /// A removal was requested and the guest has not ejected the slot yet.
    pub const REMOVE_PENDING: u32 = 1 << 2;
    /// The guest ejected the slot after a removal request; cleared by the next plug.
    pub const EJECTED: u32 = 1 << 3;
}

/// Checks an emulator-supplied slot number: 1..=31.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn check_slot(slot: u32) -> XenResult<u32> {
    if slot == 0 || slot >= 32 {
        return Err(Errno::EINVAL);
    }
    Ok(1u32 << slot)
}

/// The bits a read of `bytes` bytes returns (`bytes` is 1, 2 or 4).
#[cfg_attr(feature = "xen", optimize(size))]
fn width_mask(bytes: u32) -> u32 {
    match bytes {
        1 => 0xff,
        2 => 0xffff,
        _ => 0xffff_ffff,
    }
}

/// What a read of `bytes` bytes that nothing decodes returns: all ones of that width (all 32
/// bits for a width other than 1, 2 or 4).
#[cfg_attr(feature = "xen", optimize(size))]
pub fn all_ones(bytes: u32) -> u32 {
    width_mask(bytes)
}

#[cfg_attr(feature = "xen", optimize(size))]
fn valid_width(bytes: u32) -> bool {
    matches!(bytes, 1 | 2 | 4)
}

/// One domain's PCI hotplug controller.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct HotplugController {
    pub(super) gpe_sts: u16,
    pub(super) gpe_en: u16,
    /// Slots plugged through this controller and not ejected since.
    pub(super) present: u32,
    /// PCIU latch.
    pub(super) up: u32,
    /// PCID latch.
    pub(super) down: u32,
    /// Slots the guest ejected after a removal request, until they are plugged again.
    pub(super) ejected: u32,
}

impl HotplugController {
    pub const fn new() -> Self {
        Self {
            gpe_sts: 0,
            gpe_en: 0,
            present: 0,
            up: 0,
            down: 0,
            ejected: 0,
        }
    }

    /// The controller's contribution to the SCI: any enabled GPE with its status set.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn sci_level(&self) -> bool {
        self.gpe_sts & self.gpe_en != 0
    }

    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn gpe_status(&self) -> u16 {
        self.gpe_sts
    }
    pub fn gpe_enable(&self) -> u16 {
        self.gpe_en
    }
    /// PCIU as the guest reads it.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn pciu(&self) -> u32 {
        self.up
    }
    /// PCID as the guest reads it.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn pcid(&self) -> u32 {
        self.down
    }
    /// RMV as the guest reads it.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn rmv(&self) -> u32 {
        self.present
    }
    pub fn present(&self) -> u32 {
        self.present
    }
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn ejected(&self) -> u32 {
        self.ejected
    }

    /// The GPE0 block's byte at `offset` (0-3), or `None` outside the block.
    #[cfg_attr(feature = "xen", optimize(size))]
    fn gpe_byte(&self, offset: u32) -> Option<u8> {
        let [s0, s1] = self.gpe_sts.to_le_bytes();
        let [e0, e1] = self.gpe_en.to_le_bytes();
        match offset {
            0 => Some(s0),
            1 => Some(s1),
            2 => Some(e0),
            3 => Some(e1),
            _ => None,
        }
    }

    /// A guest read of `bytes` bytes at `offset` into the GPE0 block. Bytes past the block read
    /// as 0xff (nothing decodes them); a width other than 1, 2 or 4 reads all ones.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn gpe_read(&self, offset: u32, bytes: u32) -> u32 {
        if !valid_width(bytes) {
            return all_ones(bytes);
        }
        let mut le = [0u8; 4];
        for (dst, i) in le.iter_mut().zip(0..bytes) {
            *dst = offset
                .checked_add(i)
                .and_then(|o| self.gpe_byte(o))
                .unwrap_or(0xff);
        }
        u32::from_le_bytes(le) & width_mask(bytes)
    }

    /// A guest write of `bytes` bytes at `offset` into the GPE0 block: status bytes are
    /// write-1-to-clear, enable bytes are stored; bytes past the block and writes of another
    /// width than 1, 2 or 4 are ignored.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn gpe_write(&mut self, offset: u32, bytes: u32, val: u32) {
        if !valid_width(bytes) {
            return;
        }
        for (byte, i) in val.to_le_bytes().into_iter().zip(0..bytes) {
            match offset.checked_add(i) {
                Some(0) => self.gpe_sts &= !u16::from(byte),
                Some(1) => self.gpe_sts &= !(u16::from(byte) << 8),
                Some(2) => self.gpe_en = (self.gpe_en & 0xff00) | u16::from(byte),
                Some(3) => self.gpe_en = (self.gpe_en & 0x00ff) | (u16::from(byte) << 8),
                _ => {}
            }
        }
    }

    /// Sets GPE0 status bit `bit` (0-15), as a hardware event does: e.g. [`GPE_CPU_HOTPLUG`] for
    /// a CPU hotplug event, which shares the block with PCI hotplug.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn gpe_raise(&mut self, bit: u32) -> XenResult<()> {
        if bit >= NR_GPES {
            return Err(Errno::EINVAL);
        }
        self.gpe_sts |= 1 << bit;
        Ok(())
    }

    /// A guest read of `bytes` bytes at `offset` into `block`.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn port_read(&self, block: PortBlock, offset: u32, bytes: u32) -> u32 {
        match block {
            PortBlock::Gpe0 => self.gpe_read(offset, bytes),
            PortBlock::PciHotplug => self.pcihp_read(offset, bytes),
        }
    }

    /// A guest write of `bytes` bytes of `val` at `offset` into `block`.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn port_write(&mut self, block: PortBlock, offset: u32, bytes: u32, val: u32) {
        match block {
            PortBlock::Gpe0 => self.gpe_write(offset, bytes, val),
            PortBlock::PciHotplug => self.pcihp_write(offset, bytes, val),
        }
    }

    /// A guest read of the 0xae00 registers. Only aligned 4-byte reads are decoded; others read
    /// all ones, like an access nothing claims.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn pcihp_read(&self, offset: u32, bytes: u32) -> u32 {
        if bytes != 4 {
            return all_ones(bytes);
        }
        match offset {
            PCIHP_PCIU => self.up,
            PCIHP_PCID => self.down,
            PCIHP_B0EJ => 0,
            PCIHP_RMV => self.present,
            _ => !0,
        }
    }

    /// A guest write to the 0xae00 registers: only an aligned 4-byte write to B0EJ does anything;
    /// writes to the read-only registers and of other widths are ignored.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn pcihp_write(&mut self, offset: u32, bytes: u32, val: u32) {
        if bytes == 4 && offset == PCIHP_B0EJ {
            self.eject(val);
        }
    }

    /// B0EJ: the lowest set bit names the slot. The eject completes only if a removal of that
    /// slot is pending; it clears both latches and tells the emulator (EJECTED).
    #[cfg_attr(feature = "xen", optimize(size))]
    fn eject(&mut self, val: u32) {
        if val == 0 {
            return;
        }
        let bit = 1u32 << val.trailing_zeros();
        if self.down & bit == 0 {
            return;
        }
        self.present &= !bit;
        self.up &= !bit;
        self.down &= !bit;
        self.ejected |= bit;
    }

    /// An emulator plugs a device into `slot`: PCIU latches it and GPE 1 fires. -EINVAL for slot
    /// 0 or >= 32, -EEXIST if the slot holds a device, -EBUSY if that device's removal is still
    /// pending (the guest has not ejected it yet).
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn plug(&mut self, slot: u32) -> XenResult<()> {
        let bit = check_slot(slot)?;
        if self.present & bit != 0 {
            return Err(if self.down & bit != 0 {
                Errno::EBUSY
            } else {
                Errno::EEXIST
            });
        }
        self.present |= bit;
        self.up |= bit;
        self.ejected &= !bit;
        self.gpe_sts |= 1 << GPE_PCI_HOTPLUG;
        Ok(())
    }

    /// An emulator asks the guest to release `slot`: PCID latches it and GPE 1 fires (again, if
    /// it was already requested). -EINVAL for slot 0 or >= 32, -ENOENT if the slot is empty.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn unplug_request(&mut self, slot: u32) -> XenResult<()> {
        let bit = check_slot(slot)?;
        if self.present & bit == 0 {
            return Err(Errno::ENOENT);
        }
        self.down |= bit;
        self.gpe_sts |= 1 << GPE_PCI_HOTPLUG;
        Ok(())
    }

    /// The [`slot_state`] bits of `slot` (1..=31, else -EINVAL).
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn slot_state(&self, slot: u32) -> XenResult<u32> {
        let bit = check_slot(slot)?;
        let mut s = 0;
        for (map, flag) in [
            (self.present, slot_state::PRESENT),
            (self.up, slot_state::INSERT_PENDING),
            (self.down, slot_state::REMOVE_PENDING),
            (self.ejected, slot_state::EJECTED),
        ] {
            if map & bit != 0 {
                s |= flag;
            }
        }
        Ok(s)
    }

    /// Whether the state is one this controller can reach: latches and the ejected set only
    /// name hot-pluggable slots, latches only present slots, ejected slots are not present.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn is_consistent(&self) -> bool {
        let all = self.present | self.up | self.down | self.ejected;
        all & !SLOT_MASK == 0
            && (self.up | self.down) & !self.present == 0
            && self.ejected & self.present == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpe_multibyte_is_little_endian_bytewise() {
        let mut c = HotplugController::new();
        c.gpe_write(2, 2, 0xa55a);
        assert_eq!(c.gpe_enable(), 0xa55a);
        c.gpe_raise(1).unwrap();
        c.gpe_raise(9).unwrap();
        assert_eq!(c.gpe_read(0, 4), 0xa55a_0202);
        assert_eq!(c.gpe_read(1, 2), 0x5a02);
        assert_eq!(c.gpe_read(3, 1), 0xa5);
        // Past the block: 0xff.
        assert_eq!(c.gpe_read(2, 4), 0xffff_a55a);
        assert_eq!(c.gpe_read(u32::MAX, 4), 0xffff_ffff);
        // One 4-byte write clears status bit 1 and sets both enable bytes.
        c.gpe_write(0, 4, 0x0001_0002);
        assert_eq!(c.gpe_status(), 0x0200);
        assert_eq!(c.gpe_enable(), 0x0001);
        // Writes past the block vanish; odd widths are ignored.
        c.gpe_write(3, 4, 0xffff_ff00);
        assert_eq!(c.gpe_enable(), 0x0001);
        c.gpe_write(0, 3, 0xffff_ffff);
        assert_eq!(c.gpe_status(), 0x0200);
        assert_eq!(c.gpe_read(0, 3), !0);
    }

    #[test]
    fn sci_uses_all_sixteen_gpes() {
        let mut c = HotplugController::new();
        c.gpe_raise(9).unwrap();
        assert!(!c.sci_level());
        c.gpe_write(3, 1, 0x02);
        assert!(c.sci_level());
        c.gpe_write(1, 1, 0x02);
        assert!(!c.sci_level());
        assert_eq!(c.gpe_raise(16), Err(Errno::EINVAL));
    }

    #[test]
    fn plug_eject_cycle() {
        let mut c = HotplugController::new();
        assert_eq!(c.plug(0), Err(Errno::EINVAL));
        assert_eq!(c.plug(32), Err(Errno::EINVAL));
        assert_eq!(c.unplug_request(3), Err(Errno::ENOENT));
        c.plug(3).unwrap();
        assert_eq!(c.plug(3), Err(Errno::EEXIST));
        assert_eq!(c.pcihp_read(PCIHP_PCIU, 4), 1 << 3);
        // Eject without a request: ignored.
        c.pcihp_write(PCIHP_B0EJ, 4, 1 << 3);
        assert_eq!(c.present(), 1 << 3);
        c.unplug_request(3).unwrap();
        assert_eq!(c.plug(3), Err(Errno::EBUSY));
        assert_eq!(c.pcihp_read(PCIHP_PCID, 4), 1 << 3);
        c.pcihp_write(PCIHP_B0EJ, 4, 1 << 3);
        assert_eq!(
            (c.present(), c.pciu(), c.pcid(), c.ejected()),
            (0, 0, 0, 1 << 3)
        );
        assert_eq!(c.slot_state(3), Ok(slot_state::EJECTED));
        c.plug(3).unwrap();
        assert_eq!(
            c.slot_state(3),
            Ok(slot_state::PRESENT | slot_state::INSERT_PENDING)
        );
        assert!(c.is_consistent());
    }
}
