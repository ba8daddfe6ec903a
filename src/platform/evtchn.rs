//! Xen-consumer event channels: one per vCPU per ioreq server, plus the buffered ring's.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use super::domain::{DomainRef, VcpuRef};
use crate::errno::XenResult;

pub trait EventChannels {
    /// `alloc_unbound_xen_event_channel(d, vcpu_id, remote_domid, NULL)`: an unbound channel in
    /// `d`, consumed by Xen, notifying vCPU `vcpu_id`, to be bound by `remote_domid`. Returns the
    /// port (lowest free). -EINVAL (domain dying), -ENOSPC (no free port), -ENOMEM.
    fn alloc_unbound_xen_evtchn(d: DomainRef, vcpu_id: u32, remote_domid: u16) -> XenResult<u32>;

    /// `free_xen_event_channel(d, port)` (a no-op in Xen when `d` is dying).
    fn free_xen_evtchn(d: DomainRef, port: u32);

    /// `notify_via_xen_event_channel(d, port)`.
    fn notify_xen_evtchn(d: DomainRef, port: u32);

    /// `prepare_wait_on_xen_event_channel(port)`: marks `v` (the current vCPU, whose request was
    /// just posted) as about to block in Xen (it is descheduled on return to guest until the
    /// emulator signals); a full barrier. A `v` that is not running blocks once it runs.
    fn prepare_wait_on_xen_evtchn(v: VcpuRef, port: u32);
}
