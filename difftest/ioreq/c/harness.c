/*
 * The differential harness around Xen's ioreq C (see harness.h): fake domains with vcpus, a
 * GFN pool and event channels; the DMOP hypercall entry; the I/O path; views of the servers.
 */
#include <stdio.h>

#include "harness.h"

struct xenc_domain {
    struct domain d;              /* first: container_of from struct domain * */
    bool hvm;
    bool privileged;
    int dm_target;                /* -1: none */
    struct vcpu vcpus[XENC_MAX_VCPUS];
    unsigned int nr_vcpus;
    struct xenc_evtchn evtchn[XENC_MAX_EVTCHN];
    struct page_info *ram[64];    /* the pool's guest RAM pages */
    unsigned int nr_ram;
    struct { unsigned int port, size; portio_action_t *action; } portio[4];
    unsigned int nr_portio;
};

#define XD(dp) container_of((dp), struct xenc_domain, d)

static struct xenc_domain *domains[64];

struct xenc_evtchn *xenc_h_evtchns(struct domain *d)
{
    return XD(d)->evtchn;
}

void xenc_h_note_portio(struct domain *d, unsigned int port, unsigned int size,
                        portio_action_t *action)
{
    struct xenc_domain *xd = XD(d);

    ASSERT(xd->nr_portio < ARRAY_SIZE(xd->portio));
    xd->portio[xd->nr_portio].port = port;
    xd->portio[xd->nr_portio].size = size;
    xd->portio[xd->nr_portio].action = action;
    xd->nr_portio++;
}

/* ---- domains ------------------------------------------------------------------------------ */

struct domain *xenc_h_domain_lookup(uint16_t domid)
{
    unsigned int i;

    for ( i = 0; i < ARRAY_SIZE(domains); i++ )
        if ( domains[i] && domains[i]->d.domain_id == domid )
            return &domains[i]->d;
    return NULL;
}

static void link_vcpus(struct xenc_domain *xd)
{
    unsigned int i;

    xd->d.vcpu_list = xd->nr_vcpus ? &xd->vcpus[0] : NULL;
    for ( i = 0; i < xd->nr_vcpus; i++ )
        xd->vcpus[i].next_in_list = i + 1 < xd->nr_vcpus ? &xd->vcpus[i + 1] : NULL;
}

struct domain *xenc_h_domain_create(uint16_t domid, unsigned int nr_vcpus)
{
    struct xenc_domain *xd;
    unsigned int i, slot;

    if ( xenc_h_domain_lookup(domid) || nr_vcpus > XENC_MAX_VCPUS )
        return NULL;
    for ( slot = 0; slot < ARRAY_SIZE(domains) && domains[slot]; slot++ )
        ;
    if ( slot == ARRAY_SIZE(domains) )
        return NULL;
    xd = calloc(1, sizeof(*xd));
    if ( !xd )
        return NULL;
    domains[slot] = xd;

    xd->hvm = true;
    xd->dm_target = -1;
    xd->d.domain_id = domid;
    xd->d.creation_finished = true;
    xd->d.arch.cpuid = &xd->d.arch.cpuid_storage;
    xd->d.arch.cpuid->x86_vendor = X86_VENDOR_INTEL;
    xd->d.arch.cpuid->basic.raw_fms = 0x000306c3; /* family 6 */
    for ( i = 0; i < nr_vcpus; i++ )
    {
        xd->vcpus[i].vcpu_id = (int)i;
        xd->vcpus[i].domain = &xd->d;
    }
    xd->nr_vcpus = nr_vcpus;
    link_vcpus(xd);

    rangeset_domain_initialise(&xd->d);
    xenc_v_domain_init(&xd->d);
    return &xd->d;
}

void xenc_h_domain_destroy(struct domain *d)
{
    struct xenc_domain *xd = XD(d);
    struct vcpu *saved = current;
    unsigned int i;

    d->is_dying = true;
    /* Relinquishing resources runs in the context of the domain doing the destruction; the
     * ioreq code only needs `current` to be some vcpu. */
    if ( !current && xd->nr_vcpus )
        current = &xd->vcpus[0];
    xenc_v_destroy_all(d);
    current = saved && saved->domain == d ? NULL : saved;

    /* evtchn_destroy: whatever is still bound goes with the domain. */
    for ( i = 0; i < XENC_MAX_EVTCHN; i++ )
        if ( xd->evtchn[i].in_use )
        {
            xd->evtchn[i].in_use = false;
            xenc_counters.live_evtchns--;
        }
    xenc_h_p2m_teardown(d);
    for ( i = 0; i < xd->nr_ram; i++ )
        xenc_h_release_guest_ram_page(xd->ram[i]);
    rangeset_domain_destroy(d);

    for ( i = 0; i < ARRAY_SIZE(domains); i++ )
        if ( domains[i] == xd )
            domains[i] = NULL;
    free(xd);
}

void xenc_h_domain_set_hvm(struct domain *d, bool hvm)
{
    XD(d)->hvm = hvm;
}

void xenc_h_domain_set_privileged(struct domain *d, bool privileged)
{
    XD(d)->privileged = privileged;
}

void xenc_h_domain_set_dm_target(struct domain *d, int target)
{
    XD(d)->dm_target = target;
}

int xenc_h_domain_set_pool(struct domain *d, unsigned long base, unsigned int nr_pages)
{
    struct xenc_domain *xd = XD(d);
    unsigned int i;

    if ( nr_pages == 0 || nr_pages > 64 || xd->nr_ram )
        return -EINVAL;
    d->arch.hvm.ioreq_gfn.base = base;
    d->arch.hvm.params[HVM_PARAM_IOREQ_SERVER_PFN] = base;
    d->arch.hvm.params[HVM_PARAM_NR_IOREQ_SERVER_PAGES] = nr_pages;
    for ( i = 0; i < nr_pages; i++ )
    {
        struct page_info *pg = xenc_h_guest_ram_page(d);
        int rc;

        if ( !pg )
            return -ENOMEM;
        xd->ram[xd->nr_ram++] = pg;
        rc = p2m_add_page(d, _gfn(base + i), page_to_mfn(pg), 0, p2m_ram_rw);
        if ( rc )
            return rc;
        set_bit(i, &d->arch.hvm.ioreq_gfn.mask);
    }
    return 0;
}

void xenc_h_domain_set_cpu(struct domain *d, bool amd, unsigned int family, bool cf8_ext)
{
    d->arch.cpuid->x86_vendor = amd ? X86_VENDOR_AMD : X86_VENDOR_INTEL;
    /* Encode the family as CPUID leaf 1 does. */
    if ( family < 0xf )
        d->arch.cpuid->basic.raw_fms = family << 8;
    else
        d->arch.cpuid->basic.raw_fms = (0xfU << 8) | ((family - 0xf) << 20);
    d->amd64_nb_cfg = cf8_ext ? (1ULL << AMD64_NB_CFG_CF8_EXT_ENABLE_BIT) : 0;
}

int xenc_h_vcpu_add(struct domain *d)
{
    struct xenc_domain *xd = XD(d);
    struct vcpu *v;
    int rc;

    if ( xd->nr_vcpus == XENC_MAX_VCPUS )
        return -ENOSPC;
    v = &xd->vcpus[xd->nr_vcpus];
    memset(v, 0, sizeof(*v));
    v->vcpu_id = (int)xd->nr_vcpus;
    v->domain = d;
    rc = xenc_v_add_vcpu_all(d, v);
    if ( rc )
        return rc;
    xd->nr_vcpus++;
    link_vcpus(xd);
    return 0;
}

int xenc_h_vcpu_add_again(struct domain *d, unsigned int vcpu)
{
    struct xenc_domain *xd = XD(d);

    if ( vcpu >= xd->nr_vcpus )
        return -EINVAL;
    return xenc_v_add_vcpu_all(d, &xd->vcpus[vcpu]);
}

void xenc_h_vcpu_remove_last(struct domain *d)
{
    struct xenc_domain *xd = XD(d);
    struct vcpu *v;

    if ( !xd->nr_vcpus )
        return;
    v = &xd->vcpus[xd->nr_vcpus - 1];
    xenc_v_remove_vcpu_all(d, v);
    if ( current == v )
        current = NULL;
    xd->nr_vcpus--;
    link_vcpus(xd);
}

unsigned int xenc_h_nr_vcpus(struct domain *d)
{
    return XD(d)->nr_vcpus;
}

void xenc_h_set_current(struct domain *d, unsigned int vcpu)
{
    struct xenc_domain *xd = XD(d);

    current = vcpu < xd->nr_vcpus ? &xd->vcpus[vcpu] : NULL;
}

static int64_t count_rangesets(struct domain *d)
{
    struct list_head *pos;
    int64_t n = 0;

    list_for_each ( pos, &d->rangesets )
        n++;
    return n;
}

void xenc_h_domain_stats(struct domain *d, struct xenc_domain_stats *out)
{
    struct xenc_domain *xd = XD(d);
    unsigned long gfns[1];
    unsigned int i;

    memset(out, 0, sizeof(*out));
    out->refs = d->refs;
    out->pause_count = d->pause_count;
    out->crashed = d->crashed;
    for ( i = 0; i < XENC_MAX_EVTCHN; i++ )
        out->live_evtchns += xd->evtchn[i].in_use;
    out->p2m_entries = xenc_h_p2m_entries(d, gfns, 0);
    out->rangesets = count_rangesets(d);
    out->lock_depth = XENC_SERVERS(d).lock.held;
    for ( i = 0; i < xd->nr_vcpus; i++ )
        out->shutdown_deferrals += xd->vcpus[i].shutdown_deferrals;
}

/* ---- the DMOP hypercall ------------------------------------------------------------------- */

int xenc_h_dm_op(uint16_t domid, void *buf, size_t len)
{
    struct domain *d = xenc_h_domain_lookup(domid);
    struct xenc_domain *caller;
    struct xen_dm_op op;
    bool const_op = true;
    size_t offset = offsetof(struct xen_dm_op, u), size;
    int rc;

    ASSERT(current);
    caller = XD(current->domain);

    /* rcu_lock_remote_domain_by_id */
    if ( !d )
        return -ESRCH;
    if ( d == current->domain )
        return -EPERM;
    /* is_hvm_domain */
    if ( !XD(d)->hvm )
        return -EINVAL;
    /* xsm_dm_op(XSM_DM_PRIV): the dummy policy */
    if ( !caller->privileged && caller->dm_target != (int)d->domain_id )
        return -EPERM;

    if ( len < offset )
        return -EFAULT;
    memset(&op, 0, sizeof(op));
    memcpy(&op, buf, offset);
    switch ( op.op )
    {
    case XEN_DMOP_create_ioreq_server:
        size = sizeof(op.u.create_ioreq_server);
        break;
    case XEN_DMOP_get_ioreq_server_info:
        size = sizeof(op.u.get_ioreq_server_info);
        break;
    case XEN_DMOP_map_io_range_to_ioreq_server:
    case XEN_DMOP_unmap_io_range_from_ioreq_server:
        size = sizeof(op.u.map_io_range_to_ioreq_server);
        break;
    case XEN_DMOP_set_ioreq_server_state:
        size = sizeof(op.u.set_ioreq_server_state);
        break;
    case XEN_DMOP_destroy_ioreq_server:
        size = sizeof(op.u.destroy_ioreq_server);
        break;
    default:
        /* The other DMOPs are not the ioreq code's: the harness does not emulate them. */
        return -EOPNOTSUPP;
    }
    if ( len < offset + size )
        return -EFAULT;
    memcpy(&op.u, (char *)buf + offset, size);
    if ( op.pad )
        return -EINVAL;

    rc = xenc_v_dm_op(&op, d, &const_op);

    if ( rc == 0 && !const_op )
        memcpy((char *)buf + offset, &op.u, size);
    return rc;
}

int xenc_h_create(uint16_t domid, uint8_t handle_bufioreq, uint16_t *id)
{
    struct xen_dm_op op = { .op = XEN_DMOP_create_ioreq_server };
    int rc;

    op.u.create_ioreq_server.handle_bufioreq = handle_bufioreq;
    rc = xenc_h_dm_op(domid, &op, sizeof(op));
    if ( rc == 0 && id )
        *id = op.u.create_ioreq_server.id;
    return rc;
}

int xenc_h_get_info(uint16_t domid, uint16_t id, uint16_t flags, uint64_t *ioreq_gfn,
                    uint64_t *bufioreq_gfn, uint32_t *bufioreq_port)
{
    struct xen_dm_op op = { .op = XEN_DMOP_get_ioreq_server_info };
    int rc;

    op.u.get_ioreq_server_info.id = id;
    op.u.get_ioreq_server_info.flags = flags;
    op.u.get_ioreq_server_info.ioreq_gfn = *ioreq_gfn;
    op.u.get_ioreq_server_info.bufioreq_gfn = *bufioreq_gfn;
    op.u.get_ioreq_server_info.bufioreq_port = *bufioreq_port;
    rc = xenc_h_dm_op(domid, &op, sizeof(op));
    if ( rc == 0 )
    {
        *ioreq_gfn = op.u.get_ioreq_server_info.ioreq_gfn;
        *bufioreq_gfn = op.u.get_ioreq_server_info.bufioreq_gfn;
        *bufioreq_port = op.u.get_ioreq_server_info.bufioreq_port;
    }
    return rc;
}

static int range_op(uint32_t dmop, uint16_t domid, uint16_t id, uint32_t type,
                    uint64_t start, uint64_t end)
{
    struct xen_dm_op op = { .op = dmop };

    op.u.map_io_range_to_ioreq_server.id = id;
    op.u.map_io_range_to_ioreq_server.type = type;
    op.u.map_io_range_to_ioreq_server.start = start;
    op.u.map_io_range_to_ioreq_server.end = end;
    return xenc_h_dm_op(domid, &op, sizeof(op));
}

int xenc_h_map_range(uint16_t domid, uint16_t id, uint32_t type, uint64_t start, uint64_t end)
{
    return range_op(XEN_DMOP_map_io_range_to_ioreq_server, domid, id, type, start, end);
}

int xenc_h_unmap_range(uint16_t domid, uint16_t id, uint32_t type, uint64_t start,
                       uint64_t end)
{
    return range_op(XEN_DMOP_unmap_io_range_from_ioreq_server, domid, id, type, start, end);
}

int xenc_h_set_state(uint16_t domid, uint16_t id, uint8_t enabled)
{
    struct xen_dm_op op = { .op = XEN_DMOP_set_ioreq_server_state };

    op.u.set_ioreq_server_state.id = id;
    op.u.set_ioreq_server_state.enabled = enabled;
    return xenc_h_dm_op(domid, &op, sizeof(op));
}

int xenc_h_destroy(uint16_t domid, uint16_t id)
{
    struct xen_dm_op op = { .op = XEN_DMOP_destroy_ioreq_server };

    op.u.destroy_ioreq_server.id = id;
    return xenc_h_dm_op(domid, &op, sizeof(op));
}

/*
 * XENMEM_acquire_resource's use of an ioreq server: frame idx of server id of domid, as the
 * current vcpu's domain (the emulator). 4.17 only (4.14 answers -EOPNOTSUPP here).
 */
int xenc_h_get_frame(uint16_t domid, uint16_t id, unsigned int idx, uint64_t *mfn)
{
#ifdef XENC_XEN414
    (void)domid; (void)id; (void)idx; (void)mfn;
    return -EOPNOTSUPP;
#else
    struct domain *d = xenc_h_domain_lookup(domid);
    mfn_t m;
    int rc;

    if ( !d )
        return -ESRCH;
    if ( !XD(d)->hvm )
        return -EINVAL;
    rc = ioreq_server_get_frame(d, id, idx, &m);
    if ( rc == 0 )
        *mfn = mfn_x(m);
    return rc;
#endif
}

/* ---- the I/O path ------------------------------------------------------------------------- */

static xenc_server_t *server(struct domain *d, uint16_t id)
{
    return id < MAX_NR_IOREQ_SERVERS ? XENC_SERVERS(d).server[id] : NULL;
}

static int server_id(struct domain *d, const xenc_server_t *s)
{
    unsigned int i;

    for ( i = 0; s && i < MAX_NR_IOREQ_SERVERS; i++ )
        if ( XENC_SERVERS(d).server[i] == s )
            return (int)i;
    return -1;
}

int xenc_h_portio(struct domain *d, int dir, unsigned int port, unsigned int bytes,
                  uint32_t *val)
{
    struct xenc_domain *xd = XD(d);
    unsigned int i;

    /* hvm_io_intercept: a handler takes an access lying entirely within its ports. */
    for ( i = 0; i < xd->nr_portio; i++ )
        if ( port >= xd->portio[i].port &&
             port + bytes <= xd->portio[i].port + xd->portio[i].size )
            return xd->portio[i].action(dir, port, bytes, val);
    return -1;
}

int xenc_h_select(struct domain *d, ioreq_t *p)
{
    return server_id(d, xenc_v_select(d, p));
}

int xenc_h_send(struct domain *d, uint16_t id, ioreq_t *p, bool buffered)
{
    xenc_server_t *s = server(d, id);

    if ( !s )
        return -1;
    return xenc_v_send(s, p, buffered);
}

unsigned int xenc_h_broadcast(struct domain *d, ioreq_t *p, bool buffered)
{
    ASSERT(current && current->domain == d);
    return xenc_v_broadcast(p, buffered);
}

bool xenc_h_io_pending(void)
{
    return xenc_v_pending(current);
}

bool xenc_h_handle_completion(void)
{
    return xenc_v_handle_completion(current);
}

ioreq_t xenc_h_vcpu_io_req(void)
{
    return XENC_VCPU_REQ(current);
}

/* ---- views of a server -------------------------------------------------------------------- */

int xenc_h_server_enabled(struct domain *d, uint16_t id)
{
    xenc_server_t *s = server(d, id);

    return s ? s->enabled : -1;
}

int xenc_h_server_emulator(struct domain *d, uint16_t id)
{
    xenc_server_t *s = server(d, id);

    return s ? s->emulator->domain_id : -1;
}

int xenc_h_server_bufioreq_handling(struct domain *d, uint16_t id)
{
    xenc_server_t *s = server(d, id);

    return s ? s->bufioreq_handling : -1;
}

int64_t xenc_h_server_bufioreq_evtchn(struct domain *d, uint16_t id)
{
    xenc_server_t *s = server(d, id);

    return s && XENC_HANDLE_BUFIOREQ(s) ? (int64_t)s->bufioreq_evtchn : -1;
}

int64_t xenc_h_server_vcpu_evtchn(struct domain *d, uint16_t id, unsigned int vcpu)
{
    xenc_server_t *s = server(d, id);
    xenc_server_vcpu_t *sv;

    if ( !s )
        return -1;
    list_for_each_entry ( sv, &s->ioreq_vcpu_list, list_entry )
        if ( sv->vcpu->vcpu_id == (int)vcpu )
            return sv->ioreq_evtchn;
    return -1;
}

uint64_t xenc_h_server_gfn(struct domain *d, uint16_t id, bool buf)
{
    xenc_server_t *s = server(d, id);

    if ( !s )
        return ~0ULL;
    return gfn_x(buf ? s->bufioreq.gfn : s->ioreq.gfn);
}

void *xenc_h_server_page(struct domain *d, uint16_t id, bool buf)
{
    xenc_server_t *s = server(d, id);

    if ( !s )
        return NULL;
    return buf ? s->bufioreq.va : s->ioreq.va;
}

struct report {
    uint64_t *out;
    unsigned int max, n;
};

static int report_one(unsigned long s, unsigned long e, void *ctxt)
{
    struct report *r = ctxt;

    if ( r->n < r->max )
    {
        r->out[2 * r->n] = s;
        r->out[2 * r->n + 1] = e;
    }
    r->n++;
    return 0;
}

int xenc_h_server_ranges(struct domain *d, uint16_t id, uint32_t type, uint64_t *out,
                         unsigned int max)
{
    xenc_server_t *s = server(d, id);
    struct report r = { out, max, 0 };

    if ( !s || type >= NR_IO_RANGE_TYPES )
        return -1;
    if ( rangeset_report_ranges(s->range[type], 0, ~0UL, report_one, &r) )
        return -1;
    return (int)r.n;
}

int xenc_h_emulator_respond(struct domain *d, uint16_t id, unsigned int vcpu, uint64_t data)
{
    xenc_server_t *s = server(d, id);
    ioreq_t *p;

    if ( !s || !s->ioreq.va || vcpu >= PAGE_SIZE / sizeof(ioreq_t) )
        return -1;
    p = &((shared_iopage_t *)s->ioreq.va)->vcpu_ioreq[vcpu];
    p->data = data;
    smp_wmb();
    p->state = STATE_IORESP_READY;
    return 0;
}

int64_t xenc_h_evtchn_notified(struct domain *d, unsigned int port)
{
    struct xenc_domain *xd = XD(d);

    if ( port >= XENC_MAX_EVTCHN || !xd->evtchn[port].in_use )
        return -1;
    return (int64_t)xd->evtchn[port].notified;
}

void xenc_h_rangeset_dump(struct domain *d)
{
    rangeset_domain_printk(d);
}

bool xenc_h_p2m_present(struct domain *d, uint64_t gfn)
{
    return xenc_h_p2m_lookup(d, gfn) != NULL;
}

/* ---- process-wide ------------------------------------------------------------------------- */

void xenc_h_counters(struct xenc_counters *out)
{
    *out = xenc_counters;
}

void xenc_h_set_fault(int64_t fail_alloc_after, bool fail_domheap, bool fail_global_map,
                      int64_t evtchn_limit)
{
    xenc_counters.fail_alloc_after = fail_alloc_after;
    xenc_counters.fail_domheap = fail_domheap;
    xenc_counters.fail_global_map = fail_global_map;
    xenc_counters.evtchn_limit = evtchn_limit;
}

size_t xenc_h_sizeof_counters(void)
{
    return sizeof(struct xenc_counters);
}

size_t xenc_h_sizeof_domain_stats(void)
{
    return sizeof(struct xenc_domain_stats);
}
