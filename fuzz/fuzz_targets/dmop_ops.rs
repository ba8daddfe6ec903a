//! Xen 4.17's ioreq DMOPs (1-6) and acquire_resource's frames on a 4.17 registry, as `dm.c` and
//! `memory.c` reach them through the adapter (FIDELITY X6): a sequence of raw union bytes and
//! frame indices from any caller, after injected faults. Checks: no panic, only the DMOPs'
//! error codes, a failing op changes no server, and nothing leaks at teardown.
#![no_main]

#[path = "ioreq_env/mod.rs"]
mod ioreq_env;

use libfuzzer_sys::fuzz_target;
use xen_ioreq_rs::errno::Errno;
use xen_ioreq_rs::ioreq::{self, dmop, Authority};
use xen_ioreq_rs::platform::domain::RegistryKind;
use xen_ioreq_rs::platform::host::domain::{set_registry_kind, HostDomain};
use xen_ioreq_rs::platform::host::{evtchn, memory, HostPlatform as H};
use xen_ioreq_rs::platform::Domains;

/// The errors the DMOPs and get_frame return (4.17's set).
const ALLOWED: [i32; 9] = [0, -1, -2, -12, -17, -22, -28, -61, -95];

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 || data.len() > 512 {
        return;
    }
    set_registry_kind(RegistryKind::Xen417);
    let env = ioreq_env::setup(2);
    set_registry_kind(RegistryKind::Series);
    match data[0] & 7 {
        1 => memory::fail_next_map(Some(Errno::ENOENT)),
        2 => memory::fail_next_alloc(Some(Errno::ENOMEM)),
        3 => evtchn::fail_evtchn_allocs_after(Some((u32::from(data[0] >> 3), Errno::ENOSPC))),
        _ => {}
    }
    for chunk in data[1..].chunks(26) {
        let [who, op, arg @ ..] = chunk else { continue };
        ioreq_env::set_caller(&env, *who);
        let caller = H::domain_id(H::current_domain());
        let before = ioreq::snapshot::<H>(env.d).servers;
        let rc = if op & 0x80 != 0 {
            let id = u16::from(arg.first().copied().unwrap_or(0) & 15);
            let idx = u32::from(op & 3);
            ioreq::get_frame::<H>(env.d, id, idx, Authority::Emulator(caller))
                .map(|_| ())
                .map_or_else(|e| e.to_neg(), |()| 0)
        } else {
            let mut buf = [0u8; 24];
            buf[..arg.len().min(24)].copy_from_slice(&arg[..arg.len().min(24)]);
            let (rc, _) = dmop::dm_op::<H>(env.d, caller, u32::from(op % 8), &mut buf);
            rc.map_or_else(|e| e.to_neg(), |()| 0)
        };
        assert!(ALLOWED.contains(&rc), "op {op}: rc {rc}");
        if rc != 0 && op & 0x80 == 0 && op % 8 != 2 {
            assert_eq!(
                ioreq::snapshot::<H>(env.d).servers,
                before,
                "a failing op changed state"
            );
        }
    }
    HostDomain::set_current(env.dm);
    ioreq_env::teardown(env);
    memory::fail_next_alloc(None);
    assert_eq!(memory::allocated_server_pages(), 0, "frame leaked");
});
