//! The crate's `#[repr(C)]` mirrors of Xen's ioreq ABI (`src/ioreq/abi.rs`) against the C layout
//! probe (`c/layout_probe.c`), which GCC compiles against Xen 4.17's (and 4.14's) own public
//! headers: sizes, alignments, offsets, bitfield bit positions and constants.
//!
//! The 2014 HVMOP structs (ops 17-22) no longer exist in 4.14's or 4.17's headers (replaced by
//! DMOPs in 4.9): they are checked against the series' table (docs/series.md, Hypercalls) and their
//! correspondence to the DMOP structs that replaced them is checked against the probe.

#[cfg(not(xen_c_unavailable))]
use xen_ioreq_rs::ioreq::abi;

#[cfg(xen_c_unavailable)]
#[test]
fn layout_against_xen_headers() {
    difftest_ioreq::skip("ioreq-layout", "Xen 4.17 source unavailable");
}

#[cfg(not(xen_c_unavailable))]
#[test]
fn layout_against_xen_headers() {
    use abi::*;
    use core::mem::{align_of, offset_of, size_of, size_of_val};
    use std::collections::BTreeMap;

    let probe: BTreeMap<String, u64> = difftest_ioreq::ffi::layout_probe("4.17")
        .expect("4.17 probe")
        .into_iter()
        .collect();
    let mut checked = 0usize;
    let mut eq = |key: &str, rust: u64| {
        let c = *probe
            .get(key)
            .unwrap_or_else(|| panic!("probe has no entry {key:?}"));
        assert_eq!(rust, c, "{key}: Rust {rust:#x} vs Xen 4.17 C {c:#x}");
        checked += 1;
    };
    let u = |x: usize| x as u64;

    // ioreq_t
    eq("sizeof ioreq_t", u(size_of::<IoreqSlot>()));
    eq("alignof ioreq_t", u(align_of::<IoreqSlot>()));
    eq("offsetof ioreq_t.addr", u(offset_of!(IoreqSlot, addr)));
    eq("offsetof ioreq_t.data", u(offset_of!(IoreqSlot, data)));
    eq("offsetof ioreq_t.count", u(offset_of!(IoreqSlot, count)));
    eq("offsetof ioreq_t.size", u(offset_of!(IoreqSlot, size)));
    eq(
        "offsetof ioreq_t.vp_eport",
        u(offset_of!(IoreqSlot, vp_eport)),
    );
    eq("offsetof ioreq_t._pad0", u(offset_of!(IoreqSlot, pad0)));
    eq("offsetof ioreq_t.type", u(offset_of!(IoreqSlot, type_)));
    for (f, w) in [
        ("addr", 8),
        ("data", 8),
        ("count", 4),
        ("size", 4),
        ("vp_eport", 4),
    ] {
        eq(&format!("fieldsize ioreq_t.{f}"), w);
    }
    // Bitfields: the Rust accessors, set alone to all-ones, give the same bytes 24..31.
    let hi = |s: IoreqSlot| u64::from_le_bytes(s.as_bytes()[24..32].try_into().unwrap());
    let mut s = IoreqSlot::default();
    s.set_state(0xf);
    eq("bits ioreq_t.state bytes24..31", hi(s));
    let mut s = IoreqSlot::default();
    s.set_data_is_ptr(true);
    eq("bits ioreq_t.data_is_ptr bytes24..31", hi(s));
    let mut s = IoreqSlot::default();
    s.set_dir(1);
    eq("bits ioreq_t.dir bytes24..31", hi(s));
    let mut s = IoreqSlot::default();
    s.set_df(true);
    eq("bits ioreq_t.df bytes24..31", hi(s));
    eq("bits ioreq_t._pad1 bytes24..31", 0x80 << 48);
    for f in ["state", "data_is_ptr", "dir", "df", "_pad1"] {
        eq(&format!("bits ioreq_t.{f} bytes0..23 zero"), 1);
    }
    assert_eq!(IoreqSlot::default().as_bytes().len(), 32);

    // shared_iopage_t: one slot per vcpu, 32-byte stride.
    eq("sizeof shared_iopage_t", u(size_of::<IoreqSlot>()));
    eq("offsetof shared_iopage_t.vcpu_ioreq", 0);
    assert_eq!(SHARED_IOPAGE_SLOTS * size_of::<IoreqSlot>(), 4096);

    // buf_ioreq_t
    eq("sizeof buf_ioreq_t", u(size_of::<BufIoreqSlot>()));
    eq("alignof buf_ioreq_t", u(align_of::<BufIoreqSlot>()));
    eq("offsetof buf_ioreq_t.type", 0);
    eq(
        "offsetof buf_ioreq_t.data",
        u(offset_of!(BufIoreqSlot, data)),
    );
    eq("fieldsize buf_ioreq_t.data", 4);
    eq("bits buf_ioreq_t.pad bytes0..7", 1 << 8);
    eq(
        "bits buf_ioreq_t.dir bytes0..7",
        BufIoreqSlot::new(0, 1, 0, 0, 0).to_u64(),
    );
    eq(
        "bits buf_ioreq_t.size bytes0..7",
        BufIoreqSlot::new(0, 0, 3, 0, 0).to_u64(),
    );
    eq(
        "bits buf_ioreq_t.addr bytes0..7",
        BufIoreqSlot::new(0, 0, 0, 0xfffff, 0).to_u64(),
    );
    assert_eq!(
        BufIoreqSlot::new(0xff, 0, 0, 0, 0).to_u64(),
        0xff,
        "type is byte 0"
    );
    assert_eq!(BUF_IOREQ_MAX_ADDR, 0xfffff);

    // buffered_iopage_t
    eq("sizeof buffered_iopage_t", u(size_of::<BufferedIopage>()));
    eq(
        "offsetof buffered_iopage_t.read_pointer",
        u(offset_of!(BufferedIopage, read_pointer)),
    );
    eq(
        "offsetof buffered_iopage_t.write_pointer",
        u(offset_of!(BufferedIopage, write_pointer)),
    );
    eq(
        "offsetof buffered_iopage_t.buf_ioreq",
        u(offset_of!(BufferedIopage, buf_ioreq)),
    );
    eq("IOREQ_BUFFER_SLOT_NUM", u64::from(IOREQ_BUFFER_SLOT_NUM));

    // constants
    eq("IOREQ_READ", u64::from(IOREQ_READ));
    eq("IOREQ_WRITE", u64::from(IOREQ_WRITE));
    eq("STATE_IOREQ_NONE", u64::from(STATE_IOREQ_NONE));
    eq("STATE_IOREQ_READY", u64::from(STATE_IOREQ_READY));
    eq("STATE_IOREQ_INPROCESS", u64::from(STATE_IOREQ_INPROCESS));
    eq("STATE_IORESP_READY", u64::from(STATE_IORESP_READY));
    eq("IOREQ_TYPE_PIO", u64::from(IOREQ_TYPE_PIO));
    eq("IOREQ_TYPE_COPY", u64::from(IOREQ_TYPE_COPY));
    eq("IOREQ_TYPE_PCI_CONFIG", u64::from(IOREQ_TYPE_PCI_CONFIG));
    eq("IOREQ_TYPE_TIMEOFFSET", u64::from(IOREQ_TYPE_TIMEOFFSET));
    eq("IOREQ_TYPE_INVALIDATE", u64::from(IOREQ_TYPE_INVALIDATE));

    // xen_hvm_param and the params
    eq("sizeof struct xen_hvm_param", u(size_of::<HvmParam>()));
    eq(
        "offsetof struct xen_hvm_param.domid",
        u(offset_of!(HvmParam, domid)),
    );
    eq(
        "offsetof struct xen_hvm_param.index",
        u(offset_of!(HvmParam, index)),
    );
    eq(
        "offsetof struct xen_hvm_param.value",
        u(offset_of!(HvmParam, value)),
    );
    eq("HVMOP_set_param", u64::from(HVMOP_SET_PARAM));
    eq("HVMOP_get_param", u64::from(HVMOP_GET_PARAM));
    eq("HVM_PARAM_IOREQ_PFN", u64::from(HVM_PARAM_IOREQ_PFN));
    eq("HVM_PARAM_BUFIOREQ_PFN", u64::from(HVM_PARAM_BUFIOREQ_PFN));
    eq("HVM_PARAM_DM_DOMAIN", u64::from(HVM_PARAM_DM_DOMAIN));
    eq(
        "HVM_PARAM_BUFIOREQ_EVTCHN",
        u64::from(HVM_PARAM_BUFIOREQ_EVTCHN),
    );
    eq(
        "HVM_PARAM_IOREQ_SERVER_PFN",
        u64::from(HVM_PARAM_IOREQ_SERVER_PFN),
    );
    eq(
        "HVM_PARAM_NR_IOREQ_SERVER_PAGES",
        u64::from(HVM_PARAM_NR_IOREQ_SERVER_PAGES),
    );
    // HVM_NR_PARAMS grew after the series (34 in 2014); the series' params keep their numbers.
    assert_eq!(HVM_NR_PARAMS, 34);
    assert!(probe["HVM_NR_PARAMS"] > u64::from(HVM_NR_PARAMS));
    eq("sizeof ioservid_t", 2);
    eq("sizeof domid_t", 2);
    eq("sizeof evtchn_port_t", 4);

    // The series' HVMOP structs (docs/series.md, Hypercalls; they are gone from Xen's headers).
    assert_eq!(
        (HVMOP_CREATE_IOREQ_SERVER, HVMOP_GET_IOREQ_SERVER_INFO),
        (17, 18)
    );
    assert_eq!(
        (
            HVMOP_MAP_IO_RANGE_TO_IOREQ_SERVER,
            HVMOP_UNMAP_IO_RANGE_FROM_IOREQ_SERVER,
            HVMOP_DESTROY_IOREQ_SERVER,
            HVMOP_SET_IOREQ_SERVER_STATE
        ),
        (19, 20, 21, 22)
    );
    assert_eq!(
        (
            size_of::<HvmCreateIoreqServer>(),
            align_of::<HvmCreateIoreqServer>()
        ),
        (6, 2)
    );
    assert_eq!(offset_of!(HvmCreateIoreqServer, handle_bufioreq), 2);
    assert_eq!(offset_of!(HvmCreateIoreqServer, id), 4);
    assert_eq!(
        (
            size_of::<HvmGetIoreqServerInfo>(),
            align_of::<HvmGetIoreqServerInfo>()
        ),
        (24, 8)
    );
    assert_eq!((size_of::<HvmIoRange>(), align_of::<HvmIoRange>()), (24, 8));
    assert_eq!(
        (
            size_of::<HvmDestroyIoreqServer>(),
            align_of::<HvmDestroyIoreqServer>()
        ),
        (4, 2)
    );
    assert_eq!(
        (
            size_of::<HvmSetIoreqServerState>(),
            align_of::<HvmSetIoreqServerState>()
        ),
        (6, 2)
    );
    assert_eq!(offset_of!(HvmSetIoreqServerState, enabled), 4);
    // Their DMOP successors dropped `domid` (a hypercall argument now): where the HVMOP struct
    // had `domid, id` in its first 4 bytes, the DMOP struct has `id, pad/flags`, and every later
    // field kept its offset.
    eq("offsetof struct xen_dm_op.u", 8);
    eq(
        "sizeof struct xen_dm_op_ioreq_server_range",
        u(size_of::<HvmIoRange>()),
    );
    eq(
        "offsetof struct xen_dm_op_ioreq_server_range.type",
        u(offset_of!(HvmIoRange, type_)),
    );
    eq(
        "offsetof struct xen_dm_op_ioreq_server_range.start",
        u(offset_of!(HvmIoRange, start)),
    );
    eq(
        "offsetof struct xen_dm_op_ioreq_server_range.end",
        u(offset_of!(HvmIoRange, end)),
    );
    eq(
        "sizeof struct xen_dm_op_get_ioreq_server_info",
        u(size_of::<HvmGetIoreqServerInfo>()),
    );
    eq(
        "offsetof struct xen_dm_op_get_ioreq_server_info.bufioreq_port",
        u(offset_of!(HvmGetIoreqServerInfo, bufioreq_port)),
    );
    eq(
        "offsetof struct xen_dm_op_get_ioreq_server_info.ioreq_gfn",
        u(offset_of!(HvmGetIoreqServerInfo, ioreq_pfn)),
    );
    eq(
        "offsetof struct xen_dm_op_get_ioreq_server_info.bufioreq_gfn",
        u(offset_of!(HvmGetIoreqServerInfo, bufioreq_pfn)),
    );
    eq(
        "sizeof struct xen_dm_op_create_ioreq_server",
        u(size_of::<HvmCreateIoreqServer>()),
    );
    eq(
        "offsetof struct xen_dm_op_create_ioreq_server.id",
        u(offset_of!(HvmCreateIoreqServer, id)),
    );
    // (create's handle_bufioreq moved from 2 to 0; set_state's enabled from 4 to 2.)
    eq(
        "offsetof struct xen_dm_op_create_ioreq_server.handle_bufioreq",
        0,
    );
    eq(
        "offsetof struct xen_dm_op_set_ioreq_server_state.enabled",
        2,
    );
    eq("sizeof struct xen_dm_op_set_ioreq_server_state", 4);
    eq(
        "sizeof struct xen_dm_op_destroy_ioreq_server",
        u(size_of::<HvmDestroyIoreqServer>()),
    );
    // Range types and the SBDF encoding are unchanged.
    eq("XEN_DMOP_IO_RANGE_PORT", u64::from(HVMOP_IO_RANGE_PORT));
    eq("XEN_DMOP_IO_RANGE_MEMORY", u64::from(HVMOP_IO_RANGE_MEMORY));
    eq("XEN_DMOP_IO_RANGE_PCI", u64::from(HVMOP_IO_RANGE_PCI));
    eq(
        "XEN_DMOP_PCI_SBDF(0x1234, 0x56, 0x1f, 7)",
        u64::from(hvmop_pci_sbdf(0x1234, 0x56, 0x1f, 7)),
    );
    eq(
        "XEN_DMOP_PCI_SBDF(0xffffffff, 0xfff, 0xff, 0xff)",
        u64::from(hvmop_pci_sbdf(0xffff_ffff, 0xfff, 0xff, 0xff)),
    );
    // The DMOP argument structs the library decodes (ioreq::dmop) and the live emulator sends.
    macro_rules! dmop_struct {
        ($t:ty, $c:literal $(, $f:ident = $cf:literal)*) => {
            eq(concat!("sizeof struct ", $c), u(size_of::<$t>()));
            eq(concat!("alignof struct ", $c), u(align_of::<$t>()));
            $(
                eq(concat!("offsetof struct ", $c, ".", $cf), u(offset_of!($t, $f)));
                eq(
                    concat!("fieldsize struct ", $c, ".", $cf),
                    u(size_of_val(&<$t>::default().$f)),
                );
            )*
        };
    }
    dmop_struct!(
        DmopCreateIoreqServer,
        "xen_dm_op_create_ioreq_server",
        handle_bufioreq = "handle_bufioreq",
        pad = "pad",
        id = "id"
    );
    dmop_struct!(
        DmopGetIoreqServerInfo,
        "xen_dm_op_get_ioreq_server_info",
        id = "id",
        flags = "flags",
        bufioreq_port = "bufioreq_port",
        ioreq_gfn = "ioreq_gfn",
        bufioreq_gfn = "bufioreq_gfn"
    );
    dmop_struct!(
        DmopIoreqServerRange,
        "xen_dm_op_ioreq_server_range",
        id = "id",
        pad = "pad",
        type_ = "type",
        start = "start",
        end = "end"
    );
    dmop_struct!(
        DmopSetIoreqServerState,
        "xen_dm_op_set_ioreq_server_state",
        id = "id",
        enabled = "enabled",
        pad = "pad"
    );
    dmop_struct!(
        DmopDestroyIoreqServer,
        "xen_dm_op_destroy_ioreq_server",
        id = "id",
        pad = "pad"
    );
    // The DMOP numbers and fields docs/series.md gives (Hypercalls), against 4.17's headers.
    eq("XEN_DMOP_create_ioreq_server", 1);
    eq("XEN_DMOP_get_ioreq_server_info", 2);
    eq("XEN_DMOP_map_io_range_to_ioreq_server", 3);
    eq("XEN_DMOP_unmap_io_range_from_ioreq_server", 4);
    eq("XEN_DMOP_set_ioreq_server_state", 5);
    eq("XEN_DMOP_destroy_ioreq_server", 6);
    eq("XEN_DMOP_no_gfns", 1);
    eq("offsetof struct xen_dm_op_get_ioreq_server_info.flags", 2);
    eq("HVM_IOREQSRV_BUFIOREQ_OFF", 0);
    eq("HVM_IOREQSRV_BUFIOREQ_LEGACY", 1);
    eq("HVM_IOREQSRV_BUFIOREQ_ATOMIC", 2);

    // Xen 4.14's headers agree on everything the series defined.
    #[cfg(not(xen_c_414_unavailable))]
    {
        let p414: BTreeMap<String, u64> = difftest_ioreq::ffi::layout_probe("4.14")
            .expect("4.14 probe")
            .into_iter()
            .collect();
        for (k, v) in &p414 {
            if k == "HVM_NR_PARAMS" {
                continue;
            }
            assert_eq!(probe.get(k), Some(v), "4.14 vs 4.17 headers differ on {k}");
        }
        assert_eq!(p414.len(), probe.len());
    }
    println!("difftest ioreq-layout: {checked} layout facts compared, 0 unexplained divergences");
}
