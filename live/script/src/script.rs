//! The accesses: a fixed prologue that covers every kind once, then [`NR_RANDOM_OPS`] drawn from
//! [`SEED`]. Each [`Op`] is one guest instruction.
//!
//! The generator only combines its own constants and draws (never input from Xen or the guest):
//! the crate's no-unchecked-arithmetic rule, which guards the device model, is relaxed here.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use core::fmt;

use crate::layout::*;
use crate::splitmix64;

/// One guest instruction. String instructions name their RAM buffer by `buf`, the offset of their
/// lowest element in the guest's [`REP_AREA`]; `addr` of a string MMIO access is its element 0
/// (the highest one when `df` is set).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    In {
        port: u16,
        size: u8,
    },
    Out {
        port: u16,
        size: u8,
        value: u32,
    },
    RepIns {
        port: u16,
        size: u8,
        count: u8,
        df: bool,
        buf: u16,
    },
    RepOuts {
        port: u16,
        size: u8,
        count: u8,
        df: bool,
        buf: u16,
        fill: u32,
    },
    MmioRead {
        addr: u64,
        size: u8,
    },
    MmioWrite {
        addr: u64,
        size: u8,
        value: u64,
    },
    /// `rep stos` into MMIO.
    RepStos {
        addr: u64,
        size: u8,
        count: u8,
        df: bool,
        value: u64,
    },
    /// `rep movs` from MMIO into the buffer.
    RepMovsIn {
        addr: u64,
        size: u8,
        count: u8,
        df: bool,
        buf: u16,
    },
    /// `rep movs` from the buffer into MMIO.
    RepMovsOut {
        addr: u64,
        size: u8,
        count: u8,
        df: bool,
        buf: u16,
        fill: u32,
    },
}

/// Element `i` of what a string write sends (before masking to the element size).
pub fn fill_value(fill: u32, i: usize) -> u64 {
    splitmix64(u64::from(fill) ^ (i as u64).wrapping_mul(0x0100_0000_01b3))
}

fn flag(df: bool) -> u8 {
    u8::from(df)
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::In { port, size } => write!(f, "in port={port:#x} size={size}"),
            Op::Out { port, size, value } => {
                write!(f, "out port={port:#x} size={size} value={value:#x}")
            }
            Op::RepIns { port, size, count, df, buf } => write!(
                f,
                "rep-ins port={port:#x} size={size} count={count} df={} buf=+{buf:#x}",
                flag(df)
            ),
            Op::RepOuts { port, size, count, df, buf, fill } => write!(
                f,
                "rep-outs port={port:#x} size={size} count={count} df={} buf=+{buf:#x} fill={fill:#x}",
                flag(df)
            ),
            Op::MmioRead { addr, size } => write!(f, "mmio-read addr={addr:#x} size={size}"),
            Op::MmioWrite { addr, size, value } => {
                write!(f, "mmio-write addr={addr:#x} size={size} value={value:#x}")
            }
            Op::RepStos { addr, size, count, df, value } => write!(
                f,
                "rep-stos addr={addr:#x} size={size} count={count} df={} value={value:#x}",
                flag(df)
            ),
            Op::RepMovsIn { addr, size, count, df, buf } => write!(
                f,
                "rep-movs-in addr={addr:#x} size={size} count={count} df={} buf=+{buf:#x}",
                flag(df)
            ),
            Op::RepMovsOut { addr, size, count, df, buf, fill } => write!(
                f,
                "rep-movs-out addr={addr:#x} size={size} count={count} df={} buf=+{buf:#x} fill={fill:#x}",
                flag(df)
            ),
        }
    }
}

const A: usize = 0;
const B: usize = 1;

fn port(server: usize, off: u16) -> u16 {
    SERVERS
        .get(server)
        .map_or(UNCLAIMED_PORT, |s| s.port_base.wrapping_add(off))
}

fn mmio(server: usize, off: u64) -> u64 {
    SERVERS
        .get(server)
        .map_or(UNCLAIMED_MMIO, |s| s.mmio_first.wrapping_add(off))
}

fn cf8(sbdf: u32, reg: u32) -> u32 {
    CF8_ENABLE | (sbdf << 8) | (reg & 0xfc)
}

/// The fixed prologue: every kind of access at least once, on both servers.
const PROLOGUE: &[Op] = &{
    const fn p(server: usize, off: u16) -> u16 {
        SERVERS[server].port_base + off
    }
    const fn m(server: usize, off: u64) -> u64 {
        SERVERS[server].mmio_first + off
    }
    const fn c(sbdf: u32, reg: u32) -> u32 {
        CF8_ENABLE | (sbdf << 8) | (reg & 0xfc)
    }
    let a = SERVERS[A].sbdf;
    let b = SERVERS[B].sbdf;
    [
        // port I/O of 1, 2 and 4 bytes, both servers
        Op::In {
            port: p(A, 0),
            size: 4,
        },
        Op::Out {
            port: p(A, 0),
            size: 4,
            value: 0xdead_beef,
        },
        Op::In {
            port: p(A, 2),
            size: 1,
        },
        Op::In {
            port: p(A, 1),
            size: 2,
        },
        Op::Out {
            port: p(B, 0),
            size: 2,
            value: 0x1234,
        },
        Op::In {
            port: p(B, 0),
            size: 4,
        },
        Op::In {
            port: p(A, 4),
            size: 1,
        },
        Op::In {
            port: p(A, 4),
            size: 2,
        },
        Op::In {
            port: p(A, 4),
            size: 4,
        },
        Op::Out {
            port: p(B, 4),
            size: 1,
            value: 0x5a,
        },
        Op::Out {
            port: p(B, 4),
            size: 4,
            value: 0x0102_0304,
        },
        Op::In {
            port: p(B, 8),
            size: 4,
        },
        // PCI config through CF8/CFC: both claimed functions, BAR sizing, readback of CF8
        Op::Out {
            port: CF8_PORT,
            size: 4,
            value: c(a, 0x00),
        },
        Op::In {
            port: CFC_PORT,
            size: 4,
        },
        Op::In {
            port: CFC_PORT + 2,
            size: 2,
        },
        Op::In {
            port: CF8_PORT,
            size: 4,
        },
        Op::Out {
            port: CF8_PORT,
            size: 4,
            value: c(a, 0x10),
        },
        Op::Out {
            port: CFC_PORT,
            size: 4,
            value: 0xffff_ffff,
        },
        Op::In {
            port: CFC_PORT,
            size: 4,
        },
        Op::Out {
            port: CF8_PORT,
            size: 4,
            value: c(b, 0x40),
        },
        Op::Out {
            port: CFC_PORT + 1,
            size: 1,
            value: 0x77,
        },
        Op::In {
            port: CFC_PORT,
            size: 4,
        },
        Op::Out {
            port: CF8_PORT,
            size: 4,
            value: c(b, 0x04),
        },
        Op::Out {
            port: CFC_PORT,
            size: 2,
            value: 0xffff,
        },
        Op::In {
            port: CFC_PORT,
            size: 4,
        },
        // nobody claims: an unclaimed function, and CF8 disabled
        Op::Out {
            port: CF8_PORT,
            size: 4,
            value: c(UNCLAIMED_SBDF, 0),
        },
        Op::In {
            port: CFC_PORT,
            size: 4,
        },
        Op::Out {
            port: CF8_PORT,
            size: 4,
            value: a << 8,
        },
        Op::In {
            port: CFC_PORT,
            size: 4,
        },
        Op::In {
            port: CFC_PORT + 3,
            size: 1,
        },
        // rep ins / rep outs, df = 0 and 1, one crossing a page of the buffer
        Op::RepIns {
            port: p(A, 4),
            size: 1,
            count: 16,
            df: false,
            buf: 0x10,
        },
        Op::RepIns {
            port: p(A, 4),
            size: 2,
            count: 9,
            df: true,
            buf: 0x40,
        },
        Op::RepIns {
            port: p(B, 4),
            size: 4,
            count: 20,
            df: false,
            buf: 0xfe0,
        },
        Op::RepIns {
            port: p(B, 0),
            size: 4,
            count: 3,
            df: true,
            buf: 0xff8,
        },
        Op::RepOuts {
            port: p(A, 4),
            size: 4,
            count: 12,
            df: false,
            buf: 0x100,
            fill: 1,
        },
        Op::In {
            port: p(A, 8),
            size: 4,
        },
        Op::RepOuts {
            port: p(A, 4),
            size: 2,
            count: 30,
            df: true,
            buf: 0xfd0,
            fill: 2,
        },
        Op::In {
            port: p(A, 8),
            size: 4,
        },
        Op::RepIns {
            port: UNCLAIMED_PORT,
            size: 2,
            count: 5,
            df: false,
            buf: 0x200,
        },
        Op::RepOuts {
            port: UNCLAIMED_PORT,
            size: 1,
            count: 5,
            df: true,
            buf: 0x200,
            fill: 3,
        },
        Op::RepIns {
            port: p(A, 14),
            size: 4,
            count: 4,
            df: false,
            buf: 0x300,
        },
        // MMIO reads and writes of 1, 2, 4 and 8 bytes
        Op::MmioRead {
            addr: m(A, 0),
            size: 8,
        },
        Op::MmioWrite {
            addr: m(A, 3),
            size: 4,
            value: 0x1122_3344,
        },
        Op::MmioRead {
            addr: m(A, 2),
            size: 8,
        },
        Op::MmioWrite {
            addr: m(B, 0x20),
            size: 8,
            value: 0x0123_4567_89ab_cdef,
        },
        Op::MmioRead {
            addr: m(B, 0x21),
            size: 2,
        },
        Op::MmioRead {
            addr: m(B, 0x27),
            size: 1,
        },
        Op::MmioRead {
            addr: m(A, MMIO_CONST),
            size: 4,
        },
        Op::MmioRead {
            addr: m(B, MMIO_CONST + 0x31),
            size: 2,
        },
        Op::MmioRead {
            addr: m(A, MMIO_FIFO),
            size: 8,
        },
        Op::MmioWrite {
            addr: m(A, MMIO_FIFO),
            size: 4,
            value: 0xabcd,
        },
        Op::MmioRead {
            addr: m(A, MMIO_ACC),
            size: 8,
        },
        Op::MmioRead {
            addr: m(B, 0x800),
            size: 4,
        },
        // string MMIO: rep stos, rep movs both ways, df = 0 and 1
        Op::RepStos {
            addr: m(A, 0x40),
            size: 4,
            count: 8,
            df: false,
            value: 0x5757_5757,
        },
        Op::RepStos {
            addr: m(B, 0x7f),
            size: 1,
            count: 16,
            df: true,
            value: 0xa5,
        },
        Op::RepMovsIn {
            addr: m(A, 0x40),
            size: 4,
            count: 10,
            df: false,
            buf: 0x400,
        },
        Op::RepMovsIn {
            addr: m(B, 0x78),
            size: 8,
            count: 8,
            df: true,
            buf: 0xfe8,
        },
        Op::RepMovsOut {
            addr: m(A, 0x80),
            size: 2,
            count: 24,
            df: false,
            buf: 0x500,
            fill: 4,
        },
        Op::RepMovsIn {
            addr: m(A, 0x80),
            size: 8,
            count: 6,
            df: false,
            buf: 0x600,
        },
        Op::RepMovsIn {
            addr: m(B, MMIO_CONST + 0x20),
            size: 4,
            count: 5,
            df: true,
            buf: 0x700,
        },
        // nobody claims
        Op::In {
            port: UNCLAIMED_PORT,
            size: 1,
        },
        Op::In {
            port: UNCLAIMED_PORT + 2,
            size: 2,
        },
        Op::Out {
            port: UNCLAIMED_PORT + 4,
            size: 4,
            value: 7,
        },
        Op::In {
            port: UNCLAIMED_PORT + 4,
            size: 4,
        },
        Op::MmioWrite {
            addr: UNCLAIMED_MMIO,
            size: 4,
            value: 9,
        },
        Op::MmioRead {
            addr: UNCLAIMED_MMIO,
            size: 4,
        },
        Op::MmioRead {
            addr: UNCLAIMED_MMIO + 0x10,
            size: 8,
        },
        // straddling a claimed range's end (or start)
        Op::In {
            port: p(A, 14),
            size: 4,
        },
        Op::In {
            port: p(A, 15),
            size: 2,
        },
        Op::In {
            port: p(B, 14),
            size: 4,
        },
        Op::Out {
            port: p(B, 15),
            size: 2,
            value: 0xffff,
        },
        Op::In {
            port: p(A, 0) - 2,
            size: 4,
        },
        Op::MmioRead {
            addr: SERVERS[A].mmio_last - 1,
            size: 4,
        },
        Op::MmioRead {
            addr: SERVERS[A].mmio_last - 5,
            size: 8,
        },
        Op::MmioWrite {
            addr: SERVERS[A].mmio_last - 1,
            size: 4,
            value: 1,
        },
        Op::MmioRead {
            addr: SERVERS[A].mmio_last - 1,
            size: 2,
        },
        // B's range ends on a page boundary: Xen splits the access there, B serves its part
        Op::MmioRead {
            addr: SERVERS[B].mmio_last - 2,
            size: 8,
        },
        Op::MmioWrite {
            addr: SERVERS[B].mmio_last,
            size: 2,
            value: 0xbeef,
        },
        Op::RepStos {
            addr: SERVERS[A].mmio_last - 7,
            size: 4,
            count: 4,
            df: false,
            value: 3,
        },
    ]
};

/// The script: [`PROLOGUE`] then [`NR_RANDOM_OPS`] accesses drawn from [`SEED`].
#[derive(Clone, Debug)]
pub struct Script {
    rng: u64,
    next: usize,
}

impl Default for Script {
    fn default() -> Self {
        Self::new()
    }
}

impl Script {
    pub const fn new() -> Self {
        Self { rng: SEED, next: 0 }
    }

    /// How many accesses the script has.
    pub fn len() -> usize {
        PROLOGUE.len().saturating_add(NR_RANDOM_OPS)
    }

    fn draw(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(1);
        splitmix64(self.rng)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.draw().checked_rem(n).unwrap_or(0)
    }

    fn pick<T: Copy>(&mut self, items: &[T], fallback: T) -> T {
        let i = self.below(items.len() as u64) as usize;
        items.get(i).copied().unwrap_or(fallback)
    }

    /// A port access size and offset inside registers 0-11 (never the special register 12-15).
    fn reg_port(&mut self) -> (u16, u8) {
        let server = self.below(2) as usize;
        let size = self.pick(&[1u8, 2, 4], 4);
        let off = self.below(u64::from(12 - size)) as u16;
        (port(server, off), size)
    }

    /// A string access inside one region of `len` bytes at `base`: (element 0, count).
    fn rep_span(&mut self, base: u64, len: u64, size: u8, df: bool) -> (u64, u8) {
        let size64 = u64::from(size);
        let max = (len / size64).min(MAX_REP as u64);
        let count = 1 + self.below(max);
        let room = len.saturating_sub(count.saturating_mul(size64));
        let lo = base.wrapping_add(self.below(room.saturating_add(1)));
        let first = if df {
            lo.wrapping_add((count - 1).wrapping_mul(size64))
        } else {
            lo
        };
        (first, count as u8)
    }

    /// A buffer offset for `count` elements of `size` bytes, often crossing the page boundary.
    fn rep_buf(&mut self, size: u8, count: u8) -> u16 {
        let bytes = u64::from(size).saturating_mul(u64::from(count));
        let room = (REP_AREA as u64).saturating_sub(bytes);
        let off = if self.below(3) == 0 {
            // straddle the page boundary in the middle of the area
            0x1000u64.saturating_sub(self.below(bytes.max(1)))
        } else {
            self.below(room.saturating_add(1))
        };
        (off.min(room) & !(u64::from(size) - 1)) as u16
    }

    fn random_op(&mut self) -> Op {
        let server = self.below(2) as usize;
        let kind = self.below(100);
        match kind {
            0..=11 => {
                let (port, size) = self.reg_port();
                Op::In { port, size }
            }
            12..=21 => {
                let (port, size) = self.reg_port();
                Op::Out {
                    port,
                    size,
                    value: self.draw() as u32,
                }
            }
            22..=27 => {
                let sbdf = self.pick(
                    &[
                        SERVERS[A].sbdf,
                        SERVERS[B].sbdf,
                        UNCLAIMED_SBDF,
                        SERVERS[A].sbdf,
                    ],
                    UNCLAIMED_SBDF,
                );
                let reg = self.pick(&[0x00u32, 0x04, 0x08, 0x10, 0x14, 0x2c, 0x3c], 0)
                    | ((self.below(48) as u32 * 4 + 0x40) * u32::from(self.below(2) == 0));
                let value = cf8(sbdf, reg) & !(u32::from(self.below(8) == 0) << 31);
                Op::Out {
                    port: CF8_PORT,
                    size: 4,
                    value,
                }
            }
            28..=35 => {
                let size = self.pick(&[1u8, 2, 4], 4);
                let lane = self.below(u64::from(4 / size)) as u16 * u16::from(size);
                if self.below(3) == 0 {
                    Op::Out {
                        port: CFC_PORT + lane,
                        size,
                        value: self.draw() as u32,
                    }
                } else {
                    Op::In {
                        port: CFC_PORT + lane,
                        size,
                    }
                }
            }
            36..=37 => Op::In {
                port: CF8_PORT,
                size: 4,
            },
            38..=45 => {
                let mut size = self.pick(&[1u8, 2, 4], 1);
                let p = self.pick(
                    &[
                        port(server, 4),
                        port(server, 4),
                        port(server, 0),
                        UNCLAIMED_PORT,
                        port(A, 14),
                    ],
                    UNCLAIMED_PORT,
                );
                if p == port(A, 14) {
                    size = 4; // straddles A's end: nobody
                }
                let count = 1 + self.below(MAX_REP as u64) as u8;
                let df = self.below(2) == 1;
                let buf = self.rep_buf(size, count);
                if self.below(2) == 0 {
                    Op::RepIns {
                        port: p,
                        size,
                        count,
                        df,
                        buf,
                    }
                } else {
                    Op::RepOuts {
                        port: p,
                        size,
                        count,
                        df,
                        buf,
                        fill: self.draw() as u32,
                    }
                }
            }
            46..=47 => Op::In {
                port: port(server, 8),
                size: 4,
            },
            48..=62 => {
                let size = self.pick(&[1u8, 2, 4, 8], 4);
                let region = self.pick(
                    &[MMIO_SCRATCH, MMIO_SCRATCH, MMIO_CONST, MMIO_FIFO, MMIO_ACC],
                    0,
                );
                let off = match region {
                    MMIO_SCRATCH | MMIO_CONST => region + self.below(0x100 - u64::from(size) + 1),
                    _ => region,
                };
                Op::MmioRead {
                    addr: mmio(server, off),
                    size,
                }
            }
            63..=72 => {
                let size = self.pick(&[1u8, 2, 4, 8], 4);
                let region = self.pick(
                    &[
                        MMIO_SCRATCH,
                        MMIO_SCRATCH,
                        MMIO_SCRATCH,
                        MMIO_FIFO,
                        MMIO_ACC,
                    ],
                    0,
                );
                let off = match region {
                    MMIO_SCRATCH => self.below(0x100 - u64::from(size) + 1),
                    _ => region,
                };
                Op::MmioWrite {
                    addr: mmio(server, off),
                    size,
                    value: self.draw(),
                }
            }
            73..=84 => {
                let size = self.pick(&[1u8, 2, 4, 8], 4);
                let df = self.below(2) == 1;
                let from_const = self.below(4) == 0;
                let base = mmio(server, if from_const { MMIO_CONST } else { MMIO_SCRATCH });
                let (addr, count) = self.rep_span(base, 0x100, size, df);
                let buf = self.rep_buf(size, count);
                match self.below(3) {
                    0 if !from_const => Op::RepStos {
                        addr,
                        size,
                        count,
                        df,
                        value: self.draw(),
                    },
                    1 if !from_const => Op::RepMovsOut {
                        addr,
                        size,
                        count,
                        df,
                        buf,
                        fill: self.draw() as u32,
                    },
                    _ => Op::RepMovsIn {
                        addr,
                        size,
                        count,
                        df,
                        buf,
                    },
                }
            }
            85..=91 => {
                let size = self.pick(&[1u8, 2, 4, 8], 4);
                match self.below(4) {
                    0 => Op::MmioRead {
                        addr: UNCLAIMED_MMIO + self.below(0x800),
                        size,
                    },
                    1 => Op::MmioWrite {
                        addr: UNCLAIMED_MMIO + self.below(0x800),
                        size,
                        value: self.draw(),
                    },
                    2 => Op::In {
                        port: UNCLAIMED_PORT + self.below(u64::from(UNCLAIMED_PORT_LEN) - 4) as u16,
                        size: size.min(4),
                    },
                    _ => Op::Out {
                        port: UNCLAIMED_PORT,
                        size: size.min(4),
                        value: self.draw() as u32,
                    },
                }
            }
            _ => {
                // straddling a claimed range's end
                let s = SERVERS.get(server).copied().unwrap_or(SERVERS[A]);
                if self.below(2) == 0 {
                    let size = self.pick(&[2u8, 4], 4);
                    let back = 1 + self.below(u64::from(size) - 1);
                    let p = (s.port_base + PORT_REGS).wrapping_sub(back as u16);
                    Op::In { port: p, size }
                } else {
                    let size = self.pick(&[2u8, 4, 8], 4);
                    let back = 1 + self.below(u64::from(size) - 1);
                    Op::MmioRead {
                        addr: s.mmio_last + 1 - back,
                        size,
                    }
                }
            }
        }
    }
}

impl Iterator for Script {
    type Item = Op;
    fn next(&mut self) -> Option<Op> {
        let i = self.next;
        self.next = i.checked_add(1)?;
        if let Some(op) = PROLOGUE.get(i) {
            return Some(*op);
        }
        (i < Self::len()).then(|| self.random_op())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::model::{Expect, Machine};
    use std::collections::BTreeMap;
    use std::string::ToString;

    #[test]
    fn script_is_fixed_and_long_enough() {
        let a: std::vec::Vec<Op> = Script::new().collect();
        let b: std::vec::Vec<Op> = Script::new().collect();
        assert_eq!(a, b);
        assert!(a.len() >= 1000, "{}", a.len());
        assert_eq!(a.len(), Script::len());
    }

    #[test]
    fn script_covers_every_kind() {
        let mut kinds = BTreeMap::new();
        for op in Script::new() {
            let s = op.to_string();
            let k = s.split(' ').next().unwrap().to_string();
            *kinds.entry(k).or_insert(0) += 1;
        }
        for k in [
            "in",
            "out",
            "rep-ins",
            "rep-outs",
            "mmio-read",
            "mmio-write",
            "rep-stos",
            "rep-movs-in",
            "rep-movs-out",
        ] {
            assert!(kinds.get(k).copied().unwrap_or(0) >= 5, "{k}: {kinds:?}");
        }
    }

    #[test]
    fn script_ops_stay_in_bounds() {
        for op in Script::new() {
            match op {
                Op::RepIns {
                    size, count, buf, ..
                }
                | Op::RepOuts {
                    size, count, buf, ..
                }
                | Op::RepMovsIn {
                    size, count, buf, ..
                }
                | Op::RepMovsOut {
                    size, count, buf, ..
                } => {
                    assert!(count >= 1 && usize::from(count) <= MAX_REP);
                    assert!(
                        usize::from(buf) + usize::from(size) * usize::from(count) <= REP_AREA,
                        "{op}"
                    );
                    assert_eq!(buf % u16::from(size), 0);
                }
                _ => {}
            }
            // The control and ping registers are never reached by the script (a straddling
            // access that covers part of them goes to nobody).
            if let Op::In { port, size } | Op::Out { port, size, .. } = op {
                for special in [CONTROL_PORT, PING_PORT] {
                    let last = port + u16::from(size) - 1;
                    assert!(!(port >= special && last < special + 4), "{op}");
                }
            }
            if let Op::RepIns { port, size, .. } | Op::RepOuts { port, size, .. } = op {
                for special in [CONTROL_PORT, PING_PORT] {
                    let last = port + u16::from(size) - 1;
                    assert!(!(port >= special && last < special + 4), "{op}");
                }
            }
        }
    }

    #[test]
    fn model_sees_claimed_and_unclaimed() {
        let mut m = Machine::new().unwrap();
        let mut out = [0; MAX_REP];
        let mut ones = 0;
        let mut other = 0;
        for op in Script::new() {
            match m.run(&op, &mut out) {
                Expect::Value(v)
                    if v == crate::size_mask(8) || v == 0xffff_ffff || v == 0xffff || v == 0xff =>
                {
                    ones += 1
                }
                Expect::Value(_) => other += 1,
                _ => {}
            }
        }
        assert!(ones > 50 && other > 300, "{ones} {other}");
    }
}
