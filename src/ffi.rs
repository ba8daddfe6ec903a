//! Xen's types that every component's C ABI passes around but Rust never looks into. One
//! definition each, so the generated header declares `struct domain;` and `struct vcpu;` once.

use crate::platform::{DomainRef, VcpuRef};

/// Xen's `struct domain` (opaque).
#[allow(non_camel_case_types)]
pub struct domain {
    _opaque: [u8; 0],
}

/// Xen's `struct vcpu` (opaque).
#[allow(non_camel_case_types)]
pub struct vcpu {
    _opaque: [u8; 0],
}

impl domain {
    /// The platform's handle for a C `struct domain *`; NULL gives `None`.
    ///
    /// # Safety
    /// `d` is NULL or a live domain for as long as the handle is used
    /// ([`DomainRef::from_ptr`]).
    pub unsafe fn handle(d: *mut domain) -> Option<DomainRef> {
        // SAFETY: the caller's contract is from_ptr's.
        unsafe { DomainRef::from_ptr(d.cast()) }
    }
}

impl vcpu {
    /// The platform's handle for a C `struct vcpu *`; NULL gives `None`.
    ///
    /// # Safety
    /// `v` is NULL or a live vCPU for as long as the handle is used ([`VcpuRef::from_ptr`]).
    pub unsafe fn handle(v: *mut vcpu) -> Option<VcpuRef> {
        // SAFETY: the caller's contract is from_ptr's.
        unsafe { VcpuRef::from_ptr(v.cast()) }
    }
}

/// The return type of the rangeset's boolean queries: C `bool` in the header (Xen 4.17's
/// `bool_t`), and on the wire a 32-bit integer that is exactly 0 or 1, so that a caller built
/// against the 2014 series' header, where these functions return `int` and the whole of `%eax` is
/// read, gets 0 or 1 too (FIDELITY R15). A Rust `bool` return defines only `%al`.
///
/// cbindgen spells it `bool` (cbindgen.toml); 0 and 1 in the low byte with the rest zero is also a
/// valid `_Bool` return for a 4.17 caller.
#[repr(transparent)]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct AbiBool(u32);

impl AbiBool {
    pub const FALSE: AbiBool = AbiBool(0);
    pub const TRUE: AbiBool = AbiBool(1);

    /// The truth value (any non-zero register counts as true, as C would read it).
    pub const fn get(self) -> bool {
        self.0 != 0
    }
}

impl From<bool> for AbiBool {
    fn from(b: bool) -> Self {
        AbiBool(u32::from(b))
    }
}

impl From<AbiBool> for bool {
    fn from(b: AbiBool) -> Self {
        b.get()
    }
}
