//! A domain's controller: created by [`init`], stored behind the domain's
//! [`DomainSlot::Hotplug`] word, reached under its lock by [`with_controller`], which also
//! re-drives the controller's SCI source after every access and event.
//!
//! Lifetime contract with the glue: `init` runs from `hvm_domain_initialise` before any vCPU can
//! touch a port, `deinit` from `hvm_domain_destroy` (it runs after the RCU grace period, when no
//! vCPU runs and no hypercall can still hold the domain, so the pointer read here is never freed
//! under a user), before `d->arch.hvm.irq` is freed, since it may lower the SCI.

use alloc::boxed::Box;
use core::ffi::c_void;

use super::controller::HotplugController;
use crate::errno::{Errno, XenResult};
use crate::platform::fallible::try_box;
use crate::platform::irq::SciSource;
use crate::platform::sync::RwLock;
use crate::platform::{DomainRef, DomainSlot, Locks, Platform};

/// The controller behind its lock, as the domain slot points to it.
pub type SharedController<P> = RwLock<<P as Locks>::RwLock, HotplugController>;

fn slot_word<P: Platform>(d: DomainRef) -> *mut *mut c_void {
    P::domain_slot(d, DomainSlot::Hotplug).as_ptr()
}

/// Gives `d` a controller in its reset state (nothing plugged, all GPEs clear): -EEXIST if it has
/// one, -ENOMEM if memory runs out.
pub fn init<P: Platform>(d: DomainRef) -> XenResult<()> {
    let word = slot_word::<P>(d);
    // SAFETY: the platform returns the address of `d`'s slot word, valid while `d` lives;
    // init/deinit are serialised by domain construction and destruction.
    if !unsafe { word.read() }.is_null() {
        return Err(Errno::EEXIST);
    }
    let shared: SharedController<P> = RwLock::new(HotplugController::new())?;
    let b = try_box(shared)?;
    // SAFETY: as above; the word now owns the box until `deinit`.
    unsafe { word.write(Box::into_raw(b).cast()) };
    Ok(())
}

/// Frees `d`'s controller, if any, and lowers its SCI source.
pub fn deinit<P: Platform>(d: DomainRef) {
    let word = slot_word::<P>(d);
    // SAFETY: the slot word is valid while `d` lives; see the module's lifetime contract.
    let p = unsafe { word.replace(core::ptr::null_mut()) }.cast::<SharedController<P>>();
    if p.is_null() {
        return;
    }
    // SAFETY: a non-NULL word holds the pointer `init` made with Box::into_raw, and it was just
    // cleared, so this is its only owner.
    let b = unsafe { Box::from_raw(p) };
    if b.read().sci_level() {
        P::sci_set_level(d, SciSource::Gpe0, false);
    }
    drop(b);
}

/// Whether `d` has a controller.
pub fn has_controller<P: Platform>(d: DomainRef) -> bool {
    // SAFETY: the slot word is valid while `d` lives.
    !unsafe { slot_word::<P>(d).read() }.is_null()
}

/// Runs `f` on `d`'s controller under its lock, then drives the controller's SCI source with the
/// new level (still under the lock, so that concurrent accesses drive the line in the order they
/// changed the state). `None` if `d` has no controller.
pub fn with_controller<P: Platform, R>(
    d: DomainRef,
    f: impl FnOnce(&mut HotplugController) -> R,
) -> Option<R> {
    // SAFETY: the slot word is valid while `d` lives.
    let p = unsafe { slot_word::<P>(d).read() }.cast::<SharedController<P>>();
    if p.is_null() {
        return None;
    }
    // SAFETY: a non-NULL word points to the live controller `init` made; `deinit` cannot run
    // concurrently (module lifetime contract), and access to the data goes through the lock.
    let shared = unsafe { &*p };
    let mut c = shared.write();
    let r = f(&mut c);
    P::sci_set_level(d, SciSource::Gpe0, c.sci_level());
    Some(r)
}

/// `d`'s controller state (a copy), or `None`.
pub fn snapshot<P: Platform>(d: DomainRef) -> Option<HotplugController> {
    // SAFETY: as in with_controller; a read lock suffices for a copy and drives no line.
    let p = unsafe { slot_word::<P>(d).read() }.cast::<SharedController<P>>();
    if p.is_null() {
        return None;
    }
    // SAFETY: see with_controller.
    let shared = unsafe { &*p };
    let c = *shared.read();
    Some(c)
}

/// A guest port access by a vCPU of `d`. `port` is absolute; `write` selects the direction;
/// the result is the value read (0 for a write). Without a controller the access reads all ones
/// and writes nothing.
pub fn port_io<P: Platform>(d: DomainRef, write: bool, port: u32, bytes: u32, val: u32) -> u32 {
    use super::controller::{all_ones, GPE0_BASE, GPE0_LEN, PCIHP_BASE, PCIHP_LEN};
    let gpe = port.checked_sub(GPE0_BASE).filter(|o| *o < GPE0_LEN);
    let hp = port.checked_sub(PCIHP_BASE).filter(|o| *o < PCIHP_LEN);
    let r = with_controller::<P, _>(d, |c| match (gpe, hp, write) {
        (Some(o), _, false) => c.gpe_read(o, bytes),
        (Some(o), _, true) => {
            c.gpe_write(o, bytes, val);
            0
        }
        (None, Some(o), false) => c.pcihp_read(o, bytes),
        (None, Some(o), true) => {
            c.pcihp_write(o, bytes, val);
            0
        }
        (None, None, false) => all_ones(bytes),
        (None, None, true) => 0,
    });
    r.unwrap_or(if write { 0 } else { all_ones(bytes) })
}

/// Raises GPE `bit` on `d` (e.g. bit 2 for a CPU hotplug event): -EINVAL for bit >= 16,
/// -EOPNOTSUPP without a controller.
pub fn gpe_raise<P: Platform>(d: DomainRef, bit: u32) -> XenResult<()> {
    with_controller::<P, _>(d, |c| c.gpe_raise(bit)).unwrap_or(Err(Errno::EOPNOTSUPP))
}

/// Replaces `d`'s controller state with a saved record (-EINVAL if malformed, state unchanged;
/// -EOPNOTSUPP without a controller).
pub fn load<P: Platform>(d: DomainRef, bytes: &[u8]) -> XenResult<()> {
    let new = HotplugController::restore(bytes)?;
    with_controller::<P, _>(d, |c| *c = new).ok_or(Errno::EOPNOTSUPP)
}
