/*
 * ABI layout probe: compiled against Xen's own public headers only (no emulation header), it
 * reports sizes, alignments, field offsets, bitfield placements and constants of the interface
 * the ioreq servers share with emulators and toolstacks. The Rust test (tests/layout.rs)
 * compares the crate's #[repr(C)] mirrors against these numbers.
 *
 * Bitfields have no offsetof: each is set to all-ones in an otherwise zeroed struct and the raw
 * bytes are reported (little-endian words), so the test sees exactly where GCC put the bits.
 *
 * Built with -D__XEN_TOOLS__ (the emulator's view); XENC_PROBE names the exported function so
 * that the probe can be built once per Xen version.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <public/xen.h>
#include <public/event_channel.h>
#include <public/hvm/ioreq.h>
#include <public/hvm/hvm_op.h>
#include <public/hvm/params.h>
#include <public/hvm/dm_op.h>

#ifndef XENC_PROBE
#define XENC_PROBE xenc_layout_probe
#endif

struct xenc_layout_entry {
    const char *name;
    uint64_t value;
};

#define MAX_ENTRIES 256
static struct xenc_layout_entry entries[MAX_ENTRIES];
static unsigned int nr_entries;

static void put(const char *name, uint64_t value)
{
    if ( nr_entries < MAX_ENTRIES )
    {
        entries[nr_entries].name = name;
        entries[nr_entries].value = value;
        nr_entries++;
    }
}

static uint64_t le_word(const void *p, size_t from, size_t len)
{
    const unsigned char *b = p;
    uint64_t v = 0;
    size_t i;

    for ( i = 0; i < len && i < 8; i++ )
        v |= (uint64_t)b[from + i] << (8 * i);
    return v;
}

static int all_zero(const void *p, size_t from, size_t to)
{
    const unsigned char *b = p;
    size_t i;

    for ( i = from; i < to; i++ )
        if ( b[i] )
            return 0;
    return 1;
}

#define SIZE(t) put("sizeof " #t, sizeof(t)); put("alignof " #t, _Alignof(t))
#define OFF(t, f) put("offsetof " #t "." #f, offsetof(t, f))
#define FSIZE(t, f) put("fieldsize " #t "." #f, sizeof(((t *)0)->f))
#define FIELD(t, f) OFF(t, f); FSIZE(t, f)
#define CONST(c) put(#c, (uint64_t)(c))

/* ioreq_t's bitfields share byte 30 with nothing else: report bytes 24..31 and that 0..23 stay 0. */
#define IOREQ_BITS(f)                                                          \
    do {                                                                       \
        ioreq_t r;                                                             \
        memset(&r, 0, sizeof(r));                                              \
        r.f--;                                                                 \
        put("bits ioreq_t." #f " bytes24..31", le_word(&r, 24, 8));            \
        put("bits ioreq_t." #f " bytes0..23 zero", all_zero(&r, 0, 24));       \
    } while ( 0 )

#define BUF_BITS(f)                                                            \
    do {                                                                       \
        buf_ioreq_t b;                                                         \
        memset(&b, 0, sizeof(b));                                              \
        b.f--;                                                                 \
        put("bits buf_ioreq_t." #f " bytes0..7", le_word(&b, 0, 8));           \
    } while ( 0 )

const struct xenc_layout_entry *XENC_PROBE(unsigned int *count)
{
    nr_entries = 0;

    /* ioreq_t */
    SIZE(ioreq_t);
    FIELD(ioreq_t, addr);
    FIELD(ioreq_t, data);
    FIELD(ioreq_t, count);
    FIELD(ioreq_t, size);
    FIELD(ioreq_t, vp_eport);
    FIELD(ioreq_t, _pad0);
    FIELD(ioreq_t, type);
    IOREQ_BITS(state);
    IOREQ_BITS(data_is_ptr);
    IOREQ_BITS(dir);
    IOREQ_BITS(df);
    IOREQ_BITS(_pad1);

    /* the shared pages */
    SIZE(shared_iopage_t);
    OFF(shared_iopage_t, vcpu_ioreq);
    SIZE(buf_ioreq_t);
    FIELD(buf_ioreq_t, type);
    FIELD(buf_ioreq_t, data);
    BUF_BITS(pad);
    BUF_BITS(dir);
    BUF_BITS(size);
    BUF_BITS(addr);
    SIZE(buffered_iopage_t);
    FIELD(buffered_iopage_t, read_pointer);
    FIELD(buffered_iopage_t, write_pointer);
    FIELD(buffered_iopage_t, buf_ioreq);
    CONST(IOREQ_BUFFER_SLOT_NUM);

    /* ioreq constants */
    CONST(IOREQ_READ);
    CONST(IOREQ_WRITE);
    CONST(STATE_IOREQ_NONE);
    CONST(STATE_IOREQ_READY);
    CONST(STATE_IOREQ_INPROCESS);
    CONST(STATE_IORESP_READY);
    CONST(IOREQ_TYPE_PIO);
    CONST(IOREQ_TYPE_COPY);
    CONST(IOREQ_TYPE_PCI_CONFIG);
    CONST(IOREQ_TYPE_TIMEOFFSET);
    CONST(IOREQ_TYPE_INVALIDATE);
    CONST(ACPI_PM1A_EVT_BLK_ADDRESS_V1);
    CONST(ACPI_PM1A_CNT_BLK_ADDRESS_V1);
    CONST(ACPI_PM_TMR_BLK_ADDRESS_V1);
    CONST(ACPI_GPE0_BLK_ADDRESS_V1);
    CONST(ACPI_GPE0_BLK_LEN_V1);

    /* HVM params */
    SIZE(struct xen_hvm_param);
    FIELD(struct xen_hvm_param, domid);
    FIELD(struct xen_hvm_param, index);
    FIELD(struct xen_hvm_param, value);
    CONST(HVMOP_set_param);
    CONST(HVMOP_get_param);
    CONST(HVM_PARAM_IOREQ_PFN);
    CONST(HVM_PARAM_BUFIOREQ_PFN);
    CONST(HVM_PARAM_DM_DOMAIN);
    CONST(HVM_PARAM_BUFIOREQ_EVTCHN);
    CONST(HVM_PARAM_IOREQ_SERVER_PFN);
    CONST(HVM_PARAM_NR_IOREQ_SERVER_PAGES);
    CONST(HVM_NR_PARAMS);
    CONST(HVM_IOREQSRV_BUFIOREQ_OFF);
    CONST(HVM_IOREQSRV_BUFIOREQ_LEGACY);
    CONST(HVM_IOREQSRV_BUFIOREQ_ATOMIC);
    CONST(HVMMEM_ioreq_server);
    put("sizeof ioservid_t", sizeof(ioservid_t));
    put("sizeof domid_t", sizeof(domid_t));
    put("sizeof evtchn_port_t", sizeof(evtchn_port_t));

    /* DMOPs: the ioreq-server ops of Xen 4.9+ */
    SIZE(struct xen_dm_op);
    FIELD(struct xen_dm_op, op);
    FIELD(struct xen_dm_op, pad);
    OFF(struct xen_dm_op, u);
    CONST(XEN_DMOP_create_ioreq_server);
    CONST(XEN_DMOP_get_ioreq_server_info);
    CONST(XEN_DMOP_map_io_range_to_ioreq_server);
    CONST(XEN_DMOP_unmap_io_range_from_ioreq_server);
    CONST(XEN_DMOP_set_ioreq_server_state);
    CONST(XEN_DMOP_destroy_ioreq_server);
    CONST(XEN_DMOP_IO_RANGE_PORT);
    CONST(XEN_DMOP_IO_RANGE_MEMORY);
    CONST(XEN_DMOP_IO_RANGE_PCI);
    CONST(XEN_DMOP_no_gfns);
    CONST(XEN_DMOP_PCI_SBDF(0x1234, 0x56, 0x1f, 7));
    CONST(XEN_DMOP_PCI_SBDF(0xffffffff, 0xfff, 0xff, 0xff));

    SIZE(struct xen_dm_op_create_ioreq_server);
    FIELD(struct xen_dm_op_create_ioreq_server, handle_bufioreq);
    FIELD(struct xen_dm_op_create_ioreq_server, pad);
    FIELD(struct xen_dm_op_create_ioreq_server, id);

    SIZE(struct xen_dm_op_get_ioreq_server_info);
    FIELD(struct xen_dm_op_get_ioreq_server_info, id);
    FIELD(struct xen_dm_op_get_ioreq_server_info, flags);
    FIELD(struct xen_dm_op_get_ioreq_server_info, bufioreq_port);
    FIELD(struct xen_dm_op_get_ioreq_server_info, ioreq_gfn);
    FIELD(struct xen_dm_op_get_ioreq_server_info, bufioreq_gfn);

    SIZE(struct xen_dm_op_ioreq_server_range);
    FIELD(struct xen_dm_op_ioreq_server_range, id);
    FIELD(struct xen_dm_op_ioreq_server_range, pad);
    FIELD(struct xen_dm_op_ioreq_server_range, type);
    FIELD(struct xen_dm_op_ioreq_server_range, start);
    FIELD(struct xen_dm_op_ioreq_server_range, end);

    SIZE(struct xen_dm_op_set_ioreq_server_state);
    FIELD(struct xen_dm_op_set_ioreq_server_state, id);
    FIELD(struct xen_dm_op_set_ioreq_server_state, enabled);
    FIELD(struct xen_dm_op_set_ioreq_server_state, pad);

    SIZE(struct xen_dm_op_destroy_ioreq_server);
    FIELD(struct xen_dm_op_destroy_ioreq_server, id);
    FIELD(struct xen_dm_op_destroy_ioreq_server, pad);

    *count = nr_entries;
    return entries;
}
