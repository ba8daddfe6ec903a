//! Server selection (docs/series.md) through the public API, with B6 and B9 fixed.

mod ioreq_common;
use ioreq_common::*;

use xen_ioreq_rs::ioreq::abi::*;
use xen_ioreq_rs::ioreq::{self, IoreqSlot};
use xen_ioreq_rs::platform::host::alloc::CountingAllocator;
use xen_ioreq_rs::platform::host::HostPlatform as H;

#[global_allocator]
static A: CountingAllocator = CountingAllocator;

fn sel(env: &Env, p: &mut IoreqSlot) -> Option<(u16, bool)> {
    ioreq::select_server::<H>(env.d, p).map(|s| (s.id, s.is_default))
}

#[test]
fn worked_example_of_section_5() {
    let env = setup(1);
    let id = create(false).unwrap();
    assert_eq!(map(id, HVMOP_IO_RANGE_PCI, 0x18, 0x18), 0);
    assert_eq!(set_state(id, true), 0);

    ioreq::access_cf8::<H>(env.d, IOREQ_WRITE, 4, 0x8000_1810);
    let mut p = pio(0xcfe, 2, IOREQ_READ);
    assert_eq!(sel(&env, &mut p), Some((id, false)));
    assert_eq!(p.type_, IOREQ_TYPE_PCI_CONFIG);
    assert_eq!(p.addr, 0x0000_0018_0000_0012);

    // Extended register bits 27:24 land in bits 11:8.
    ioreq::access_cf8::<H>(env.d, IOREQ_WRITE, 4, 0x8100_1810);
    let mut p = pio(0xcfe, 2, IOREQ_READ);
    assert_eq!(sel(&env, &mut p), Some((id, false)));
    assert_eq!(p.addr, 0x0000_0018_0000_0112);

    // Only 4-byte writes are latched.
    ioreq::access_cf8::<H>(env.d, IOREQ_WRITE, 2, 0);
    ioreq::access_cf8::<H>(env.d, IOREQ_READ, 4, 0);
    assert_eq!(ioreq::snapshot::<H>(env.d).pci_cf8, 0x8100_1810);

    // Another device, or CF8's enable bit clear: not this server, request untouched.
    ioreq::access_cf8::<H>(env.d, IOREQ_WRITE, 4, 0x8000_2010);
    let mut p = pio(0xcfc, 4, IOREQ_READ);
    assert_eq!(sel(&env, &mut p), None);
    assert_eq!((p.type_, p.addr), (IOREQ_TYPE_PIO, 0xcfc));
    ioreq::access_cf8::<H>(env.d, IOREQ_WRITE, 4, 0x0000_1810);
    let mut p = pio(0xcfc, 4, IOREQ_READ);
    assert_eq!(sel(&env, &mut p), None);
    assert_eq!(p.type_, IOREQ_TYPE_PIO);
    teardown(env);
}

#[test]
fn port_and_mmio_need_whole_containment() {
    let env = setup(1);
    let id = create(true).unwrap();
    assert_eq!(map(id, HVMOP_IO_RANGE_PORT, 0x3f8, 0x3ff), 0);
    assert_eq!(map(id, HVMOP_IO_RANGE_MEMORY, 0xf000_0000, 0xf000_0fff), 0);
    // Adjacent registrations coalesce: an access spanning both matches.
    assert_eq!(map(id, HVMOP_IO_RANGE_MEMORY, 0xf000_1000, 0xf000_1fff), 0);
    assert_eq!(set_state(id, true), 0);

    assert_eq!(sel(&env, &mut pio(0x3f8, 1, 0)), Some((id, false)));
    assert_eq!(sel(&env, &mut pio(0x3fc, 4, 0)), Some((id, false)));
    assert_eq!(sel(&env, &mut pio(0x3fe, 4, 0)), None, "partially covered");
    assert_eq!(
        sel(&env, &mut pio(0x3f8, 0, 0)),
        None,
        "zero size touches nothing"
    );
    // Rep count is irrelevant for port I/O.
    let mut p = pio(0x3f8, 1, 0);
    p.count = 1000;
    assert_eq!(sel(&env, &mut p), Some((id, false)));

    assert_eq!(
        sel(&env, &mut mmio(0xf000_0ffc, 4, 2, false)),
        Some((id, false))
    );
    assert_eq!(sel(&env, &mut mmio(0xf000_1ffc, 4, 2, false)), None);
    // size*count overflowing 64 bits matches nothing instead of wrapping.
    assert_eq!(
        sel(&env, &mut mmio(0xf000_0000, u32::MAX, u32::MAX, false)),
        None
    );
    assert_eq!(sel(&env, &mut mmio(u64::MAX - 3, 8, 1, false)), None);
    teardown(env);
}

#[test]
fn mmio_with_df_checks_the_bytes_below_addr() {
    // B9: with DF=1, `rep movs` descends from addr: the bytes are [addr-(count-1)*size, addr+size-1].
    let env = setup(1);
    let id = create(false).unwrap();
    assert_eq!(map(id, HVMOP_IO_RANGE_MEMORY, 0x1000, 0x1fff), 0);
    assert_eq!(set_state(id, true), 0);
    // 4 elements of 4 bytes ending at the top of the range.
    assert_eq!(sel(&env, &mut mmio(0x1ffc, 4, 4, true)), Some((id, false)));
    // The same with DF=0 would run past the end.
    assert_eq!(sel(&env, &mut mmio(0x1ffc, 4, 4, false)), None);
    // Descending below the start.
    assert_eq!(sel(&env, &mut mmio(0x1004, 4, 4, true)), None);
    // Descending below 0 matches nothing.
    assert_eq!(sel(&env, &mut mmio(0x4, 4, 4, true)), None);
    teardown(env);
}

#[test]
fn lone_secondary_server_is_selectable() {
    // B6: the 2014 C returned the (NULL) default pointer whenever exactly one server existed.
    let env = setup(1);
    let id = create(false).unwrap();
    assert_eq!(map(id, HVMOP_IO_RANGE_PORT, 0x10, 0x10), 0);
    assert_eq!(set_state(id, true), 0);
    assert_eq!(sel(&env, &mut pio(0x10, 1, 0)), Some((id, false)));
    // Unmatched I/O with no default server: nobody; the caller completes it as the null handler.
    let mut p = pio(0x20, 2, IOREQ_READ);
    assert_eq!(sel(&env, &mut p), None);
    ioreq::complete_as_null(&mut p);
    assert_eq!((p.data, p.state()), (0xffff, STATE_IORESP_READY));
    let mut w = pio(0x20, 2, IOREQ_WRITE);
    w.data = 0x1234;
    ioreq::complete_as_null(&mut w);
    assert_eq!(w.data, 0x1234);
    teardown(env);
}

#[test]
fn newest_enabled_secondary_first_then_default() {
    let env = setup(2);
    // The default server (created by reading param 5) gets id 1.
    assert_eq!(get_param(env.d, HVM_PARAM_IOREQ_PFN), Ok(IOREQ_PFN));
    let old = create(false).unwrap();
    let new = create(false).unwrap();
    assert_eq!((old, new), (2, 3));
    for id in [old, new] {
        assert_eq!(map(id, HVMOP_IO_RANGE_PORT, 0x100, 0x1ff), 0);
    }
    // Disabled servers are skipped: everything goes to the default.
    assert_eq!(sel(&env, &mut pio(0x100, 1, 0)), Some((1, true)));
    assert_eq!(set_state(old, true), 0);
    assert_eq!(sel(&env, &mut pio(0x100, 1, 0)), Some((old, false)));
    assert_eq!(set_state(new, true), 0);
    assert_eq!(sel(&env, &mut pio(0x100, 1, 0)), Some((new, false)));
    // Unmatched, and types other than PIO/COPY: the default server.
    assert_eq!(sel(&env, &mut pio(0x300, 1, 0)), Some((1, true)));
    let mut t = IoreqSlot {
        type_: IOREQ_TYPE_TIMEOFFSET,
        ..Default::default()
    };
    assert_eq!(sel(&env, &mut t), Some((1, true)));
    // Selection agrees with the snapshot's ranges.
    let snap = ioreq::snapshot::<H>(env.d);
    assert_eq!(snap.servers.len(), 3);
    assert_eq!(snap.servers[0].ranges[0], vec![(0x100, 0x1ff)]);
    teardown(env);
}
