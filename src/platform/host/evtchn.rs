//! Host implementation of [`crate::platform::EventChannels`]: a per-thread table of Xen-consumer
//! channels with counters (live channels, notifications, prepared waits) and fault injection.

use core::cell::{Cell, RefCell};
use std::vec::Vec;

use super::HostPlatform;
use crate::errno::{Errno, XenResult};
use crate::platform::domain::{DomainRef, Domains, VcpuRef};
use crate::platform::EventChannels;

/// A live channel as tests see it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct HostEvtchn {
    pub port: u32,
    pub vcpu_id: u32,
    pub remote_domid: u16,
    pub notifications: u64,
}

struct Chan {
    d: usize,
    info: HostEvtchn,
}

std::thread_local! {
    static CHANS: RefCell<Vec<Chan>> = const { RefCell::new(Vec::new()) };
    /// (allocations left before failing, errno).
    static FAIL: Cell<Option<(u32, Errno)>> = const { Cell::new(None) };
    static MAX_PORT: Cell<u32> = const { Cell::new(1023) };
    static WAITS: Cell<u64> = const { Cell::new(0) };
}

fn key(d: DomainRef) -> usize {
    d.as_ptr() as usize
}

/// Channels allocated and not yet freed on this thread (all domains).
pub fn live_evtchns() -> usize {
    CHANS.with(|c| c.borrow().len())
}

/// The live channel `port` of `d`.
pub fn evtchn(d: DomainRef, port: u32) -> Option<HostEvtchn> {
    CHANS.with(|c| {
        c.borrow()
            .iter()
            .find(|ch| ch.d == key(d) && ch.info.port == port)
            .map(|ch| ch.info)
    })
}

/// Notifications sent on `port` of `d` so far (0 if no such channel).
pub fn notifications(d: DomainRef, port: u32) -> u64 {
    evtchn(d, port).map_or(0, |c| c.notifications)
}

/// `prepare_wait_on_xen_evtchn` calls on this thread.
pub fn prepared_waits() -> u64 {
    WAITS.with(|w| w.get())
}

/// After `n` more successful allocations, every allocation fails with `e`; `None` turns it off.
pub fn fail_evtchn_allocs_after(f: Option<(u32, Errno)>) {
    FAIL.with(|c| c.set(f));
}

/// Highest port number a domain may use (default 1023); lower it to provoke -ENOSPC.
pub fn set_max_port(p: u32) {
    MAX_PORT.with(|m| m.set(p));
}

/// Frees every channel of `d` (as `evtchn_destroy` does for a dying domain).
pub fn destroy_all_evtchns(d: DomainRef) {
    CHANS.with(|c| c.borrow_mut().retain(|ch| ch.d != key(d)));
}

impl EventChannels for HostPlatform {
    fn alloc_unbound_xen_evtchn(d: DomainRef, vcpu_id: u32, remote_domid: u16) -> XenResult<u32> {
        if let Some((n, e)) = FAIL.with(|f| f.get()) {
            if n == 0 {
                return Err(e);
            }
            FAIL.with(|f| f.set(Some((n - 1, e))));
        }
        if <HostPlatform as Domains>::is_dying(d) {
            return Err(Errno::EINVAL);
        }
        let max = MAX_PORT.with(|m| m.get());
        CHANS.with(|c| {
            let mut c = c.borrow_mut();
            let port = (1..=max)
                .find(|p| !c.iter().any(|ch| ch.d == key(d) && ch.info.port == *p))
                .ok_or(Errno::ENOSPC)?;
            c.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
            c.push(Chan {
                d: key(d),
                info: HostEvtchn {
                    port,
                    vcpu_id,
                    remote_domid,
                    notifications: 0,
                },
            });
            Ok(port)
        })
    }

    fn free_xen_evtchn(d: DomainRef, port: u32) {
        CHANS.with(|c| {
            c.borrow_mut()
                .retain(|ch| !(ch.d == key(d) && ch.info.port == port))
        });
    }

    fn notify_xen_evtchn(d: DomainRef, port: u32) {
        CHANS.with(|c| {
            if let Some(ch) = c
                .borrow_mut()
                .iter_mut()
                .find(|ch| ch.d == key(d) && ch.info.port == port)
            {
                ch.info.notifications += 1;
            }
        });
    }

    fn prepare_wait_on_xen_evtchn(_v: VcpuRef, _port: u32) {
        WAITS.with(|w| w.set(w.get() + 1));
    }
}
