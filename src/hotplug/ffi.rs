//! C ABI of the PCI hotplug controller: what the Xen glue calls from domain construction and
//! destruction, the two port-I/O handlers it registers, the hypercall and the save/load pair.
//! Every pointer is NULL-checked; nothing here panics.

use core::ffi::{c_int, c_uint, c_void};

use super::controller::{all_ones, PortBlock};
use super::domain as per_domain;
use super::hypercall;
use super::hypercall::IoreqServerClaims;
use super::save::HVM_PCI_HOTPLUG_RECORD_SIZE;
use crate::errno::{to_c, Errno};
use crate::ffi::domain;
use crate::platform::{Active, Domains, GuestHandle};

use crate::ioreq::abi::{IntoBytes, IOREQ_READ, IOREQ_WRITE, X86EMUL_OKAY, X86EMUL_UNHANDLEABLE};

/// `HVMOP_pci_hotplug`'s number: 26, the first free HVMOP of Xen 4.17 (its 23, the series' next
/// free one, is `HVMOP_set_evtchn_upcall_vector`: H7). The one definition: `do_hvm_op` dispatches
/// it (xen-patches' `xen/rust-ioreq.h`, checked against this header by every `make xen`) and the
/// handler hands it to XSM.
pub const HVMOP_PCI_HOTPLUG: u32 = 26;

/// The slot-ownership check the hypercall applies: the caller's ioreq servers' PCI ranges (H10),
/// in the registry that carries the guest's I/O (in Xen too: FIDELITY X5).
type Claims = IoreqServerClaims<Active>;

/// Creates `d`'s controller (from `hvm_domain_initialise`, before the handlers are registered).
/// 0, -EINVAL for NULL, -EEXIST if it has one, -ENOMEM.
///
/// # Safety
/// `d` is NULL or a live `struct domain`.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_pci_hotplug_init(d: *mut domain) -> c_int {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    match unsafe { domain::handle(d) } {
        Some(d) => to_c(per_domain::init::<Active>(d)),
        None => Errno::EINVAL.to_neg(),
    }
}

/// Frees `d`'s controller (from `hvm_domain_destroy`); NULL or no controller: nothing.
///
/// # Safety
/// `d` is NULL or a live `struct domain` on which no hotplug call or port access is in progress
/// or can start, and whose SCI line is still usable ([`per_domain::deinit`]).
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_pci_hotplug_deinit(d: *mut domain) {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    if let Some(d) = unsafe { domain::handle(d) } {
        // SAFETY: the function's contract is deinit's.
        unsafe { per_domain::deinit::<Active>(d) };
    }
}

/// One port access of the current vCPU to `block`, in Xen's `portio_action_t` shape: Xen hands
/// the absolute port, which becomes an offset here, once. Xen calls a handler only for ports
/// inside the block it registered; a port outside reads all ones and writes nothing.
///
/// # Safety
/// `val` is NULL or valid for reading and writing one `uint32_t`.
#[cfg_attr(feature = "xen", optimize(size))]
unsafe fn port_action(
    block: PortBlock,
    dir: c_int,
    port: c_uint,
    bytes: c_uint,
    val: *mut u32,
) -> c_int {
    if val.is_null() {
        return X86EMUL_UNHANDLEABLE;
    }
    // `dir` is an int: only exactly IOREQ_WRITE or IOREQ_READ is a direction.
    let write = match u8::try_from(dir) {
        Ok(IOREQ_WRITE) => true,
        Ok(IOREQ_READ) => false,
        _ => return X86EMUL_UNHANDLEABLE,
    };
    let r = match block.offset_of(port) {
        Some(offset) => {
            // SAFETY: `val` is non-NULL and valid for one u32 (the caller's contract).
            let v = unsafe { val.read() };
            per_domain::port_io::<Active>(Active::current_domain(), block, write, offset, bytes, v)
        }
        None if write => 0,
        None => all_ones(bytes),
    };
    if !write {
        // SAFETY: as above.
        unsafe { val.write(r) };
    }
    X86EMUL_OKAY
}

/// Port handler for the GPE0 block (register it at 0xafe0, length 4). Runs in the context of a
/// vCPU of the domain whose controller it uses.
///
/// # Safety
/// `val` is NULL or valid for reading and writing one `uint32_t`.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_gpe_io(
    dir: c_int,
    port: c_uint,
    bytes: c_uint,
    val: *mut u32,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { port_action(PortBlock::Gpe0, dir, port, bytes, val) }
}

/// Port handler for the PCI hotplug registers (register it at 0xae00, length 0x10).
///
/// # Safety
/// `val` is NULL or valid for reading and writing one `uint32_t`.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_pci_hotplug_io(
    dir: c_int,
    port: c_uint,
    bytes: c_uint,
    val: *mut u32,
) -> c_int {
    // SAFETY: forwarded caller contract.
    unsafe { port_action(PortBlock::PciHotplug, dir, port, bytes, val) }
}

/// `HVMOP_pci_hotplug`: 0 or -errno. `arg` is the guest address inside the
/// `XEN_GUEST_HANDLE_PARAM(xen_hvm_pci_hotplug_t)` (its `.p`); it is only ever passed to
/// `copy_from_guest`/`copy_to_guest`, which check it.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub extern "C" fn hvmop_pci_hotplug(arg: *mut c_void) -> c_int {
    to_c(hypercall::hvmop_pci_hotplug::<Active, Claims>(GuestHandle(
        arg as usize,
    )))
}

/// Raises GPE `bit` (0-15) of `d`, e.g. 2 for a CPU hotplug event. 0, -EINVAL (NULL, bit >= 16),
/// -EOPNOTSUPP (no controller).
///
/// # Safety
/// `d` is NULL or a live `struct domain`.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_pci_hotplug_gpe_raise(d: *mut domain, bit: c_uint) -> c_int {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    match unsafe { domain::handle(d) } {
        Some(d) => to_c(per_domain::gpe_raise::<Active>(d, bit)),
        None => Errno::EINVAL.to_neg(),
    }
}

/// Writes `d`'s save record (`struct hvm_pci_hotplug_record`) to `buf`: its size in bytes, or
/// -EINVAL (NULL), -ENOSPC (`len` too small), -EOPNOTSUPP (no controller).
///
/// # Safety
/// `d` is NULL or a live `struct domain`; `buf` is NULL or valid for writing `len` bytes.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_pci_hotplug_save(d: *mut domain, buf: *mut u8, len: usize) -> c_int {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    let Some(d) = (unsafe { domain::handle(d) }) else {
        return Errno::EINVAL.to_neg();
    };
    if buf.is_null() {
        return Errno::EINVAL.to_neg();
    }
    if len < HVM_PCI_HOTPLUG_RECORD_SIZE {
        return Errno::ENOSPC.to_neg();
    }
    let Some(c) = per_domain::snapshot::<Active>(d) else {
        return Errno::EOPNOTSUPP.to_neg();
    };
    let rec = c.save();
    let rec = rec.as_bytes();
    // SAFETY: `buf` is non-NULL and valid for `len` >= rec.len() bytes (caller's contract); the
    // source is a local, so the two do not overlap.
    unsafe { core::ptr::copy_nonoverlapping(rec.as_ptr(), buf, rec.len()) };
    // The record is 32 bytes (asserted in save.rs), so the cast is exact.
    HVM_PCI_HOTPLUG_RECORD_SIZE as c_int
}

/// Restores `d`'s controller from a save record of exactly `len` bytes: 0, or -EINVAL (NULL,
/// malformed record; state unchanged), -EOPNOTSUPP (no controller).
///
/// # Safety
/// `d` is NULL or a live `struct domain`; `buf` is NULL or valid for reading `len` bytes.
#[no_mangle]
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe extern "C" fn hvm_pci_hotplug_load(d: *mut domain, buf: *const u8, len: usize) -> c_int {
    // SAFETY: the function's contract: `d` is NULL or a live domain.
    let Some(d) = (unsafe { domain::handle(d) }) else {
        return Errno::EINVAL.to_neg();
    };
    if buf.is_null() {
        return Errno::EINVAL.to_neg();
    }
    // SAFETY: `buf` is non-NULL and valid for `len` bytes (caller's contract); the slice lives
    // only for this call.
    let bytes = unsafe { core::slice::from_raw_parts(buf, len) };
    to_c(per_domain::load::<Active>(d, bytes))
}
