//! The emulated device behind one ioreq server: a few port registers, an MMIO window and one PCI
//! function's configuration space.
//!
//! The emulator calls it with what Xen put in the ioreq slot (untrusted: any address and size);
//! the guest calls it through [`crate::model`] to predict what it must read. A register is chosen
//! by the access's first byte; addresses outside the device read all-ones and ignore writes.

use crate::layout::*;
use crate::{size_mask, splitmix64};

const CFG_SIZE: usize = 256;
const SCRATCH_SIZE: usize = MMIO_SCRATCH_LEN as usize;

/// One server's device state.
#[derive(Clone, Debug)]
pub struct Device {
    index: u8,
    layout: ServerLayout,
    /// Port register 0-3: plain read/write storage.
    latch: u32,
    /// State of the FIFO's generator: each element read draws one value.
    fifo: u64,
    /// Folded over every element written to a FIFO register; readable and settable.
    acc: u64,
    scratch: [u8; SCRATCH_SIZE],
    cfg: [u8; CFG_SIZE],
    /// The config-address latch as this device sees it (only server A claims 0xcf8).
    cf8: u32,
}

/// Which bits of each configuration-space byte a write may change.
fn cfg_write_mask(off: usize) -> u8 {
    match off {
        0x04 => 0x47, // command: I/O, memory, master, parity
        0x05 => 0x05, // command: SERR, INTx disable
        0x10 => 0x00, // BAR0: 4 KiB memory BAR, low bits read-only
        0x11 => 0xf0,
        0x12 | 0x13 => 0xff,
        0x14 => 0xf0, // BAR1: 16-port I/O BAR, bit 0 read-only
        0x15..=0x17 => 0xff,
        0x3c => 0xff,        // interrupt line
        0x40..=0xff => 0xff, // device-specific scratch
        _ => 0x00,
    }
}

impl Device {
    /// The device of server `index` (0 = A, 1 = B); `None` for any other index.
    pub fn new(index: usize) -> Option<Self> {
        let layout = *SERVERS.get(index)?;
        let index = u8::try_from(index).ok()?;
        let mut cfg = [0u8; CFG_SIZE];
        let mut put = |off: usize, bytes: &[u8]| {
            for (i, b) in bytes.iter().enumerate() {
                if let Some(slot) = off.checked_add(i).and_then(|o| cfg.get_mut(o)) {
                    *slot = *b;
                }
            }
        };
        put(0x00, &0x5853u16.to_le_bytes()); // vendor
        put(0x02, &(0xc0a0u16 | u16::from(index)).to_le_bytes()); // device
        put(0x06, &0x0010u16.to_le_bytes()); // status: capability list bit
        put(0x08, &[0x01, 0x00, 0x80, 0xff]); // revision, class ff/80
        put(0x14, &[0x01]); // BAR1 is an I/O BAR
        put(0x2c, &0x5853u16.to_le_bytes());
        put(0x2e, &(0x1000u16 | u16::from(index)).to_le_bytes());
        put(0x3d, &[0x01]); // INTA
        let mut scratch = [0u8; SCRATCH_SIZE];
        for (i, b) in scratch.iter_mut().enumerate() {
            *b = (splitmix64(0x5c7a_7c40 ^ (u64::from(index) << 32) ^ i as u64) & 0xff) as u8;
        }
        Some(Self {
            index,
            layout,
            latch: 0x1a7c_0000 | u32::from(index),
            fifo: 0xf1f0_0000_0000_0000 | u64::from(index),
            acc: 0,
            scratch,
            cfg,
            cf8: 0,
        })
    }

    pub fn layout(&self) -> &ServerLayout {
        &self.layout
    }

    fn fifo_next(&mut self) -> u64 {
        self.fifo = self
            .fifo
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.fifo ^ (self.fifo >> 29)
    }

    fn feed(&mut self, value: u64, size: u32) {
        self.acc = self.acc.rotate_left(7) ^ value ^ (u64::from(size) << 56);
    }

    /// Port `port` claimed by this server as `(register, byte lane)`, if it is one of its
    /// [`PORT_REGS`] ports.
    fn port_reg(&self, port: u64) -> Option<(u64, u32)> {
        let off = port.checked_sub(u64::from(self.layout.port_base))?;
        (off < u64::from(PORT_REGS)).then_some((off / 4, (off % 4) as u32))
    }

    /// One element of a port read.
    pub fn port_read(&mut self, port: u64, size: u32) -> u64 {
        let mask = size_mask(size);
        if self.layout.claims_cf8 && port == u64::from(CF8_PORT) && size == 4 {
            return u64::from(self.cf8);
        }
        let Some((reg, lane)) = self.port_reg(port) else {
            return mask;
        };
        let shift = lane.wrapping_mul(8);
        let v = match reg {
            0 => u64::from(self.latch) >> shift,
            1 => self.fifo_next(),
            2 => self.acc >> shift,
            _ if self.index == 1 => u64::from(PING_VALUE) >> shift,
            _ => 0,
        };
        v & mask
    }

    /// One element of a port write.
    pub fn port_write(&mut self, port: u64, size: u32, value: u64) {
        let value = value & size_mask(size);
        if self.layout.claims_cf8 && port == u64::from(CF8_PORT) && size == 4 {
            self.cf8 = value as u32;
            return;
        }
        let Some((reg, lane)) = self.port_reg(port) else {
            return;
        };
        match reg {
            0 => {
                let mut bytes = self.latch.to_le_bytes();
                for (i, b) in value.to_le_bytes().iter().take(size as usize).enumerate() {
                    if let Some(slot) = (lane as usize)
                        .checked_add(i)
                        .and_then(|o| bytes.get_mut(o))
                    {
                        *slot = *b;
                    }
                }
                self.latch = u32::from_le_bytes(bytes);
            }
            1 => self.feed(value, size),
            2 => self.acc = value,
            _ => {}
        }
    }

    /// Offset of `addr` inside this server's MMIO range.
    fn mmio_off(&self, addr: u64) -> Option<u64> {
        (addr >= self.layout.mmio_first && addr <= self.layout.mmio_last)
            .then(|| addr.wrapping_sub(self.layout.mmio_first))
    }

    /// One element of an MMIO read.
    pub fn mmio_read(&mut self, addr: u64, size: u32) -> u64 {
        let mask = size_mask(size);
        let Some(off) = self.mmio_off(addr) else {
            return mask;
        };
        let v = if off < MMIO_SCRATCH_LEN {
            let mut bytes = [0u8; 8];
            for (i, b) in bytes.iter_mut().take(size as usize).enumerate() {
                *b = off
                    .checked_add(i as u64)
                    .and_then(|o| self.scratch.get(o as usize))
                    .copied()
                    .unwrap_or(0);
            }
            u64::from_le_bytes(bytes)
        } else if off < MMIO_CONST.wrapping_add(MMIO_CONST_LEN) {
            splitmix64(addr ^ (u64::from(size) << 56) ^ (u64::from(self.index) << 48))
        } else if (MMIO_FIFO..MMIO_ACC).contains(&off) {
            self.fifo_next()
        } else if (MMIO_ACC..MMIO_ZERO).contains(&off) {
            self.acc >> (off.wrapping_sub(MMIO_ACC).wrapping_mul(8))
        } else {
            0
        };
        v & mask
    }

    /// One element of an MMIO write.
    pub fn mmio_write(&mut self, addr: u64, size: u32, value: u64) {
        let value = value & size_mask(size);
        let Some(off) = self.mmio_off(addr) else {
            return;
        };
        if off < MMIO_SCRATCH_LEN {
            for (i, b) in value.to_le_bytes().iter().take(size as usize).enumerate() {
                if let Some(slot) = off
                    .checked_add(i as u64)
                    .and_then(|o| self.scratch.get_mut(o as usize))
                {
                    *slot = *b;
                }
            }
        } else if (MMIO_FIFO..MMIO_ACC).contains(&off) {
            self.feed(value, size);
        } else if (MMIO_ACC..MMIO_ZERO).contains(&off) {
            self.acc = value;
        }
    }

    /// A configuration-space read of `size` bytes at register `reg` of this device's function.
    pub fn pci_read(&self, reg: u64, size: u32) -> u64 {
        let mut bytes = [0xffu8; 8];
        for (i, b) in bytes.iter_mut().take(size as usize).enumerate() {
            if let Some(v) = reg
                .checked_add(i as u64)
                .and_then(|o| self.cfg.get(usize::try_from(o).ok()?))
            {
                *b = *v;
            }
        }
        u64::from_le_bytes(bytes) & size_mask(size)
    }

    /// A configuration-space write; read-only bits keep their value.
    pub fn pci_write(&mut self, reg: u64, size: u32, value: u64) {
        for (i, b) in value.to_le_bytes().iter().take(size as usize).enumerate() {
            let Some(off) = reg
                .checked_add(i as u64)
                .and_then(|o| usize::try_from(o).ok())
            else {
                continue;
            };
            let m = cfg_write_mask(off);
            if let Some(slot) = self.cfg.get_mut(off) {
                *slot = (*slot & !m) | (*b & m);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_sizing() {
        let mut d = Device::new(0).unwrap();
        d.pci_write(0x10, 4, 0xffff_ffff);
        assert_eq!(d.pci_read(0x10, 4), 0xffff_f000);
        d.pci_write(0x14, 4, 0xffff_ffff);
        assert_eq!(d.pci_read(0x14, 4), 0xffff_fff1);
        assert_eq!(d.pci_read(0x00, 4), 0xc0a0_5853);
        assert_eq!(Device::new(1).unwrap().pci_read(0x02, 2), 0xc0a1);
        // read-only vendor id
        d.pci_write(0, 2, 0);
        assert_eq!(d.pci_read(0, 2), 0x5853);
        // beyond the space: all-ones bytes
        assert_eq!(d.pci_read(0xfe, 4), 0xffff_0000 | d.pci_read(0xfe, 2));
    }

    #[test]
    fn latch_lanes_and_fifo() {
        let mut d = Device::new(0).unwrap();
        let base = u64::from(SERVERS[0].port_base);
        d.port_write(base, 4, 0x1122_3344);
        d.port_write(base + 1, 2, 0xaabb);
        assert_eq!(d.port_read(base, 4), 0x11aa_bb44);
        assert_eq!(d.port_read(base + 3, 1), 0x11);
        let a = d.port_read(base + 4, 4);
        let b = d.port_read(base + 4, 4);
        assert_ne!(a, b);
        d.port_write(base + 4, 2, 0x1234);
        assert_ne!(d.port_read(base + 8, 4), 0);
        d.port_write(base + 8, 4, 7);
        assert_eq!(d.port_read(base + 8, 4), 7);
    }

    #[test]
    fn hostile_inputs_do_not_panic() {
        let mut d = Device::new(1).unwrap();
        for size in [0, 1, 3, 8, 9, 64, u32::MAX] {
            for addr in [
                0,
                u64::MAX,
                SERVERS[1].mmio_last,
                SERVERS[1].mmio_first + 0xff,
            ] {
                d.mmio_read(addr, size);
                d.mmio_write(addr, size, u64::MAX);
                d.port_read(addr, size);
                d.port_write(addr, size, u64::MAX);
                d.pci_read(addr, size);
                d.pci_write(addr, size, u64::MAX);
            }
        }
        assert!(Device::new(2).is_none());
    }
}
