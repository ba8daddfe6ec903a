//! ioreq servers: patches 3-8 of the 2014 series "Support for running secondary emulators".
//!
//! An HVM domain's emulated I/O is forwarded to *ioreq servers*: the default server (QEMU, created
//! when the emulator first reads HVM params 5/6/26) and any number of secondary servers, each
//! claiming port ranges, MMIO ranges and PCI devices. Each server shares one page of request slots
//! (one per vCPU) and optionally a buffered ring with its emulator, and has one event channel per
//! vCPU (+ one for the ring).
//!
//! # Public API (stable; the differential tests and the C ABI use it)
//!
//! Every function is generic over the platform `P: IoreqPlatform` (`platform::Active` from C,
//! `HostPlatform` in tests) and takes the target domain. Errors are the C version's errno values.
//!
//! Toolstack side ([`ops`], behind the HVMOPs; docs/series.md, ioreq servers):
//! * [`create_server`]`(d, emulator_domid, is_default, handle_bufioreq) -> XenResult<u16>` (id)
//! * [`destroy_server`]`(d, id)`, [`get_server_info`]`(d, id) -> ServerInfo`
//! * [`map_io_range`] / [`unmap_io_range`]`(d, id, type, start, end)` (type 0 port, 1 memory, 2 PCI)
//! * [`set_server_state`]`(d, id, enabled)`
//! * [`add_vcpu_all`]`(d, v)`, [`remove_vcpu_all`]`(d, v)`, [`destroy_all`]`(d)`,
//!   [`domain_destroy`]`(d)` (frees the per-domain state; call last), [`set_dm_domain`]`(d, domid)`
//! * [`get_param_hook`]`(d, index)`, [`set_param_hook`]`(d, index, value) -> value to store`
//!
//! Guest side ([`io`]; docs/series.md, Server selection):
//! * [`access_cf8`]`(d, dir, bytes, val)` (always `X86EMUL_UNHANDLEABLE`)
//! * [`select_server`]`(d, &mut IoreqSlot) -> Option<Selected>` (may rewrite to PCI_CONFIG;
//!   [`select_server_vcpu`]`(v, ..)`: the same for `v`'s domain, read as `v`)
//! * [`send_to_server`]`(d, v, Selected, &mut IoreqSlot) -> bool`,
//!   [`select_and_send`]`(d, v, &mut IoreqSlot, Route) -> Routed` (one look at the registry;
//!   [`select_and_send_vcpu`]`(v, ..)`: `v`'s domain and id resolved once),
//!   [`send_assist_req`]`(d, v, &mut IoreqSlot) -> bool`, [`broadcast_assist_req`]`(d, v, &IoreqSlot)`
//! * [`buffered_io_send`]`(d, &mut IoreqSlot) -> bool` (false: send it synchronously)
//! * [`io_pending`]`(d, v)`, [`has_dm`]`(d)`, [`complete_io`]`(d, v) -> IoCompletion`
//!   ([`complete_vcpu_io`]`(v)`: the same, `v`'s domain and id resolved in one platform call),
//!   [`complete_as_null`]`(&mut IoreqSlot)`
//!
//! Introspection for tests: [`snapshot`]`(d) -> DomainSnapshot`.
//!
//! Byte layouts shared with emulators and toolstacks are in [`abi`]. Deliberate differences from
//! the 2014 C are the `I` entries of FIDELITY.md (I1..).
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

/// cbindgen:ignore
pub mod abi;
pub mod claims;
pub mod dmop;
pub mod ffi;
/// cbindgen:ignore
pub mod io;
/// cbindgen:ignore
pub mod ops;
/// cbindgen:ignore
pub mod params;
mod ranges;
mod server;

use alloc::vec::Vec;
use core::sync::atomic::Ordering;

pub use abi::IoreqSlot;
pub use io::waiting;
pub use io::{
    access_cf8, broadcast, broadcast_assist_req, buffered_io_send, complete_as_null, complete_io,
    complete_vcpu_io, io_pending, select_and_send, select_and_send_vcpu, select_server,
    select_server_vcpu, send_assist_req, send_to_server, Route, Routed, Sent, X86EMUL_UNHANDLEABLE,
};
pub use ops::{
    add_vcpu_all, create, create_server, destroy, destroy_all, destroy_server, domain_destroy,
    get_frame, get_server_info, has_dm, is_server_page, map_io_range, map_mem_type, map_range,
    pool_set_param, remove_vcpu_all, server_info, set_dm_domain, set_server_state, set_state,
    unmap_io_range, unmap_range, Authority, Pages, ServerFrames, FRAME_BUFIOREQ, FRAME_IOREQ,
};
pub use params::{get_param_hook, set_param_hook};
pub use server::BufioreqHandling;

use crate::platform::domain::HvmDomains;
use crate::platform::{DomainRef, Platform};

/// What the ioreq servers need of the platform.
pub trait IoreqPlatform: Platform + HvmDomains {}
impl<T: Platform + HvmDomains> IoreqPlatform for T {}

/// What `get_server_info` reports.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct ServerInfo {
    pub ioreq_pfn: u64,
    /// `(bufioreq_pfn, bufioreq_port)` when the server has a ring.
    pub bufioreq: Option<(u64, u32)>,
}

/// The result of selection: the server, by id (the default server has one too).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Selected {
    pub id: u16,
    pub is_default: bool,
}

/// What [`complete_io`] found.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum IoCompletion {
    /// No request of this vCPU is outstanding.
    Idle,
    /// The emulator answered: the response (state already NONE again in the slot).
    Completed(IoreqSlot),
    /// A request is still with an emulator: wait on this port, then call again.
    Wait { port: u32 },
    /// The emulator wrote an invalid state; the domain has been crashed.
    Crashed,
}

/// One server as [`snapshot`] shows it.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct ServerSnapshot {
    pub id: u16,
    pub is_default: bool,
    pub emulator: u16,
    pub enabled: bool,
    /// The synchronous page's guest frame; `u64::MAX` when it has none (not mapped yet, or an
    /// allocated page).
    pub ioreq_gmfn: u64,
    /// `(gmfn, port)` of the ring, when the server has one (gmfn as `ioreq_gmfn`).
    pub bufioreq: Option<(u64, u32)>,
    /// `(vcpu_id, port)`, newest first.
    pub vcpu_ports: Vec<(u32, u32)>,
    /// Registered ranges per type (port, memory, PCI); empty for the default server.
    pub ranges: [Vec<(u64, u64)>; 3],
}

/// A domain's ioreq state as [`snapshot`] shows it.
#[derive(Clone, PartialEq, Eq, Debug, Default)]
pub struct DomainSnapshot {
    /// Newest first.
    pub servers: Vec<ServerSnapshot>,
    pub id_counter: u16,
    pub pool_base: u64,
    pub pool_mask: u64,
    pub pci_cf8: u32,
}

/// The domain's ioreq state, for tests and the differential oracle (allocates).
pub fn snapshot<P: IoreqPlatform>(d: DomainRef) -> DomainSnapshot {
    let Some(st) = server::DomainIoreq::<P>::get(d) else {
        return DomainSnapshot::default();
    };
    let reg = st.reg.read();
    DomainSnapshot {
        servers: reg
            .servers
            .iter()
            .map(|s| ServerSnapshot {
                id: s.id,
                is_default: s.is_default,
                emulator: s.domid,
                enabled: s.enabled,
                ioreq_gmfn: s.ioreq.as_ref().and_then(|p| p.gfn()).unwrap_or(u64::MAX),
                bufioreq: s.has_ring().then(|| {
                    let gfn = s.bufioreq.as_ref().and_then(|p| p.gfn());
                    (gfn.unwrap_or(u64::MAX), s.bufioreq_evtchn)
                }),
                vcpu_ports: s.vcpus.iter().map(|sv| (sv.vcpu_id, sv.port)).collect(),
                ranges: match &s.ranges {
                    Some(r) => r.each_ref().map(|set| set.ranges()),
                    None => Default::default(),
                },
            })
            .collect(),
        id_counter: reg.id_counter,
        pool_base: reg.pool.base,
        pool_mask: reg.pool.mask,
        pci_cf8: st.pci_cf8.load(Ordering::Relaxed),
    }
}
