//! The C ABI of the ioreq servers, with the 2014 series' function names and signatures (the
//! series' `static` helpers are exported too: the Xen glue calls them from `hvm.c`'s call sites).
//! This module only checks and converts pointers; the work is in the safe core. Every pointer is
//! NULL-checked: a NULL domain or request gives -EINVAL / false / NULL, never a fault.
//!
//! `ioreq_t *` arguments are `struct ioreq *` (Xen's `ioreq_t` is `typedef struct ioreq`).
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]
#![allow(non_camel_case_types)]

use core::ffi::c_void;
use core::ptr::NonNull;

use crate::errno::{to_c, Errno};
pub use crate::ffi::{domain, vcpu};
use crate::platform::domain::HvmDomains;
use crate::platform::Domains;
use crate::platform::{Active, DomainRef, VcpuRef};

use super::abi::{IoreqSlot, X86EMUL_OKAY, X86EMUL_RETRY, X86EMUL_UNHANDLEABLE};
use super::{Authority, IoCompletion, Route, Routed, Sent};

/// Xen's `struct ioreq` / `ioreq_t` (see `ioreq::abi::IoreqSlot` for the layout).
pub struct ioreq {
    _opaque: [u8; 0],
}

/// # Safety
/// `d` is NULL or a live domain ([`domain::handle`]).
unsafe fn dom(d: *mut domain) -> Option<DomainRef> {
    // SAFETY: the caller's contract.
    unsafe { domain::handle(d) }
}

/// # Safety
/// `v` is NULL or a live vCPU ([`vcpu::handle`]).
unsafe fn vcp(v: *mut vcpu) -> Option<VcpuRef> {
    // SAFETY: the caller's contract.
    unsafe { vcpu::handle(v) }
}

/// Reads the request at `p`.
///
/// # Safety
/// `p` is NULL or points to a readable `ioreq_t`.
unsafe fn read_req(p: *const ioreq) -> Option<IoreqSlot> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-NULL and, by the caller's contract, a readable ioreq_t (32 bytes).
    Some(unsafe { p.cast::<IoreqSlot>().read_unaligned() })
}

/// Writes the request back to `p`.
///
/// # Safety
/// `p` points to a writable `ioreq_t`.
unsafe fn write_req(p: *mut ioreq, r: &IoreqSlot) {
    // SAFETY: the caller's contract.
    unsafe { p.cast::<IoreqSlot>().write_unaligned(*r) }
}

/// `hvm_create_ioreq_server`: creates a server for `d` emulated by `domid`; stores its id in `*id`
/// when `id` is not NULL. 0 or -errno.
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_create_ioreq_server(
    d: *mut domain,
    domid: u16,
    is_default: bool,
    handle_bufioreq: bool,
    id: *mut u16,
) -> i32 {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    let Some(d) = (unsafe { dom(d) }) else {
        return Errno::EINVAL.to_neg();
    };
    match super::create_server::<Active>(d, domid, is_default, handle_bufioreq) {
        Ok(n) => {
            if !id.is_null() {
                // SAFETY: non-NULL; the caller passes a writable ioservid_t.
                unsafe { id.write_unaligned(n) };
            }
            0
        }
        Err(e) => e.to_neg(),
    }
}

/// `hvm_destroy_ioreq_server`.
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_destroy_ioreq_server(d: *mut domain, id: u16) -> i32 {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    unsafe { dom(d) }.map_or(Errno::EINVAL.to_neg(), |d| {
        to_c(super::destroy_server::<Active>(d, id))
    })
}

/// `hvm_get_ioreq_server_info`: the ring's frame and port are written only when the server has a
/// ring (as in the C); all three pointers must be valid.
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_get_ioreq_server_info(
    d: *mut domain,
    id: u16,
    ioreq_pfn: *mut u64,
    bufioreq_pfn: *mut u64,
    bufioreq_port: *mut u32,
) -> i32 {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    let Some(d) = (unsafe { dom(d) }) else {
        return Errno::EINVAL.to_neg();
    };
    if ioreq_pfn.is_null() || bufioreq_pfn.is_null() || bufioreq_port.is_null() {
        return Errno::EINVAL.to_neg();
    }
    match super::get_server_info::<Active>(d, id) {
        Ok(info) => {
            // SAFETY: all three checked non-NULL; the caller passes writable outputs.
            unsafe {
                ioreq_pfn.write_unaligned(info.ioreq_pfn);
                if let Some((pfn, port)) = info.bufioreq {
                    bufioreq_pfn.write_unaligned(pfn);
                    bufioreq_port.write_unaligned(port);
                }
            }
            0
        }
        Err(e) => e.to_neg(),
    }
}

/// `hvm_map_io_range_to_ioreq_server`.
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_map_io_range_to_ioreq_server(
    d: *mut domain,
    id: u16,
    type_: u32,
    start: u64,
    end: u64,
) -> i32 {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    unsafe { dom(d) }.map_or(Errno::EINVAL.to_neg(), |d| {
        to_c(super::map_io_range::<Active>(d, id, type_, start, end))
    })
}

/// `hvm_unmap_io_range_from_ioreq_server`.
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_unmap_io_range_from_ioreq_server(
    d: *mut domain,
    id: u16,
    type_: u32,
    start: u64,
    end: u64,
) -> i32 {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    unsafe { dom(d) }.map_or(Errno::EINVAL.to_neg(), |d| {
        to_c(super::unmap_io_range::<Active>(d, id, type_, start, end))
    })
}

/// `hvm_set_ioreq_server_state`.
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_set_ioreq_server_state(d: *mut domain, id: u16, enabled: bool) -> i32 {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    unsafe { dom(d) }.map_or(Errno::EINVAL.to_neg(), |d| {
        to_c(super::set_server_state::<Active>(d, id, enabled))
    })
}

/// `hvm_all_ioreq_servers_add_vcpu` (from `hvm_vcpu_initialise`).
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_all_ioreq_servers_add_vcpu(d: *mut domain, v: *mut vcpu) -> i32 {
    // SAFETY: the function's contract: `d` and `v` are NULL or live.
    match (unsafe { dom(d) }, unsafe { vcp(v) }) {
        (Some(d), Some(v)) => to_c(super::add_vcpu_all::<Active>(d, v)),
        _ => Errno::EINVAL.to_neg(),
    }
}

/// `hvm_all_ioreq_servers_remove_vcpu` (from `hvm_vcpu_destroy`).
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_all_ioreq_servers_remove_vcpu(d: *mut domain, v: *mut vcpu) {
    // SAFETY: the function's contract: `d` and `v` are NULL or live.
    if let (Some(d), Some(v)) = (unsafe { dom(d) }, unsafe { vcp(v) }) {
        super::remove_vcpu_all::<Active>(d, v);
    }
}

/// `hvm_destroy_all_ioreq_servers` (from `hvm_domain_relinquish_resources`).
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_destroy_all_ioreq_servers(d: *mut domain) {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    if let Some(d) = unsafe { dom(d) } {
        super::destroy_all::<Active>(d);
    }
}

/// Frees the domain's ioreq state (from `hvm_domain_destroy`; not in the series, whose state was
/// part of `struct domain`).
///
/// # Safety
/// `d` is NULL or a live domain that nothing reaches any more: no vCPU, hypercall, DMOP or
/// emulator path of it runs or can start ([`super::domain_destroy`]).
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_ioreq_domain_destroy(d: *mut domain) {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    if let Some(d) = unsafe { dom(d) } {
        // SAFETY: the function's contract is domain_destroy's.
        unsafe { super::domain_destroy::<Active>(d) };
    }
}

/// `hvm_set_dm_domain` (HVM_PARAM_DM_DOMAIN).
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_set_dm_domain(d: *mut domain, domid: u16) -> i32 {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    unsafe { dom(d) }.map_or(Errno::EINVAL.to_neg(), |d| {
        to_c(super::set_dm_domain::<Active>(d, domid))
    })
}

/// `hvm_has_dm`.
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_has_dm(d: *mut domain) -> bool {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    unsafe { dom(d) }.is_some_and(super::has_dm::<Active>)
}

/// `hvm_io_pending`.
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
pub unsafe extern "C" fn hvm_io_pending(v: *mut vcpu) -> bool {
    // SAFETY: the function's contract: `v` is NULL or a live vCPU.
    unsafe { vcp(v) }.is_some_and(|v| super::io_pending::<Active>(Active::vcpu_domain(v), v))
}

/// Runs `f` with the current vCPU, its domain and the request at `p`, then writes it back.
fn with_current_req(
    p: *mut ioreq,
    f: impl FnOnce(DomainRef, VcpuRef, &mut IoreqSlot) -> bool,
) -> bool {
    let Some(v) = Active::current_vcpu() else {
        return false;
    };
    // SAFETY: `p` is NULL or the caller's ioreq_t.
    let Some(mut req) = (unsafe { read_req(p) }) else {
        return false;
    };
    let r = f(Active::vcpu_domain(v), v, &mut req);
    // SAFETY: `p` was non-NULL (read_req succeeded) and is the caller's writable ioreq_t.
    unsafe { write_req(p, &req) };
    r
}

/// `hvm_send_assist_req` (current vCPU): select and send.
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
pub unsafe extern "C" fn hvm_send_assist_req(p: *mut ioreq) -> bool {
    // `send_assist_req` as the current vCPU is the range route of the export below (posted is
    // RETRY there): one copy of that path in Xen.
    // SAFETY: the function's contract is the callee's.
    unsafe { hvm_ioreq_select_and_send(p, HVM_IOREQ_ROUTE_RANGE) == X86EMUL_RETRY }
}

/// `hvm_broadcast_assist_req` (current vCPU).
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
pub unsafe extern "C" fn hvm_broadcast_assist_req(p: *mut ioreq) {
    with_current_req(p, |d, v, req| {
        super::broadcast_assist_req::<Active>(d, v, req);
        true
    });
}

/// `hvm_buffered_io_send` (current domain): 1 if queued on a ring, 0 to send synchronously.
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
pub unsafe extern "C" fn hvm_buffered_io_send(p: *mut ioreq) -> i32 {
    i32::from(with_current_req(p, |d, _, req| {
        super::buffered_io_send::<Active>(d, req)
    }))
}

/// [`hvm_ioreq_complete`]: nothing outstanding.
pub const HVM_IOREQ_IDLE: i32 = 0;
/// [`hvm_ioreq_complete`]: `*resp` holds the emulator's answer.
pub const HVM_IOREQ_COMPLETED: i32 = 1;
/// [`hvm_ioreq_complete`]: wait on `*port`, then call again.
pub const HVM_IOREQ_WAIT: i32 = 2;
/// [`hvm_ioreq_complete`]: the emulator broke the protocol; the domain was crashed.
pub const HVM_IOREQ_CRASHED: i32 = -1;

/// The completion step of `hvm_do_resume` for `v`, without blocking. Returns one of
/// `HVM_IOREQ_*`; `resp` and `port` may be NULL if the caller does not want them (-EINVAL for a
/// NULL `v`).
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
pub unsafe extern "C" fn hvm_ioreq_complete(v: *mut vcpu, resp: *mut ioreq, port: *mut u32) -> i32 {
    // SAFETY: the function's contract: `v` is NULL or a live vCPU.
    let Some(v) = (unsafe { vcp(v) }) else {
        return Errno::EINVAL.to_neg();
    };
    match super::complete_vcpu_io::<Active>(v) {
        IoCompletion::Idle => HVM_IOREQ_IDLE,
        IoCompletion::Completed(r) => {
            if !resp.is_null() {
                // SAFETY: non-NULL; the caller passes a writable ioreq_t.
                unsafe { write_req(resp, &r) };
            }
            HVM_IOREQ_COMPLETED
        }
        IoCompletion::Wait { port: p } => {
            if !port.is_null() {
                // SAFETY: non-NULL; the caller passes a writable evtchn_port_t.
                unsafe { port.write_unaligned(p) };
            }
            HVM_IOREQ_WAIT
        }
        IoCompletion::Crashed => HVM_IOREQ_CRASHED,
    }
}

/// Whether `v`'s request is still with an emulator (the condition its wait re-checks): after
/// `HVM_IOREQ_WAIT`, wait on the port until this is false, then call `hvm_ioreq_complete` again.
///
/// # Safety
/// `v` is NULL or a live vCPU.
#[no_mangle]
pub unsafe extern "C" fn hvm_ioreq_waiting(v: *mut vcpu) -> bool {
    // SAFETY: the function's contract: `v` is NULL or a live vCPU.
    unsafe { vcp(v) }.is_some_and(|v| super::waiting::<Active>(Active::vcpu_domain(v), v))
}

/// `hvm_access_cf8`, the 0xcf8 port handler of the current domain: latches 4-byte writes, always
/// returns `X86EMUL_UNHANDLEABLE`.
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
pub unsafe extern "C" fn hvm_access_cf8(dir: i32, port: u32, bytes: u32, val: *mut u32) -> i32 {
    let _ = port;
    if val.is_null() {
        return super::X86EMUL_UNHANDLEABLE;
    }
    // `dir` is an int in the C: only exactly IOREQ_WRITE (0) latches; a value that does not fit in
    // a u8 is no direction at all (a plain `as u8` would turn 256 into a write).
    let Ok(dir) = u8::try_from(dir) else {
        return super::X86EMUL_UNHANDLEABLE;
    };
    let d = Active::current_domain();
    // SAFETY: non-NULL; the caller passes the access's value.
    let v = unsafe { val.read_unaligned() };
    super::access_cf8::<Active>(d, dir, bytes, v)
}

/// Runs before Xen's HVMOP_get_param reads param `index` of `d` (see `get_param_hook`): 0 or
/// -errno (then the read fails with it).
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_ioreq_get_param(d: *mut domain, index: u32) -> i32 {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    unsafe { dom(d) }.map_or(Errno::EINVAL.to_neg(), |d| {
        to_c(super::get_param_hook::<Active>(d, index))
    })
}

/// Runs before Xen's HVMOP_set_param stores `*value` in param `index` of `d`: 0 (store the
/// possibly rewritten `*value`) or -errno (store nothing).
///
/// # Safety
/// Every pointer is NULL or valid (a live Xen object, or a readable/writable argument).
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_ioreq_set_param(d: *mut domain, index: u32, value: *mut u64) -> i32 {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    let Some(d) = (unsafe { dom(d) }) else {
        return Errno::EINVAL.to_neg();
    };
    if value.is_null() {
        return Errno::EINVAL.to_neg();
    }
    // SAFETY: non-NULL; the caller passes the param value in/out.
    let v = unsafe { value.read_unaligned() };
    match super::set_param_hook::<Active>(d, index, v) {
        Ok(nv) => {
            // SAFETY: as above.
            unsafe { value.write_unaligned(nv) };
            0
        }
        Err(e) => e.to_neg(),
    }
}

// ---- Xen 4.17's entry points (xen-patches' adapter calls these; conversions only there) ----

/// The caller of the current hypercall, as an emulator.
fn caller() -> Authority {
    Authority::Emulator(Active::domain_id(Active::current_domain()))
}

/// `ioreq_server_dm_op` for DMOPs 1-6 on the current domain's behalf: `arg` is the union of
/// `struct xen_dm_op` (`len` bytes), read and (create, get_info) written in place; `*const_op`
/// tells whether the op left it unchanged. 0, -errno, -EOPNOTSUPP for another op.
///
/// # Safety
/// `d` is NULL or a live domain; `arg` is NULL or `len` writable bytes; `const_op` is NULL or
/// writable.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_ioreq_dm_op(
    d: *mut domain,
    op: u32,
    arg: *mut u8,
    len: usize,
    const_op: *mut bool,
) -> i32 {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    let Some(d) = (unsafe { dom(d) }) else {
        return Errno::EINVAL.to_neg();
    };
    if arg.is_null() || const_op.is_null() {
        return Errno::EINVAL.to_neg();
    }
    // SAFETY: non-NULL and, by the caller's contract, `len` writable bytes nothing else uses now.
    let buf = unsafe { core::slice::from_raw_parts_mut(arg, len) };
    let Authority::Emulator(me) = caller() else {
        return Errno::EPERM.to_neg();
    };
    let (rc, is_const) = super::dmop::dm_op::<Active>(d, me, op, buf);
    // SAFETY: non-NULL; the caller passes a writable bool.
    unsafe { const_op.write(is_const) };
    to_c(rc)
}

/// `ioreq_server_get_frame`: frame `idx` (0 the ring, 1 the synchronous page) of server `id` of
/// `d`, for the current domain (its emulator): `*page` is the `struct page_info *`. 0 or -errno.
///
/// # Safety
/// `d` is NULL or a live domain; `page` is NULL or writable.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_ioreq_get_frame(
    d: *mut domain,
    id: u16,
    idx: u32,
    page: *mut *mut c_void,
) -> i32 {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    let Some(d) = (unsafe { dom(d) }) else {
        return Errno::EINVAL.to_neg();
    };
    if page.is_null() {
        return Errno::EINVAL.to_neg();
    }
    match super::get_frame::<Active>(d, id, idx, caller()) {
        Ok(p) => {
            // SAFETY: non-NULL; the caller passes a writable pointer.
            unsafe { page.write(p.as_ptr()) };
            0
        }
        Err(e) => e.to_neg(),
    }
}

/// `ioreq_server_map_mem_type` for the current domain (the server's emulator).
///
/// # Safety
/// `d` is NULL or a live domain.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_ioreq_map_mem_type(
    d: *mut domain,
    id: u16,
    type_: u32,
    flags: u32,
) -> i32 {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    unsafe { dom(d) }.map_or(Errno::EINVAL.to_neg(), |d| {
        to_c(super::map_mem_type::<Active>(d, id, type_, flags, caller()))
    })
}

/// `is_ioreq_server_page`: whether `page` (a `struct page_info *`) is a page of one of `d`'s
/// servers.
///
/// # Safety
/// `d` is NULL or a live domain; `page` is only compared.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_is_ioreq_server_page(d: *mut domain, page: *const c_void) -> bool {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    match (unsafe { dom(d) }, NonNull::new(page.cast_mut())) {
        (Some(d), Some(p)) => super::is_server_page::<Active>(d, p),
        _ => false,
    }
}

/// [`hvm_ioreq_select_and_send`]'s routes: by range (synchronous), by range on the ring, to the
/// `HVMMEM_ioreq_server` pages' server.
pub const HVM_IOREQ_ROUTE_RANGE: u32 = 0;
pub const HVM_IOREQ_ROUTE_RANGE_BUFFERED: u32 = 1;
pub const HVM_IOREQ_ROUTE_MEM_TYPE: u32 = 2;
/// [`hvm_ioreq_select_and_send`]: no server takes the request.
pub const HVM_IOREQ_NO_SERVER: i32 = -1;
/// [`hvm_ioreq_select_and_send`]: the domain is shutting down; suspend the vCPU's I/O and retry.
pub const HVM_IOREQ_DEFERRED: i32 = -2;

/// Selects the server for `*p` (by `route`) and sends it there, as the current vCPU, in one
/// call: `HVM_IOREQ_NO_SERVER`, `HVM_IOREQ_DEFERRED`, or the `IOREQ_STATUS_*` of the send
/// (RETRY: a synchronous request was posted; HANDLED: a buffered one; UNHANDLED: not posted).
/// `*p` may be rewritten into a PCI config request.
///
/// # Safety
/// `p` is NULL or a readable and writable `ioreq_t`.
#[no_mangle]
#[inline(never)]
pub unsafe extern "C" fn hvm_ioreq_select_and_send(p: *mut ioreq, route: u32) -> i32 {
    let route = match route {
        HVM_IOREQ_ROUTE_RANGE => Route::ByRange,
        HVM_IOREQ_ROUTE_RANGE_BUFFERED => Route::ByRangeBuffered,
        HVM_IOREQ_ROUTE_MEM_TYPE => Route::MemType,
        _ => return HVM_IOREQ_NO_SERVER,
    };
    let Some(v) = Active::current_vcpu() else {
        return HVM_IOREQ_NO_SERVER;
    };
    // SAFETY: `p` is NULL or the caller's ioreq_t.
    let Some(mut req) = (unsafe { read_req(p) }) else {
        return HVM_IOREQ_NO_SERVER;
    };
    let rc = match super::select_and_send_vcpu::<Active>(v, &mut req, route) {
        Routed::NoServer => HVM_IOREQ_NO_SERVER,
        Routed::Sent(Sent::Deferred) => HVM_IOREQ_DEFERRED,
        Routed::Sent(Sent::NotPosted) => X86EMUL_UNHANDLEABLE,
        Routed::Sent(Sent::Posted) if route == Route::ByRangeBuffered => X86EMUL_OKAY,
        Routed::Sent(Sent::Posted) => X86EMUL_RETRY,
    };
    // SAFETY: `p` was non-NULL (read_req succeeded) and is the caller's writable ioreq_t.
    unsafe { write_req(p, &req) };
    rc
}

/// `ioreq_broadcast`: `*p` to every enabled server of the current domain (with `buffered`, on
/// the rings of those that have one); how many did not take it.
///
/// # Safety
/// `p` is NULL or a readable and writable `ioreq_t`.
#[no_mangle]
pub unsafe extern "C" fn hvm_ioreq_broadcast(p: *mut ioreq, buffered: bool) -> u32 {
    let mut failed = 0;
    with_current_req(p, |d, v, req| {
        failed = super::broadcast::<Active>(d, v, req, buffered);
        true
    });
    failed
}

/// HVMOP_set_param's pool params for `d` (32, 33; 5 and 6 as legacy frames): see
/// `ops::pool_set_param`. 0 or -errno (then the param is not stored).
///
/// # Safety
/// `d` is NULL or a live domain.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_ioreq_pool_set_param(d: *mut domain, index: u32, value: u64) -> i32 {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    unsafe { dom(d) }.map_or(Errno::EINVAL.to_neg(), |d| {
        to_c(super::pool_set_param::<Active>(d, index, value))
    })
}
