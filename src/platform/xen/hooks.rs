//! The hooks the C glue implements (`xen/common/rust-glue.c`, added by
//! `xen-patches/0003-rust-ioreq-glue.patch`). Names are `xen_rust_*`. Adding one here means adding
//! its prototype and definition there: every `make xen` checks that each hook is defined in
//! `xen-syms` and that the glue's prototype has the C types of the declaration below.

use core::ffi::{c_char, c_void};

extern "C" {
    pub fn xen_rust_printk(s: *const c_char, len: usize);

    pub fn xen_rust_rwlock_alloc() -> *mut c_void;
    pub fn xen_rust_rwlock_free(l: *mut c_void);
    pub fn xen_rust_read_lock(l: *mut c_void);
    pub fn xen_rust_read_unlock(l: *mut c_void);
    pub fn xen_rust_write_lock(l: *mut c_void);
    pub fn xen_rust_write_unlock(l: *mut c_void);

    pub fn xen_rust_domain_id(d: *mut c_void) -> u16;
    pub fn xen_rust_domain_slot(d: *mut c_void, slot: u32) -> *mut *mut c_void;
    pub fn xen_rust_current_domain() -> *mut c_void;
    pub fn xen_rust_lock_remote_domain(domid: u16, out: *mut *mut c_void) -> i32;
    pub fn xen_rust_unlock_domain(d: *mut c_void);
    pub fn xen_rust_is_hvm(d: *mut c_void) -> bool;
    pub fn xen_rust_is_dying(d: *mut c_void) -> bool;
    pub fn xen_rust_xsm_dm_priv(d: *mut c_void, op: u32) -> i32;
    pub fn xen_rust_domain_pause(d: *mut c_void);
    pub fn xen_rust_domain_unpause(d: *mut c_void);

    pub fn xen_rust_copy_from_guest(dst: *mut c_void, guest: usize, len: usize) -> usize;
    pub fn xen_rust_copy_to_guest(guest: usize, src: *const c_void, len: usize) -> usize;

    /// Sets `source`'s level (`SciSource`: 0 PM1a, 1 GPE0) on `d`'s SCI. The glue keeps a
    /// per-domain source mask under a lock and calls `hvm_isa_irq_assert(d, 9, NULL)` while the
    /// mask is non-zero, `hvm_isa_irq_deassert(d, 9)` when it becomes zero; pmtimer's
    /// `pmt_update_sci` reports through the same mask as source 0.
    pub fn xen_rust_sci_set_level(d: *mut c_void, source: u32, level: bool);
}

// ioreq servers: guest pages, event channels, vCPUs, HVM params (see platform/{memory,evtchn}.rs
// and `HvmDomains` in platform/domain.rs for the Xen function each one wraps).
extern "C" {
    pub fn xen_rust_map_guest_page(
        d: *mut c_void,
        gmfn: u64,
        page: *mut *mut c_void,
        va: *mut *mut c_void,
    ) -> i32;
    pub fn xen_rust_unmap_guest_page(page: *mut c_void, va: *mut c_void);
    pub fn xen_rust_physmap_remove_page(d: *mut c_void, gmfn: u64, page: *mut c_void) -> i32;
    pub fn xen_rust_physmap_add_page(d: *mut c_void, gmfn: u64, page: *mut c_void) -> i32;
    pub fn xen_rust_alloc_server_page(
        d: *mut c_void,
        page: *mut *mut c_void,
        va: *mut *mut c_void,
    ) -> i32;
    pub fn xen_rust_free_server_page(page: *mut c_void, va: *mut c_void);

    pub fn xen_rust_alloc_unbound_xen_evtchn(d: *mut c_void, vcpu_id: u32, remote: u16) -> i32;
    pub fn xen_rust_free_xen_evtchn(d: *mut c_void, port: u32);
    pub fn xen_rust_notify_xen_evtchn(d: *mut c_void, port: u32);
    pub fn xen_rust_prepare_wait_on_xen_evtchn(v: *mut c_void, port: u32);

    pub fn xen_rust_max_vcpus(d: *mut c_void) -> u32;
    pub fn xen_rust_domain_vcpu(d: *mut c_void, id: u32) -> *mut c_void;
    pub fn xen_rust_vcpu_id(v: *mut c_void) -> u32;
    pub fn xen_rust_vcpu_domain(v: *mut c_void) -> *mut c_void;
    pub fn xen_rust_current_vcpu() -> *mut c_void;
    pub fn xen_rust_hvm_param_get(d: *mut c_void, index: u32) -> u64;
    pub fn xen_rust_hvm_param_set(d: *mut c_void, index: u32, value: u64);
    pub fn xen_rust_domain_crash(d: *mut c_void);
    pub fn xen_rust_vcpu_start_shutdown_deferral(v: *mut c_void) -> bool;
    pub fn xen_rust_vcpu_unblock(v: *mut c_void);
    pub fn xen_rust_cf8_extended_registers(d: *mut c_void) -> bool;
    pub fn xen_rust_p2m_set_ioreq_server(d: *mut c_void, flags: u32, id: u16) -> i32;
    pub fn xen_rust_p2m_ioreq_server_unmapped(d: *mut c_void);
}
