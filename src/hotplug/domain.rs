//! A domain's controller: created by [`init`], stored behind the domain's
//! [`DomainSlot::Hotplug`] word, reached under its lock by [`with_controller`], which also
//! re-drives the controller's SCI source after every access and event.
//!
//! Lifetime contract with the glue: `init` runs from `hvm_domain_initialise` before any vCPU can
//! touch a port, `deinit` from `hvm_domain_destroy` (it runs after the RCU grace period, when no
//! vCPU runs and no hypercall can still hold the domain, so the pointer read here is never freed
//! under a user), before `d->arch.hvm.irq` is freed, since it may lower the SCI.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use super::controller::{all_ones, HotplugController, PortBlock};
use crate::errno::{Errno, XenResult};
use crate::platform::domain::{HotplugKey, SlotState, SlotValue};
use crate::platform::irq::SciSource;
use crate::platform::sync::RwLock;
use crate::platform::{DomainRef, Locks, Platform};

/// The controller behind its lock, as the domain slot points to it.
pub type SharedController<P> = RwLock<<P as Locks>::RwLock, HotplugController>;

impl<P: Platform> SlotValue<P> for HotplugKey {
    type Value = SharedController<P>;
}

type ControllerSlot = SlotState<HotplugKey>;

/// `d`'s controller; it stays valid until `deinit` (see the module's lifetime contract).
#[cfg_attr(feature = "xen", optimize(size))]
fn shared<P: Platform>(d: DomainRef) -> Option<&'static SharedController<P>> {
    ControllerSlot::get::<P>(d)
}

/// Gives `d` a controller in its reset state (nothing plugged, all GPEs clear): -EEXIST if it has
/// one, -ENOMEM if memory runs out.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn init<P: Platform>(d: DomainRef) -> XenResult<()> {
    // init/deinit are serialised by domain construction and destruction, so nothing can create a
    // controller between this check and the creation.
    if shared::<P>(d).is_some() {
        return Err(Errno::EEXIST);
    }
    ControllerSlot::get_or_init::<P>(d, || RwLock::new(HotplugController::new())).map(|_| ())
}

/// Frees `d`'s controller, if any, and lowers its SCI source.
///
/// # Safety
/// The module's lifetime contract: no vCPU port access, hypercall or other user of `d`'s
/// controller may be running or start during or after this call (Xen: `hvm_domain_destroy`,
/// after the RCU grace period), and `d`'s SCI line must still be usable. The controller's
/// references are `'static` only by this contract.
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe fn deinit<P: Platform>(d: DomainRef) {
    // SAFETY: the caller's contract: no vCPU or hypercall can hold or take a reference to the
    // controller.
    let Some(b) = (unsafe { ControllerSlot::take::<P>(d) }) else {
        return;
    };
    if b.read().sci_level() {
        P::sci_set_level(d, SciSource::Gpe0, false);
    }
    drop(b);
}

/// Whether `d` has a controller.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn has_controller<P: Platform>(d: DomainRef) -> bool {
    shared::<P>(d).is_some()
}

/// Runs `f` on `d`'s controller under its lock, then drives the controller's SCI source with the
/// new level (still under the lock, so that concurrent accesses drive the line in the order they
/// changed the state). `None` if `d` has no controller.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn with_controller<P: Platform, R>(
    d: DomainRef,
    f: impl FnOnce(&mut HotplugController) -> R,
) -> Option<R> {
    let mut c = shared::<P>(d)?.write();
    let r = f(&mut c);
    P::sci_set_level(d, SciSource::Gpe0, c.sci_level());
    Some(r)
}

/// `d`'s controller state (a copy), or `None`. A read lock suffices for a copy and drives no line.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn snapshot<P: Platform>(d: DomainRef) -> Option<HotplugController> {
    let c = *shared::<P>(d)?.read();
    Some(c)
}

/// A guest access by a vCPU of `d` at `offset` into `block`; `write` selects the direction; the
/// result is the value read (0 for a write). Without a controller the access reads all ones and
/// writes nothing.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn port_io<P: Platform>(
    d: DomainRef,
    block: PortBlock,
    write: bool,
    offset: u32,
    bytes: u32,
    val: u32,
) -> u32 {
    let r = with_controller::<P, _>(d, |c| {
        if write {
            c.port_write(block, offset, bytes, val);
            0
        } else {
            c.port_read(block, offset, bytes)
        }
    });
    r.unwrap_or(if write { 0 } else { all_ones(bytes) })
}

/// Raises GPE `bit` on `d` (e.g. bit 2 for a CPU hotplug event): -EINVAL for bit >= 16,
/// -EOPNOTSUPP without a controller.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn gpe_raise<P: Platform>(d: DomainRef, bit: u32) -> XenResult<()> {
    with_controller::<P, _>(d, |c| c.gpe_raise(bit)).unwrap_or(Err(Errno::EOPNOTSUPP))
}

/// Replaces `d`'s controller state with a saved record (-EINVAL if malformed, state unchanged;
/// -EOPNOTSUPP without a controller).
#[cfg_attr(feature = "xen", optimize(size))]
pub fn load<P: Platform>(d: DomainRef, bytes: &[u8]) -> XenResult<()> {
    let new = HotplugController::restore(bytes)?;
    with_controller::<P, _>(d, |c| *c = new).ok_or(Errno::EOPNOTSUPP)
}
