//! The Xen platform: every method is an `extern "C"` hook implemented by the C glue that
//! `xen-patches/` adds to the hypervisor (`xen/common/rust-glue.c`), on Xen's real primitives.
//! This module and `hooks` are the only places that call into Xen's C.

mod hooks;
#[cfg(not(feature = "host"))]
mod runtime;
#[cfg(feature = "selftest")]
mod selftest;

use core::ffi::c_void;
use core::ptr::NonNull;

use super::console::{write_pieces, Piece};
use super::domain::{DomainRef, DomainSlot, Domains, HvmDomains, RegistryKind, VcpuRef};
use super::guest_copy::{GuestCopy, GuestHandle};
use super::memory::RawGuestPage;
use super::sync::{Locks, RawRwLock};
use super::{Console, EventChannels, GuestMemory, IsaIrq, Platform};
use crate::errno::{Errno, XenResult};

/// The hypervisor implementation of [`Platform`].
pub struct XenPlatform;

impl Platform for XenPlatform {}

/// Collects a message in a small stack buffer and hands full chunks to Xen's printk: Xen stacks are
/// small.
struct PrintkBuf {
    buf: [u8; 128],
    len: usize,
}

impl PrintkBuf {
    fn flush(&mut self) {
        if self.len > 0 {
            // SAFETY: `buf[..len]` is initialised; the hook reads exactly `len` bytes and keeps none.
            unsafe { hooks::xen_rust_printk(self.buf.as_ptr().cast(), self.len) };
            self.len = 0;
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if self.len >= self.buf.len() {
                self.flush();
            }
            if let Some(slot) = self.buf.get_mut(self.len) {
                *slot = b;
                self.len += 1;
            }
        }
    }
}

impl Console for XenPlatform {
    // Only diagnostics print: kept out of line, off the callers' fast paths.
    #[cold]
    #[inline(never)]
    fn printk(pieces: &[Piece<'_>]) {
        let mut w = PrintkBuf {
            buf: [0; 128],
            len: 0,
        };
        write_pieces(pieces, &mut |b| w.push(b));
        w.flush();
    }
}

/// A `rwlock_t` allocated by the glue.
pub struct XenRwLock(NonNull<c_void>);

// SAFETY: a Xen rwlock is designed to be shared between CPUs; the pointer is only used through
// the lock hooks.
unsafe impl Send for XenRwLock {}
// SAFETY: as above.
unsafe impl Sync for XenRwLock {}

impl RawRwLock for XenRwLock {
    fn new() -> XenResult<Self> {
        // SAFETY: the hook has no preconditions; it returns an initialised lock or NULL.
        let p = unsafe { hooks::xen_rust_rwlock_alloc() };
        NonNull::new(p).map(Self).ok_or(Errno::ENOMEM)
    }
    fn read_lock(&self) {
        // SAFETY: self.0 is a live lock from xen_rust_rwlock_alloc.
        unsafe { hooks::xen_rust_read_lock(self.0.as_ptr()) }
    }
    fn read_unlock(&self) {
        // SAFETY: self.0 is a live lock, held for reading by this CPU (RwLock guards pair calls).
        unsafe { hooks::xen_rust_read_unlock(self.0.as_ptr()) }
    }
    fn write_lock(&self) {
        // SAFETY: self.0 is a live lock from xen_rust_rwlock_alloc.
        unsafe { hooks::xen_rust_write_lock(self.0.as_ptr()) }
    }
    fn write_unlock(&self) {
        // SAFETY: self.0 is a live lock, held for writing by this CPU (RwLock guards pair calls).
        unsafe { hooks::xen_rust_write_unlock(self.0.as_ptr()) }
    }
}

impl Drop for XenRwLock {
    fn drop(&mut self) {
        // SAFETY: self.0 came from xen_rust_rwlock_alloc and is dropped exactly once, unlocked.
        unsafe { hooks::xen_rust_rwlock_free(self.0.as_ptr()) }
    }
}

impl Locks for XenPlatform {
    type RwLock = XenRwLock;
}

impl Domains for XenPlatform {
    fn domain_id(d: DomainRef) -> u16 {
        // SAFETY: `d` is a live `struct domain *` handed to us by Xen.
        unsafe { hooks::xen_rust_domain_id(d.as_ptr()) }
    }

    fn domain_slot(d: DomainRef, slot: DomainSlot) -> NonNull<*mut c_void> {
        // SAFETY: `d` is a live domain; the glue returns the address of a word inside it.
        let p = unsafe { hooks::xen_rust_domain_slot(d.as_ptr(), slot as u32) };
        NonNull::new(p).unwrap_or_else(|| unreachable!("glue returns a field address"))
    }

    fn current_domain() -> DomainRef {
        // SAFETY: no preconditions; `current->domain` is never NULL in hypercall context.
        let p = unsafe { hooks::xen_rust_current_domain() };
        // SAFETY: `current->domain`, live for the hypercall this runs in.
        unsafe { DomainRef::from_ptr(p) }
            .unwrap_or_else(|| unreachable!("current->domain is never NULL"))
    }

    fn lock_remote_domain(domid: u16) -> XenResult<DomainRef> {
        let mut out: *mut c_void = core::ptr::null_mut();
        // SAFETY: `out` is a valid place for the hook to store the locked domain.
        let rc = unsafe { hooks::xen_rust_lock_remote_domain(domid, &mut out) };
        Errno::from_ret(rc)?;
        // SAFETY: a domain the hook RCU-locked, live until `unlock_domain`.
        unsafe { DomainRef::from_ptr(out) }.ok_or(Errno::ESRCH)
    }

    fn unlock_domain(d: DomainRef) {
        // SAFETY: `d` was locked by lock_remote_domain.
        unsafe { hooks::xen_rust_unlock_domain(d.as_ptr()) }
    }

    fn is_hvm(d: DomainRef) -> bool {
        // SAFETY: `d` is a live domain.
        unsafe { hooks::xen_rust_is_hvm(d.as_ptr()) }
    }

    fn is_dying(d: DomainRef) -> bool {
        // SAFETY: `d` is a live domain.
        unsafe { hooks::xen_rust_is_dying(d.as_ptr()) }
    }

    fn xsm_dm_priv(d: DomainRef, op: u32) -> XenResult<()> {
        // SAFETY: `d` is a live domain.
        Errno::from_ret(unsafe { hooks::xen_rust_xsm_dm_priv(d.as_ptr(), op) }).map(|_| ())
    }

    fn pause(d: DomainRef) {
        // SAFETY: `d` is a live domain that is not the caller's own.
        unsafe { hooks::xen_rust_domain_pause(d.as_ptr()) }
    }

    fn unpause(d: DomainRef) {
        // SAFETY: `d` was paused by `pause`.
        unsafe { hooks::xen_rust_domain_unpause(d.as_ptr()) }
    }
}

impl GuestCopy for XenPlatform {
    fn copy_from_guest(dst: &mut [u8], src: GuestHandle) -> XenResult<()> {
        // SAFETY: `dst` is valid for `len` writes; the hook validates the guest address itself and
        // returns the number of bytes not copied.
        let left =
            unsafe { hooks::xen_rust_copy_from_guest(dst.as_mut_ptr().cast(), src.0, dst.len()) };
        if left == 0 {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        }
    }

    fn copy_to_guest(dst: GuestHandle, src: &[u8]) -> XenResult<()> {
        // SAFETY: `src` is valid for `len` reads; the hook validates the guest address.
        let left = unsafe { hooks::xen_rust_copy_to_guest(dst.0, src.as_ptr().cast(), src.len()) };
        if left == 0 {
            Ok(())
        } else {
            Err(Errno::EFAULT)
        }
    }
}

impl GuestMemory for XenPlatform {
    fn map_guest_page(d: DomainRef, gmfn: u64) -> XenResult<RawGuestPage> {
        let mut page: *mut c_void = core::ptr::null_mut();
        let mut va: *mut c_void = core::ptr::null_mut();
        // SAFETY: `d` is a live domain; `page` and `va` are valid places for the outputs.
        let rc = unsafe { hooks::xen_rust_map_guest_page(d.as_ptr(), gmfn, &mut page, &mut va) };
        Errno::from_ret(rc)?;
        match (NonNull::new(page), NonNull::new(va.cast::<u8>())) {
            // SAFETY: the hook mapped the page and took the references its release drops.
            (Some(page), Some(va)) => Ok(unsafe { RawGuestPage::new(page, va) }),
            _ => Err(Errno::EINVAL),
        }
    }

    fn unmap_guest_page(page: RawGuestPage) {
        // SAFETY: `page` came from xen_rust_map_guest_page and is released exactly once.
        unsafe { hooks::xen_rust_unmap_guest_page(page.page().as_ptr(), page.va().as_ptr().cast()) }
    }

    fn physmap_remove_page(d: DomainRef, gmfn: u64, page: &RawGuestPage) -> XenResult<()> {
        // SAFETY: `d` is live and `page` is a page we hold a reference on.
        let rc =
            unsafe { hooks::xen_rust_physmap_remove_page(d.as_ptr(), gmfn, page.page().as_ptr()) };
        Errno::from_ret(rc).map(|_| ())
    }

    fn physmap_add_page(d: DomainRef, gmfn: u64, page: &RawGuestPage) -> XenResult<()> {
        // SAFETY: `d` is live and `page` is a page we hold a reference on.
        let rc =
            unsafe { hooks::xen_rust_physmap_add_page(d.as_ptr(), gmfn, page.page().as_ptr()) };
        Errno::from_ret(rc).map(|_| ())
    }

    fn alloc_server_page(d: DomainRef) -> XenResult<RawGuestPage> {
        let mut page: *mut c_void = core::ptr::null_mut();
        let mut va: *mut c_void = core::ptr::null_mut();
        // SAFETY: `d` is a live domain; `page` and `va` are valid places for the outputs.
        let rc = unsafe { hooks::xen_rust_alloc_server_page(d.as_ptr(), &mut page, &mut va) };
        Errno::from_ret(rc)?;
        match (NonNull::new(page), NonNull::new(va.cast::<u8>())) {
            // SAFETY: the hook mapped the page and took the references its release drops.
            (Some(page), Some(va)) => Ok(unsafe { RawGuestPage::new(page, va) }),
            _ => Err(Errno::ENOMEM),
        }
    }

    fn free_server_page(page: RawGuestPage) {
        // SAFETY: `page` came from xen_rust_alloc_server_page and is released exactly once.
        unsafe { hooks::xen_rust_free_server_page(page.page().as_ptr(), page.va().as_ptr().cast()) }
    }
}

impl EventChannels for XenPlatform {
    fn alloc_unbound_xen_evtchn(d: DomainRef, vcpu_id: u32, remote_domid: u16) -> XenResult<u32> {
        // SAFETY: `d` is a live domain.
        let rc =
            unsafe { hooks::xen_rust_alloc_unbound_xen_evtchn(d.as_ptr(), vcpu_id, remote_domid) };
        Errno::from_ret(rc).map(|p| p as u32)
    }

    fn free_xen_evtchn(d: DomainRef, port: u32) {
        // SAFETY: `d` is a live domain; freeing an unknown port is harmless in Xen.
        unsafe { hooks::xen_rust_free_xen_evtchn(d.as_ptr(), port) }
    }

    fn notify_xen_evtchn(d: DomainRef, port: u32) {
        // SAFETY: `d` is a live domain.
        unsafe { hooks::xen_rust_notify_xen_evtchn(d.as_ptr(), port) }
    }

    fn prepare_wait_on_xen_evtchn(v: VcpuRef, port: u32) {
        // SAFETY: `v` is a live vCPU: the current one on the I/O path, or one that is not running.
        unsafe { hooks::xen_rust_prepare_wait_on_xen_evtchn(v.as_ptr(), port) }
    }
}

impl HvmDomains for XenPlatform {
    fn max_vcpus(d: DomainRef) -> u32 {
        // SAFETY: `d` is a live domain.
        unsafe { hooks::xen_rust_max_vcpus(d.as_ptr()) }
    }

    fn domain_vcpu(d: DomainRef, id: u32) -> Option<VcpuRef> {
        // SAFETY: `d` is a live domain; the hook bounds-checks `id`.
        let v = unsafe { hooks::xen_rust_domain_vcpu(d.as_ptr(), id) };
        // SAFETY: NULL or `d->vcpu[id]`, which lives as long as `d`.
        unsafe { VcpuRef::from_ptr(v) }
    }

    fn vcpu_id(v: VcpuRef) -> u32 {
        // SAFETY: `v` is a live vcpu.
        unsafe { hooks::xen_rust_vcpu_id(v.as_ptr()) }
    }

    fn vcpu_domain(v: VcpuRef) -> DomainRef {
        // SAFETY: `v` is a live vcpu; `v->domain` is never NULL.
        let d = unsafe { hooks::xen_rust_vcpu_domain(v.as_ptr()) };
        // SAFETY: `v->domain` lives at least as long as its vCPU `v`.
        unsafe { DomainRef::from_ptr(d) }.unwrap_or_else(|| unreachable!("v->domain is never NULL"))
    }

    fn current_vcpu() -> Option<VcpuRef> {
        // SAFETY: no preconditions.
        let v = unsafe { hooks::xen_rust_current_vcpu() };
        // SAFETY: NULL or `current`, live while this CPU runs on its behalf.
        unsafe { VcpuRef::from_ptr(v) }
    }

    fn hvm_param(d: DomainRef, index: u32) -> u64 {
        // SAFETY: `d` is a live domain; the hook bounds-checks `index`.
        unsafe { hooks::xen_rust_hvm_param_get(d.as_ptr(), index) }
    }

    fn set_hvm_param(d: DomainRef, index: u32, value: u64) {
        // SAFETY: `d` is a live domain; the hook bounds-checks `index`.
        unsafe { hooks::xen_rust_hvm_param_set(d.as_ptr(), index, value) }
    }

    fn domain_crash(d: DomainRef) {
        // SAFETY: `d` is a live domain.
        unsafe { hooks::xen_rust_domain_crash(d.as_ptr()) }
    }

    fn vcpu_start_shutdown_deferral(v: VcpuRef) -> bool {
        // SAFETY: `v` is a live vcpu (the current one on the I/O path).
        unsafe { hooks::xen_rust_vcpu_start_shutdown_deferral(v.as_ptr()) }
    }

    fn vcpu_unblock(v: VcpuRef) {
        // SAFETY: `v` is a live vcpu.
        unsafe { hooks::xen_rust_vcpu_unblock(v.as_ptr()) }
    }

    fn cf8_extended_registers(d: DomainRef) -> bool {
        // SAFETY: `d` is a live domain.
        unsafe { hooks::xen_rust_cf8_extended_registers(d.as_ptr()) }
    }

    fn ioreq_registry_kind() -> RegistryKind {
        RegistryKind::Xen417
    }

    fn p2m_set_ioreq_server(d: DomainRef, flags: u32, id: u16) -> XenResult<()> {
        // SAFETY: `d` is a live domain.
        let rc = unsafe { hooks::xen_rust_p2m_set_ioreq_server(d.as_ptr(), flags, id) };
        Errno::from_ret(rc).map(|_| ())
    }

    fn p2m_ioreq_server_unmapped(d: DomainRef) {
        // SAFETY: `d` is a live domain.
        unsafe { hooks::xen_rust_p2m_ioreq_server_unmapped(d.as_ptr()) }
    }
}

impl IsaIrq for XenPlatform {
    fn sci_set_level(d: DomainRef, source: super::irq::SciSource, level: bool) {
        // SAFETY: `d` is a live domain; the hook only updates its SCI source mask and line.
        unsafe { hooks::xen_rust_sci_set_level(d.as_ptr(), source as u32, level) }
    }
}
