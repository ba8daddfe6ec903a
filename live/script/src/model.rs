//! The guest's picture of Xen 4.17's routing, around the two servers' devices.
//!
//! What it encodes (Xen 4.17 `ioreq_server_select`, `arch_ioreq_server_get_type_addr`,
//! `hvm_access_cf8` and the null handler): a 4-byte write to 0xcf8 is latched by Xen and also
//! passed on; an access to 0xcfc-0xcff while the latch's enable bit is set is a PCI config cycle
//! for the latched function (register = latch bits 2-7 | port bits 0-1), served by the server
//! claiming that SBDF; any other port access goes to the server whose port ranges contain all
//! its bytes (`port .. port + size - 1`, whatever the repeat count); an MMIO access to the server
//! whose ranges contain its first to last byte over all repetitions, honouring the direction
//! flag. Nobody: reads return all-ones, writes vanish.
//!
//! A single MMIO access is first cut by Xen's emulator (`hvmemul_linear_mmio_access`,
//! `hvmemul_phys_mmio_access`) at the page boundary, then each part into power-of-two pieces
//! (the largest that fits, halving as the rest shrinks); each piece is routed on its own. So an
//! access straddling the end of a claimed range that ends mid-page goes to nobody, while one
//! straddling a range that ends on a page boundary is part served, part all-ones.

use crate::device::Device;
use crate::layout::*;
use crate::script::{fill_value, Op};
use crate::size_mask;

/// Where Xen sends an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Port(usize),
    Pci(usize, u64),
    Mmio(usize),
    Nobody,
}

/// What the guest must observe for one [`Op`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// A write: nothing to read back.
    Nothing,
    /// A single read returning this value.
    Value(u64),
    /// A string read: this many elements were filled into the caller's buffer, in instruction
    /// order (element 0 first).
    Elements(usize),
}

/// Both servers' devices and Xen's CF8 latch.
#[derive(Clone, Debug)]
pub struct Machine {
    devs: [Device; 2],
    cf8: u32,
}

impl Machine {
    pub fn new() -> Option<Self> {
        Some(Self {
            devs: [Device::new(0)?, Device::new(1)?],
            cf8: 0,
        })
    }

    fn route_pio(&self, port: u16, size: u32) -> Route {
        let port = u64::from(port);
        if port & !3 == u64::from(CFC_PORT) && self.cf8 & CF8_ENABLE != 0 {
            let sbdf = (self.cf8 >> 8) & 0xffff;
            let reg = u64::from(self.cf8 & 0xfc) | (port & 3);
            return match SERVERS.iter().position(|s| s.sbdf == sbdf) {
                Some(i) => Route::Pci(i, reg),
                None => Route::Nobody,
            };
        }
        let last = port.saturating_add(u64::from(size)).saturating_sub(1);
        for (i, s) in SERVERS.iter().enumerate() {
            let base = u64::from(s.port_base);
            if port >= base && last < base.saturating_add(u64::from(PORT_REGS)) {
                return Route::Port(i);
            }
            let cf8 = u64::from(CF8_PORT);
            if s.claims_cf8 && port >= cf8 && last <= cf8.saturating_add(3) {
                return Route::Port(i);
            }
        }
        Route::Nobody
    }

    /// Route of a (string) MMIO access whose element 0 is at `addr`.
    fn route_mmio(addr: u64, size: u32, count: u32, df: bool) -> Route {
        let span = u64::from(size).saturating_mul(u64::from(count.max(1)));
        let (first, last) = if df {
            let tail = u64::from(size).saturating_mul(u64::from(count.max(1).saturating_sub(1)));
            (
                addr.saturating_sub(tail),
                addr.saturating_add(u64::from(size)).saturating_sub(1),
            )
        } else {
            (addr, addr.saturating_add(span).saturating_sub(1))
        };
        match SERVERS
            .iter()
            .position(|s| first >= s.mmio_first && last <= s.mmio_last)
        {
            Some(i) => Route::Mmio(i),
            None => Route::Nobody,
        }
    }

    /// The pieces Xen's emulator makes of one MMIO access: (address, size, byte offset).
    fn mmio_pieces(addr: u64, size: u32) -> impl Iterator<Item = (u64, u32, u32)> {
        let mut done = 0u32;
        let mut chunk = 0u32;
        core::iter::from_fn(move || {
            if done >= size {
                return None;
            }
            let a = addr.wrapping_add(u64::from(done));
            let left = size.wrapping_sub(done);
            let in_page = (0x1000u64.wrapping_sub(a & 0xfff)).min(u64::from(left)) as u32;
            // a new part at each page start (or the first), else halve to fit what is left
            if chunk == 0 || a & 0xfff == 0 {
                chunk = 1u32 << (31u32.wrapping_sub(in_page.leading_zeros()));
                chunk = chunk.min(8);
            }
            while chunk > in_page {
                chunk >>= 1;
            }
            let piece = (a, chunk, done);
            done = done.wrapping_add(chunk);
            Some(piece)
        })
    }

    fn mmio_read(&mut self, addr: u64, size: u32) -> u64 {
        let mut v = 0u64;
        for (a, chunk, off) in Self::mmio_pieces(addr, size) {
            let part = match Self::route_mmio(a, chunk, 1, false) {
                Route::Mmio(i) => self
                    .devs
                    .get_mut(i)
                    .map_or(size_mask(chunk), |d| d.mmio_read(a, chunk)),
                _ => size_mask(chunk),
            };
            v |= part.checked_shl(off.wrapping_mul(8)).unwrap_or(0);
        }
        v & size_mask(size)
    }

    fn mmio_write(&mut self, addr: u64, size: u32, value: u64) {
        for (a, chunk, off) in Self::mmio_pieces(addr, size) {
            if let Route::Mmio(i) = Self::route_mmio(a, chunk, 1, false) {
                if let Some(d) = self.devs.get_mut(i) {
                    let part = value.checked_shr(off.wrapping_mul(8)).unwrap_or(0);
                    d.mmio_write(a, chunk, part & size_mask(chunk));
                }
            }
        }
    }

    fn pio_read(&mut self, route: Route, port: u16, size: u32) -> u64 {
        match route {
            Route::Port(i) => self
                .devs
                .get_mut(i)
                .map_or(size_mask(size), |d| d.port_read(u64::from(port), size)),
            Route::Pci(i, reg) => self
                .devs
                .get(i)
                .map_or(size_mask(size), |d| d.pci_read(reg, size)),
            _ => size_mask(size),
        }
    }

    fn pio_write(&mut self, route: Route, port: u16, size: u32, value: u64) {
        match route {
            Route::Port(i) => {
                if let Some(d) = self.devs.get_mut(i) {
                    d.port_write(u64::from(port), size, value);
                }
            }
            Route::Pci(i, reg) => {
                if let Some(d) = self.devs.get_mut(i) {
                    d.pci_write(reg, size, value);
                }
            }
            _ => {}
        }
    }

    fn element_addr(addr: u64, size: u32, i: usize, df: bool) -> u64 {
        let step = u64::from(size).wrapping_mul(i as u64);
        if df {
            addr.wrapping_sub(step)
        } else {
            addr.wrapping_add(step)
        }
    }

    /// Runs `op` on the model; string reads fill `out` (element 0 first).
    pub fn run(&mut self, op: &Op, out: &mut [u64; MAX_REP]) -> Expect {
        match *op {
            Op::In { port, size } => {
                let size = u32::from(size);
                let r = self.route_pio(port, size);
                Expect::Value(self.pio_read(r, port, size))
            }
            Op::Out { port, size, value } => {
                let size = u32::from(size);
                let value = u64::from(value) & size_mask(size);
                if port == CF8_PORT && size == 4 {
                    self.cf8 = value as u32;
                }
                let r = self.route_pio(port, size);
                self.pio_write(r, port, size, value);
                Expect::Nothing
            }
            Op::RepIns {
                port, size, count, ..
            } => {
                let size = u32::from(size);
                let r = self.route_pio(port, size);
                let n = usize::from(count).min(MAX_REP);
                for slot in out.iter_mut().take(n) {
                    *slot = self.pio_read(r, port, size);
                }
                Expect::Elements(n)
            }
            Op::RepOuts {
                port,
                size,
                count,
                fill,
                ..
            } => {
                let size = u32::from(size);
                let r = self.route_pio(port, size);
                for i in 0..usize::from(count).min(MAX_REP) {
                    self.pio_write(r, port, size, fill_value(fill, i) & size_mask(size));
                }
                Expect::Nothing
            }
            Op::MmioRead { addr, size } => Expect::Value(self.mmio_read(addr, u32::from(size))),
            Op::MmioWrite { addr, size, value } => {
                self.mmio_write(addr, u32::from(size), value);
                Expect::Nothing
            }
            Op::RepStos {
                addr,
                size,
                count,
                df,
                value,
            } => {
                let size = u32::from(size);
                let n = usize::from(count).min(MAX_REP);
                if let Route::Mmio(i) = Self::route_mmio(addr, size, n as u32, df) {
                    if let Some(d) = self.devs.get_mut(i) {
                        for e in 0..n {
                            d.mmio_write(Self::element_addr(addr, size, e, df), size, value);
                        }
                    }
                }
                Expect::Nothing
            }
            Op::RepMovsIn {
                addr,
                size,
                count,
                df,
                ..
            } => {
                let size = u32::from(size);
                let n = usize::from(count).min(MAX_REP);
                let route = Self::route_mmio(addr, size, n as u32, df);
                for (e, slot) in out.iter_mut().take(n).enumerate() {
                    *slot = match route {
                        Route::Mmio(i) => self.devs.get_mut(i).map_or(size_mask(size), |d| {
                            d.mmio_read(Self::element_addr(addr, size, e, df), size)
                        }),
                        _ => size_mask(size),
                    };
                }
                Expect::Elements(n)
            }
            Op::RepMovsOut {
                addr,
                size,
                count,
                df,
                fill,
                ..
            } => {
                let size = u32::from(size);
                let n = usize::from(count).min(MAX_REP);
                if let Route::Mmio(i) = Self::route_mmio(addr, size, n as u32, df) {
                    if let Some(d) = self.devs.get_mut(i) {
                        for e in 0..n {
                            let v = fill_value(fill, e) & size_mask(size);
                            d.mmio_write(Self::element_addr(addr, size, e, df), size, v);
                        }
                    }
                }
                Expect::Nothing
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn routing() {
        let m = Machine::new().unwrap();
        assert_eq!(m.route_pio(0x5a0, 4), Route::Port(0));
        assert_eq!(m.route_pio(0x5ae, 4), Route::Nobody); // A's end into B
        assert_eq!(m.route_pio(0x5af, 2), Route::Nobody);
        assert_eq!(m.route_pio(0x5bf, 1), Route::Port(1));
        assert_eq!(m.route_pio(0x5bf, 2), Route::Nobody);
        assert_eq!(m.route_pio(0xcf8, 4), Route::Port(0));
        assert_eq!(m.route_pio(0xcfc, 4), Route::Nobody); // CF8 disabled
        assert_eq!(
            Machine::route_mmio(0xe000_07fe, 2, 1, false),
            Route::Mmio(0)
        );
        assert_eq!(Machine::route_mmio(0xe000_07fe, 4, 1, false), Route::Nobody);
        assert_eq!(Machine::route_mmio(0xe000_0010, 4, 4, true), Route::Mmio(0));
        assert_eq!(Machine::route_mmio(0xe000_0008, 4, 4, true), Route::Nobody);
    }

    #[test]
    fn mmio_split_like_xen() {
        let pieces = |a, s| Machine::mmio_pieces(a, s).collect::<std::vec::Vec<_>>();
        assert_eq!(pieces(0x1000, 8), [(0x1000, 8, 0)]);
        assert_eq!(pieces(0x1003, 4), [(0x1003, 4, 0)]);
        assert_eq!(
            pieces(0x1ffd, 4),
            [(0x1ffd, 2, 0), (0x1fff, 1, 2), (0x2000, 1, 3)]
        );
        assert_eq!(
            pieces(0x1ffb, 8),
            [
                (0x1ffb, 4, 0),
                (0x1fff, 1, 4),
                (0x2000, 2, 5),
                (0x2002, 1, 7)
            ]
        );
        assert_eq!(pieces(0x1fff, 2), [(0x1fff, 1, 0), (0x2000, 1, 1)]);
        // B ends on a page boundary: the part inside B is served (its zero region reads 0)
        let mut m = Machine::new().unwrap();
        assert_eq!(m.mmio_read(0xe000_1ffe, 4), 0xffff_0000);
        // A ends mid-page: the whole access goes to nobody
        assert_eq!(m.mmio_read(0xe000_07fe, 4), 0xffff_ffff);
    }

    #[test]
    fn pci_through_cf8() {
        let mut m = Machine::new().unwrap();
        let mut out = [0; MAX_REP];
        let cf8 = CF8_ENABLE | (SERVERS[1].sbdf << 8);
        m.run(
            &Op::Out {
                port: CF8_PORT,
                size: 4,
                value: cf8,
            },
            &mut out,
        );
        assert_eq!(
            m.run(
                &Op::In {
                    port: CFC_PORT,
                    size: 4
                },
                &mut out
            ),
            Expect::Value(0xc0a1_5853)
        );
        assert_eq!(
            m.run(
                &Op::In {
                    port: CFC_PORT + 2,
                    size: 2
                },
                &mut out
            ),
            Expect::Value(0xc0a1)
        );
        assert_eq!(
            m.run(
                &Op::In {
                    port: CF8_PORT,
                    size: 4
                },
                &mut out
            ),
            Expect::Value(u64::from(cf8))
        );
        m.run(
            &Op::Out {
                port: CF8_PORT,
                size: 4,
                value: CF8_ENABLE | (UNCLAIMED_SBDF << 8),
            },
            &mut out,
        );
        assert_eq!(
            m.run(
                &Op::In {
                    port: CFC_PORT,
                    size: 4
                },
                &mut out
            ),
            Expect::Value(0xffff_ffff)
        );
    }
}
