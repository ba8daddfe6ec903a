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
}
