//! What the live test's two ioreq servers claim, and the registers outside the random script.
//!
//! Server 0 ("A") is created with the buffered ring, server 1 ("B") without. Xen 4.17 hands out
//! server ids as the lowest free slot, so a fresh guest gets ids 0 and 1 in creation order; the
//! emulator reads the ids Xen returns and never assumes them.

/// A PCI function as Xen 4.17 packs it in `XEN_DMOP_PCI_SBDF` (segment 0 here).
pub const fn sbdf(bus: u32, dev: u32, func: u32) -> u32 {
    ((bus & 0xff) << 8) | ((dev & 0x1f) << 3) | (func & 7)
}

/// One server's claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerLayout {
    pub name: &'static str,
    /// Created with `handle_bufioreq` = 1 (the legacy buffered ring).
    pub bufioreq: bool,
    /// First claimed port; [`PORT_REGS`] ports are claimed.
    pub port_base: u16,
    /// Claimed MMIO range (inclusive), in an unpopulated gfn range (p2m_mmio_dm).
    pub mmio_first: u64,
    pub mmio_last: u64,
    /// Claimed PCI function.
    pub sbdf: u32,
    /// Also claims the config-address ports 0xcf8-0xcfb (Xen latches CF8 and then passes the
    /// access on to the ioreq servers too).
    pub claims_cf8: bool,
}

/// Ports per server: 0-3 latch, 4-7 FIFO, 8-11 accumulator, 12-15 special (A: control, B: ping).
pub const PORT_REGS: u16 = 16;

pub const SERVERS: [ServerLayout; 2] = [
    ServerLayout {
        name: "A",
        bufioreq: true,
        port_base: 0x5a0,
        mmio_first: 0xe000_0000,
        mmio_last: 0xe000_07ff,
        sbdf: sbdf(0, 3, 0),
        claims_cf8: true,
    },
    ServerLayout {
        name: "B",
        bufioreq: false,
        port_base: 0x5b0,
        mmio_first: 0xe000_1000,
        mmio_last: 0xe000_1fff,
        sbdf: sbdf(0, 4, 0),
        claims_cf8: false,
    },
];

pub const CF8_PORT: u16 = 0xcf8;
pub const CFC_PORT: u16 = 0xcfc;
/// `CF8_ENABLED`.
pub const CF8_ENABLE: u32 = 0x8000_0000;

/// Nobody claims these: reads return all-ones, writes vanish.
pub const UNCLAIMED_PORT: u16 = 0x5c0;
pub const UNCLAIMED_PORT_LEN: u16 = 8;
pub const UNCLAIMED_MMIO: u64 = 0xe000_3000;
pub const UNCLAIMED_SBDF: u32 = sbdf(0, 5, 0);

/// Offsets inside a server's MMIO range.
pub const MMIO_SCRATCH: u64 = 0x000; // 256 bytes of read/write storage
pub const MMIO_SCRATCH_LEN: u64 = 0x100;
pub const MMIO_CONST: u64 = 0x100; // 256 bytes whose reads depend on address and size only
pub const MMIO_CONST_LEN: u64 = 0x100;
pub const MMIO_FIFO: u64 = 0x200; // 8 bytes: each read draws the next value
pub const MMIO_ACC: u64 = 0x208; // 8 bytes: the write accumulator
/// The rest of the range reads zero and ignores writes.
pub const MMIO_ZERO: u64 = 0x210;

/// Server A's port 12: the guest writes [`DONE_MAGIC`] there once the script and the timing loop
/// are over; the emulator completes it and tears down.
pub const CONTROL_PORT: u16 = SERVERS[0].port_base + 12;
pub const DONE_MAGIC: u32 = u32::from_le_bytes(*b"DONE");
/// Server B's port 12: the timed round trip. Reads return [`PING_VALUE`]; the emulator counts
/// them instead of logging each one.
pub const PING_PORT: u16 = SERVERS[1].port_base + 12;
pub const PING_VALUE: u32 = 0x9196_0001;
/// Timed round trips.
pub const RTT_SAMPLES: usize = 1000;

/// The hostile pass's server claims these: the guest polls [`HOSTILE_HANDSHAKE_PORT`] (all-ones
/// while nobody claims it) until it reads [`HANDSHAKE_MAGIC`], then reads
/// [`HOSTILE_DATA_PORT`] [`HOSTILE_READS`] times; the last read is never answered (the server
/// is destroyed while it is pending).
pub const HOSTILE_PORT: u16 = 0x5e0;
pub const HOSTILE_PORT_LEN: u16 = 8;
pub const HOSTILE_HANDSHAKE_PORT: u16 = HOSTILE_PORT;
pub const HOSTILE_DATA_PORT: u16 = HOSTILE_PORT + 4;
pub const HANDSHAKE_MAGIC: u32 = u32::from_le_bytes(*b"HOST");
pub const HOSTILE_READS: u32 = 4;
/// What the hostile emulator answers to the k-th data read (k from 0; the last is never
/// answered).
pub const fn hostile_value(k: u32) -> u32 {
    0x4057_0000 | (k & 0xffff)
}

/// Longest string instruction of the script, and the guest's buffer for them (two pages, so a
/// buffer may cross a page boundary: Xen then splits the instruction into several requests).
pub const MAX_REP: usize = 64;
pub const REP_AREA: usize = 8192;

/// The seed of the script.
pub const SEED: u64 = 0x0009_1e55_5eed_2026;
/// Random accesses after the fixed prologue.
pub const NR_RANDOM_OPS: usize = 1100;
