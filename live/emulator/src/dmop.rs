//! Xen 4.17's device-model operations on ioreq servers (`xen/include/public/hvm/dm_op.h`), as
//! libxendevicemodel issues them: one `struct xen_dm_op` buffer through privcmd.
//!
//! The argument structs are `#[repr(C)]` mirrors declared once here, checked for size and
//! offsets; they are sent as explicit little-endian bytes (no padding byte of ours reaches Xen,
//! and Xen rejects non-zero pads with -EINVAL).

use std::mem::{offset_of, size_of};

use crate::sys::{Errno, Privcmd};

pub const XEN_DMOP_CREATE_IOREQ_SERVER: u32 = 1;
pub const XEN_DMOP_GET_IOREQ_SERVER_INFO: u32 = 2;
pub const XEN_DMOP_MAP_IO_RANGE_TO_IOREQ_SERVER: u32 = 3;
pub const XEN_DMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER: u32 = 4;
pub const XEN_DMOP_SET_IOREQ_SERVER_STATE: u32 = 5;
pub const XEN_DMOP_DESTROY_IOREQ_SERVER: u32 = 6;
pub const XEN_DMOP_NR_VCPUS: u32 = 20;
/// `XEN_DMOP_no_gfns`: do not map the pages into the guest's gfn space (we use
/// acquire_resource instead).
pub const XEN_DMOP_NO_GFNS: u16 = 1;

/// `XEN_DMOP_IO_RANGE_*`.
pub const RANGE_PORT: u32 = 0;
pub const RANGE_MEMORY: u32 = 1;
pub const RANGE_PCI: u32 = 2;

/// `XENMEM_resource_ioreq_server` and its frame numbers.
pub const XENMEM_RESOURCE_IOREQ_SERVER: u32 = 0;
pub const RESOURCE_FRAME_BUFIOREQ: u32 = 0;
pub const RESOURCE_FRAME_IOREQ0: u32 = 1;

/// `struct xen_dm_op` header: `op`, `pad`, then the union at offset 8.
const HDR: usize = 8;

/// `struct xen_dm_op_create_ioreq_server`.
#[repr(C)]
pub struct DmCreateIoreqServer {
    pub handle_bufioreq: u8,
    pub pad: [u8; 3],
    pub id: u16,
}
/// `struct xen_dm_op_get_ioreq_server_info`.
#[repr(C)]
pub struct DmGetIoreqServerInfo {
    pub id: u16,
    pub flags: u16,
    pub bufioreq_port: u32,
    pub ioreq_gfn: u64,
    pub bufioreq_gfn: u64,
}
/// `struct xen_dm_op_ioreq_server_range`.
#[repr(C)]
pub struct DmIoreqServerRange {
    pub id: u16,
    pub pad: u16,
    pub type_: u32,
    pub start: u64,
    pub end: u64,
}
/// `struct xen_dm_op_set_ioreq_server_state`.
#[repr(C)]
pub struct DmSetIoreqServerState {
    pub id: u16,
    pub enabled: u8,
    pub pad: u8,
}
/// `struct xen_dm_op_destroy_ioreq_server`.
#[repr(C)]
pub struct DmDestroyIoreqServer {
    pub id: u16,
    pub pad: u16,
}
/// `struct xen_dm_op_nr_vcpus`.
#[repr(C)]
pub struct DmNrVcpus {
    pub vcpus: u32,
}

const _: () = {
    assert!(size_of::<DmCreateIoreqServer>() == 6);
    assert!(offset_of!(DmCreateIoreqServer, id) == 4);
    assert!(size_of::<DmGetIoreqServerInfo>() == 24);
    assert!(offset_of!(DmGetIoreqServerInfo, bufioreq_port) == 4);
    assert!(offset_of!(DmGetIoreqServerInfo, ioreq_gfn) == 8);
    assert!(offset_of!(DmGetIoreqServerInfo, bufioreq_gfn) == 16);
    assert!(size_of::<DmIoreqServerRange>() == 24);
    assert!(offset_of!(DmIoreqServerRange, type_) == 4);
    assert!(offset_of!(DmIoreqServerRange, start) == 8);
    assert!(offset_of!(DmIoreqServerRange, end) == 16);
    assert!(size_of::<DmSetIoreqServerState>() == 4);
    assert!(offset_of!(DmSetIoreqServerState, enabled) == 2);
    assert!(size_of::<DmDestroyIoreqServer>() == 4);
    assert!(size_of::<DmNrVcpus>() == 4);
};

fn le16(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(xen_ioreq_rs::platform::guest_copy::bytes_at(b, off))
}
fn le32(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(xen_ioreq_rs::platform::guest_copy::bytes_at(b, off))
}

/// Writes `bytes` at `off` of `buf` (callers pass offsets inside their fixed-size buffers).
fn put(buf: &mut [u8], off: usize, bytes: &[u8]) {
    if let Some(dst) = buf.get_mut(off..off.saturating_add(bytes.len())) {
        dst.copy_from_slice(bytes);
    }
}

/// A `struct xen_dm_op` of `op` with `union_len` bytes of union; Xen reads exactly
/// `8 + sizeof(that op's struct)`.
fn header(op: u32, union_len: usize) -> Vec<u8> {
    let mut b = vec![0u8; HDR + union_len];
    put(&mut b, 0, &op.to_le_bytes());
    b
}

/// The DMOP calls of one emulator on one guest.
pub struct DeviceModel<'a> {
    pub privcmd: &'a Privcmd,
    pub domid: u16,
}

impl DeviceModel<'_> {
    /// `XEN_DMOP_create_ioreq_server`; `pad` lets the hostile pass send a non-zero pad.
    pub fn create_ioreq_server_raw(&self, handle_bufioreq: u8, pad: u8) -> Result<u16, Errno> {
        let mut b = header(
            XEN_DMOP_CREATE_IOREQ_SERVER,
            size_of::<DmCreateIoreqServer>(),
        );
        put(&mut b, HDR, &[handle_bufioreq, pad, 0, 0]);
        self.privcmd.dm_op(self.domid, &mut b)?;
        Ok(le16(&b, HDR + offset_of!(DmCreateIoreqServer, id)))
    }

    pub fn create_ioreq_server(&self, bufioreq: bool) -> Result<u16, Errno> {
        self.create_ioreq_server_raw(u8::from(bufioreq), 0)
    }

    /// `XEN_DMOP_get_ioreq_server_info` with `XEN_DMOP_no_gfns`: the buffered ring's event
    /// channel (in the guest's domain), 0 without a ring.
    pub fn bufioreq_port(&self, id: u16) -> Result<u32, Errno> {
        let mut b = header(
            XEN_DMOP_GET_IOREQ_SERVER_INFO,
            size_of::<DmGetIoreqServerInfo>(),
        );
        put(&mut b, HDR, &id.to_le_bytes());
        put(&mut b, HDR + 2, &XEN_DMOP_NO_GFNS.to_le_bytes());
        self.privcmd.dm_op(self.domid, &mut b)?;
        Ok(le32(
            &b,
            HDR + offset_of!(DmGetIoreqServerInfo, bufioreq_port),
        ))
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
        let mut b = header(op, size_of::<DmIoreqServerRange>());
        put(&mut b, HDR, &id.to_le_bytes());
        put(&mut b, HDR + 2, &pad.to_le_bytes());
        put(&mut b, HDR + 4, &type_.to_le_bytes());
        put(&mut b, HDR + 8, &start.to_le_bytes());
        put(&mut b, HDR + 16, &end.to_le_bytes());
        self.privcmd.dm_op(self.domid, &mut b)
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
        let mut b = header(
            XEN_DMOP_SET_IOREQ_SERVER_STATE,
            size_of::<DmSetIoreqServerState>(),
        );
        put(&mut b, HDR, &id.to_le_bytes());
        put(&mut b, HDR + 2, &[u8::from(enabled)]);
        self.privcmd.dm_op(self.domid, &mut b)
    }

    pub fn destroy_ioreq_server(&self, id: u16) -> Result<(), Errno> {
        let mut b = header(
            XEN_DMOP_DESTROY_IOREQ_SERVER,
            size_of::<DmDestroyIoreqServer>(),
        );
        put(&mut b, HDR, &id.to_le_bytes());
        self.privcmd.dm_op(self.domid, &mut b)
    }

    pub fn nr_vcpus(&self) -> Result<u32, Errno> {
        let mut b = header(XEN_DMOP_NR_VCPUS, size_of::<DmNrVcpus>());
        self.privcmd.dm_op(self.domid, &mut b)?;
        Ok(le32(&b, HDR))
    }
}
