//! Byte layouts shared with emulators and toolstacks: the ioreq slot of the shared page, the
//! buffered ring, the series' HVMOP argument structs, Xen 4.17's ioreq-server DMOP argument
//! structs, and the constants that go with them.
//!
//! Every struct is a `#[repr(C)]` mirror of a Xen public type (`xen/include/public/hvm/ioreq.h`,
//! `hvm_op.h`, `params.h` as of the 2014 series, unchanged in 4.17 except where noted;
//! `dm_op.h` of 4.17), checked at compile time for size, alignment and field offsets
//! (`assert_layout!`). The Rust names differ from Xen's (`ioreq_t` is
//! [`IoreqSlot`], ...) so that the generated header can be included next to Xen's own headers.
//!
//! | Rust | Xen | size |
//! |---|---|---|
//! | [`IoreqSlot`] | `ioreq_t` | 32 |
//! | [`BufIoreqSlot`] | `buf_ioreq_t` | 8 |
//! | (array of [`IoreqSlot`], [`SHARED_IOPAGE_SLOTS`] per page) | `shared_iopage_t` | 4096 |
//! | [`BufferedIopage`] | `buffered_iopage_t` | 4096 |
//! | [`HvmCreateIoreqServer`] | `xen_hvm_create_ioreq_server_t` | 6 |
//! | [`HvmGetIoreqServerInfo`] | `xen_hvm_get_ioreq_server_info_t` | 24 |
//! | [`HvmIoRange`] | `xen_hvm_io_range_t` | 24 |
//! | [`HvmDestroyIoreqServer`] | `xen_hvm_destroy_ioreq_server_t` | 4 |
//! | [`HvmSetIoreqServerState`] | `xen_hvm_set_ioreq_server_state_t` | 6 |
//! | [`HvmParam`] | `xen_hvm_param_t` | 16 |
//! | [`DmopCreateIoreqServer`] | `xen_dm_op_create_ioreq_server_t` | 6 |
//! | [`DmopGetIoreqServerInfo`] | `xen_dm_op_get_ioreq_server_info_t` | 24 |
//! | [`DmopIoreqServerRange`] | `xen_dm_op_ioreq_server_range_t` | 24 |
//! | [`DmopSetIoreqServerState`] | `xen_dm_op_set_ioreq_server_state_t` | 4 |
//! | [`DmopDestroyIoreqServer`] | `xen_dm_op_destroy_ioreq_server_t` | 4 |
//!
//! Byte conversions are derived (zerocopy's [`FromBytes`] and [`IntoBytes`], re-exported here):
//! every struct has no padding and every bit pattern is a valid value, so an argument is copied
//! in from the caller's bytes by value (`read_from_bytes`, `read_from_prefix`) and written back
//! whole (`as_bytes`, `write_to_prefix`), and no field needs validating to be representable.
//! Nothing keeps a reference into memory an emulator or guest can write: the shared ioreq pages
//! are read field by field through atomic loads, at `offset_of!` of these structs. The bytes
//! are the native memory image: x86, the only target, is little-endian, as Xen's ABI is there
//! (asserted below), so no conversion swaps bytes.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::mem::size_of;

pub use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

const _: () = assert!(cfg!(target_endian = "little"));

/// Compile-time layout checks of a `#[repr(C)]` ABI struct: its size, its alignment and the
/// offset of each field the C header defines.
macro_rules! assert_layout {
    ($t:ty, size $size:expr, align $align:expr $(, $field:ident @ $off:expr)* $(,)?) => {
        const _: () = {
            assert!(core::mem::size_of::<$t>() == $size);
            assert!(core::mem::align_of::<$t>() == $align);
            $(assert!(core::mem::offset_of!($t, $field) == $off);)*
        };
    };
}
pub(crate) use assert_layout;

// ---- ioreq_t ------------------------------------------------------------------------------------

/// `IOREQ_READ`: the `dir` bit of a read (the emulator supplies the data). The one definition
/// of the I/O direction (port handlers get it as an `int`).
pub const IOREQ_READ: u8 = 1;
/// `IOREQ_WRITE`.
pub const IOREQ_WRITE: u8 = 0;

/// `X86EMUL_OKAY`: an emulation step (a port handler, a send) completed; also
/// `IOREQ_STATUS_HANDLED`.
pub const X86EMUL_OKAY: i32 = 0;
/// `X86EMUL_UNHANDLEABLE`: not handled here; also `IOREQ_STATUS_UNHANDLED`.
pub const X86EMUL_UNHANDLEABLE: i32 = 1;
/// `X86EMUL_RETRY`: retry once the emulator answered; also `IOREQ_STATUS_RETRY`.
pub const X86EMUL_RETRY: i32 = 3;

/// `STATE_IOREQ_NONE`: the slot is free.
pub const STATE_IOREQ_NONE: u8 = 0;
/// `STATE_IOREQ_READY`: Xen has posted a request.
pub const STATE_IOREQ_READY: u8 = 1;
/// `STATE_IOREQ_INPROCESS`: the emulator took it.
pub const STATE_IOREQ_INPROCESS: u8 = 2;
/// `STATE_IORESP_READY`: the emulator answered.
pub const STATE_IORESP_READY: u8 = 3;

/// `IOREQ_TYPE_PIO`: port I/O; `addr` is the port.
pub const IOREQ_TYPE_PIO: u8 = 0;
/// `IOREQ_TYPE_COPY`: MMIO; `addr` is the guest physical address.
pub const IOREQ_TYPE_COPY: u8 = 1;
/// `IOREQ_TYPE_PCI_CONFIG` (new in the series): `addr` = `(sbdf << 32) | register`.
pub const IOREQ_TYPE_PCI_CONFIG: u8 = 2;
/// `IOREQ_TYPE_TIMEOFFSET`: RTC time offset, default server only.
pub const IOREQ_TYPE_TIMEOFFSET: u8 = 7;
/// `IOREQ_TYPE_INVALIDATE`: map-cache flush, broadcast to every server.
pub const IOREQ_TYPE_INVALIDATE: u8 = 8;

/// `ioreq_t`: one vCPU's synchronous request slot (32 bytes, 8-aligned).
///
/// Byte 30 packs four bitfields (GCC, little-endian, first field in the lowest bits):
/// `state:4` (bits 0-3), `data_is_ptr:1` (bit 4), `dir:1` (bit 5), `df:1` (bit 6), `_pad1:1`.
/// Use the accessors; Rust has no bitfields.
#[repr(C)]
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct IoreqSlot {
    /// Physical address or port; for `IOREQ_TYPE_PCI_CONFIG` `(sbdf << 32) | register`.
    pub addr: u64,
    /// The data, or the guest physical address of the data when `data_is_ptr`.
    pub data: u64,
    /// Repeat count.
    pub count: u32,
    /// Bytes per element.
    pub size: u32,
    /// The event channel the emulator signals for this vCPU.
    pub vp_eport: u32,
    pub pad0: u16,
    /// `state:4 | data_is_ptr:1 | dir:1 | df:1 | pad:1`.
    pub flags: u8,
    /// `IOREQ_TYPE_*`.
    pub type_: u8,
}

// `pad0` starts the aligned word `pad0 | flags << 16 | type << 24` that slot writes store whole.
assert_layout!(IoreqSlot, size 32, align 8,
    addr @ 0, data @ 8, count @ 16, size @ 20, vp_eport @ 24, pad0 @ 28, flags @ 30, type_ @ 31);

/// The `state` nibble of [`IoreqSlot::flags`].
pub const FLAG_STATE_MASK: u8 = 0x0f;
const FLAG_DATA_IS_PTR: u8 = 0x10;
const FLAG_DIR: u8 = 0x20;
const FLAG_DF: u8 = 0x40;

impl IoreqSlot {
    /// `state` (bits 0-3 of byte 30).
    pub const fn state(&self) -> u8 {
        self.flags & FLAG_STATE_MASK
    }
    pub fn set_state(&mut self, s: u8) {
        self.flags = (self.flags & !FLAG_STATE_MASK) | (s & FLAG_STATE_MASK);
    }
    /// `data_is_ptr` (bit 4).
    pub const fn data_is_ptr(&self) -> bool {
        self.flags & FLAG_DATA_IS_PTR != 0
    }
    pub fn set_data_is_ptr(&mut self, v: bool) {
        self.set_flag(FLAG_DATA_IS_PTR, v);
    }
    /// `dir` (bit 5): [`IOREQ_READ`] or [`IOREQ_WRITE`].
    pub const fn dir(&self) -> u8 {
        (self.flags & FLAG_DIR) >> 5
    }
    pub fn set_dir(&mut self, dir: u8) {
        self.set_flag(FLAG_DIR, dir & 1 != 0);
    }
    /// `df` (bit 6): the direction flag of a string instruction (addresses descend).
    pub const fn df(&self) -> bool {
        self.flags & FLAG_DF != 0
    }
    pub fn set_df(&mut self, v: bool) {
        self.set_flag(FLAG_DF, v);
    }
    fn set_flag(&mut self, bit: u8, v: bool) {
        if v {
            self.flags |= bit;
        } else {
            self.flags &= !bit;
        }
    }
}

/// `shared_iopage_t`: one page of [`IoreqSlot`]s indexed by `vcpu_id`, hence at most this many
/// vCPUs can be served (vCPUs beyond it have no slot: see FIDELITY I-entries).
pub const SHARED_IOPAGE_SLOTS: usize = 4096 / size_of::<IoreqSlot>();
const _: () = assert!(SHARED_IOPAGE_SLOTS == 128);

// ---- buffered ring --------------------------------------------------------------------------------

/// `IOREQ_BUFFER_SLOT_NUM`: slots in the buffered ring.
pub const IOREQ_BUFFER_SLOT_NUM: u32 = 511;

/// `buf_ioreq_t`: one ring slot (8 bytes). Dword 0: `type` in bits 0-7, `pad:1` bit 8, `dir:1` bit
/// 9, `size:2` bits 10-11 (0: 1 byte, 1: 2, 2: 4, 3: 8 bytes using two slots), `addr:20` bits
/// 12-31. Dword 1: `data` (for an 8-byte access the second slot carries `data >> 32`).
#[repr(C)]
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct BufIoreqSlot {
    /// `type | pad << 8 | dir << 9 | size << 10 | addr << 12`.
    pub word0: u32,
    pub data: u32,
}

assert_layout!(BufIoreqSlot, size 8, align 4, word0 @ 0, data @ 4);

/// The largest address a buffered request can carry (20 bits).
pub const BUF_IOREQ_MAX_ADDR: u64 = 0xfffff;

impl BufIoreqSlot {
    /// Packs a slot; `size_code` is 0..=3, `addr` at most [`BUF_IOREQ_MAX_ADDR`] (excess bits are
    /// cut, as the C bitfield would).
    pub const fn new(type_: u8, dir: u8, size_code: u8, addr: u32, data: u32) -> Self {
        Self {
            word0: (type_ as u32)
                | (((dir & 1) as u32) << 9)
                | (((size_code & 3) as u32) << 10)
                | ((addr & 0xfffff) << 12),
            data,
        }
    }
    pub const fn type_(&self) -> u8 {
        (self.word0 & 0xff) as u8
    }
    pub const fn dir(&self) -> u8 {
        ((self.word0 >> 9) & 1) as u8
    }
    pub const fn size_code(&self) -> u8 {
        ((self.word0 >> 10) & 3) as u8
    }
    pub const fn addr(&self) -> u32 {
        self.word0 >> 12
    }
    /// The slot's memory image as one word, for the single 64-bit store that publishes it.
    pub fn to_u64(self) -> u64 {
        zerocopy::transmute!(self)
    }
    /// The slot a 64-bit load of its memory image read.
    pub fn from_u64(v: u64) -> Self {
        zerocopy::transmute!(v)
    }
}

/// `buffered_iopage_t`: `read_pointer` (advanced by the emulator), `write_pointer` (advanced by
/// Xen), then the ring. Both pointers count slots modulo 2^32; the slot of pointer `p` is
/// `p % IOREQ_BUFFER_SLOT_NUM`.
/// Only its layout is used: the page is shared, so it is read and written field by field, at
/// `offset_of!` of this struct.
#[repr(C)]
#[derive(FromBytes, IntoBytes, KnownLayout, Immutable)]
pub struct BufferedIopage {
    pub read_pointer: u32,
    pub write_pointer: u32,
    pub buf_ioreq: [BufIoreqSlot; IOREQ_BUFFER_SLOT_NUM as usize],
}

assert_layout!(BufferedIopage, size 4096, align 4,
    read_pointer @ 0, write_pointer @ 4, buf_ioreq @ 8);

// ---- HVMOPs -------------------------------------------------------------------------------------

/// `HVMOP_op_mask`: `do_hvm_op` dispatches on `op & 0xff`.
pub const HVMOP_OP_MASK: u64 = 0xff;
pub const HVMOP_SET_PARAM: u32 = 0;
pub const HVMOP_GET_PARAM: u32 = 1;
pub const HVMOP_CREATE_IOREQ_SERVER: u32 = 17;
pub const HVMOP_GET_IOREQ_SERVER_INFO: u32 = 18;
pub const HVMOP_MAP_IO_RANGE_TO_IOREQ_SERVER: u32 = 19;
pub const HVMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER: u32 = 20;
pub const HVMOP_DESTROY_IOREQ_SERVER: u32 = 21;
pub const HVMOP_SET_IOREQ_SERVER_STATE: u32 = 22;

/// `HVMOP_IO_RANGE_PORT`: equal to `IOREQ_TYPE_PIO`, which selection relies on.
pub const HVMOP_IO_RANGE_PORT: u32 = 0;
/// `HVMOP_IO_RANGE_MEMORY`: equal to `IOREQ_TYPE_COPY`.
pub const HVMOP_IO_RANGE_MEMORY: u32 = 1;
/// `HVMOP_IO_RANGE_PCI`: equal to `IOREQ_TYPE_PCI_CONFIG`.
pub const HVMOP_IO_RANGE_PCI: u32 = 2;
/// `NR_IO_RANGE_TYPES`.
pub const NR_IO_RANGE_TYPES: usize = 3;
/// `MAX_NR_IO_RANGES`: ranges per type and server.
pub const MAX_NR_IO_RANGES: u32 = 256;

const _: () = assert!(HVMOP_IO_RANGE_PORT == IOREQ_TYPE_PIO as u32);
const _: () = assert!(HVMOP_IO_RANGE_MEMORY == IOREQ_TYPE_COPY as u32);
const _: () = assert!(HVMOP_IO_RANGE_PCI == IOREQ_TYPE_PCI_CONFIG as u32);

/// `HVMOP_PCI_SBDF(s, b, d, f)`.
pub const fn hvmop_pci_sbdf(seg: u32, bus: u32, dev: u32, func: u32) -> u32 {
    ((seg & 0xffff) << 16) | ((bus & 0xff) << 8) | ((dev & 0x1f) << 3) | (func & 7)
}

/// `xen_hvm_create_ioreq_server_t` (6 bytes): `domid` IN, `handle_bufioreq` IN, `id` OUT.
#[repr(C)]
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct HvmCreateIoreqServer {
    pub domid: u16,
    pub handle_bufioreq: u8,
    pub pad: u8,
    pub id: u16,
}
assert_layout!(HvmCreateIoreqServer, size 6, align 2,
    domid @ 0, handle_bufioreq @ 2, pad @ 3, id @ 4);

/// `xen_hvm_get_ioreq_server_info_t` (24 bytes): `domid`, `id` IN; the rest OUT.
#[repr(C)]
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct HvmGetIoreqServerInfo {
    pub domid: u16,
    pub id: u16,
    pub bufioreq_port: u32,
    pub ioreq_pfn: u64,
    pub bufioreq_pfn: u64,
}
assert_layout!(HvmGetIoreqServerInfo, size 24, align 8,
    domid @ 0, id @ 2, bufioreq_port @ 4, ioreq_pfn @ 8, bufioreq_pfn @ 16);

/// `xen_hvm_io_range_t` (24 bytes), for map and unmap: `end` is inclusive.
#[repr(C)]
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct HvmIoRange {
    pub domid: u16,
    pub id: u16,
    pub type_: u32,
    pub start: u64,
    pub end: u64,
}
assert_layout!(HvmIoRange, size 24, align 8,
    domid @ 0, id @ 2, type_ @ 4, start @ 8, end @ 16);

/// `xen_hvm_destroy_ioreq_server_t` (4 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct HvmDestroyIoreqServer {
    pub domid: u16,
    pub id: u16,
}
assert_layout!(HvmDestroyIoreqServer, size 4, align 2, domid @ 0, id @ 2);

/// `xen_hvm_set_ioreq_server_state_t` (6 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct HvmSetIoreqServerState {
    pub domid: u16,
    pub id: u16,
    pub enabled: u8,
    pub pad: u8,
}
assert_layout!(HvmSetIoreqServerState, size 6, align 2,
    domid @ 0, id @ 2, enabled @ 4, pad @ 5);

/// `xen_hvm_param_t` (16 bytes).
#[repr(C)]
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct HvmParam {
    pub domid: u16,
    pub pad: u16,
    pub index: u32,
    pub value: u64,
}
assert_layout!(HvmParam, size 16, align 8, domid @ 0, pad @ 2, index @ 4, value @ 8);

// ---- DMOPs (Xen 4.17's ioreq-server device-model ops, public/hvm/dm_op.h) ----------------------

/// `XEN_DMOP_create_ioreq_server` .. `XEN_DMOP_destroy_ioreq_server`, and
/// `XEN_DMOP_map_mem_type_to_ioreq_server`.
pub const XEN_DMOP_CREATE_IOREQ_SERVER: u32 = 1;
pub const XEN_DMOP_GET_IOREQ_SERVER_INFO: u32 = 2;
pub const XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER: u32 = 3;
pub const XEN_DMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER: u32 = 4;
pub const XEN_DMOP_SET_IOREQ_SERVER_STATE: u32 = 5;
pub const XEN_DMOP_DESTROY_IOREQ_SERVER: u32 = 6;
pub const XEN_DMOP_MAP_MEM_TYPE_TO_IOREQ_SERVER: u32 = 15;
/// get_info's `flags`: report no guest frames (the emulator maps the pages as a resource).
pub const XEN_DMOP_NO_GFNS: u16 = 1;

// The DMOP arguments: members of `struct xen_dm_op`'s union. They are the series' HVMOP structs
// without `domid` (a hypercall argument now): `id` and a pad or flags take the first 4 bytes.

/// `xen_dm_op_create_ioreq_server_t`: `handle_bufioreq` IN, `pad` (zero), `id` OUT.
#[repr(C)]
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct DmopCreateIoreqServer {
    pub handle_bufioreq: u8,
    pub pad: [u8; 3],
    pub id: u16,
}
assert_layout!(DmopCreateIoreqServer, size 6, align 2, handle_bufioreq @ 0, pad @ 1, id @ 4);

/// `xen_dm_op_get_ioreq_server_info_t`: `id`, `flags` IN ([`XEN_DMOP_NO_GFNS`]); the rest OUT.
#[repr(C)]
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct DmopGetIoreqServerInfo {
    pub id: u16,
    pub flags: u16,
    pub bufioreq_port: u32,
    pub ioreq_gfn: u64,
    pub bufioreq_gfn: u64,
}
assert_layout!(DmopGetIoreqServerInfo, size 24, align 8,
    id @ 0, flags @ 2, bufioreq_port @ 4, ioreq_gfn @ 8, bufioreq_gfn @ 16);

/// `xen_dm_op_ioreq_server_range_t`, for map and unmap: `pad` zero, `end` inclusive.
#[repr(C)]
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct DmopIoreqServerRange {
    pub id: u16,
    pub pad: u16,
    pub type_: u32,
    pub start: u64,
    pub end: u64,
}
assert_layout!(DmopIoreqServerRange, size 24, align 8,
    id @ 0, pad @ 2, type_ @ 4, start @ 8, end @ 16);

/// `xen_dm_op_set_ioreq_server_state_t`: `pad` zero.
#[repr(C)]
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct DmopSetIoreqServerState {
    pub id: u16,
    pub enabled: u8,
    pub pad: u8,
}
assert_layout!(DmopSetIoreqServerState, size 4, align 2, id @ 0, enabled @ 2, pad @ 3);

/// `xen_dm_op_destroy_ioreq_server_t`: `pad` zero.
#[repr(C)]
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
pub struct DmopDestroyIoreqServer {
    pub id: u16,
    pub pad: u16,
}
assert_layout!(DmopDestroyIoreqServer, size 4, align 2, id @ 0, pad @ 2);

/// `HVM_IOREQSRV_BUFIOREQ_OFF` / `_LEGACY` / `_ATOMIC`.
pub const HVM_IOREQSRV_BUFIOREQ_OFF: u8 = 0;
pub const HVM_IOREQSRV_BUFIOREQ_LEGACY: u8 = 1;
pub const HVM_IOREQSRV_BUFIOREQ_ATOMIC: u8 = 2;

// ---- HVM params ---------------------------------------------------------------------------------

/// `HVM_PARAM_IOREQ_PFN`: gmfn of the default server's synchronous page.
pub const HVM_PARAM_IOREQ_PFN: u32 = 5;
/// `HVM_PARAM_BUFIOREQ_PFN`: gmfn of the default server's ring.
pub const HVM_PARAM_BUFIOREQ_PFN: u32 = 6;
/// `HVM_PARAM_DM_DOMAIN`: the default server's emulating domain.
pub const HVM_PARAM_DM_DOMAIN: u32 = 13;
/// `HVM_PARAM_BUFIOREQ_EVTCHN`: the default server's ring event channel (read-only).
pub const HVM_PARAM_BUFIOREQ_EVTCHN: u32 = 26;
/// `HVM_PARAM_IOREQ_SERVER_PFN` (new): first gmfn of the secondary servers' page pool.
pub const HVM_PARAM_IOREQ_SERVER_PFN: u32 = 32;
/// `HVM_PARAM_NR_IOREQ_SERVER_PAGES` (new): pages in that pool (1..=64).
pub const HVM_PARAM_NR_IOREQ_SERVER_PAGES: u32 = 33;
/// `HVM_NR_PARAMS` after the series.
pub const HVM_NR_PARAMS: u32 = 34;

/// `DOMID_SELF`.
pub const DOMID_SELF: u16 = 0x7ff0;

/// The I/O ports of the PCI configuration mechanism #1.
pub const PCI_CF8_PORT: u32 = 0xcf8;
pub const PCI_CFC_PORT: u64 = 0xcfc;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioreq_bitfield_byte() {
        let mut p = IoreqSlot::default();
        p.set_state(STATE_IORESP_READY);
        p.set_data_is_ptr(true);
        p.set_dir(IOREQ_READ);
        p.set_df(true);
        assert_eq!(p.flags, 0x03 | 0x10 | 0x20 | 0x40);
        assert_eq!(p.as_bytes()[30], 0x73);
        assert_eq!(IoreqSlot::read_from_bytes(p.as_bytes()).ok(), Some(p));
        p.set_state(STATE_IOREQ_NONE);
        assert_eq!(p.state(), 0);
        assert!(p.df() && p.data_is_ptr() && p.dir() == 1);
    }

    #[test]
    fn buf_ioreq_packing() {
        let s = BufIoreqSlot::new(IOREQ_TYPE_COPY, 0, 3, 0xfffff, 0x1234);
        assert_eq!(s.word0, 0xfffff000 | 1 | (3 << 10));
        assert_eq!(s.addr(), 0xfffff);
        assert_eq!(s.size_code(), 3);
        assert_eq!(s.to_u64(), (0x1234 << 32) | u64::from(s.word0));
        assert_eq!(BufIoreqSlot::from_u64(s.to_u64()), s);
    }

    #[test]
    fn sbdf_macro() {
        assert_eq!(hvmop_pci_sbdf(0, 0, 3, 0), 0x18);
        assert_eq!(hvmop_pci_sbdf(1, 2, 0x1f, 7), 0x0001_02ff);
    }
}
