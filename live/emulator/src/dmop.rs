//! Xen 4.17's device-model operations on ioreq servers (`xen/include/public/hvm/dm_op.h`), as
//! libxendevicemodel issues them: one `struct xen_dm_op` buffer through privcmd.
//!
//! The argument structs are the library's own `#[repr(C)]` mirrors (`ioreq::abi`, checked
//! against Xen's headers by difftest/ioreq's layout probe), sent and read back as their bytes: no
//! padding byte of ours reaches Xen, and Xen rejects non-zero pads with -EINVAL.

use xen_ioreq_rs::ioreq::abi::{
    DmopCreateIoreqServer, DmopDestroyIoreqServer, DmopGetIoreqServerInfo, DmopIoreqServerRange,
    DmopSetIoreqServerState, FromBytes, Immutable, IntoBytes, XEN_DMOP_CREATE_IOREQ_SERVER,
    XEN_DMOP_DESTROY_IOREQ_SERVER, XEN_DMOP_GET_IOREQ_SERVER_INFO,
    XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER, XEN_DMOP_NO_GFNS, XEN_DMOP_SET_IOREQ_SERVER_STATE,
    XEN_DMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER,
};
pub use xen_ioreq_rs::ioreq::abi::{
    HVMOP_IO_RANGE_MEMORY as RANGE_MEMORY, HVMOP_IO_RANGE_PCI as RANGE_PCI,
    HVMOP_IO_RANGE_PORT as RANGE_PORT,
};

use crate::sys::{Errno, Privcmd};

/// `XEN_DMOP_nr_vcpus`; its argument `struct xen_dm_op_nr_vcpus` is one `uint32_t vcpus` (OUT).
pub const XEN_DMOP_NR_VCPUS: u32 = 20;

/// `XENMEM_resource_ioreq_server` and its frame numbers.
pub const XENMEM_RESOURCE_IOREQ_SERVER: u32 = 0;
pub const RESOURCE_FRAME_BUFIOREQ: u32 = 0;
pub const RESOURCE_FRAME_IOREQ0: u32 = 1;

/// `struct xen_dm_op` header: `op`, `pad`, then the union at offset 8.
const HDR: usize = 8;

/// The DMOP calls of one emulator on one guest.
pub struct DeviceModel<'a> {
    pub privcmd: &'a Privcmd,
    pub domid: u16,
}

impl DeviceModel<'_> {
    /// One DMOP `op` with argument `arg`: the argument as Xen left it. Xen reads exactly
    /// `8 + sizeof(that op's struct)` bytes.
    fn call<A: FromBytes + IntoBytes + Immutable>(&self, op: u32, arg: A) -> Result<A, Errno> {
        let mut b = op.to_le_bytes().to_vec();
        b.resize(HDR, 0);
        b.extend_from_slice(arg.as_bytes());
        self.privcmd.dm_op(self.domid, &mut b)?;
        // The buffer keeps the length we gave it: the fallback is never taken.
        Ok(b.get(HDR..)
            .and_then(|back| A::read_from_bytes(back).ok())
            .unwrap_or(arg))
    }

    /// `XEN_DMOP_create_ioreq_server`; `pad` lets the hostile pass send a non-zero pad.
    pub fn create_ioreq_server_raw(&self, handle_bufioreq: u8, pad: u8) -> Result<u16, Errno> {
        let arg = DmopCreateIoreqServer {
            handle_bufioreq,
            pad: [pad, 0, 0],
            id: 0,
        };
        Ok(self.call(XEN_DMOP_CREATE_IOREQ_SERVER, arg)?.id)
    }

    pub fn create_ioreq_server(&self, bufioreq: bool) -> Result<u16, Errno> {
        self.create_ioreq_server_raw(u8::from(bufioreq), 0)
    }

    /// `XEN_DMOP_get_ioreq_server_info` with `XEN_DMOP_no_gfns`: the buffered ring's event
    /// channel (in the guest's domain), 0 without a ring.
    pub fn bufioreq_port(&self, id: u16) -> Result<u32, Errno> {
        let arg = DmopGetIoreqServerInfo {
            id,
            flags: XEN_DMOP_NO_GFNS,
            ..Default::default()
        };
        Ok(self
            .call(XEN_DMOP_GET_IOREQ_SERVER_INFO, arg)?
            .bufioreq_port)
    }

    fn range_op(
        &self,
        op: u32,
        id: u16,
        type_: u32,
        start: u64,
        end: u64,
        pad: u16,
    ) -> Result<(), Errno> {
        let arg = DmopIoreqServerRange {
            id,
            pad,
            type_,
            start,
            end,
        };
        self.call(op, arg).map(drop)
    }

    pub fn map_io_range(&self, id: u16, type_: u32, start: u64, end: u64) -> Result<(), Errno> {
        self.range_op(
            XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER,
            id,
            type_,
            start,
            end,
            0,
        )
    }

    pub fn map_io_range_padded(
        &self,
        id: u16,
        type_: u32,
        start: u64,
        end: u64,
        pad: u16,
    ) -> Result<(), Errno> {
        self.range_op(
            XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER,
            id,
            type_,
            start,
            end,
            pad,
        )
    }

    pub fn unmap_io_range(&self, id: u16, type_: u32, start: u64, end: u64) -> Result<(), Errno> {
        self.range_op(
            XEN_DMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER,
            id,
            type_,
            start,
            end,
            0,
        )
    }

    pub fn set_ioreq_server_state(&self, id: u16, enabled: bool) -> Result<(), Errno> {
        let arg = DmopSetIoreqServerState {
            id,
            enabled: u8::from(enabled),
            pad: 0,
        };
        self.call(XEN_DMOP_SET_IOREQ_SERVER_STATE, arg).map(drop)
    }

    pub fn destroy_ioreq_server(&self, id: u16) -> Result<(), Errno> {
        let arg = DmopDestroyIoreqServer { id, pad: 0 };
        self.call(XEN_DMOP_DESTROY_IOREQ_SERVER, arg).map(drop)
    }

    pub fn nr_vcpus(&self) -> Result<u32, Errno> {
        self.call(XEN_DMOP_NR_VCPUS, 0u32)
    }
}
