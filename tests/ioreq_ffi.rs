//! The exported C ABI on the host platform: NULL pointers are refused (I14), results and outputs
//! match the safe core, and requests round-trip through `ioreq_t *`.

mod ioreq_common;
use ioreq_common::*;

use core::ptr::null_mut;
use std::mem::offset_of;
use xen_ioreq_rs::hvmop::ffi::hvmop_ioreq_server;
use xen_ioreq_rs::ioreq::abi::*;
use xen_ioreq_rs::ioreq::ffi::*;
use xen_ioreq_rs::ioreq::{self, IoreqSlot};
use xen_ioreq_rs::platform::host::alloc::CountingAllocator;
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::guest_copy::{guest_buffer, take_guest_buffer};
use xen_ioreq_rs::platform::host::memory::EmulatorPage;
use xen_ioreq_rs::platform::host::HostPlatform as H;

#[global_allocator]
static A: CountingAllocator = CountingAllocator;

fn d(env: &Env) -> *mut domain {
    env.d.as_ptr().cast()
}

fn req_ptr(p: &mut IoreqSlot) -> *mut xen_ioreq_rs::ioreq::ffi::ioreq {
    (p as *mut IoreqSlot).cast()
}

#[test]
fn null_pointers_are_refused() {
    let env = setup(1);
    // SAFETY: every pointer is NULL or valid, as the exports require.
    unsafe {
        let mut id = 0u16;
        assert_eq!(
            hvm_create_ioreq_server(null_mut(), 0, false, true, &mut id),
            -22
        );
        assert_eq!(hvm_destroy_ioreq_server(null_mut(), 1), -22);
        let (mut a, mut b, mut c) = (0u64, 0u64, 0u32);
        assert_eq!(
            hvm_get_ioreq_server_info(null_mut(), 1, &mut a, &mut b, &mut c),
            -22
        );
        assert_eq!(
            hvm_map_io_range_to_ioreq_server(null_mut(), 1, 0, 1, 1),
            -22
        );
        assert_eq!(
            hvm_unmap_io_range_from_ioreq_server(null_mut(), 1, 0, 1, 1),
            -22
        );
        assert_eq!(hvm_set_ioreq_server_state(null_mut(), 1, true), -22);
        assert_eq!(hvm_all_ioreq_servers_add_vcpu(null_mut(), null_mut()), -22);
        assert_eq!(hvm_all_ioreq_servers_add_vcpu(d(&env), null_mut()), -22);
        hvm_all_ioreq_servers_remove_vcpu(null_mut(), null_mut());
        hvm_destroy_all_ioreq_servers(null_mut());
        hvm_ioreq_domain_destroy(null_mut());
        assert_eq!(hvm_set_dm_domain(null_mut(), 0), -22);
        assert!(!hvm_has_dm(null_mut()));
        assert!(!hvm_io_pending(null_mut()));
        assert!(!hvm_send_assist_req(null_mut()));
        assert_eq!(
            hvm_ioreq_select_and_send(null_mut(), HVM_IOREQ_ROUTE_RANGE),
            HVM_IOREQ_NO_SERVER
        );
        assert_eq!(hvm_ioreq_broadcast(null_mut(), false), 0);
        let mut cop = false;
        assert_eq!(hvm_ioreq_dm_op(null_mut(), 1, null_mut(), 0, &mut cop), -22);
        assert_eq!(hvm_ioreq_get_frame(null_mut(), 0, 0, null_mut()), -22);
        assert!(!hvm_is_ioreq_server_page(null_mut(), null_mut()));
        hvm_broadcast_assist_req(null_mut());
        assert_eq!(hvm_buffered_io_send(null_mut()), 0);
        assert_eq!(hvm_ioreq_complete(null_mut(), null_mut(), null_mut()), -22);
        assert_eq!(hvm_access_cf8(0, 0xcf8, 4, null_mut()), 1);
        assert_eq!(hvm_ioreq_get_param(null_mut(), 5), -22);
        assert_eq!(hvm_ioreq_set_param(null_mut(), 32, null_mut()), -22);
        assert_eq!(hvm_ioreq_set_param(d(&env), 32, null_mut()), -22);
        // With a server, a NULL output pointer is still refused and nothing is written.
        assert_eq!(hvm_create_ioreq_server(d(&env), 0, false, true, &mut id), 0);
        assert_eq!(
            hvm_get_ioreq_server_info(d(&env), id, null_mut(), &mut b, &mut c),
            -22
        );
        // The send paths without a current vCPU send nothing.
        let mut p = pio(0x10, 1, IOREQ_READ);
        assert!(!hvm_send_assist_req(req_ptr(&mut p)));
    }
    teardown(env);
}

#[test]
fn c_abi_round_trip() {
    let env = setup(2);
    HostDomain::set_current_vcpu(Some(env.vcpus[1]));
    // SAFETY: every pointer is valid for the access the export makes.
    unsafe {
        // The default server through the param hook; a NULL id is fine.
        assert_eq!(hvm_ioreq_get_param(d(&env), HVM_PARAM_IOREQ_PFN), 0);
        assert!(hvm_has_dm(d(&env)));
        assert_eq!(
            hvm_create_ioreq_server(d(&env), 0, true, true, null_mut()),
            -17
        );
        let mut id = 0u16;
        assert_eq!(
            hvm_create_ioreq_server(d(&env), 0, false, false, &mut id),
            0
        );
        assert_eq!(id, 2);
        let (mut pfn, mut bpfn, mut bport) = (0u64, 0xaau64, 0xbbu32);
        assert_eq!(
            hvm_get_ioreq_server_info(d(&env), id, &mut pfn, &mut bpfn, &mut bport),
            0
        );
        assert_eq!(
            (pfn, bpfn, bport),
            (POOL_BASE, 0xaa, 0xbb),
            "no ring: outputs untouched"
        );
        assert_eq!(
            hvm_map_io_range_to_ioreq_server(d(&env), id, 0, 0x100, 0x1ff),
            0
        );
        assert_eq!(
            hvm_unmap_io_range_from_ioreq_server(d(&env), id, 0, 0x180, 0x1ff),
            0
        );
        let emu = EmulatorPage::map(env.d, pfn).unwrap();
        assert_eq!(hvm_set_ioreq_server_state(d(&env), id, true), 0);
        // Select and send in one call through an ioreq_t pointer.
        let mut p = pio(0x104, 4, IOREQ_WRITE);
        p.data = 0x55;
        assert_eq!(
            hvm_ioreq_select_and_send(req_ptr(&mut p), HVM_IOREQ_ROUTE_RANGE),
            X86EMUL_RETRY
        );
        assert_eq!(p.state(), STATE_IOREQ_NONE);
        assert!(hvm_io_pending(env.vcpus[1].as_ptr().cast()));
        let mut port = 0u32;
        let mut resp = IoreqSlot::default();
        assert_eq!(
            hvm_ioreq_complete(env.vcpus[1].as_ptr().cast(), req_ptr(&mut resp), &mut port),
            HVM_IOREQ_WAIT
        );
        assert_eq!(port, p.vp_eport);
        emu.write_u8(32 + offset_of!(IoreqSlot, flags), STATE_IORESP_READY);
        assert_eq!(
            hvm_ioreq_complete(env.vcpus[1].as_ptr().cast(), req_ptr(&mut resp), &mut port),
            HVM_IOREQ_COMPLETED
        );
        assert_eq!((resp.addr, resp.data), (0x104, 0x55));
        // Unmatched port: the default server.
        let mut q = pio(0x180, 1, IOREQ_READ);
        assert!(hvm_send_assist_req(req_ptr(&mut q)));
        // Buffered: to the default server's ring (COPY, unmatched).
        let mut b = mmio(0xa0000, 2, 1, false);
        assert_eq!(hvm_buffered_io_send(req_ptr(&mut b)), 1);
        // cf8 latch via the current domain.
        HostDomain::set_current(env.d);
        let mut v = 0x8000_1810u32;
        assert_eq!(hvm_access_cf8(IOREQ_WRITE.into(), 0xcf8, 4, &mut v), 1);
        assert_eq!(ioreq::snapshot::<H>(env.d).pci_cf8, 0x8000_1810);
        // Regression: an int `dir` that only truncates to IOREQ_WRITE is not a write (the C
        // compares the whole int), so the latch keeps its value.
        let mut other = 0x8000_2010u32;
        for dir in [256, -256, i32::MIN] {
            assert_eq!(hvm_access_cf8(dir, 0xcf8, 4, &mut other), 1);
        }
        assert_eq!(ioreq::snapshot::<H>(env.d).pci_cf8, 0x8000_1810);
        HostDomain::set_current(env.dm);
        // Param hook rewrites DOMID_SELF.
        let mut val = u64::from(DOMID_SELF);
        assert_eq!(
            hvm_ioreq_set_param(d(&env), HVM_PARAM_DM_DOMAIN, &mut val),
            0
        );
        assert_eq!(val, u64::from(DM));
        // The HVMOP entry.
        let a = HvmDestroyIoreqServer { domid: GUEST, id };
        let h = guest_buffer(a.as_bytes());
        assert_eq!(hvmop_ioreq_server(21, h.0 as *mut _), 0);
        take_guest_buffer(h);
        assert_eq!(hvm_destroy_ioreq_server(d(&env), id), -2);
        hvm_destroy_all_ioreq_servers(d(&env));
        assert!(!hvm_has_dm(d(&env)));
        drop(emu);
    }
    HostDomain::set_current_vcpu(None);
    teardown(env);
}
