//! The hypercall through which a secondary emulator plugs a device into a slot, asks the guest to
//! release one, and learns what became of a slot. Patch 9's own ABI is lost: the op number, the
//! struct and the query form are this port's reconstruction (FIDELITY H7, H8), in the style of the
//! series' HVMOPs 17-22 (same prologue, same error codes).
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::marker::PhantomData;

use super::controller::check_slot;
use super::domain::{has_controller, with_controller};
use crate::errno::{Errno, XenResult};
use crate::hvmop::{hvmop_arg, hvmop_call, CopyBack, HvmopArg};
use crate::ioreq::abi::{assert_layout, FromBytes, Immutable, IntoBytes, KnownLayout};
use crate::ioreq::claims::pci_sbdf_claimed_by;
use crate::ioreq::IoreqPlatform;
use crate::platform::{DomainRef, GuestHandle, Platform};

/// `HVMOP_pci_hotplug` as the series would have numbered it, the next free HVMOP after 17-22
/// (H7). Xen 4.17 has since given 23 to `HVMOP_set_evtchn_upcall_vector`.
pub const HVMOP_PCI_HOTPLUG_SERIES: u32 = 23;

pub use super::ffi::HVMOP_PCI_HOTPLUG;

/// `enable` values.
pub const XEN_HVM_PCI_HOTPLUG_UNPLUG: u8 = 0;
pub const XEN_HVM_PCI_HOTPLUG_PLUG: u8 = 1;
/// Writes the slot's state bits (`controller::slot_state`) to `state`; changes nothing.
pub const XEN_HVM_PCI_HOTPLUG_QUERY: u8 = 2;

/// `struct xen_hvm_pci_hotplug`, the argument of [`HVMOP_PCI_HOTPLUG`].
#[repr(C)]
#[derive(
    Clone, Copy, Default, PartialEq, Eq, Debug, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[allow(non_camel_case_types)]
pub struct xen_hvm_pci_hotplug {
    /// IN: the target domain.
    pub domid: u16,
    /// IN: the slot, 1-31.
    pub slot: u8,
    /// IN: [`XEN_HVM_PCI_HOTPLUG_PLUG`], [`XEN_HVM_PCI_HOTPLUG_UNPLUG`] or
    /// [`XEN_HVM_PCI_HOTPLUG_QUERY`].
    pub enable: u8,
    /// OUT (query only): the slot's state bits.
    pub state: u32,
}

assert_layout!(xen_hvm_pci_hotplug, size 8, align 4, domid @ 0, slot @ 2, enable @ 3, state @ 4);
hvmop_arg!(xen_hvm_pci_hotplug);

/// `HVMOP_PCI_SBDF(s, b, d, f)` (one definition, with the ioreq ABI).
pub use crate::ioreq::abi::hvmop_pci_sbdf as pci_sbdf;

/// Whether the calling emulator owns a slot: it should have claimed the slot's PCI config space
/// (an `HVMOP_IO_RANGE_PCI` range) on one of its ioreq servers for `d` before it plugs or unplugs
/// a device there. [`IoreqServerClaims`] asks the ioreq servers; tests may pass their own.
pub trait SlotClaims {
    /// Whether `emulator` has `sbdf` (function 0 of the slot, segment 0, bus 0) in a PCI range of
    /// one of its ioreq servers for `d`.
    fn slot_claimed(d: DomainRef, emulator: DomainRef, sbdf: u32) -> bool;
}

/// No ownership check: every DM-privileged caller may operate on every slot. For tests and
/// platforms without ioreq servers; the exported handler uses [`IoreqServerClaims`].
pub struct NoClaimCheck;

impl SlotClaims for NoClaimCheck {
    #[cfg_attr(feature = "xen", optimize(size))]
    fn slot_claimed(_d: DomainRef, _emulator: DomainRef, _sbdf: u32) -> bool {
        true
    }
}

/// The ownership check of the exported handler (H10): the caller owns a slot when one of its
/// ioreq servers for `d` has the slot's function 0 in its PCI range set
/// ([`crate::ioreq::claims::pci_sbdf_claimed_by`]).
pub struct IoreqServerClaims<P>(PhantomData<fn() -> P>);

impl<P: IoreqPlatform> SlotClaims for IoreqServerClaims<P> {
    #[cfg_attr(feature = "xen", optimize(size))]
    fn slot_claimed(d: DomainRef, emulator: DomainRef, sbdf: u32) -> bool {
        pci_sbdf_claimed_by::<P>(d, P::domain_id(emulator), sbdf)
    }
}

/// `HVMOP_pci_hotplug`. Prologue as ops 17-22: copy the argument (-EFAULT), lock the remote
/// domain (-ESRCH, -EPERM for the caller itself), HVM only (-EINVAL), XSM DM privilege (-EPERM),
/// then: -EINVAL for an unknown `enable` or a slot outside 1-31, -EOPNOTSUPP if the domain has no
/// controller, -EPERM if the caller has not claimed the slot, then the controller's own errors
/// (plug: -EEXIST, -EBUSY; unplug: -ENOENT). A query copies the whole struct back (-EFAULT).
#[cfg_attr(feature = "xen", optimize(size))]
pub fn hvmop_pci_hotplug<P: Platform, C: SlotClaims>(arg: GuestHandle) -> XenResult<()> {
    hvmop_call::<P, xen_hvm_pci_hotplug>(arg, HVMOP_PCI_HOTPLUG, slot_op::<P, C>)
}

/// The op itself, on the locked HVM domain the caller has DM privilege over.
#[cfg_attr(feature = "xen", optimize(size))]
fn slot_op<P: Platform, C: SlotClaims>(
    d: DomainRef,
    op: &mut xen_hvm_pci_hotplug,
) -> XenResult<CopyBack> {
    let slot = u32::from(op.slot);
    if op.enable > XEN_HVM_PCI_HOTPLUG_QUERY {
        return Err(Errno::EINVAL);
    }
    check_slot(slot)?;
    if !has_controller::<P>(d) {
        return Err(Errno::EOPNOTSUPP);
    }
    if op.enable == XEN_HVM_PCI_HOTPLUG_QUERY {
        op.state =
            with_controller::<P, _>(d, |c| c.slot_state(slot)).ok_or(Errno::EOPNOTSUPP)??;
        return Ok(CopyBack::Yes);
    }
    if !C::slot_claimed(d, P::current_domain(), pci_sbdf(0, 0, slot, 0)) {
        return Err(Errno::EPERM);
    }
    with_controller::<P, _>(d, |c| {
        if op.enable == XEN_HVM_PCI_HOTPLUG_PLUG {
            c.plug(slot)
        } else {
            c.unplug_request(slot)
        }
    })
    .ok_or(Errno::EOPNOTSUPP)??;
    Ok(CopyBack::No)
}
