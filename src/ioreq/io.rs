//! The guest I/O path: the 0xcf8 latch, server selection, synchronous and buffered sends,
//! broadcast, pending checks and completion.
//!
//! Everything an emulator wrote into a shared page is read once, atomically, and validated before
//! it steers anything: a bad slot state crashes the domain (never the hypervisor), ring pointers
//! only ever index modulo the ring size, and the event channel used is our own record (B4).
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::mem::{offset_of, size_of};
use core::sync::atomic::{fence, Ordering};

use crate::ioreq::abi::{
    BufIoreqSlot, BufferedIopage, IoreqSlot, BUF_IOREQ_MAX_ADDR, FLAG_STATE_MASK,
    IOREQ_BUFFER_SLOT_NUM, IOREQ_READ, IOREQ_TYPE_COPY, IOREQ_TYPE_PCI_CONFIG, IOREQ_TYPE_PIO,
    IOREQ_WRITE, PCI_CFC_PORT, STATE_IOREQ_INPROCESS, STATE_IOREQ_NONE, STATE_IOREQ_READY,
    STATE_IORESP_READY,
};
use crate::platform::console::Piece;
use crate::platform::{DomainRef, VcpuRef};

use super::server::{
    read_slot, slot_index, slot_of, slot_state, write_slot, BufioreqHandling, DomainIoreq,
    Registry, Server,
};
use super::{IoCompletion, IoreqPlatform, Selected};

pub use crate::ioreq::abi::X86EMUL_UNHANDLEABLE;

/// `hvm_access_cf8`: latches 4-byte writes of the PCI config address register; always lets the
/// access continue to the emulators.
pub fn access_cf8<P: IoreqPlatform>(d: DomainRef, dir: u8, bytes: u32, val: u32) -> i32 {
    if dir == IOREQ_WRITE && bytes == 4 {
        // Without memory for the state the latch is lost; nothing else depends on it then.
        if let Ok(st) = DomainIoreq::<P>::get_or_init(d) {
            st.pci_cf8.store(val, Ordering::Relaxed);
        }
    }
    X86EMUL_UNHANDLEABLE
}

/// `[first, last]` of `len` bytes at `first`; None for an empty or overflowing span.
#[inline(always)]
fn span(first: u64, len: u64) -> Option<(u64, u64)> {
    Some((first, first.checked_add(len.checked_sub(1)?)?))
}

/// Bytes touched by an MMIO request, honouring DF (B9): with DF set the elements descend from
/// `addr`. None when the arithmetic overflows or nothing is touched.
#[inline(always)]
fn mmio_bytes(p: &IoreqSlot) -> Option<(u64, u64)> {
    let size = u64::from(p.size);
    let count = u64::from(p.count);
    let total = size.checked_mul(count)?;
    if p.df() {
        let back = count.checked_sub(1)?.checked_mul(size)?;
        let first = p.addr.checked_sub(back)?;
        span(first, total)
    } else {
        span(p.addr, total)
    }
}

/// Which of a server's range sets a request is looked up in.
#[derive(Clone, Copy)]
enum RangeKind {
    Port,
    Memory,
    Pci,
}

/// Server selection (docs/series.md) on a locked registry; may rewrite `p` into a PCI config
/// request. Inlined: it is the hot part of every guest access, and its callers pass it values
/// they have in registers.
#[inline(always)]
fn select_in<'a, P: IoreqPlatform>(
    d: DomainRef,
    reg: &'a Registry<P>,
    cf8: u32,
    p: &mut IoreqSlot,
) -> Option<&'a Server<P>> {
    if reg.servers.is_empty() {
        return None;
    }
    // B6: no "exactly one server => the default" shortcut; a lone secondary server is selectable.
    if p.type_ != IOREQ_TYPE_PIO && p.type_ != IOREQ_TYPE_COPY {
        return reg.default_server();
    }
    let (type_, addr) =
        if p.type_ == IOREQ_TYPE_PIO && (p.addr & !3) == PCI_CFC_PORT && cf8 & 0x8000_0000 != 0 {
            let sbdf = u64::from((cf8 & 0x00ff_ff00) >> 8);
            // CF8 bits 27:24 extend the register number where the platform says so (I107).
            let ext = cf8 & 0x0f00_0000;
            let ext = if ext != 0 && P::cf8_extended_registers(d) {
                u64::from(ext >> 16)
            } else {
                0
            };
            let reg_off = ext | u64::from(cf8 & 0xfc) | (p.addr & 3);
            (IOREQ_TYPE_PCI_CONFIG, (sbdf << 32) | reg_off)
        } else {
            (p.type_, p.addr)
        };
    // The bytes (or, for PCI, the SBDF) to look up, the same for every server: computed once.
    // Nothing to look up (an empty or overflowing access) means no secondary server takes it.
    let (kind, a, b) = match type_ {
        IOREQ_TYPE_PIO => match span(addr, u64::from(p.size)) {
            Some((a, b)) => (RangeKind::Port, a, b),
            None => return reg.default_server(),
        },
        IOREQ_TYPE_COPY => match mmio_bytes(p) {
            Some((a, b)) => (RangeKind::Memory, a, b),
            None => return reg.default_server(),
        },
        // The SBDF is the high half of a PCI config request's address.
        _ => (RangeKind::Pci, addr >> 32, addr >> 32),
    };
    for s in reg.servers.iter() {
        if s.is_default || !s.enabled {
            continue;
        }
        let Some([ports, mmio, pci]) = s.ranges.as_ref() else {
            continue;
        };
        let set = match kind {
            RangeKind::Port => ports,
            RangeKind::Memory => mmio,
            RangeKind::Pci => pci,
        };
        if set.contains_range(a, b) {
            if type_ == IOREQ_TYPE_PCI_CONFIG {
                p.type_ = IOREQ_TYPE_PCI_CONFIG;
                p.addr = addr;
            }
            return Some(s);
        }
    }
    reg.default_server()
}

/// [`select_in`] out of line: one copy for the callers off the guest's synchronous path.
#[inline(never)]
fn select_in_outlined<'a, P: IoreqPlatform>(
    d: DomainRef,
    reg: &'a Registry<P>,
    cf8: u32,
    p: &mut IoreqSlot,
) -> Option<&'a Server<P>> {
    select_in(d, reg, cf8, p)
}

fn selected<P: IoreqPlatform>(s: &Server<P>) -> Selected {
    Selected {
        id: s.id,
        is_default: s.is_default,
    }
}

/// `hvm_select_ioreq_server`: the server that should see `p` (rewritten to `IOREQ_TYPE_PCI_CONFIG`
/// when it is a config-data access claimed by a server's PCI range). None means nobody: the
/// caller completes the access as the null handler (reads all-ones, writes dropped; see
/// [`complete_as_null`]).
pub fn select_server<P: IoreqPlatform>(d: DomainRef, p: &mut IoreqSlot) -> Option<Selected> {
    let st = DomainIoreq::<P>::get(d)?;
    let cf8 = st.pci_cf8.load(Ordering::Relaxed);
    let reg = st.reg.read();
    select_in_outlined(d, &reg, cf8, p).map(selected)
}

/// [`select_server`] for `v`'s domain, as `v` (under its flag, as [`select_and_send_vcpu`]
/// selects).
pub fn select_server_vcpu<P: IoreqPlatform>(v: VcpuRef, p: &mut IoreqSlot) -> Option<Selected> {
    let (d, vcpu_id) = P::vcpu_domain_and_id(v);
    let st = DomainIoreq::<P>::get(d)?;
    let cf8 = st.pci_cf8.load(Ordering::Relaxed);
    let reg = st.reg.read_as_vcpu(vcpu_id);
    select_in(d, &reg, cf8, p).map(selected)
}

/// Completes `p` as nobody's: a read returns all ones (in `size` bytes), a write is dropped.
pub fn complete_as_null(p: &mut IoreqSlot) {
    if p.dir() == IOREQ_READ && !p.data_is_ptr() {
        p.data = match p.size {
            1 => 0xff,
            2 => 0xffff,
            4 => 0xffff_ffff,
            _ => u64::MAX,
        };
    }
    p.set_state(STATE_IORESP_READY);
}

/// What a send did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sent {
    /// Posted (in the vCPU's slot, or on the ring); a synchronous request now waits for the
    /// emulator.
    Posted,
    /// Not posted: no page or ring to post it in, a vCPU the server does not know, a full or
    /// unusable ring, or an emulator that broke the protocol (the domain was crashed).
    NotPosted,
    /// Not posted because the domain is shutting down (`vcpu_start_shutdown_deferral`): the
    /// instruction is to be retried, with the vCPU's I/O suspended.
    Deferred,
}

/// The emulator left a vCPU's slot in a state Xen cannot post to: say what, crash the guest.
#[cold]
fn emulator_broke_slot<P: IoreqPlatform>(
    s: &Server<P>,
    vcpu_id: u32,
    what: &str,
    value: u32,
) -> Sent {
    P::printk(&[
        Piece::Str("d"),
        Piece::Dec(P::domain_id(s.target).into()),
        Piece::Str("v"),
        Piece::Dec(vcpu_id.into()),
        Piece::Str(what),
        Piece::Dec(value.into()),
        Piece::Str(".\n"),
    ]);
    P::domain_crash(s.target);
    Sent::NotPosted
}

/// `hvm_send_assist_req_to_ioreq_server` on a locked registry.
#[inline(always)]
fn send_to<P: IoreqPlatform>(s: &Server<P>, v: VcpuRef, proto: &mut IoreqSlot) -> Sent {
    if !P::vcpu_start_shutdown_deferral(v) {
        return Sent::Deferred;
    }
    let Some(sv) = s.vcpu_entry(v) else {
        return Sent::NotPosted;
    };
    // A server enabled before its pages exist has nowhere to post (FIDELITY I113).
    let Some(slot) = s.ioreq_page().and_then(|page| slot_of(page, sv.vcpu_id)) else {
        return Sent::NotPosted;
    };
    // Only the two fields checked are read; the whole slot is overwritten below.
    let state = slot_state(slot);
    if state != STATE_IOREQ_NONE {
        return emulator_broke_slot(
            s,
            sv.vcpu_id,
            " Device model set bad IO state ",
            state.into(),
        );
    }
    let port = sv.port;
    let slot_port = slot.load_u32(offset_of!(IoreqSlot, vp_eport));
    if slot_port != port {
        return emulator_broke_slot(
            s,
            sv.vcpu_id,
            " Device model set bad event channel ",
            slot_port,
        );
    }
    // The request goes in with state NONE; READY is stored last, after the fence, so that the
    // emulator never sees a READY slot with stale fields.
    proto.set_state(STATE_IOREQ_NONE);
    proto.vp_eport = port;
    write_slot(slot, proto);
    P::prepare_wait_on_xen_evtchn(v, port);
    fence(Ordering::Release);
    slot.store_u8(
        offset_of!(IoreqSlot, flags),
        (proto.flags & !FLAG_STATE_MASK) | STATE_IOREQ_READY,
    );
    P::notify_xen_evtchn(s.target, port);
    Sent::Posted
}

/// [`send_to`] out of line: one copy for the callers off the guest's synchronous path.
#[inline(never)]
fn send_to_outlined<P: IoreqPlatform>(s: &Server<P>, v: VcpuRef, proto: &mut IoreqSlot) -> Sent {
    send_to(s, v, proto)
}

/// `hvm_send_assist_req_to_ioreq_server`: posts `proto` in `v`'s slot of the server `to` (as
/// selection named it) and signals the emulator. False (nothing sent) if the server is gone,
/// the domain is shutting down, or the emulator corrupted the slot (state not NONE, or a port
/// other than ours: the domain is crashed).
pub fn send_to_server<P: IoreqPlatform>(
    d: DomainRef,
    v: VcpuRef,
    to: Selected,
    proto: &mut IoreqSlot,
) -> bool {
    let Some(st) = DomainIoreq::<P>::get(d) else {
        return false;
    };
    let reg = st.reg.read();
    reg.servers
        .iter()
        .find(|s| s.id == to.id && s.is_default == to.is_default)
        .is_some_and(|s| send_to_outlined(s, v, proto) == Sent::Posted)
}

/// `hvm_send_assist_req`: select, then send. False if no server takes it (see
/// [`select_server`] for what the caller then does) or the send failed.
pub fn send_assist_req<P: IoreqPlatform>(d: DomainRef, v: VcpuRef, p: &mut IoreqSlot) -> bool {
    select_and_send::<P>(d, v, p, Route::ByRange) == Routed::Sent(Sent::Posted)
}

/// How [`select_and_send`] finds the server.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Route {
    /// By the request's port, MMIO or PCI config ranges (docs/series.md, Server selection);
    /// synchronous.
    ByRange,
    /// By range, then queued on that server's ring (stdvga's buffered writes).
    ByRangeBuffered,
    /// To the server the guest's `HVMMEM_ioreq_server` pages are routed to; synchronous.
    MemType,
}

/// What [`select_and_send`] did.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Routed {
    /// No server takes the request: the caller completes it as nobody's ([`complete_as_null`]).
    NoServer,
    /// A server was chosen; what the send did.
    Sent(Sent),
}

/// Selects the server for `p` and sends it there, under one look at the registry: the guest's
/// emulated I/O (`hvmemul_do_io`, stdvga). `p` may be rewritten into a PCI config request.
pub fn select_and_send<P: IoreqPlatform>(
    d: DomainRef,
    v: VcpuRef,
    p: &mut IoreqSlot,
    route: Route,
) -> Routed {
    select_and_send_at::<P>(d, v, P::vcpu_id(v), p, route)
}

/// [`select_and_send`] as `v`, its domain and id resolved in one platform call (the C entry's
/// path).
#[inline]
pub fn select_and_send_vcpu<P: IoreqPlatform>(
    v: VcpuRef,
    p: &mut IoreqSlot,
    route: Route,
) -> Routed {
    let (d, vcpu_id) = P::vcpu_domain_and_id(v);
    select_and_send_at::<P>(d, v, vcpu_id, p, route)
}

#[inline(always)]
fn select_and_send_at<P: IoreqPlatform>(
    d: DomainRef,
    v: VcpuRef,
    vcpu_id: u32,
    p: &mut IoreqSlot,
    route: Route,
) -> Routed {
    let Some(st) = DomainIoreq::<P>::get(d) else {
        return Routed::NoServer;
    };
    let cf8 = st.pci_cf8.load(Ordering::Relaxed);
    let reg = st.reg.read_as_vcpu(vcpu_id);
    let server = match route {
        Route::ByRange | Route::ByRangeBuffered => select_in(d, &reg, cf8, p),
        Route::MemType => reg.mem_type_server.and_then(|(id, _)| reg.secondary(id)),
    };
    let Some(s) = server else {
        return Routed::NoServer;
    };
    Routed::Sent(match route {
        Route::ByRangeBuffered => send_buffered(s, p),
        Route::ByRange | Route::MemType => send_to(s, v, p),
    })
}

/// `hvm_broadcast_assist_req` (map-cache invalidation): sent to every *enabled* server (I7);
/// results ignored.
pub fn broadcast_assist_req<P: IoreqPlatform>(d: DomainRef, v: VcpuRef, p: &IoreqSlot) {
    let _ = broadcast::<P>(d, v, p, false);
}

/// `ioreq_broadcast`: `p` to every enabled server (with `buffered`, every enabled server with a
/// ring, on its ring); returns how many did not take it.
pub fn broadcast<P: IoreqPlatform>(d: DomainRef, v: VcpuRef, p: &IoreqSlot, buffered: bool) -> u32 {
    let Some(st) = DomainIoreq::<P>::get(d) else {
        return 0;
    };
    let reg = st.reg.read();
    let mut failed = 0u32;
    for s in reg
        .servers
        .iter()
        .filter(|s| s.enabled && (!buffered || s.has_ring()))
    {
        let mut q = *p;
        let sent = if buffered {
            send_buffered(s, &q)
        } else {
            send_to_outlined(s, v, &mut q)
        };
        if sent == Sent::NotPosted {
            failed = failed.saturating_add(1);
        }
    }
    failed
}

/// `hvm_buffered_io_send`: queues a write on the selected server's ring. False means "not
/// buffered" and the caller sends it synchronously (see [`send_buffered`]).
pub fn buffered_io_send<P: IoreqPlatform>(d: DomainRef, p: &mut IoreqSlot) -> bool {
    let Some(st) = DomainIoreq::<P>::get(d) else {
        return false;
    };
    let cf8 = st.pci_cf8.load(Ordering::Relaxed);
    let reg = st.reg.read();
    select_in_outlined(d, &reg, cf8, p).is_some_and(|s| send_buffered(s, p) == Sent::Posted)
}

/// Queues a write on `s`'s ring. Not posted: no ring, an unsuitable request (address above 20
/// bits, data pointer, count != 1, size not 1/2/4/8), a full ring, or a ring whose pointers the
/// emulator left inconsistent or straddling the 2^32 wrap (I8). With atomic handling the
/// pointers are rebased afterwards, once the read pointer has gone round the ring.
#[allow(
    clippy::arithmetic_side_effects,
    reason = "`slots` is 1 or 2; the linear write pointer is below 2^33 in a u64; a slot index is \
              below 511, so its byte offset stays inside the page; rebasing subtracts n * 511 <= \
              the read pointer"
)]
fn send_buffered<P: IoreqPlatform>(s: &Server<P>, p: &IoreqSlot) -> Sent {
    let Some(buf) = s.bufioreq.as_ref().filter(|_| s.has_ring()) else {
        return Sent::NotPosted;
    };
    if p.addr > BUF_IOREQ_MAX_ADDR || p.data_is_ptr() || p.count != 1 {
        return Sent::NotPosted;
    }
    let size_code = match p.size {
        1 => 0u8,
        2 => 1,
        4 => 2,
        8 => 3,
        other => {
            P::printk(&[
                Piece::Str("bad buffered I/O size "),
                Piece::Dec(other.into()),
                Piece::Str("\n"),
            ]);
            return Sent::NotPosted;
        }
    };
    let slots: u32 = if size_code == 3 { 2 } else { 1 };
    // `addr` fits in 20 bits (checked above); `data` goes as its low half, then (8-byte writes
    // only) its high half in the second slot.
    let first = BufIoreqSlot::new(p.type_, p.dir(), size_code, p.addr as u32, p.data as u32);
    let second = BufIoreqSlot::new(
        p.type_,
        p.dir(),
        size_code,
        p.addr as u32,
        (p.data >> 32) as u32,
    );

    let _g = s.buf_lock.write();
    let page = buf.map.page();
    let rp = page.load_u32(offset_of!(BufferedIopage, read_pointer));
    let wp = page.load_u32(offset_of!(BufferedIopage, write_pointer));
    let used = wp.wrapping_sub(rp);
    if used >= IOREQ_BUFFER_SLOT_NUM - (slots - 1) {
        return Sent::NotPosted;
    }
    // 2^32 is not a multiple of 511: across the pointer wrap the slot index jumps, and entries on
    // both sides could share a slot. Only cross (or write past) it with the ring empty.
    let wp_linear = if wp >= rp {
        u64::from(wp)
    } else {
        u64::from(wp) + (1u64 << 32)
    };
    if wp_linear + u64::from(slots) > (1u64 << 32) && rp != wp {
        return Sent::NotPosted;
    }
    let idx = |ptr: u32| {
        offset_of!(BufferedIopage, buf_ioreq)
            + (ptr % IOREQ_BUFFER_SLOT_NUM) as usize * size_of::<BufIoreqSlot>()
    };
    page.store_u64(idx(wp), first.to_u64());
    if slots == 2 {
        page.store_u64(idx(wp.wrapping_add(1)), second.to_u64());
    }
    fence(Ordering::Release);
    page.store_u32(
        offset_of!(BufferedIopage, write_pointer),
        wp.wrapping_add(slots),
    );
    if s.bufioreq_handling == BufioreqHandling::Atomic {
        // Both pointers down by whole turns of the ring, in one exchange with the emulator's
        // read pointer; bounded as Xen 4.17 bounds it.
        let mut tries = slots - 1;
        while tries < IOREQ_BUFFER_SLOT_NUM {
            tries += 1;
            let both = page.load_u64(offset_of!(BufferedIopage, read_pointer));
            let (r, w) = (both as u32, (both >> 32) as u32);
            if r < IOREQ_BUFFER_SLOT_NUM {
                break;
            }
            let turns = (r / IOREQ_BUFFER_SLOT_NUM) * IOREQ_BUFFER_SLOT_NUM;
            let new = u64::from(r - turns) | (u64::from(w.wrapping_sub(turns)) << 32);
            let _ = page.compare_exchange_u64(offset_of!(BufferedIopage, read_pointer), both, new);
        }
    }
    P::notify_xen_evtchn(s.target, s.bufioreq_evtchn);
    Sent::Posted
}

/// `hvm_io_pending`: does any server hold a request of `v` not yet completed?
pub fn io_pending<P: IoreqPlatform>(d: DomainRef, v: VcpuRef) -> bool {
    let Some(st) = DomainIoreq::<P>::get(d) else {
        return false;
    };
    let vcpu_id = P::vcpu_id(v);
    let reg = st.reg.read();
    reg.servers.iter().any(|s| {
        s.ioreq_page()
            .and_then(|page| slot_of(page, vcpu_id))
            .is_some_and(|slot| slot_state(slot) != STATE_IOREQ_NONE)
    })
}

/// The completion half of `hvm_do_resume`, without blocking: every server's slot for `v` in list
/// order; an answered request (IORESP_READY) is taken and its slot freed; a request still with
/// the emulator means "wait on this port, then call again"; any other state the emulator wrote
/// crashes the domain.
pub fn complete_io<P: IoreqPlatform>(d: DomainRef, v: VcpuRef) -> IoCompletion {
    complete_io_at::<P>(d, v, P::vcpu_id(v))
}

/// [`complete_io`] for `v` alone, its domain and id resolved in one platform call (the C
/// entry's path).
pub fn complete_vcpu_io<P: IoreqPlatform>(v: VcpuRef) -> IoCompletion {
    let (d, vcpu_id) = P::vcpu_domain_and_id(v);
    complete_io_at::<P>(d, v, vcpu_id)
}

fn complete_io_at<P: IoreqPlatform>(d: DomainRef, v: VcpuRef, vcpu_id: u32) -> IoCompletion {
    let Some(st) = DomainIoreq::<P>::get(d) else {
        return IoCompletion::Idle;
    };
    // A vCPU beyond the page has no slot in any server.
    if slot_index(vcpu_id).is_none() {
        return IoCompletion::Idle;
    }
    let reg = st.reg.read_as_vcpu(vcpu_id);
    let mut done = None;
    for s in reg.servers.iter() {
        let Some(slot) = s.ioreq_page().and_then(|page| slot_of(page, vcpu_id)) else {
            continue;
        };
        match slot_state(slot) {
            STATE_IOREQ_NONE => {}
            STATE_IORESP_READY => {
                fence(Ordering::Acquire);
                let mut resp = read_slot(slot);
                let flags = slot.load_u8(offset_of!(IoreqSlot, flags));
                slot.store_u8(offset_of!(IoreqSlot, flags), flags & !FLAG_STATE_MASK);
                resp.set_state(STATE_IOREQ_NONE);
                done = Some(resp);
            }
            STATE_IOREQ_READY | STATE_IOREQ_INPROCESS => {
                // Our record of the port (B4); a vCPU the server does not know has nothing to wait
                // for from it.
                if let Some(sv) = s.vcpu_entry(v) {
                    return IoCompletion::Wait { port: sv.port };
                }
            }
            bad => return weird_state::<P>(d, vcpu_id, bad),
        }
    }
    match done {
        Some(r) => IoCompletion::Completed(r),
        None => IoCompletion::Idle,
    }
}

/// The emulator left a state no request can be in: say what, crash the guest.
#[cold]
fn weird_state<P: IoreqPlatform>(d: DomainRef, vcpu_id: u32, bad: u8) -> IoCompletion {
    P::printk(&[
        Piece::Str("d"),
        Piece::Dec(P::domain_id(d).into()),
        Piece::Str("v"),
        Piece::Dec(vcpu_id.into()),
        Piece::Str(" Weird HVM iorequest state "),
        Piece::Dec(bad.into()),
        Piece::Str(".\n"),
    ]);
    P::domain_crash(d);
    IoCompletion::Crashed
}

/// Whether a request of `v` is still with an emulator (posted or being processed, not yet
/// answered): the condition a vCPU waiting for its answer re-checks.
pub fn waiting<P: IoreqPlatform>(d: DomainRef, v: VcpuRef) -> bool {
    let Some(st) = DomainIoreq::<P>::get(d) else {
        return false;
    };
    let vcpu_id = P::vcpu_id(v);
    let reg = st.reg.read();
    reg.servers.iter().any(|s| {
        s.ioreq_page()
            .and_then(|page| slot_of(page, vcpu_id))
            .is_some_and(|slot| {
                matches!(slot_state(slot), STATE_IOREQ_READY | STATE_IOREQ_INPROCESS)
            })
    })
}
