//! The one boundary between the Rust components and the rest of Xen.
//!
//! Everything a component needs from the hypervisor (locks, printk, per-domain storage, domain
//! lookup and pausing, guest pages and the P2M, event channels, guest copies, ISA IRQ lines) is a
//! method of a trait below; [`Platform`] gathers them. Two implementations exist:
//!
//! * [`xen::XenPlatform`] (feature `xen`): each method calls an `extern "C"` hook that the C glue in
//!   `xen-patches/` implements on Xen's real primitives.
//! * [`host::HostPlatform`] (feature `host`): std-backed, with per-thread resource counters so a test
//!   can prove that nothing leaks, and fault injection so it can prove -ENOMEM paths.
//!
//! The methods are associated functions (no `self`): both platforms are process-global, as Xen is.
//! Each concern lives in its own file so that it can grow independently.

pub mod console;
pub mod domain;
pub mod evtchn;
pub mod fallible;
pub mod guest_copy;
pub mod irq;
pub mod memory;
pub mod sync;

#[cfg(feature = "host")]
pub mod host;
#[cfg(feature = "xen")]
pub mod xen;

pub use console::Console;
pub use domain::{DomainRef, DomainSlot, Domains, VcpuRef};
pub use evtchn::EventChannels;
pub use guest_copy::{GuestCopy, GuestHandle};
pub use irq::IsaIrq;
pub use memory::GuestMemory;
pub use sync::Locks;

/// Everything the components need from the hypervisor.
pub trait Platform:
    Console + Locks + Domains + GuestMemory + EventChannels + GuestCopy + IsaIrq + Sized + 'static
{
}

/// The platform the exported C ABI runs on: Xen's hooks in a hypervisor build, the host otherwise.
#[cfg(feature = "xen")]
pub type Active = xen::XenPlatform;
/// The platform the exported C ABI runs on: Xen's hooks in a hypervisor build, the host otherwise.
#[cfg(all(feature = "host", not(feature = "xen")))]
pub type Active = host::HostPlatform;
