//! `--hostile`: a second emulator that misbehaves on purpose, after the first one is gone. Each
//! step must get Xen's answer and leave Xen and the guest running:
//! - DMOPs with bad arguments: a range with start > end, a bad range type, non-zero pads, an
//!   unknown server id, an unmapped range, an overlapping claim, a bad `handle_bufioreq`, a
//!   resource frame that does not exist: each gets its errno;
//! - shared-page state rewritten: while a request is in service every field but `state`,
//!   `data` and `vp_eport` is overwritten with garbage, and the slots of vCPUs the guest does not
//!   have get garbage states; Xen must read back only state and data (the guest checks the
//!   value);
//! - a completion written twice and signalled twice: the guest must see exactly one;
//! - the server destroyed while a request is pending: destroy succeeds; Xen 4.17 then leaves
//!   the vCPU blocked in Xen (nothing wakes it), and `xl destroy` must still reclaim the guest.
//!
//! Rewriting `state` itself to a regression or an unknown value is not done: Xen 4.17's answer
//! to that is `domain_crash()` of the guest (`wait_for_io`), which would end the run.

use std::mem::offset_of;
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

use xen_ioreq_live_script::device::Device;

use xen_ioreq_live_script::layout::{
    hostile_value, HANDSHAKE_MAGIC, HOSTILE_DATA_PORT, HOSTILE_HANDSHAKE_PORT, HOSTILE_PORT,
    HOSTILE_PORT_LEN, HOSTILE_READS,
};
use xen_ioreq_rs::ioreq::abi::{
    IoreqSlot, IOREQ_READ, IOREQ_TYPE_PIO, SHARED_IOPAGE_SLOTS, STATE_IOREQ_INPROCESS,
    STATE_IORESP_READY,
};

use crate::dmop::{DeviceModel, RANGE_PORT, XENMEM_RESOURCE_IOREQ_SERVER};
use crate::server::{Claim, Server};
use crate::sys::{Errno, Evtchn};
use crate::Transcript;

const EINVAL: i32 = libc::EINVAL;
const ENOENT: i32 = libc::ENOENT;
const EEXIST: i32 = libc::EEXIST;

/// Collects the verdicts of the hostile steps.
pub struct Verdicts {
    pub lines: Vec<String>,
    pub failed: Vec<String>,
}

impl Verdicts {
    fn expect_err(&mut self, what: &str, got: Result<(), Errno>, want: i32) {
        match got {
            Err(Errno(e)) if e == want => self
                .lines
                .push(format!("hostile: {what}: -{e} as expected")),
            Err(Errno(e)) => self.fail(format!("{what}: got -{e}, want -{want}")),
            Ok(()) => self.fail(format!("{what}: succeeded, want -{want}")),
        }
    }
    fn expect_ok(&mut self, what: &str, got: Result<(), Errno>) {
        match got {
            Ok(()) => self.lines.push(format!("hostile: {what}: ok")),
            Err(e) => self.fail(format!("{what}: {e}")),
        }
    }
    fn fail(&mut self, what: String) {
        self.lines.push(format!("hostile: FAIL {what}"));
        self.failed.push(what);
    }
}

/// The next request in vCPU 0's slot, waiting up to `timeout`.
fn next_request(s: &Server, evtchn: &Evtchn, timeout: Duration) -> Option<IoreqSlot> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(r) = s.ready_request(0) {
            return Some(r);
        }
        if Instant::now() > deadline {
            return None;
        }
        if let Ok(fired) = evtchn.wait(100) {
            for p in fired {
                let _ = evtchn.unmask(p);
            }
        }
    }
}

fn is_data_read(r: &IoreqSlot) -> bool {
    r.type_ == IOREQ_TYPE_PIO
        && r.dir() == IOREQ_READ
        && r.addr == u64::from(HOSTILE_DATA_PORT)
        && r.size == 4
}

/// Answers one request normally.
fn answer(s: &Server, evtchn: &Evtchn, r: &IoreqSlot, value: u32) -> Option<()> {
    s.set_state(0, r, STATE_IOREQ_INPROCESS)?;
    s.write_data(0, u64::from(value))?;
    fence(Ordering::Release);
    s.set_state(0, r, STATE_IORESP_READY)?;
    let _ = evtchn.notify(s.local_port(0)?);
    Some(())
}

pub fn run(dm: &DeviceModel, evtchn: &Evtchn, log: &mut Transcript, timeout: Duration) -> Verdicts {
    let mut v = Verdicts {
        lines: Vec::new(),
        failed: Vec::new(),
    };
    let first = u64::from(HOSTILE_PORT);
    let last = first + u64::from(HOSTILE_PORT_LEN) - 1;

    // Bad DMOP arguments.
    v.expect_err(
        "create with handle_bufioreq=3",
        dm.create_ioreq_server_raw(3, 0).map(|_| ()),
        EINVAL,
    );
    v.expect_err(
        "create with a non-zero pad",
        dm.create_ioreq_server_raw(1, 1).map(|_| ()),
        EINVAL,
    );
    let Some(dev) = Device::new(0) else {
        v.fail("no device".into());
        return v;
    };
    let claims = [Claim {
        type_: RANGE_PORT,
        start: first,
        end: last,
    }];
    let mut s = match Server::create_with(dm, "H", true, dev, &claims, log) {
        Ok(s) => s,
        Err(e) => {
            v.fail(e);
            return v;
        }
    };
    let id = s.id;
    v.expect_err(
        "map port range with start > end",
        dm.map_io_range(id, RANGE_PORT, last, first),
        EINVAL,
    );
    v.expect_err(
        "unmap port range with start > end",
        dm.unmap_io_range(id, RANGE_PORT, last, first),
        EINVAL,
    );
    v.expect_err(
        "map range of type 7",
        dm.map_io_range(id, 7, first, last),
        EINVAL,
    );
    v.expect_err(
        "map range with a non-zero pad",
        dm.map_io_range_padded(id, RANGE_PORT, first, last, 1),
        EINVAL,
    );
    let bogus = id.wrapping_add(100);
    v.expect_err(
        "map range on an unknown server id",
        dm.map_io_range(bogus, RANGE_PORT, first, last),
        ENOENT,
    );
    v.expect_err(
        "enable an unknown server id",
        dm.set_ioreq_server_state(bogus, true),
        ENOENT,
    );
    v.expect_err(
        "destroy an unknown server id",
        dm.destroy_ioreq_server(bogus),
        ENOENT,
    );
    v.expect_err(
        "unmap a range never mapped",
        dm.unmap_io_range(id, RANGE_PORT, last + 1, last + 8),
        ENOENT,
    );
    v.expect_err(
        "map an overlapping port range",
        dm.map_io_range(id, RANGE_PORT, first + 4, first + 5),
        EEXIST,
    );
    v.expect_err(
        "acquire an ioreq frame of a vCPU that does not exist",
        dm.privcmd
            .map_resource(dm.domid, XENMEM_RESOURCE_IOREQ_SERVER, u32::from(id), 2, 1)
            .map(|_| ()),
        EINVAL,
    );
    let nr_vcpus = dm.nr_vcpus().unwrap_or(1);
    if let Err(e) = s.enable(dm, evtchn, nr_vcpus, log) {
        v.fail(e);
        let _ = s.destroy_now(dm, evtchn);
        return v;
    }

    // Handshake: the guest polls until a server claims the port.
    match next_request(&s, evtchn, timeout) {
        Some(r) if r.addr == u64::from(HOSTILE_HANDSHAKE_PORT) => {
            let _ = answer(&s, evtchn, &r, HANDSHAKE_MAGIC);
            v.lines.push("hostile: handshake answered".into());
        }
        Some(r) => v.fail(format!("unexpected first request addr={:#x}", r.addr)),
        None => {
            v.fail("the guest never polled the handshake port".into());
            let _ = s.destroy_now(dm, evtchn);
            return v;
        }
    }

    // Read 0: rewrite the slot around the answer.
    match next_request(&s, evtchn, timeout) {
        Some(r) if is_data_read(&r) => {
            let pages = s.pages();
            let base = s.ioreq_off();
            let _ = s.set_state(0, &r, STATE_IOREQ_INPROCESS);
            if let Some(p) = pages {
                let _ = p.write_u64(base + offset_of!(IoreqSlot, addr), 0xdead_beef_dead_beef);
                let _ = p.write_u32(base + offset_of!(IoreqSlot, count), 0xffff_ffff);
                let _ = p.write_u32(base + offset_of!(IoreqSlot, size), 0x7777);
                // pad0, then flags with every non-state bit flipped, then type
                let _ = p.write_u8(base + offset_of!(IoreqSlot, pad0), 0xff);
                let _ = p.write_u8(base + offset_of!(IoreqSlot, pad0) + 1, 0xff);
                let _ = p.write_u8(
                    base + offset_of!(IoreqSlot, flags),
                    (!r.flags & 0xf0) | STATE_IOREQ_INPROCESS,
                );
                let _ = p.write_u8(base + offset_of!(IoreqSlot, type_), 0xee);
                for vcpu in 1..SHARED_IOPAGE_SLOTS {
                    let o = base + vcpu * 32;
                    let _ = p.write_u64(o, 0x4141_4141_4141_4141);
                    let _ = p.write_u32(
                        o + offset_of!(IoreqSlot, vp_eport),
                        0xffff_0000 | vcpu as u32,
                    );
                    let _ = p.write_u8(o + offset_of!(IoreqSlot, flags), (vcpu % 16) as u8);
                }
                let _ = p.write_u64(
                    base + offset_of!(IoreqSlot, data),
                    u64::from(hostile_value(0)),
                );
                fence(Ordering::Release);
                let _ = p.write_u8(
                    base + offset_of!(IoreqSlot, flags),
                    (!r.flags & 0xf0) | STATE_IORESP_READY,
                );
            }
            if let Some(port) = s.local_port(0) {
                let _ = evtchn.notify(port);
            }
            v.lines
                .push("hostile: shared-page fields rewritten around a completion".into());
        }
        _ => v.fail("no data read 0 from the guest".into()),
    }

    // Read 1: complete twice.
    match next_request(&s, evtchn, timeout) {
        Some(r) if is_data_read(&r) => {
            let _ = s.set_state(0, &r, STATE_IOREQ_INPROCESS);
            let _ = s.write_data(0, u64::from(hostile_value(1)));
            fence(Ordering::Release);
            let _ = s.set_state(0, &r, STATE_IORESP_READY);
            let _ = s.set_state(0, &r, STATE_IORESP_READY);
            if let Some(port) = s.local_port(0) {
                let _ = evtchn.notify(port);
                let _ = evtchn.notify(port);
            }
            v.lines
                .push("hostile: completion written and signalled twice".into());
        }
        _ => v.fail("no data read 1 from the guest".into()),
    }

    // Reads 2 .. HOSTILE_READS-2: normal answers (the first shows the double completion left
    // nothing behind).
    for k in 2..HOSTILE_READS.saturating_sub(1) {
        match next_request(&s, evtchn, timeout) {
            Some(r) if is_data_read(&r) => {
                let _ = answer(&s, evtchn, &r, hostile_value(k));
                v.lines.push(format!("hostile: data read {k} answered"));
            }
            _ => v.fail(format!("no data read {k} after the double completion")),
        }
    }

    // The last read: destroy the server while it is pending.
    match next_request(&s, evtchn, timeout) {
        Some(r) if is_data_read(&r) => {
            let id = s.id;
            v.expect_ok(
                "destroy the server while a request is pending",
                s.destroy_now(dm, evtchn),
            );
            v.expect_err("destroy it again", dm.destroy_ioreq_server(id), ENOENT);
            v.expect_err(
                "enable the destroyed server",
                dm.set_ioreq_server_state(id, true),
                ENOENT,
            );
        }
        _ => {
            v.fail("no last data read from the guest".into());
            let _ = s.destroy_now(dm, evtchn);
        }
    }
    v
}
