//! The live test's shared model: the fixed, seeded script of guest accesses and the device state
//! that answers them, used by BOTH sides so that the guest can check every value it reads.
//!
//! - [`layout`]: what each ioreq server claims (ports, MMIO, PCI SBDF) and the special registers.
//! - [`device`]: the emulated device of one server. The dom0 emulator answers Xen's requests with
//!   it; the guest runs the same code to know what it must read. Answers depend only on the
//!   request and this state, never on timing.
//! - [`model`]: the guest's picture of how Xen 4.17 routes an access (which server claims it,
//!   or nobody: reads all-ones, writes dropped), wrapped around two [`device::Device`]s.
//! - [`script`]: the accesses, generated from a fixed seed.
//!
//! Everything the emulator feeds in comes from Xen's shared pages and is untrusted: no function
//! here can panic on any input (no indexing, wrapping or checked arithmetic only).
#![no_std]
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]

pub mod device;
pub mod layout;
pub mod model;
pub mod script;

/// SplitMix64: the seeded generator of the script and the mixing function of constant registers.
pub const fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The value mask of an access of `size` bytes (all ones from 8 bytes up; 0 for size 0).
pub fn size_mask(size: u32) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        1u64.checked_shl(size.wrapping_mul(8))
            .map_or(u64::MAX, |bit| bit.wrapping_sub(1))
    }
}

/// FNV-1a over 64-bit words: how transcripts summarise the elements of a string instruction.
#[derive(Clone, Copy, Debug)]
pub struct Digest(u64);

impl Default for Digest {
    fn default() -> Self {
        Self::new()
    }
}

impl Digest {
    pub const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
    pub fn push(&mut self, v: u64) {
        for b in v.to_le_bytes() {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    pub const fn value(&self) -> u64 {
        self.0
    }
}
