//! ioreq servers against the series' later history (FIDELITY I200-I202): upstream changes after
//! the series' last commit (41b41c0b0d) that the port does not take, each shown on the host
//! platform with the series' behaviour described in words. The commit table before these entries
//! maps every other upstream ioreq commit to the entry and test that show it.

mod ioreq_common;

use ioreq_common::*;
use xen_ioreq_rs::ioreq::abi::*;
use xen_ioreq_rs::ioreq::{self, IoCompletion};
use xen_ioreq_rs::platform::host::domain::HostDomain;
use xen_ioreq_rs::platform::host::memory;
use xen_ioreq_rs::platform::host::HostPlatform as H;
use xen_ioreq_rs::Errno;

/// A server of the guest claiming ports 0x100-0x10f, its pages mapped by get_info.
fn port_server(env: &Env) -> (u16, HvmGetIoreqServerInfo) {
    let id = create(false).expect("create");
    let info = get_info(id).expect("get_info");
    assert_eq!(map(id, HVMOP_IO_RANGE_PORT, 0x100, 0x10f), 0);
    let _ = env;
    (id, info)
}

/// I201, `b7e0d89788` (Xen 4.17.0, "Fix race between sending an I/O and domain shutdown"). In
/// the series a request for a vCPU whose domain is shutting down was dropped ("implicitly bins the
/// i/o operation": `vcpu_start_shutdown_deferral` failed, nothing was posted, and the access was
/// not retried). Xen 4.17 marks the vCPU suspended and returns RETRY, so the instruction is
/// emulated again if the domain is resumed (checkpointing). The port keeps the series' answer:
/// not sent, nothing posted, nothing pending.
#[test]
fn i201_send_while_shutting_down_b7e0d89788() {
    let env = setup(1);
    let (id, _) = port_server(&env);
    assert_eq!(set_state(id, true), 0);
    HostDomain::with(env.d, |h| h.shutting_down = true);
    let mut p = pio(0x104, 2, IOREQ_WRITE);
    assert!(!ioreq::send_assist_req::<H>(env.d, env.vcpus[0], &mut p));
    assert!(!ioreq::io_pending::<H>(env.d, env.vcpus[0]));
    assert_eq!(
        ioreq::complete_io::<H>(env.d, env.vcpus[0]),
        IoCompletion::Idle
    );
    HostDomain::with(env.d, |h| h.shutting_down = false);
    let mut p = pio(0x104, 2, IOREQ_WRITE);
    assert!(ioreq::send_assist_req::<H>(env.d, env.vcpus[0], &mut p));
    assert!(ioreq::io_pending::<H>(env.d, env.vcpus[0]));
    assert_eq!(crashes(env.d), 0);
    teardown(env);
}

/// I202, `a0cce6048d` (Xen 4.10, XSA-222 "guest_physmap_remove_page() needs its return value
/// checked"). The series ignored a failure to remove a server's page from the guest's P2M when
/// enabling it (`hvm_remove_ioreq_gmfn`), so the server ran with its shared page still mapped in
/// the guest; Xen 4.17 crashes the domain instead. The port follows the series: the failure is
/// ignored, the enable succeeds and the page stays guest-visible.
#[test]
fn i202_p2m_removal_failure_on_enable_a0cce6048d() {
    let env = setup(1);
    let (id, info) = port_server(&env);
    assert!(memory::p2m_lookup(env.d, info.ioreq_pfn).is_some());
    memory::fail_next_physmap(Some(Errno::ENOMEM));
    assert_eq!(set_state(id, true), 0);
    assert!(
        memory::p2m_lookup(env.d, info.ioreq_pfn).is_some(),
        "the page stayed in the guest's P2M"
    );
    assert_eq!(crashes(env.d), 0, "Xen 4.17 would have crashed the domain");
    memory::fail_next_physmap(None);
    teardown(env);
}
