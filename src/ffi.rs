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
    pub fn handle(d: *mut domain) -> Option<DomainRef> {
        DomainRef::from_ptr(d.cast())
    }
}

impl vcpu {
    /// The platform's handle for a C `struct vcpu *`; NULL gives `None`.
    pub fn handle(v: *mut vcpu) -> Option<VcpuRef> {
        VcpuRef::from_ptr(v.cast())
    }
}
