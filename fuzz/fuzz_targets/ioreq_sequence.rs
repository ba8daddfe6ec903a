//! Arbitrary sequences over the whole ioreq API (toolstack, params, vCPU hot-plug, guest I/O with
//! a well-behaved emulator), checked after every step:
//! * no panic; every error code is one the C version can return for that call;
//! * selection agrees with a naive model built from the snapshot's registered ranges;
//! * after destroy_all (and at the end) no event channel, mapping, pause, RCU lock or P2M change
//!   is left, and every page is freed;
//! * a well-behaved emulator never gets the domain crashed, unless the toolstack's pool params
//!   made two servers share a guest frame (see [`frame_held_twice`]).
#![no_main]

#[path = "ioreq_env/mod.rs"]
mod ioreq_env;
use ioreq_env::*;

use std::mem::offset_of;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

use xen_ioreq_rs::errno::Errno;
use xen_ioreq_rs::ioreq::abi::*;
use xen_ioreq_rs::ioreq::{self, IoCompletion, IoreqSlot};
use xen_ioreq_rs::platform::host::console::take_console;
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::{evtchn, memory, HostPlatform as H};

#[derive(Arbitrary, Debug)]
enum Op {
    Create {
        bufioreq: bool,
    },
    CreateDefault,
    Destroy {
        id: u8,
    },
    Map {
        id: u8,
        ty: u8,
        start: u16,
        len: u8,
    },
    Unmap {
        id: u8,
        ty: u8,
        start: u16,
        len: u8,
    },
    SetState {
        id: u8,
        on: bool,
    },
    Info {
        id: u8,
    },
    Cf8 {
        val: u32,
        bytes: u8,
    },
    Io {
        vcpu: u8,
        pio: bool,
        addr: u16,
        size: u8,
        count: u8,
        df: bool,
        read: bool,
        answer: bool,
    },
    Buffered {
        addr: u32,
        size: u8,
        data: u64,
    },
    Invalidate {
        vcpu: u8,
    },
    HotAdd,
    HotRemove,
    SetParam {
        index: u8,
        value: u64,
        caller: u8,
    },
    GetParam {
        index: u8,
        caller: u8,
    },
    FailNextMap,
    FailEvtchn {
        after: u8,
    },
    DestroyAll,
}

fn id_of(env: &Env, i: u8) -> u16 {
    let snap = ioreq::snapshot::<H>(env.d);
    let ids: Vec<u16> = snap.servers.iter().map(|s| s.id).collect();
    if ids.is_empty() || i >= 200 {
        u16::from(i)
    } else {
        ids[usize::from(i) % ids.len()]
    }
}

fn check(rc: Result<(), Errno>, ok: &[Errno], what: &str) {
    if let Err(e) = rc {
        assert!(ok.contains(&e), "{what}: unexpected {e:?}");
    }
}

/// Whether two of the servers' pages (ioreq or ring) are the same guest frame. The pool params are
/// the toolstack's to set: param 33 again ORs its bits back into the free mask, frames in use
/// included, param 32 moves the pool's base over frames already handed out, and a pool larger
/// than 8 reaches the default server's legacy frames, so a new server can be given a frame a live
/// one holds (`hvm_set_param` and `hvm_alloc_ioreq_gfn` in Xen 4.17 do the same). The two then
/// write their own ports and states into one page, and a send through it finds the other's port
/// or request: "Device model set bad ..." and the domain is crashed, however well the emulator
/// behaves, in Xen's C as in the Rust.
fn frame_held_twice(snap: &ioreq::DomainSnapshot) -> bool {
    let mut frames: Vec<u64> = snap
        .servers
        .iter()
        .flat_map(|s| [Some(s.ioreq_gmfn), s.bufioreq.map(|(g, _)| g)])
        .flatten()
        .filter(|&g| g != u64::MAX)
        .collect();
    let n = frames.len();
    frames.sort_unstable();
    frames.dedup();
    frames.len() != n
}

/// After an operation that sent requests (and, with `answer`, completed them): the domain was
/// crashed only if frames were shared since its servers were last all gone, and then by a check of
/// the shared slot.
fn check_crashes(env: &Env, before: u32, shared_frames: bool, what: &str) {
    let said = take_console();
    if HostDomain::with(env.d, |h| h.crashes) == before {
        return;
    }
    assert!(
        shared_frames,
        "crash without a bad emulator ({what}): {said}"
    );
    assert!(
        said.contains("Device model set bad") || said.contains("Weird HVM iorequest state"),
        "crash with shared frames but not by a slot check ({what}): {said}"
    );
}

/// The server that selection (docs/series.md, Server selection; B6 fixed) should pick for a port
/// or MMIO request, from the snapshot.
fn model_select(snap: &ioreq::DomainSnapshot, p: &IoreqSlot) -> Option<u16> {
    let (first, last) = if p.type_ == IOREQ_TYPE_PIO {
        let l = p.addr.checked_add(u64::from(p.size).checked_sub(1)?)?;
        (p.addr, l)
    } else {
        let total = u64::from(p.size).checked_mul(u64::from(p.count))?;
        let back = u64::from(p.count)
            .checked_sub(1)?
            .checked_mul(u64::from(p.size))?;
        let f = if p.df() {
            p.addr.checked_sub(back)?
        } else {
            p.addr
        };
        (f, f.checked_add(total.checked_sub(1)?)?)
    };
    let t = usize::from(p.type_);
    snap.servers
        .iter()
        .filter(|s| !s.is_default && s.enabled)
        .find(|s| s.ranges[t].iter().any(|&(a, b)| a <= first && last <= b))
        .map(|s| s.id)
}

fuzz_target!(|ops: Vec<Op>| {
    if ops.len() > 64 {
        return;
    }
    let mut env = setup(2);
    let mut next_vcpu = 2u32;
    // Sticky: once two servers shared a frame, a live one may still hold the other's port or
    // state in its slots (or a page the other's disable cleared) until every server is gone.
    let mut shared_frames = false;
    for op in ops {
        HostDomain::set_current(env.dm);
        match op {
            Op::Create { bufioreq } => check(
                ioreq::create_server::<H>(env.d, 0, false, bufioreq).map(|_| ()),
                &[Errno::ENOMEM, Errno::ENOENT, Errno::EINVAL, Errno::ENOSPC],
                "create",
            ),
            Op::CreateDefault => check(
                ioreq::get_param_hook::<H>(env.d, HVM_PARAM_BUFIOREQ_PFN),
                &[Errno::ENOMEM, Errno::ENOENT, Errno::EINVAL, Errno::ENOSPC],
                "default",
            ),
            Op::Destroy { id } => check(
                ioreq::destroy_server::<H>(env.d, id_of(&env, id)),
                &[Errno::ENOENT],
                "destroy",
            ),
            Op::Map { id, ty, start, len } => {
                let s = u64::from(start);
                let e = s
                    .wrapping_add(u64::from(len))
                    .wrapping_sub(u64::from(len == 0) * 2);
                check(
                    ioreq::map_io_range::<H>(env.d, id_of(&env, id), u32::from(ty % 4), s, e),
                    &[Errno::ENOENT, Errno::EINVAL, Errno::EEXIST, Errno::ENOMEM],
                    "map",
                )
            }
            Op::Unmap { id, ty, start, len } => {
                let s = u64::from(start);
                check(
                    ioreq::unmap_io_range::<H>(
                        env.d,
                        id_of(&env, id),
                        u32::from(ty % 4),
                        s,
                        s + u64::from(len),
                    ),
                    &[Errno::ENOENT, Errno::EINVAL, Errno::ENOMEM],
                    "unmap",
                )
            }
            Op::SetState { id, on } => check(
                ioreq::set_server_state::<H>(env.d, id_of(&env, id), on),
                &[Errno::ENOENT],
                "set_state",
            ),
            Op::Info { id } => check(
                ioreq::get_server_info::<H>(env.d, id_of(&env, id)).map(|_| ()),
                &[Errno::ENOENT],
                "info",
            ),
            Op::Cf8 { val, bytes } => {
                ioreq::access_cf8::<H>(env.d, IOREQ_WRITE, u32::from(bytes % 5), val);
            }
            Op::Io {
                vcpu,
                pio,
                addr,
                size,
                count,
                df,
                read,
                answer,
            } => {
                let v = env.vcpus[usize::from(vcpu) % env.vcpus.len()];
                let ty = if pio { IOREQ_TYPE_PIO } else { IOREQ_TYPE_COPY };
                let mut p = req(
                    ty,
                    u64::from(addr),
                    u32::from(size % 9),
                    u32::from(count % 4),
                    u8::from(read),
                    df,
                );
                let snap = ioreq::snapshot::<H>(env.d);
                let cf8_hit = pio && (p.addr & !3) == 0xcfc && snap.pci_cf8 & 0x8000_0000 != 0;
                let mut q = p;
                let sel = ioreq::select_server::<H>(env.d, &mut q);
                if !cf8_hit {
                    let want = model_select(&snap, &p)
                        .or_else(|| snap.servers.iter().find(|s| s.is_default).map(|s| s.id));
                    assert_eq!(
                        sel.map(|s| s.id),
                        want,
                        "selection disagrees with the ranges"
                    );
                    assert_eq!(q, p, "only PCI config accesses are rewritten");
                }
                if ioreq::io_pending::<H>(env.d, v) {
                    continue;
                }
                let crashes = HostDomain::with(env.d, |h| h.crashes);
                let _ = take_console();
                if ioreq::send_assist_req::<H>(env.d, v, &mut p) && answer {
                    // The emulator answers in the slot of whichever server got it.
                    for s in ioreq::snapshot::<H>(env.d).servers {
                        if let Some(pg) = memory::EmulatorPage::map_any(env.d, s.ioreq_gmfn) {
                            let vid = <H as xen_ioreq_rs::platform::domain::HvmDomains>::vcpu_id(v)
                                as usize;
                            let off = vid * 32 + offset_of!(IoreqSlot, flags);
                            let f = pg.read_u8(off);
                            if f & 0xf == STATE_IOREQ_READY {
                                pg.write_u8(off, (f & !0xf) | STATE_IORESP_READY);
                            }
                        }
                    }
                    match ioreq::complete_io::<H>(env.d, v) {
                        IoCompletion::Completed(_)
                        | IoCompletion::Idle
                        | IoCompletion::Wait { .. } => {}
                        IoCompletion::Crashed => {
                            assert!(shared_frames, "well-behaved emulator crashed the domain")
                        }
                    }
                }
                check_crashes(&env, crashes, shared_frames, "io");
            }
            Op::Buffered { addr, size, data } => {
                let mut p = req(
                    IOREQ_TYPE_COPY,
                    u64::from(addr),
                    u32::from(size % 9),
                    1,
                    IOREQ_WRITE,
                    false,
                );
                p.data = data;
                let _ = ioreq::buffered_io_send::<H>(env.d, &mut p);
            }
            Op::Invalidate { vcpu } => {
                let v = env.vcpus[usize::from(vcpu) % env.vcpus.len()];
                if !ioreq::io_pending::<H>(env.d, v) {
                    let p = req(IOREQ_TYPE_INVALIDATE, 0, 4, 1, IOREQ_WRITE, false);
                    let crashes = HostDomain::with(env.d, |h| h.crashes);
                    let _ = take_console();
                    ioreq::broadcast_assist_req::<H>(env.d, v, &p);
                    check_crashes(&env, crashes, shared_frames, "invalidate");
                }
            }
            Op::HotAdd => {
                if next_vcpu < 6 {
                    let v = HostDomain::add_vcpu(env.d, next_vcpu);
                    if ioreq::add_vcpu_all::<H>(env.d, v).is_ok() {
                        env.vcpus.push(v);
                        next_vcpu += 1;
                    } else {
                        HostDomain::remove_vcpu(v);
                    }
                }
            }
            Op::HotRemove => {
                if env.vcpus.len() > 1 {
                    if let Some(v) = env.vcpus.pop() {
                        ioreq::remove_vcpu_all::<H>(env.d, v);
                        HostDomain::remove_vcpu(v);
                        next_vcpu -= 1;
                    }
                }
            }
            Op::SetParam {
                index,
                value,
                caller,
            } => {
                set_caller(&env, caller);
                let index = [5u32, 6, 13, 26, 32, 33][usize::from(index) % 6];
                // Keep the pool where the pages are.
                let value = if index == HVM_PARAM_IOREQ_SERVER_PFN {
                    POOL_BASE + value % 2
                } else {
                    value
                };
                let r = ioreq::set_param_hook::<H>(env.d, index, value);
                check(
                    r.map(|_| ()),
                    &[Errno::EPERM, Errno::EINVAL, Errno::ENOMEM, Errno::ENOSPC],
                    "set_param",
                );
                if let Ok(v) = r {
                    HostDomain::with(env.d, |h| h.params[index as usize] = v);
                }
            }
            Op::GetParam { index, caller } => {
                set_caller(&env, caller);
                let index = [5u32, 6, 13, 26, 32, 33][usize::from(index) % 6];
                check(
                    ioreq::get_param_hook::<H>(env.d, index),
                    &[
                        Errno::EPERM,
                        Errno::EINVAL,
                        Errno::ENOMEM,
                        Errno::ENOENT,
                        Errno::ENOSPC,
                    ],
                    "get_param",
                );
            }
            Op::FailNextMap => memory::fail_next_map(Some(Errno::ENOENT)),
            Op::FailEvtchn { after } => {
                evtchn::fail_evtchn_allocs_after(Some((u32::from(after % 8), Errno::ENOSPC)))
            }
            Op::DestroyAll => {
                ioreq::destroy_all::<H>(env.d);
                assert_eq!(evtchn::live_evtchns(), 0);
                assert_eq!(memory::mapped_pages(), 0);
                assert_eq!(memory::p2m_entries(), env.p2m_base);
            }
        }
        assert_eq!(HostDomain::with(env.d, |h| h.pause_count), 0);
        assert_eq!(HostDomain::outstanding_rcu_locks(), 0);
        let snap = ioreq::snapshot::<H>(env.d);
        shared_frames = !snap.servers.is_empty() && (shared_frames || frame_held_twice(&snap));
    }
    HostDomain::set_current(env.dm);
    teardown(env);
});
