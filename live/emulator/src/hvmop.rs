//! `--hvmop`: the series' own interface, HVMOPs 17-22 (`__HYPERVISOR_hvm_op` through privcmd's
//! hypercall ioctl, the 2014 argument structs of src/ioreq/abi.rs), driven on one of the
//! emulator's servers and on one it creates itself from a page pool it sets up first. Stock
//! Xen 4.17 answers -ENOSYS: it has no such HVMOPs.

use xen_ioreq_rs::ioreq::abi::{
    FromBytes, HvmCreateIoreqServer, HvmDestroyIoreqServer, HvmGetIoreqServerInfo, HvmIoRange,
    HvmParam, HvmSetIoreqServerState, IntoBytes, HVMOP_CREATE_IOREQ_SERVER,
    HVMOP_DESTROY_IOREQ_SERVER, HVMOP_GET_IOREQ_SERVER_INFO, HVMOP_IO_RANGE_PORT,
    HVMOP_MAP_IO_RANGE_TO_IOREQ_SERVER, HVMOP_SET_IOREQ_SERVER_STATE, HVMOP_SET_PARAM,
    HVMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER, HVM_PARAM_IOREQ_SERVER_PFN,
    HVM_PARAM_NR_IOREQ_SERVER_PAGES,
};

use crate::sys::Privcmd;

const HYPERVISOR_HVM_OP: u64 = 34;
/// A port range nobody else claims, for map/unmap.
const HVMOP_PORTS: (u64, u64) = (0x5d0, 0x5d7);

/// HVMOP `op` on `arg`, which Xen may write back.
fn call<A: FromBytes + IntoBytes>(privcmd: &mut Privcmd, op: u32, arg: &mut A) -> i64 {
    privcmd
        .hypercall_with_buf(HYPERVISOR_HVM_OP, u64::from(op), arg.as_mut_bytes())
        .unwrap_or_else(|e| -i64::from(e.0))
}

/// The HVMOP-created server's page pool: HVM params 32/33 as a toolstack sets them for a guest
/// with a device model (xl sets none for a PVH guest): two pages of the 32 MiB guest's RAM at
/// 16 MiB, which the guest never touches.
const POOL_GFN: u64 = 0x1000;
const POOL_PAGES: u64 = 2;
/// 4.17's answer to a request for gfns once the server's pages were acquired as frames (X6).
const EPERM: i64 = -1;

/// Runs the sequence; returns the lines to print and whether every call gave what 4.17's rules
/// (FIDELITY.md X6) say it must: 0, except HVMOP 18 on the DMOP server `id`, whose pages this
/// emulator acquired as frames (-EPERM, as XEN_DMOP_get_ioreq_server_info asking for gfns).
pub fn drive(privcmd: &mut Privcmd, domid: u16, id: u16) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut ok = true;
    let mut expect = |lines: &mut Vec<String>, what: String, rc: i64, want: i64| {
        ok &= rc == want;
        let note = if want == 0 {
            String::new()
        } else {
            format!(" (want {want})")
        };
        lines.push(format!("hvmop: {what} rc={rc}{note}"));
    };

    for (index, value) in [
        (HVM_PARAM_IOREQ_SERVER_PFN, POOL_GFN),
        (HVM_PARAM_NR_IOREQ_SERVER_PAGES, POOL_PAGES),
    ] {
        let mut b = HvmParam {
            domid,
            pad: 0,
            index,
            value,
        };
        let rc = call(privcmd, HVMOP_SET_PARAM, &mut b);
        expect(&mut lines, format!("0 set_param {index}={value:#x}"), rc, 0);
    }

    let (info, rc) = get_info(privcmd, domid, id);
    expect(
        &mut lines,
        format!(
            "18 get_ioreq_server_info id={id} (a DMOP server, frames acquired) ioreq_pfn={:#x}",
            info.ioreq_pfn
        ),
        rc,
        EPERM,
    );

    let mut b = HvmCreateIoreqServer {
        domid,
        handle_bufioreq: 1,
        pad: 0,
        id: 0,
    };
    let rc = call(privcmd, HVMOP_CREATE_IOREQ_SERVER, &mut b);
    let new_id = b.id;
    expect(
        &mut lines,
        format!("17 create_ioreq_server handle_bufioreq=1 -> id={new_id}"),
        rc,
        0,
    );
    if rc != 0 {
        return (lines, false);
    }
    let (info, rc) = get_info(privcmd, domid, new_id);
    expect(
        &mut lines,
        format!(
            "18 get_ioreq_server_info id={new_id} ioreq_pfn={:#x} bufioreq_pfn={:#x}",
            info.ioreq_pfn, info.bufioreq_pfn
        ),
        rc,
        0,
    );

    // Ranges and state on both servers: one registry behind both interfaces.
    for sid in [id, new_id] {
        let range = HvmIoRange {
            domid,
            id: sid,
            type_: HVMOP_IO_RANGE_PORT,
            start: HVMOP_PORTS.0,
            end: HVMOP_PORTS.1,
        };
        for (op, name) in [
            (HVMOP_MAP_IO_RANGE_TO_IOREQ_SERVER, "19 map_io_range"),
            (HVMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER, "20 unmap_io_range"),
        ] {
            let rc = call(privcmd, op, &mut { range });
            expect(
                &mut lines,
                format!("{name} id={sid} port {:#x}-{:#x}", range.start, range.end),
                rc,
                0,
            );
        }
        let states: &[u8] = if sid == id { &[0, 1] } else { &[1, 0] };
        for &enabled in states {
            let mut b = HvmSetIoreqServerState {
                domid,
                id: sid,
                enabled,
                pad: 0,
            };
            let rc = call(privcmd, HVMOP_SET_IOREQ_SERVER_STATE, &mut b);
            expect(
                &mut lines,
                format!("22 set_ioreq_server_state id={sid} enabled={enabled}"),
                rc,
                0,
            );
        }
    }

    let mut b = HvmDestroyIoreqServer { domid, id: new_id };
    let rc = call(privcmd, HVMOP_DESTROY_IOREQ_SERVER, &mut b);
    expect(
        &mut lines,
        format!("21 destroy_ioreq_server id={new_id}"),
        rc,
        0,
    );
    (lines, ok)
}

fn get_info(privcmd: &mut Privcmd, domid: u16, id: u16) -> (HvmGetIoreqServerInfo, i64) {
    let mut b = HvmGetIoreqServerInfo {
        domid,
        id,
        ..Default::default()
    };
    let rc = call(privcmd, HVMOP_GET_IOREQ_SERVER_INFO, &mut b);
    (b, rc)
}
