//! Fake domains: a per-thread registry of [`HostDomain`]s with the few properties the components
//! ask about, and counters for pauses and RCU locks so tests see imbalances.
//!
//! A `DomainRef` (`VcpuRef`) of this platform is the address of a registry entry, and this module
//! dereferences one only once it has found it in this thread's registry (the last domain found is
//! remembered until it is destroyed), so a handle to a destroyed domain (or removed vCPU, or one
//! of another thread) panics instead of reaching freed memory, and a nested [`HostDomain::with`]
//! on one domain panics instead of aliasing it.

use core::cell::{Cell, RefCell, RefMut};
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::AtomicPtr;
use std::boxed::Box;
use std::rc::Rc;
use std::vec::Vec;

use super::HostPlatform;
use crate::errno::{Errno, XenResult};
use crate::platform::domain::{
    DomainRef, DomainSlot, Domains, HvmDomains, RegistryKind, VcpuRef, NR_DOMAIN_SLOTS,
};

/// What the host platform knows of a domain.
pub struct HostDomain {
    id: u16,
    pub is_hvm: bool,
    pub is_dying: bool,
    /// May act as device model for every domain (dom0).
    pub is_privileged: bool,
    /// The domain whose device model this one is (`d->target` seen from the emulator), if any.
    pub dm_target: Option<u16>,
    pub pause_count: i32,
    /// `d->max_vcpus`.
    pub max_vcpus: u32,
    /// `d->arch.hvm.params`.
    pub params: [u64; HOST_NR_PARAMS],
    /// `domain_crash` calls.
    pub crashes: u32,
    /// Shutting down: `vcpu_start_shutdown_deferral` refuses.
    pub shutting_down: bool,
    /// `vcpu_unblock` calls on its vCPUs.
    pub vcpu_unblocks: u32,
    /// The P2M's ioreq-server record: (server id, flags).
    pub p2m_ioreq_server: Option<(u16, u32)>,
    /// `p2m_ioreq_server_unmapped` calls.
    pub p2m_ioreq_resets: u32,
    /// Whether config-data accesses take CF8's extended register bits (default: yes, as the
    /// series; Xen 4.17 only for some AMD guests).
    pub cf8_extended: bool,
}

/// A registered domain; its address is the `DomainRef`. The slot words sit outside the
/// properties' `RefCell` because the components reach them through raw addresses
/// ([`Domains::domain_slot`]) while a test may hold the properties.
struct DomainEntry {
    id: u16,
    slots: [AtomicPtr<c_void>; NR_DOMAIN_SLOTS],
    props: RefCell<HostDomain>,
}

/// A vCPU; the address of its registry box is the `VcpuRef`.
struct HostVcpu {
    id: u32,
    domain: DomainRef,
}

/// Params the host domain stores (Xen has `HVM_NR_PARAMS`; a few spare).
pub const HOST_NR_PARAMS: usize = 64;

std::thread_local! {
    static DOMAINS: RefCell<Vec<Rc<DomainEntry>>> = const { RefCell::new(Vec::new()) };
    // Boxed: a vCPU's address is its `VcpuRef` and must not move when the Vec grows.
    #[allow(clippy::vec_box)]
    static VCPUS: RefCell<Vec<Box<HostVcpu>>> = const { RefCell::new(Vec::new()) };
    static CURRENT: Cell<Option<DomainRef>> = const { Cell::new(None) };
    static RCU_LOCKS: Cell<i64> = const { Cell::new(0) };
    static CURRENT_VCPU: Cell<Option<VcpuRef>> = const { Cell::new(None) };
    static REGISTRY_KIND: Cell<RegistryKind> = const { Cell::new(RegistryKind::Series) };
    // The last domain and vCPU resolved: the I/O path asks about the same few handles over and
    // over, and the bench times it against Xen's pointer dereferences. `destroy` and
    // `remove_vcpu` forget what they unregister, so the caches never resolve a dead handle. Plain
    // `Cell`s of `Copy` values: no destructor, so reading one is a single thread-local load.
    static LAST_ENTRY: Cell<Option<DomainRef>> = const { Cell::new(None) };
    static LAST_VCPU: Cell<Option<(VcpuRef, DomainRef, u32)>> = const { Cell::new(None) };
}

/// Which registry the ioreq state created from now on (on this thread) gets; the default is the
/// series'.
pub fn set_registry_kind(k: RegistryKind) {
    REGISTRY_KIND.with(|c| c.set(k));
}

fn entry_ref(e: &Rc<DomainEntry>) -> DomainRef {
    // SAFETY: the address of a registered entry: this module resolves it through the registry
    // (`entry`) and never dereferences it, so any value is sound here.
    unsafe { DomainRef::from_ptr(Rc::as_ptr(e).cast_mut().cast()) }
        .unwrap_or_else(|| unreachable!("an Rc is never NULL"))
}

/// The live entry `d` names on this thread (kept alive by the returned `Rc` even if the domain
/// is destroyed meanwhile).
fn entry(d: DomainRef) -> Rc<DomainEntry> {
    let e = DOMAINS
        .with(|l| l.borrow().iter().find(|e| names(d, e)).cloned())
        .unwrap_or_else(|| panic!("host platform: {d:?} is not a live domain of this thread"));
    LAST_ENTRY.with(|c| c.set(Some(d)));
    e
}

fn names(d: DomainRef, e: &Rc<DomainEntry>) -> bool {
    Rc::as_ptr(e).cast::<c_void>() == d.as_ptr().cast_const()
}

/// `f` on the live entry `d` names: the leaf accessors of the I/O path. The cached handle is used
/// as the entry's address without a search.
///
/// # Safety
/// `f` must not destroy a domain (the entry it is given must outlive it).
unsafe fn with_entry<R>(d: DomainRef, f: impl FnOnce(&DomainEntry) -> R) -> R {
    if LAST_ENTRY.with(|c| c.get()) == Some(d) {
        // The cache only ever holds a handle `entry` resolved in the registry, and `destroy`
        // clears it before the registry drops its `Rc`; so `d` is the address of a live
        // `DomainEntry` (an `Rc`'s value does not move), which `f` leaves alive (the contract).
        // SAFETY: `d` is a live `DomainEntry` for the whole call; only `&` is made.
        let e = unsafe { &*d.as_ptr().cast_const().cast::<DomainEntry>() };
        return f(e);
    }
    f(&entry(d))
}

impl HostDomain {
    /// Creates and registers an HVM domain with id `id` (which must not be live on this thread).
    pub fn create(id: u16) -> DomainRef {
        assert!(Self::lookup(id).is_none(), "domain {id} already exists");
        let e = Rc::new(DomainEntry {
            id,
            slots: core::array::from_fn(|_| AtomicPtr::new(core::ptr::null_mut())),
            props: RefCell::new(HostDomain {
                id,
                is_hvm: true,
                is_dying: false,
                is_privileged: false,
                dm_target: None,
                pause_count: 0,
                max_vcpus: 128,
                params: [0; HOST_NR_PARAMS],
                crashes: 0,
                shutting_down: false,
                vcpu_unblocks: 0,
                p2m_ioreq_server: None,
                p2m_ioreq_resets: 0,
                cf8_extended: true,
            }),
        });
        let d = entry_ref(&e);
        DOMAINS.with(|l| l.borrow_mut().push(e));
        d
    }

    /// Unregisters `d` and its vCPUs; later uses of `d` panic. The components must have released
    /// their slots first.
    pub fn destroy(d: DomainRef) {
        let e = entry(d);
        LAST_ENTRY.with(|c| c.set(None));
        if LAST_VCPU
            .with(|c| c.get())
            .is_some_and(|(_, vd, _)| vd == d)
        {
            LAST_VCPU.with(|c| c.set(None));
        }
        DOMAINS.with(|l| l.borrow_mut().retain(|q| !Rc::ptr_eq(q, &e)));
        VCPUS.with(|l| l.borrow_mut().retain(|v| v.domain != d));
        if CURRENT.with(|c| c.get()) == Some(d) {
            CURRENT.with(|c| c.set(None));
        }
        if CURRENT_VCPU
            .with(|c| c.get())
            .is_some_and(|v| host_vcpu_checked(v).is_none())
        {
            CURRENT_VCPU.with(|c| c.set(None));
        }
        assert!(
            e.slots
                .iter()
                .all(|s| s.load(core::sync::atomic::Ordering::Acquire).is_null()),
            "domain {} destroyed with Rust state still attached",
            e.id
        );
    }

    /// The live domain with this id, if any.
    pub fn lookup(id: u16) -> Option<DomainRef> {
        DOMAINS.with(|l| l.borrow().iter().find(|e| e.id == id).map(entry_ref))
    }

    /// Runs `f` on `d`'s properties. Panics if `d` is not live on this thread, or if `f` (or a
    /// caller up the stack) is already in `with` for `d`.
    pub fn with<R>(d: DomainRef, f: impl FnOnce(&mut HostDomain) -> R) -> R {
        let e = entry(d);
        let mut h: RefMut<'_, HostDomain> = e.props.borrow_mut();
        f(&mut h)
    }

    /// `d->domain_id`.
    pub fn id(&self) -> u16 {
        self.id
    }

    /// Makes `d` the caller of subsequent hypercalls on this thread.
    pub fn set_current(d: DomainRef) {
        CURRENT.with(|c| c.set(Some(d)));
    }

    /// RCU domain locks taken and not yet released on this thread.
    pub fn outstanding_rcu_locks() -> i64 {
        RCU_LOCKS.with(|c| c.get())
    }
}

impl Domains for HostPlatform {
    fn domain_id(d: DomainRef) -> u16 {
        // SAFETY: the closure only reads the entry; it destroys nothing.
        unsafe { with_entry(d, |e| e.id) }
    }

    fn domain_slot(d: DomainRef, slot: DomainSlot) -> NonNull<*mut c_void> {
        // SAFETY: the closure only reads the entry; it destroys nothing.
        unsafe {
            with_entry(d, |e| {
                let word = e
                    .slots
                    .get(slot as usize)
                    .unwrap_or_else(|| unreachable!("NR_DOMAIN_SLOTS covers every DomainSlot"));
                // The word lives in the registered entry until `destroy`, which the components'
                // slot contracts order after their last use; an `AtomicPtr` is a `*mut c_void` in
                // memory.
                NonNull::from(word).cast()
            })
        }
    }

    fn current_domain() -> DomainRef {
        CURRENT
            .with(|c| c.get())
            .unwrap_or_else(|| panic!("host platform: no current domain set"))
    }

    fn lock_remote_domain(domid: u16) -> XenResult<DomainRef> {
        let d = HostDomain::lookup(domid).ok_or(Errno::ESRCH)?;
        if Some(d) == CURRENT.with(|c| c.get()) {
            return Err(Errno::EPERM);
        }
        RCU_LOCKS.with(|c| c.set(c.get() + 1));
        Ok(d)
    }

    fn unlock_domain(_d: DomainRef) {
        RCU_LOCKS.with(|c| c.set(c.get() - 1));
    }

    fn is_hvm(d: DomainRef) -> bool {
        // SAFETY: the closure only reads the entry; it destroys nothing.
        unsafe { with_entry(d, |e| e.props.borrow().is_hvm) }
    }

    fn is_dying(d: DomainRef) -> bool {
        // SAFETY: the closure only reads the entry; it destroys nothing.
        unsafe { with_entry(d, |e| e.props.borrow().is_dying) }
    }

    fn xsm_dm_priv(d: DomainRef, _op: u32) -> XenResult<()> {
        let caller = Self::current_domain();
        let target = Self::domain_id(d);
        let ok = HostDomain::with(caller, |c| c.is_privileged || c.dm_target == Some(target));
        if ok {
            Ok(())
        } else {
            Err(Errno::EPERM)
        }
    }

    fn pause(d: DomainRef) {
        // SAFETY: the closure only counts in the entry's properties; it destroys nothing.
        unsafe { with_entry(d, |e| e.props.borrow_mut().pause_count += 1) };
    }

    fn unpause(d: DomainRef) {
        // SAFETY: the closure only counts in the entry's properties; it destroys nothing.
        unsafe { with_entry(d, |e| e.props.borrow_mut().pause_count -= 1) };
    }
}

impl HostDomain {
    /// Adds vCPU `id` to `d` (as `vcpu_create` would, before `hvm_vcpu_initialise`).
    pub fn add_vcpu(d: DomainRef, id: u32) -> VcpuRef {
        let _ = entry(d);
        VCPUS.with(|l| {
            let mut l = l.borrow_mut();
            assert!(
                l.iter().all(|v| v.domain != d || v.id != id),
                "vcpu {id} exists"
            );
            let b = Box::new(HostVcpu { id, domain: d });
            let p: *const HostVcpu = &*b;
            l.push(b);
            // SAFETY: the address of a registered vCPU box: this module resolves it through the
            // registry (`host_vcpu`) and never dereferences it.
            unsafe { VcpuRef::from_ptr(p.cast_mut().cast()) }
                .unwrap_or_else(|| unreachable!("a Box is never NULL"))
        })
    }

    /// Removes vCPU `v` from its domain (after `hvm_vcpu_destroy`); later uses of `v` panic.
    pub fn remove_vcpu(v: VcpuRef) {
        let _ = host_vcpu(v);
        if LAST_VCPU
            .with(|c| c.get())
            .is_some_and(|(lv, _, _)| lv == v)
        {
            LAST_VCPU.with(|c| c.set(None));
        }
        VCPUS.with(|l| l.borrow_mut().retain(|x| !vcpu_is(x, v)));
        if CURRENT_VCPU.with(|c| c.get()) == Some(v) {
            CURRENT_VCPU.with(|c| c.set(None));
        }
    }

    /// Makes `v` the vCPU the guest I/O path runs on (`current`).
    pub fn set_current_vcpu(v: Option<VcpuRef>) {
        CURRENT_VCPU.with(|c| c.set(v));
    }
}

fn vcpu_is(b: &HostVcpu, v: VcpuRef) -> bool {
    core::ptr::from_ref(b).cast::<c_void>() == v.as_ptr().cast_const()
}

/// `v`'s domain and id, if `v` is a live vCPU of this thread. Inlined: on the I/O path it is
/// the cached vCPU, one thread-local load and a compare.
#[inline]
fn host_vcpu_checked(v: VcpuRef) -> Option<(DomainRef, u32)> {
    match LAST_VCPU.with(|c| c.get()) {
        Some((lv, d, id)) if lv == v => Some((d, id)),
        _ => host_vcpu_search(v),
    }
}

#[inline(never)]
fn host_vcpu_search(v: VcpuRef) -> Option<(DomainRef, u32)> {
    let found = VCPUS.with(|l| {
        l.borrow()
            .iter()
            .find(|b| vcpu_is(b, v))
            .map(|b| (b.domain, b.id))
    });
    if let Some((d, id)) = found {
        LAST_VCPU.with(|c| c.set(Some((v, d, id))));
    }
    found
}

#[inline]
fn host_vcpu(v: VcpuRef) -> (DomainRef, u32) {
    match host_vcpu_checked(v) {
        Some(found) => found,
        None => not_a_vcpu(v),
    }
}

#[cold]
#[inline(never)]
fn not_a_vcpu(v: VcpuRef) -> ! {
    panic!("host platform: {v:?} is not a live vCPU of this thread")
}

impl HvmDomains for HostPlatform {
    fn max_vcpus(d: DomainRef) -> u32 {
        HostDomain::with(d, |h| h.max_vcpus)
    }

    fn domain_vcpu(d: DomainRef, id: u32) -> Option<VcpuRef> {
        let _ = entry(d);
        VCPUS.with(|l| {
            l.borrow()
                .iter()
                .find(|v| v.domain == d && v.id == id)
                .and_then(|v| {
                    let p: *const HostVcpu = &**v;
                    // SAFETY: a registered vCPU box's address, resolved through the registry
                    // and never dereferenced (as in `add_vcpu`).
                    unsafe { VcpuRef::from_ptr(p.cast_mut().cast()) }
                })
        })
    }

    fn vcpu_id(v: VcpuRef) -> u32 {
        host_vcpu(v).1
    }

    fn vcpu_domain(v: VcpuRef) -> DomainRef {
        host_vcpu(v).0
    }

    fn vcpu_domain_and_id(v: VcpuRef) -> (DomainRef, u32) {
        host_vcpu(v)
    }

    fn current_vcpu() -> Option<VcpuRef> {
        CURRENT_VCPU.with(|c| c.get())
    }

    fn hvm_param(d: DomainRef, index: u32) -> u64 {
        HostDomain::with(d, |h| h.params.get(index as usize).copied().unwrap_or(0))
    }

    fn set_hvm_param(d: DomainRef, index: u32, value: u64) {
        HostDomain::with(d, |h| {
            if let Some(p) = h.params.get_mut(index as usize) {
                *p = value;
            }
        })
    }

    fn domain_crash(d: DomainRef) {
        // SAFETY: the closure only counts in the entry's properties; it destroys nothing.
        unsafe { with_entry(d, |e| e.props.borrow_mut().crashes += 1) };
    }

    fn vcpu_start_shutdown_deferral(v: VcpuRef) -> bool {
        let (d, _) = host_vcpu(v);
        // SAFETY: the closure only reads the entry; it destroys nothing.
        unsafe { with_entry(d, |e| !e.props.borrow().shutting_down) }
    }

    fn vcpu_unblock(v: VcpuRef) {
        let (d, _) = host_vcpu(v);
        HostDomain::with(d, |h| h.vcpu_unblocks += 1);
    }

    fn cf8_extended_registers(d: DomainRef) -> bool {
        // SAFETY: the closure only reads the entry; it destroys nothing.
        unsafe { with_entry(d, |e| e.props.borrow().cf8_extended) }
    }

    fn ioreq_registry_kind() -> RegistryKind {
        REGISTRY_KIND.with(|c| c.get())
    }

    fn p2m_set_ioreq_server(d: DomainRef, flags: u32, id: u16) -> XenResult<()> {
        HostDomain::with(d, |h| match (flags, h.p2m_ioreq_server) {
            (0, Some((cur, _))) if cur == id => {
                h.p2m_ioreq_server = None;
                Ok(())
            }
            (0, _) => Err(Errno::EINVAL),
            (_, Some(_)) => Err(Errno::EBUSY),
            (f, None) => {
                h.p2m_ioreq_server = Some((id, f));
                Ok(())
            }
        })
    }

    fn p2m_ioreq_server_unmapped(d: DomainRef) {
        HostDomain::with(d, |h| h.p2m_ioreq_resets += 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panics(f: impl FnOnce() + std::panic::UnwindSafe) -> bool {
        std::panic::catch_unwind(f).is_err()
    }

    /// The caches of the last domain and vCPU resolved never resolve a handle that is gone.
    #[test]
    fn handles_die_with_their_domain_and_vcpu_despite_the_caches() {
        let d = HostDomain::create(41);
        let v0 = HostDomain::add_vcpu(d, 0);
        let v1 = HostDomain::add_vcpu(d, 1);
        // Resolve both, so each is the cached one in turn.
        assert_eq!(HostPlatform::domain_id(d), 41);
        assert_eq!(HostPlatform::vcpu_id(v1), 1);
        assert_eq!(HostPlatform::vcpu_domain(v0), d);
        HostDomain::remove_vcpu(v0);
        assert!(panics(|| {
            HostPlatform::vcpu_id(v0);
        }));
        assert_eq!(HostPlatform::vcpu_id(v1), 1);
        HostDomain::destroy(d);
        assert!(panics(|| {
            HostPlatform::domain_id(d);
        }));
        assert!(panics(|| {
            HostPlatform::vcpu_id(v1);
        }));
    }
}
