//! FIDELITY I15: `hvm_all_ioreq_servers_add_vcpu` for a vCPU a server already holds (a caller's
//! misuse: Xen calls it once, from `hvm_vcpu_initialise`). Xen 4.17's C and the Rust both accept
//! it, add a second entry, and overwrite the server's buffered-ring event channel, so the old one
//! stays allocated with nothing referring to it until the domain's event channels are destroyed.
//! Found by the `ioreq_abi` fuzz target.

#[cfg(xen_c_unavailable)]
#[test]
fn i15_vcpu_added_again_orphans_the_ring_channel_in_c_and_rust() {
    difftest_ioreq::skip("ioreq-vcpu-add-again", "Xen 4.17 source unavailable");
}

#[cfg(not(xen_c_unavailable))]
#[test]
fn i15_vcpu_added_again_orphans_the_ring_channel_in_c_and_rust() {
    let c = c_side();
    let rust = rust_side();
    assert_eq!(c, rust, "C (left) and Rust (right) differ");
    assert_eq!(
        c,
        (0, 4, true, false),
        "accepted, two more channels, the old ring orphaned"
    );
    println!("difftest ioreq-vcpu-add-again: 1 ops compared, 0 unexplained divergences");
}

/// What the misuse did: (rc of the second add, event channels live after it, whether the old
/// ring channel is still allocated, whether the server still refers to it).
#[cfg(not(xen_c_unavailable))]
type Outcome = (i32, i64, bool, bool);

#[cfg(not(xen_c_unavailable))]
fn c_side() -> Outcome {
    use difftest_ioreq::ffi;

    let _g = difftest_ioreq::c_lock();
    ffi::select_xen(ffi::XenC::V417);
    let (dm, guest) = ffi::dom0_and_guest(7, 1);
    let mut id = 0;
    assert_eq!(ffi::create(7, 1, &mut id), 0);
    let old_ring = guest.server_bufioreq_evtchn(id).expect("ring port");
    assert_eq!(guest.stats().live_evtchns, 2);
    let rc = guest.vcpu_add_again(0);
    let live = guest.stats().live_evtchns;
    let still_allocated = guest.evtchn_notified(old_ring).is_some();
    let referenced = guest.server_bufioreq_evtchn(id) == Some(old_ring)
        || guest.server_vcpu_evtchn(id, 0) == Some(old_ring);
    // Destroying the server now would free the new ring channel once per entry (Xen's
    // free_xen_event_channel closes the already free port harmlessly; the harness's fake asserts
    // on it), so only the domain's teardown (evtchn_destroy) takes the orphan back.
    guest.destroy();
    dm.destroy();
    (rc, live, still_allocated, referenced)
}

#[cfg(not(xen_c_unavailable))]
fn rust_side() -> Outcome {
    use xen_ioreq_rs::ioreq::abi::{HVM_PARAM_IOREQ_SERVER_PFN, HVM_PARAM_NR_IOREQ_SERVER_PAGES};
    use xen_ioreq_rs::ioreq::ffi::*;
    use xen_ioreq_rs::ioreq::{self, set_param_hook};
    use xen_ioreq_rs::platform::host::domain::HostDomain;
    use xen_ioreq_rs::platform::host::{evtchn, memory, HostPlatform as H};

    let dm = HostDomain::create(0);
    HostDomain::with(dm, |h| h.is_privileged = true);
    HostDomain::set_current(dm);
    let d = HostDomain::create(7);
    xen_ioreq_rs::rangeset::domain::domain_initialise::<H>(d).expect("rangeset list");
    let v = HostDomain::add_vcpu(d, 0);
    for g in 0xfeff0..0xfeff8 {
        memory::populate(d, g);
    }
    set_param_hook::<H>(d, HVM_PARAM_NR_IOREQ_SERVER_PAGES, 8).expect("pool size");
    set_param_hook::<H>(d, HVM_PARAM_IOREQ_SERVER_PFN, 0xfeff0).expect("pool base");
    let (dp, vp) = (d.as_ptr().cast(), v.as_ptr().cast());
    let mut id = 0;
    // SAFETY: live host domain, a local for the id.
    let rc = unsafe { hvm_create_ioreq_server(dp, 0, false, true, &mut id) };
    assert_eq!(rc, 0);
    let ring = |d| ioreq::snapshot::<H>(d).servers[0].bufioreq.expect("ring").1;
    let old_ring = ring(d);
    assert_eq!(evtchn::live_evtchns(), 2);
    // SAFETY: live host domain and vCPU.
    let rc = unsafe { hvm_all_ioreq_servers_add_vcpu(dp, vp) };
    let live = evtchn::live_evtchns() as i64;
    let still_allocated = evtchn::evtchn(d, old_ring).is_some();
    let snap = ioreq::snapshot::<H>(d);
    let referenced = ring(d) == old_ring
        || snap.servers[0]
            .vcpu_ports
            .iter()
            .any(|&(_, p)| p == old_ring);
    // SAFETY: live host domain.
    unsafe { hvm_destroy_all_ioreq_servers(dp) };
    assert_eq!(
        evtchn::live_evtchns(),
        1,
        "the servers are gone; only the orphaned ring channel is left"
    );
    evtchn::destroy_all_evtchns(d);
    // SAFETY: nothing uses the domain's state any more (this thread, teardown).
    unsafe {
        ioreq::domain_destroy::<H>(d);
        xen_ioreq_rs::rangeset::domain::domain_destroy::<H>(d);
    }
    HostDomain::remove_vcpu(v);
    memory::depopulate_all(d);
    HostDomain::destroy(d);
    HostDomain::destroy(dm);
    (rc, live, still_allocated, referenced)
}
