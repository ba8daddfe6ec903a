//! `--hvmop`: the series' own interface, HVMOPs 17-22 (`__HYPERVISOR_hvm_op` through privcmd's
//! hypercall ioctl, the 2014 argument structs of src/ioreq/abi.rs), driven on one of the
//! emulator's servers and on one it creates itself. Stock Xen 4.17 answers -ENOSYS: it has no
//! such HVMOPs.

use xen_ioreq_rs::ioreq::abi::{
    HvmCreateIoreqServer, HvmDestroyIoreqServer, HvmGetIoreqServerInfo, HvmIoRange,
    HvmSetIoreqServerState, HVMOP_CREATE_IOREQ_SERVER, HVMOP_DESTROY_IOREQ_SERVER,
    HVMOP_GET_IOREQ_SERVER_INFO, HVMOP_IO_RANGE_PORT, HVMOP_MAP_IO_RANGE_TO_IOREQ_SERVER,
    HVMOP_SET_IOREQ_SERVER_STATE, HVMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER,
};

use crate::sys::Privcmd;

const HYPERVISOR_HVM_OP: u64 = 34;
/// A port range nobody else claims, for map/unmap.
const HVMOP_PORTS: (u64, u64) = (0x5d0, 0x5d7);

fn call(privcmd: &mut Privcmd, op: u32, arg: &mut [u8]) -> i64 {
    privcmd
        .hypercall_with_buf(HYPERVISOR_HVM_OP, u64::from(op), arg)
        .unwrap_or_else(|e| -i64::from(e.0))
}

/// Runs the sequence; returns the lines to print and whether every call returned 0.
pub fn drive(privcmd: &mut Privcmd, domid: u16, id: u16) -> (Vec<String>, bool) {
    let mut lines = Vec::new();
    let mut ok = true;
    let mut check = |lines: &mut Vec<String>, what: String, rc: i64| {
        ok &= rc == 0;
        lines.push(format!("hvmop: {what} rc={rc}"));
    };

    let mut b = HvmGetIoreqServerInfo {
        domid,
        id,
        ..Default::default()
    }
    .to_bytes();
    let rc = call(privcmd, HVMOP_GET_IOREQ_SERVER_INFO, &mut b);
    let info = HvmGetIoreqServerInfo::from_bytes(&b);
    check(
        &mut lines,
        format!(
            "18 get_ioreq_server_info id={id} ioreq_pfn={:#x} bufioreq_pfn={:#x}",
            info.ioreq_pfn, info.bufioreq_pfn
        ),
        rc,
    );

    let range = HvmIoRange {
        domid,
        id,
        type_: HVMOP_IO_RANGE_PORT,
        start: HVMOP_PORTS.0,
        end: HVMOP_PORTS.1,
    };
    let rc = call(
        privcmd,
        HVMOP_MAP_IO_RANGE_TO_IOREQ_SERVER,
        &mut range.to_bytes(),
    );
    check(
        &mut lines,
        format!(
            "19 map_io_range id={id} port {:#x}-{:#x}",
            range.start, range.end
        ),
        rc,
    );
    let rc = call(
        privcmd,
        HVMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER,
        &mut range.to_bytes(),
    );
    check(
        &mut lines,
        format!(
            "20 unmap_io_range id={id} port {:#x}-{:#x}",
            range.start, range.end
        ),
        rc,
    );

    for enabled in [0u8, 1] {
        let mut b = HvmSetIoreqServerState {
            domid,
            id,
            enabled,
            pad: 0,
        }
        .to_bytes();
        let rc = call(privcmd, HVMOP_SET_IOREQ_SERVER_STATE, &mut b);
        check(
            &mut lines,
            format!("22 set_ioreq_server_state id={id} enabled={enabled}"),
            rc,
        );
    }

    let mut b = HvmCreateIoreqServer {
        domid,
        handle_bufioreq: 1,
        pad: 0,
        id: 0,
    }
    .to_bytes();
    let rc = call(privcmd, HVMOP_CREATE_IOREQ_SERVER, &mut b);
    let new_id = HvmCreateIoreqServer::from_bytes(&b).id;
    check(
        &mut lines,
        format!("17 create_ioreq_server handle_bufioreq=1 -> id={new_id}"),
        rc,
    );
    if rc == 0 {
        let mut b = HvmDestroyIoreqServer { domid, id: new_id }.to_bytes();
        let rc = call(privcmd, HVMOP_DESTROY_IOREQ_SERVER, &mut b);
        check(
            &mut lines,
            format!("21 destroy_ioreq_server id={new_id}"),
            rc,
        );
    }
    (lines, ok)
}
