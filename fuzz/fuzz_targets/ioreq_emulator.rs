//! An adversarial emulator: between guest I/O steps it rewrites any field of the shared ioreq page
//! and of the buffered ring (states driven backwards or to invalid values, ports, ring pointers
//! past the ring or across the 2^32 wrap). Checks: no panic; a completed request leaves its slot
//! NONE; a buffered write is accepted only with room in the ring and lands in bounds (the write
//! pointer advances by exactly its slot count); crashes only follow emulator misbehaviour; nothing
//! leaks.
#![no_main]

#[path = "ioreq_env/mod.rs"]
mod ioreq_env;
use ioreq_env::*;

use std::mem::offset_of;

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

use xen_ioreq_rs::ioreq::abi::*;
use xen_ioreq_rs::ioreq::{self, IoCompletion};
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::memory::EmulatorPage;
use xen_ioreq_rs::platform::host::HostPlatform as H;

#[derive(Arbitrary, Debug)]
enum Step {
    Send {
        vcpu: bool,
        port: u16,
        size: u8,
        read: bool,
    },
    Buffered {
        addr: u32,
        size: u8,
        data: u64,
    },
    Complete {
        vcpu: bool,
    },
    Pending {
        vcpu: bool,
    },
    PokeIo {
        off: u16,
        val: u64,
        width: u8,
    },
    PokeBuf {
        off: u16,
        val: u64,
        width: u8,
    },
    State {
        vcpu: bool,
        state: u8,
    },
    Ptrs {
        rp: u32,
        wp: u32,
    },
    Toggle {
        on: bool,
    },
    Invalidate {
        vcpu: bool,
    },
}

fn poke(p: &EmulatorPage, off: u16, val: u64, width: u8) {
    let off = usize::from(off) % 4096;
    match width % 3 {
        0 => p.write_u8(off, val as u8),
        1 => p.write_u32(off & !3, val as u32),
        _ => p.write_u64(off & !7, val),
    }
}

fuzz_target!(|steps: Vec<Step>| {
    if steps.len() > 128 {
        return;
    }
    let env = setup(2);
    let id = create(&env, true).expect("first server");
    let info = ioreq::get_server_info::<H>(env.d, id).unwrap();
    let io = EmulatorPage::map(env.d, info.ioreq_pfn).unwrap();
    let (bpfn, _) = info.bufioreq.unwrap();
    let buf = EmulatorPage::map(env.d, bpfn).unwrap();
    ioreq::map_io_range::<H>(env.d, id, HVMOP_IO_RANGE_PORT, 0, 0xffff).unwrap();
    ioreq::map_io_range::<H>(env.d, id, HVMOP_IO_RANGE_MEMORY, 0, 0xfffff).unwrap();
    ioreq::set_server_state::<H>(env.d, id, true).unwrap();
    let mut misbehaved = false;
    for step in steps {
        let vcpu = |b: bool| env.vcpus[usize::from(b)];
        match step {
            // The guest side never posts while a request of the vCPU is outstanding (hvmemul
            // checks io_pending first): a crash then is the emulator's doing.
            Step::Send { vcpu: w, .. } | Step::Invalidate { vcpu: w }
                if ioreq::io_pending::<H>(env.d, vcpu(w)) => {}
            Step::Send {
                vcpu: w,
                port,
                size,
                read,
            } => {
                let mut p = req(
                    IOREQ_TYPE_PIO,
                    u64::from(port),
                    u32::from(size % 9),
                    1,
                    u8::from(read),
                    false,
                );
                let crashes = HostDomain::with(env.d, |h| h.crashes);
                let _ = ioreq::send_assist_req::<H>(env.d, vcpu(w), &mut p);
                if !misbehaved {
                    // Without emulator writes a crash can only come from a request still pending.
                    let c = HostDomain::with(env.d, |h| h.crashes);
                    assert!(c == crashes || c == crashes + 1);
                }
            }
            Step::Buffered { addr, size, data } => {
                let rp = buf.read_u32(offset_of!(BufferedIopage, read_pointer));
                let wp = buf.read_u32(offset_of!(BufferedIopage, write_pointer));
                let mut p = req(
                    IOREQ_TYPE_COPY,
                    u64::from(addr % 0x20_0000),
                    u32::from(size % 9),
                    1,
                    IOREQ_WRITE,
                    false,
                );
                p.data = data;
                let slots = if p.size == 8 { 2 } else { 1 };
                if ioreq::buffered_io_send::<H>(env.d, &mut p) {
                    assert!(
                        wp.wrapping_sub(rp) <= IOREQ_BUFFER_SLOT_NUM - slots,
                        "accepted into a full ring"
                    );
                    assert_eq!(
                        buf.read_u32(offset_of!(BufferedIopage, write_pointer)),
                        wp.wrapping_add(slots)
                    );
                } else {
                    assert_eq!(buf.read_u32(offset_of!(BufferedIopage, write_pointer)), wp);
                }
            }
            Step::Complete { vcpu: w } => {
                let v = vcpu(w);
                if let IoCompletion::Completed(r) = ioreq::complete_io::<H>(env.d, v) {
                    assert_eq!(r.state(), STATE_IOREQ_NONE);
                    let off = usize::from(w) * 32 + offset_of!(IoreqSlot, flags);
                    assert_ne!(io.read_u8(off) & 0xf, STATE_IORESP_READY);
                }
            }
            Step::Pending { vcpu: w } => {
                let _ = ioreq::io_pending::<H>(env.d, vcpu(w));
            }
            Step::PokeIo { off, val, width } => {
                misbehaved = true;
                poke(&io, off, val, width);
            }
            Step::PokeBuf { off, val, width } => poke(&buf, off, val, width),
            Step::State { vcpu: w, state } => {
                let off = usize::from(w) * 32 + offset_of!(IoreqSlot, flags);
                let f = io.read_u8(off);
                // The emulator's legal move is READY/INPROCESS -> IORESP_READY; anything else is
                // misbehaviour.
                let s = state % 16;
                if !(s == STATE_IORESP_READY
                    && matches!(f & 0xf, STATE_IOREQ_READY | STATE_IOREQ_INPROCESS))
                {
                    misbehaved = true;
                }
                io.write_u8(off, (f & !0xf) | s);
            }
            Step::Ptrs { rp, wp } => {
                buf.write_u32(offset_of!(BufferedIopage, read_pointer), rp);
                buf.write_u32(offset_of!(BufferedIopage, write_pointer), wp);
            }
            Step::Toggle { on } => {
                ioreq::set_server_state::<H>(env.d, id, on).unwrap();
            }
            Step::Invalidate { vcpu: w } => {
                let p = req(IOREQ_TYPE_INVALIDATE, 0, 4, 1, IOREQ_WRITE, false);
                ioreq::broadcast_assist_req::<H>(env.d, vcpu(w), &p);
            }
        }
        if !misbehaved {
            assert_eq!(
                HostDomain::with(env.d, |h| h.crashes),
                0,
                "crash without emulator misbehaviour"
            );
        }
    }
    drop((io, buf));
    teardown(env);
});
