//! Domains and vCPUs: identity, per-domain storage for the Rust components, lookup by id with the
//! permission checks the series' hypercalls make, pausing.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::ffi::c_void;
use core::ptr::NonNull;

use crate::errno::XenResult;

/// A `struct domain *` that Rust never dereferences.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct DomainRef(NonNull<c_void>);

impl DomainRef {
    /// Wraps a non-NULL `struct domain *`; NULL gives `None`.
    ///
    /// # Safety
    /// A non-NULL `p` must be a domain of the platform the handle is then used with (a live Xen
    /// `struct domain` under the `xen` platform, one of the host registry's domains under the
    /// host platform), and stay one for as long as the handle or any copy of it is used: the
    /// platform's methods dereference it.
    pub unsafe fn from_ptr(p: *mut c_void) -> Option<Self> {
        NonNull::new(p).map(Self)
    }
    pub fn as_ptr(self) -> *mut c_void {
        self.0.as_ptr()
    }
}

// SAFETY: a DomainRef is an opaque address that Rust only passes back to the platform, which is
// responsible for any synchronisation of the domain it names.
unsafe impl Send for DomainRef {}
// SAFETY: as for Send: no data is reachable through it from Rust.
unsafe impl Sync for DomainRef {}

/// A `struct vcpu *` that Rust never dereferences.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Debug, Hash)]
pub struct VcpuRef(NonNull<c_void>);

impl VcpuRef {
    /// Wraps a non-NULL `struct vcpu *`; NULL gives `None`.
    ///
    /// # Safety
    /// As for [`DomainRef::from_ptr`]: a non-NULL `p` must be a vCPU of the platform the handle is
    /// used with, live for as long as the handle or any copy of it is used.
    pub unsafe fn from_ptr(p: *mut c_void) -> Option<Self> {
        NonNull::new(p).map(Self)
    }
    pub fn as_ptr(self) -> *mut c_void {
        self.0.as_ptr()
    }
}

// SAFETY: opaque address, as for DomainRef.
unsafe impl Send for VcpuRef {}
// SAFETY: opaque address, as for DomainRef.
unsafe impl Sync for VcpuRef {}

/// Pointer-sized words in `struct domain` that belong to the Rust components (the Xen glue adds
/// them to the struct; the host platform has them in its fake domain). Each holds a pointer to that
/// component's per-domain state, NULL when it has none.
#[repr(u32)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum DomainSlot {
    /// The domain's list of rangesets (Xen's `d->rangesets` + `d->rangesets_lock`).
    Rangesets = 0,
    /// The domain's ioreq servers.
    Ioreq = 1,
    /// The domain's PCI hotplug controller.
    Hotplug = 2,
}

/// How many [`DomainSlot`]s the glue must provide.
pub const NR_DOMAIN_SLOTS: usize = 3;

pub trait Domains {
    /// `d->domain_id`.
    fn domain_id(d: DomainRef) -> u16;

    /// The address of `d`'s word for `slot`. It stays valid while `d` exists; callers serialise
    /// their own accesses to it.
    fn domain_slot(d: DomainRef, slot: DomainSlot) -> NonNull<*mut c_void>;

    /// `current->domain`: the caller of a hypercall.
    fn current_domain() -> DomainRef;

    /// `rcu_lock_remote_domain_by_id(domid)`: -ESRCH if there is no such domain, -EPERM if it is
    /// the caller itself (DOMID_SELF is not translated). Pair with [`Domains::unlock_domain`].
    fn lock_remote_domain(domid: u16) -> XenResult<DomainRef>;

    /// `rcu_unlock_domain(d)`.
    fn unlock_domain(d: DomainRef);

    /// `is_hvm_domain(d)`.
    fn is_hvm(d: DomainRef) -> bool;

    /// `d->is_dying`.
    fn is_dying(d: DomainRef) -> bool;

    /// `xsm_hvm_ioreq_server(XSM_DM_PRIV, d, op)`: with the dummy policy, allowed iff the caller
    /// is privileged or is `d`'s device-model domain (-EPERM otherwise).
    fn xsm_dm_priv(d: DomainRef, op: u32) -> XenResult<()>;

    /// `domain_pause(d)` / `domain_unpause(d)`.
    fn pause(d: DomainRef);
    fn unpause(d: DomainRef);
}

/// What the ioreq servers need of domains and vCPUs beyond [`Domains`]. A separate trait (the
/// ioreq code asks for `P: Platform + HvmDomains`) so that other components' additions to
/// `Domains` do not collide with it.
pub trait HvmDomains {
    /// `d->max_vcpus`: vCPU ids are below it.
    fn max_vcpus(d: DomainRef) -> u32;

    /// `d->vcpu[id]`, if that vCPU exists.
    fn domain_vcpu(d: DomainRef, id: u32) -> Option<VcpuRef>;

    /// `v->vcpu_id`.
    fn vcpu_id(v: VcpuRef) -> u32;

    /// `v->domain`.
    fn vcpu_domain(v: VcpuRef) -> DomainRef;

    /// `v->domain` and `v->vcpu_id` together: the I/O path resolves its vCPU once per call. A
    /// platform where that is one look-up overrides this.
    fn vcpu_domain_and_id(v: VcpuRef) -> (DomainRef, u32) {
        (Self::vcpu_domain(v), Self::vcpu_id(v))
    }

    /// `current`: the vCPU the hypervisor runs on behalf of (guest I/O paths only).
    fn current_vcpu() -> Option<VcpuRef>;

    /// `d->arch.hvm.params[index]` (0 for an index out of range).
    fn hvm_param(d: DomainRef, index: u32) -> u64;

    /// `d->arch.hvm.params[index] = value` (ignored for an index out of range).
    fn set_hvm_param(d: DomainRef, index: u32, value: u64);

    /// `domain_crash(d)`: the emulator (or guest) broke the protocol.
    fn domain_crash(d: DomainRef);

    /// `vcpu_start_shutdown_deferral(v)`: false if the domain is shutting down (the request must
    /// then not be sent).
    fn vcpu_start_shutdown_deferral(v: VcpuRef) -> bool;

    /// Wakes `v` if it is blocked in Xen waiting for an emulator's event (the wake-up the
    /// emulator's notification would give), so that it re-checks its requests.
    fn vcpu_unblock(v: VcpuRef);

    /// Whether a PCI config-data access of `d` takes the extended register bits 27:24 of its
    /// 0xcf8 latch (Xen 4.17: only for an AMD family 10h-16h guest on a host whose NB_CFG
    /// enables it; the 2014 series: always, FIDELITY I107).
    fn cf8_extended_registers(d: DomainRef) -> bool;

    /// Which ioreq-server registry the platform's domains get (FIDELITY I100, I101, I114).
    fn ioreq_registry_kind() -> RegistryKind;

    /// `p2m_set_ioreq_server(d, flags, <server id>)`: the P2M's record of the server its
    /// `p2m_ioreq_server` pages go to. `flags` 0 clears it if server `id` has it (-EINVAL
    /// otherwise); other flags set it if nobody has it and no such page is left (-EBUSY).
    fn p2m_set_ioreq_server(d: DomainRef, flags: u32, id: u16) -> XenResult<()>;

    /// After the type was unrouted: the P2M's remaining `p2m_ioreq_server` pages become
    /// ordinary RAM again.
    fn p2m_ioreq_server_unmapped(d: DomainRef);
}

/// The two registries of ioreq servers: their id allocation and iteration order.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RegistryKind {
    /// The 2014 series: a 16-bit id counter, no limit, newest server first.
    Series,
    /// Xen 4.17 (`common/ioreq.c`): ids are the lowest free of eight slots (-ENOSPC when all
    /// are taken), highest id first; the gfn pool may fall back to the legacy frames of HVM
    /// params 5 and 6.
    Xen417,
}

mod sealed {
    /// Only this module defines slot keys, so [`super::DomainSlotKey::SLOT`] is one word each.
    pub trait Sealed {}
}

/// A marker type naming one [`DomainSlot`]: the slot's one key. Sealed: the keys are the three
/// below, each with its own slot.
pub(crate) trait DomainSlotKey: sealed::Sealed {
    const SLOT: DomainSlot;
}

/// The key of [`DomainSlot::Rangesets`].
pub(crate) struct RangesetsKey;
/// The key of [`DomainSlot::Ioreq`].
pub(crate) struct IoreqKey;
/// The key of [`DomainSlot::Hotplug`].
pub(crate) struct HotplugKey;

impl sealed::Sealed for RangesetsKey {}
impl sealed::Sealed for IoreqKey {}
impl sealed::Sealed for HotplugKey {}
impl DomainSlotKey for RangesetsKey {
    const SLOT: DomainSlot = DomainSlot::Rangesets;
}
impl DomainSlotKey for IoreqKey {
    const SLOT: DomainSlot = DomainSlot::Ioreq;
}
impl DomainSlotKey for HotplugKey {
    const SLOT: DomainSlot = DomainSlot::Hotplug;
}

/// What a slot's word points to on platform `P`: the component owning the slot implements this
/// once for its key, and coherence allows no second `Value` for the same key and platform, so
/// every access to a slot agrees on its type (the word belongs to `P`'s domain).
pub(crate) trait SlotValue<P: Domains>: DomainSlotKey {
    type Value: Send + Sync + 'static;
}

/// Typed access to the [`DomainSlot`] word of key `K`, holding a `Box<K::Value>`: the component
/// that owns the slot creates its state on first use (racing creators agree through a
/// compare-exchange) and frees it when the domain is destroyed.
pub(crate) struct SlotState<K>(core::marker::PhantomData<fn() -> K>);

impl<K: DomainSlotKey> SlotState<K> {
    fn word<D: Domains>(d: DomainRef) -> &'static core::sync::atomic::AtomicPtr<c_void> {
        let p = D::domain_slot(d, K::SLOT);
        // SAFETY: the platform returns the address of a pointer-sized, pointer-aligned word that
        // lives as long as the domain; all accesses to it go through this atomic view.
        unsafe { core::sync::atomic::AtomicPtr::from_ptr(p.as_ptr()) }
    }

    /// The state, if created. Valid until [`SlotState::take`], which the owner calls only when the
    /// domain is being destroyed and nothing else uses it.
    pub fn get<D: Domains>(d: DomainRef) -> Option<&'static K::Value>
    where
        K: SlotValue<D>,
    {
        let p = Self::word::<D>(d).load(core::sync::atomic::Ordering::Acquire);
        // SAFETY: a non-NULL word was stored by `get_or_init` from `Box::into_raw` of a
        // `K::Value` (the one type of this key on platform D) and stays valid until `take`.
        unsafe { p.cast::<K::Value>().as_ref() }
    }

    /// The state, created with `init` if absent (-ENOMEM if `init` fails).
    pub fn get_or_init<D: Domains>(
        d: DomainRef,
        init: impl FnOnce() -> XenResult<K::Value>,
    ) -> XenResult<&'static K::Value>
    where
        K: SlotValue<D>,
    {
        if let Some(s) = Self::get::<D>(d) {
            return Ok(s);
        }
        let b = crate::platform::fallible::try_box(init()?)?;
        let raw = alloc::boxed::Box::into_raw(b);
        let w = Self::word::<D>(d);
        use core::sync::atomic::Ordering;
        match w.compare_exchange(
            core::ptr::null_mut(),
            raw.cast(),
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: we just published `raw`, a live boxed K::Value.
            Ok(_) => Ok(unsafe { &*raw }),
            Err(other) => {
                // SAFETY: `raw` was not published; we still own it.
                drop(unsafe { alloc::boxed::Box::from_raw(raw) });
                // SAFETY: the winner stored a live boxed K::Value.
                unsafe { other.cast::<K::Value>().as_ref() }.ok_or(crate::errno::Errno::ENOMEM)
            }
        }
    }

    /// Unpublishes and returns the state.
    ///
    /// # Safety
    /// The references [`SlotState::get`] and [`SlotState::get_or_init`] hand out are `'static`
    /// only by this contract: none for this slot of `d` may still be in use, or be obtained
    /// concurrently. Owners call this once `d` is being destroyed and nothing else reaches its
    /// state (the domain lifecycle their callers guarantee).
    pub unsafe fn take<D: Domains>(d: DomainRef) -> Option<alloc::boxed::Box<K::Value>>
    where
        K: SlotValue<D>,
    {
        let p =
            Self::word::<D>(d).swap(core::ptr::null_mut(), core::sync::atomic::Ordering::AcqRel);
        // SAFETY: a non-NULL word came from Box::into_raw of a K::Value and is now unpublished, so
        // this is the only owner.
        (!p.is_null()).then(|| unsafe { alloc::boxed::Box::from_raw(p.cast::<K::Value>()) })
    }
}
