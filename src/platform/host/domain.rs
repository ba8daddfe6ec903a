//! Fake domains: a registry of heap-allocated [`HostDomain`]s with the few properties the
//! components ask about, and counters for pauses and RCU locks so tests see imbalances.

use core::cell::{Cell, RefCell};
use core::ffi::c_void;
use core::ptr::NonNull;
use std::boxed::Box;
use std::vec::Vec;

use super::HostPlatform;
use crate::errno::{Errno, XenResult};
use crate::platform::domain::{
    DomainRef, DomainSlot, Domains, HvmDomains, RegistryKind, VcpuRef, NR_DOMAIN_SLOTS,
};

/// What the host platform knows of a domain. Its address is the `DomainRef`.
pub struct HostDomain {
    pub id: u16,
    slots: [*mut c_void; NR_DOMAIN_SLOTS],
    pub is_hvm: bool,
    pub is_dying: bool,
    /// May act as device model for every domain (dom0).
    pub is_privileged: bool,
    /// The domain whose device model this one is (`d->target` seen from the emulator), if any.
    pub dm_target: Option<u16>,
    pub pause_count: i32,
    /// The domain's vCPUs (see [`HostDomain::add_vcpu`]).
    pub vcpus: Vec<Box<HostVcpu>>,
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

/// A vCPU of a [`HostDomain`]; its address is the `VcpuRef`.
pub struct HostVcpu {
    pub id: u32,
    pub domain: DomainRef,
}

/// Params the host domain stores (Xen has `HVM_NR_PARAMS`; a few spare).
pub const HOST_NR_PARAMS: usize = 64;

std::thread_local! {
    static DOMAINS: RefCell<Vec<NonNull<HostDomain>>> = const { RefCell::new(Vec::new()) };
    static CURRENT: Cell<Option<DomainRef>> = const { Cell::new(None) };
    static RCU_LOCKS: Cell<i64> = const { Cell::new(0) };
    static CURRENT_VCPU: Cell<Option<VcpuRef>> = const { Cell::new(None) };
    static REGISTRY_KIND: Cell<RegistryKind> = const { Cell::new(RegistryKind::Series) };
}

/// Which registry the ioreq state created from now on (on this thread) gets; the default is the
/// series'.
pub fn set_registry_kind(k: RegistryKind) {
    REGISTRY_KIND.with(|c| c.set(k));
}

fn host(d: DomainRef) -> NonNull<HostDomain> {
    d.as_ptr().cast::<HostDomain>().into_nonnull()
}

trait IntoNonNull<T> {
    fn into_nonnull(self) -> NonNull<T>;
}
impl<T> IntoNonNull<T> for *mut T {
    fn into_nonnull(self) -> NonNull<T> {
        NonNull::new(self).unwrap_or_else(|| unreachable!("DomainRef is never NULL"))
    }
}

impl HostDomain {
    /// Creates and registers an HVM domain with id `id` (which must not be live on this thread).
    pub fn create(id: u16) -> DomainRef {
        assert!(Self::lookup(id).is_none(), "domain {id} already exists");
        let b = Box::new(HostDomain {
            id,
            slots: [core::ptr::null_mut(); NR_DOMAIN_SLOTS],
            is_hvm: true,
            is_dying: false,
            is_privileged: false,
            dm_target: None,
            pause_count: 0,
            vcpus: Vec::new(),
            max_vcpus: 128,
            params: [0; HOST_NR_PARAMS],
            crashes: 0,
            shutting_down: false,
            vcpu_unblocks: 0,
            p2m_ioreq_server: None,
            p2m_ioreq_resets: 0,
            cf8_extended: true,
        });
        let p = NonNull::from(Box::leak(b));
        DOMAINS.with(|l| l.borrow_mut().push(p));
        DomainRef::from_ptr(p.as_ptr().cast()).unwrap_or_else(|| unreachable!())
    }

    /// Unregisters and frees `d`. The components must have released their slots first.
    pub fn destroy(d: DomainRef) {
        let p = host(d);
        DOMAINS.with(|l| l.borrow_mut().retain(|q| *q != p));
        if CURRENT.with(|c| c.get()) == Some(d) {
            CURRENT.with(|c| c.set(None));
        }
        // SAFETY: `p` came from Box::leak in `create` and was just removed from the registry, so
        // this is the one place that frees it.
        let b = unsafe { Box::from_raw(p.as_ptr()) };
        assert!(
            b.slots.iter().all(|s| s.is_null()),
            "domain {} destroyed with Rust state still attached",
            b.id
        );
    }

    /// The live domain with this id, if any.
    pub fn lookup(id: u16) -> Option<DomainRef> {
        DOMAINS.with(|l| {
            l.borrow()
                .iter()
                // SAFETY: registered pointers are live HostDomains (removed before being freed).
                .find(|p| unsafe { p.as_ref() }.id == id)
                .and_then(|p| DomainRef::from_ptr(p.as_ptr().cast()))
        })
    }

    /// Runs `f` on `d`'s properties.
    pub fn with<R>(d: DomainRef, f: impl FnOnce(&mut HostDomain) -> R) -> R {
        let mut p = host(d);
        // SAFETY: DomainRefs handed out by this module point to live HostDomains until `destroy`;
        // the host platform is single-threaded per domain, so no other reference is active.
        f(unsafe { p.as_mut() })
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
        HostDomain::with(d, |h| h.id)
    }

    fn domain_slot(d: DomainRef, slot: DomainSlot) -> NonNull<*mut c_void> {
        HostDomain::with(d, |h| NonNull::from(&mut h.slots[slot as usize]))
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
        HostDomain::with(d, |h| h.is_hvm)
    }

    fn is_dying(d: DomainRef) -> bool {
        HostDomain::with(d, |h| h.is_dying)
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
        HostDomain::with(d, |h| h.pause_count += 1);
    }

    fn unpause(d: DomainRef) {
        HostDomain::with(d, |h| h.pause_count -= 1);
    }
}

impl HostDomain {
    /// Adds vCPU `id` to `d` (as `vcpu_create` would, before `hvm_vcpu_initialise`).
    pub fn add_vcpu(d: DomainRef, id: u32) -> VcpuRef {
        let v = HostDomain::with(d, |h| {
            assert!(h.vcpus.iter().all(|v| v.id != id), "vcpu {id} exists");
            h.vcpus.push(Box::new(HostVcpu { id, domain: d }));
            let last = h.vcpus.last_mut().map(|b| NonNull::from(&mut **b));
            last.unwrap_or_else(|| unreachable!())
        });
        VcpuRef::from_ptr(v.as_ptr().cast()).unwrap_or_else(|| unreachable!())
    }

    /// Removes vCPU `v` from its domain (after `hvm_vcpu_destroy`).
    pub fn remove_vcpu(v: VcpuRef) {
        let (d, id) = host_vcpu(v);
        HostDomain::with(d, |h| h.vcpus.retain(|x| x.id != id));
        if CURRENT_VCPU.with(|c| c.get()) == Some(v) {
            CURRENT_VCPU.with(|c| c.set(None));
        }
    }

    /// Makes `v` the vCPU the guest I/O path runs on (`current`).
    pub fn set_current_vcpu(v: Option<VcpuRef>) {
        CURRENT_VCPU.with(|c| c.set(v));
    }
}

fn host_vcpu(v: VcpuRef) -> (DomainRef, u32) {
    // SAFETY: VcpuRefs handed out by `add_vcpu` point to boxed HostVcpus that live until
    // `remove_vcpu` or the domain's destruction; tests do not use them afterwards.
    let hv = unsafe { &*v.as_ptr().cast::<HostVcpu>() };
    (hv.domain, hv.id)
}

impl HvmDomains for HostPlatform {
    fn max_vcpus(d: DomainRef) -> u32 {
        HostDomain::with(d, |h| h.max_vcpus)
    }

    fn domain_vcpu(d: DomainRef, id: u32) -> Option<VcpuRef> {
        HostDomain::with(d, |h| {
            h.vcpus
                .iter_mut()
                .find(|v| v.id == id)
                .and_then(|v| VcpuRef::from_ptr((&mut **v as *mut HostVcpu).cast()))
        })
    }

    fn vcpu_id(v: VcpuRef) -> u32 {
        host_vcpu(v).1
    }

    fn vcpu_domain(v: VcpuRef) -> DomainRef {
        host_vcpu(v).0
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
        HostDomain::with(d, |h| h.crashes += 1);
    }

    fn vcpu_start_shutdown_deferral(v: VcpuRef) -> bool {
        let (d, _) = host_vcpu(v);
        HostDomain::with(d, |h| !h.shutting_down)
    }

    fn vcpu_unblock(v: VcpuRef) {
        let (d, _) = host_vcpu(v);
        HostDomain::with(d, |h| h.vcpu_unblocks += 1);
    }

    fn cf8_extended_registers(d: DomainRef) -> bool {
        HostDomain::with(d, |h| h.cf8_extended)
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
