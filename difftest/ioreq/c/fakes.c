/*
 * Fakes of the hypervisor services that Xen's ioreq and rangeset C call, for the userspace
 * differential harness. Each keeps counters (see harness.h) so a test can prove that a sequence
 * of operations leaks nothing: memory, domain references, pauses, event channels, page
 * references, global mappings, P2M entries.
 *
 * Behaviour follows the documented contracts of the real functions where the ioreq code can
 * observe it (error codes, lowest-free event-channel ports, page reference rules).
 */
#include <stdio.h>

#include "harness.h"

struct vcpu *xenc_current;
struct xenc_counters xenc_counters = {
    .fail_alloc_after = -1,
    .evtchn_limit = XENC_MAX_EVTCHN - 1,
};

/* ---- failures of the harness itself ------------------------------------------------------- */

void xenc_assert_failed(const char *what, const char *file, int line)
{
    fprintf(stderr, "xenc: Xen C assertion failed: %s at %s:%d\n", what, file, line);
    abort();
}

/*
 * ---- spinlocks: Xen 4.17's ticket locks (xen/common/spinlock.c), out of line as there ----------
 * Taking a ticket is a locked xadd on head_tail; a ticket that is not served at once would spin
 * forever in this single-threaded harness, so it is reported as the deadlock it is. Releasing
 * bumps the head with a plain add (Xen's add_sized). Recursive locks take the lock only at depth 0.
 */
#define TICKET_TAIL (1u << 16)

void xenc_spin_lock(spinlock_t *l)
{
    uint32_t t = __atomic_fetch_add(&l->head_tail, TICKET_TAIL, __ATOMIC_ACQUIRE);

    if ( __builtin_expect((t >> 16) != (t & 0xffff), 0) )
        xenc_assert_failed("spin_lock: deadlock (lock held)", __FILE__, __LINE__);
    ASSERT(l->held == 0);
    l->held = 1;
    l->recursive = false;
}

void xenc_spin_unlock(spinlock_t *l)
{
    uint16_t *head = (uint16_t *)&l->head_tail;

    ASSERT(l->held == 1 && !l->recursive);
    l->held = 0;
    __atomic_store_n(head, (uint16_t)(*head + 1), __ATOMIC_RELEASE);
}

void xenc_spin_lock_recursive(spinlock_t *l)
{
    if ( __builtin_expect(!l->recursive || l->held == 0, 1) )
    {
        xenc_spin_lock(l);
        l->held = 0;
        l->recursive = true;
    }
    l->held++;
}

void xenc_spin_unlock_recursive(spinlock_t *l)
{
    ASSERT(l->held > 0 && l->recursive);
    if ( __builtin_expect(--l->held == 0, 1) )
    {
        uint16_t *head = (uint16_t *)&l->head_tail;

        l->recursive = false;
        __atomic_store_n(head, (uint16_t)(*head + 1), __ATOMIC_RELEASE);
    }
}

void xenc_would_block(int port)
{
    fprintf(stderr, "xenc: the hypervisor would block on event channel %d\n", port);
    abort();
}

/* ---- console ------------------------------------------------------------------------------ */

static char console[1 << 16];
static size_t console_len;

void xenc_printk(const char *fmt, ...)
{
    va_list ap;
    int n;

    if ( console_len >= sizeof(console) - 1 )
        return;
    va_start(ap, fmt);
    n = vsnprintf(console + console_len, sizeof(console) - console_len, fmt, ap);
    va_end(ap);
    if ( n > 0 )
        console_len = min(console_len + (size_t)n, sizeof(console) - 1);
}

size_t xenc_h_console_take(char *buf, size_t len)
{
    size_t n = min(console_len, len);

    memcpy(buf, console, n);
    console_len = 0;
    return n;
}

/* ---- memory ------------------------------------------------------------------------------- */

void *xenc_xmalloc(size_t size, bool zero)
{
    void *p;

    if ( xenc_counters.fail_alloc_after == 0 )
        return NULL;
    if ( xenc_counters.fail_alloc_after > 0 )
        xenc_counters.fail_alloc_after--;
    p = zero ? calloc(1, size) : malloc(size);
    if ( p )
        xenc_counters.live_allocs++;
    return p;
}

void xenc_xfree(void *p)
{
    if ( !p )
        return;
    xenc_counters.live_allocs--;
    free(p);
}

int xasprintf(char **bufp, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *b;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    b = xenc_xmalloc((size_t)n + 1, false);
    if ( !b )
        return -ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *bufp = b;
    return 0;
}

/* ---- pages -------------------------------------------------------------------------------- */

/* Every frame ever handed out, indexed by mfn - 1; freed frames leave a NULL. */
static struct page_info **frames;
static size_t nr_frames;

static struct page_info *new_frame(struct domain *owner, bool domheap)
{
    struct page_info *pg = calloc(1, sizeof(*pg));
    struct page_info **grown;

    if ( !pg )
        return NULL;
    pg->data = calloc(1, PAGE_SIZE);
    grown = realloc(frames, (nr_frames + 1) * sizeof(*frames));
    if ( !pg->data || !grown )
    {
        free(pg->data);
        free(pg);
        if ( grown )
            frames = grown;
        return NULL;
    }
    frames = grown;
    frames[nr_frames++] = pg;
    pg->mfn = nr_frames;
    pg->owner = owner;
    pg->domheap = domheap;
    xenc_counters.live_pages++;
    return pg;
}

static void maybe_free_frame(struct page_info *pg)
{
    if ( pg->refs || pg->type_refs || pg->alloc_ref || pg->global_maps )
        return;
    if ( !pg->domheap && pg->owner )
        return; /* guest RAM stays until the domain goes */
    frames[pg->mfn - 1] = NULL;
    free(pg->data);
    free(pg);
    xenc_counters.live_pages--;
    if ( xenc_counters.live_pages == 0 )
    {
        /* Nothing refers to any frame: start numbering afresh (keeps long runs small). */
        free(frames);
        frames = NULL;
        nr_frames = 0;
    }
}

static struct page_info *mfn_to_frame(unsigned long mfn)
{
    if ( mfn == 0 || mfn > nr_frames )
        return NULL;
    return frames[mfn - 1];
}

struct page_info *xenc_h_guest_ram_page(struct domain *d)
{
    return new_frame(d, false);
}

void xenc_h_release_guest_ram_page(struct page_info *pg)
{
    pg->owner = NULL;
    maybe_free_frame(pg);
}

struct page_info *alloc_domheap_page(struct domain *d, unsigned int memflags)
{
    struct page_info *pg;

    (void)memflags;
    if ( xenc_counters.fail_domheap )
        return NULL;
    pg = new_frame(d, true);
    if ( pg )
        pg->alloc_ref = 1;
    return pg;
}

bool get_page_and_type(struct page_info *page, struct domain *d, unsigned long type)
{
    (void)type;
    if ( page->owner != d )
        return false;
    page->refs++;
    page->type_refs++;
    return true;
}

void put_page_and_type(struct page_info *page)
{
    ASSERT(page->refs > 0 && page->type_refs > 0);
    page->refs--;
    page->type_refs--;
    maybe_free_frame(page);
}

void put_page_alloc_ref(struct page_info *page)
{
    ASSERT(page->alloc_ref == 1);
    page->alloc_ref = 0;
    maybe_free_frame(page);
}

void *__map_domain_page_global(const struct page_info *pg)
{
    struct page_info *p = mfn_to_frame(pg->mfn);

    if ( xenc_counters.fail_global_map )
        return NULL;
    p->global_maps++;
    xenc_counters.live_global_maps++;
    return p->data;
}

void unmap_domain_page_global(const void *va)
{
    size_t i;

    for ( i = 0; i < nr_frames; i++ )
        if ( frames[i] && frames[i]->data == va && frames[i]->global_maps )
        {
            frames[i]->global_maps--;
            xenc_counters.live_global_maps--;
            maybe_free_frame(frames[i]);
            return;
        }
    ASSERT(!"unmap of an address that is not globally mapped");
}

mfn_t page_to_mfn(const struct page_info *pg)
{
    return _mfn(pg->mfn);
}

/* ---- the guest's P2M: gfn -> frame ------------------------------------------------------- */

struct p2m_entry {
    unsigned long gfn;
    struct page_info *page;
};

static struct p2m_entry p2m[XENC_MAX_P2M];
static unsigned int nr_p2m;

static struct p2m_entry *p2m_find(struct domain *d, unsigned long gfn)
{
    unsigned int i;

    for ( i = 0; i < nr_p2m; i++ )
        if ( p2m[i].page && p2m[i].page->owner == d && p2m[i].gfn == gfn )
            return &p2m[i];
    return NULL;
}

struct page_info *xenc_h_p2m_lookup(struct domain *d, unsigned long gfn)
{
    struct p2m_entry *e = p2m_find(d, gfn);

    return e ? e->page : NULL;
}

int p2m_add_page(struct domain *d, gfn_t gfn, mfn_t mfn, unsigned int page_order, p2m_type_t t)
{
    struct page_info *pg = mfn_to_frame(mfn_x(mfn));

    (void)t;
    ASSERT(page_order == 0);
    if ( !pg || pg->owner != d )
        return -EINVAL;
    if ( p2m_find(d, gfn_x(gfn)) )
        return -EEXIST;
    ASSERT(nr_p2m < XENC_MAX_P2M);
    p2m[nr_p2m].gfn = gfn_x(gfn);
    p2m[nr_p2m].page = pg;
    nr_p2m++;
    pg->refs++;  /* the P2M entry holds a reference */
    xenc_counters.p2m_adds++;
    return 0;
}

int p2m_remove_page(struct domain *d, gfn_t gfn, mfn_t mfn, unsigned int page_order)
{
    struct p2m_entry *e = p2m_find(d, gfn_x(gfn));
    struct page_info *pg;

    ASSERT(page_order == 0);
    if ( !e || e->page->mfn != mfn_x(mfn) )
        return -EINVAL;
    pg = e->page;
    *e = p2m[--nr_p2m];
    p2m[nr_p2m].page = NULL;
    pg->refs--;
    xenc_counters.p2m_removes++;
    return 0;
}

void paging_mark_pfn_dirty(struct domain *d, pfn_t pfn)
{
    (void)d;
    (void)pfn;
}

/* Drops every P2M entry of a dying domain; returns how many there were. */
unsigned int xenc_h_p2m_teardown(struct domain *d)
{
    unsigned int i = 0, n = 0;

    while ( i < nr_p2m )
        if ( p2m[i].page->owner == d )
        {
            p2m[i].page->refs--;
            p2m[i] = p2m[--nr_p2m];
            p2m[nr_p2m].page = NULL;
            n++;
        }
        else
            i++;
    return n;
}

/* The domain's P2M entries (gfn, mfn) in ascending gfn order; returns the count. */
unsigned int xenc_h_p2m_entries(struct domain *d, unsigned long *gfns, unsigned int max)
{
    unsigned int i, n = 0;

    for ( i = 0; i < nr_p2m; i++ )
        if ( p2m[i].page->owner == d )
        {
            unsigned int j = n < max ? n : max;

            /* insertion sort into gfns[0..n) */
            if ( n < max )
            {
                while ( j > 0 && gfns[j - 1] > p2m[i].gfn )
                {
                    gfns[j] = gfns[j - 1];
                    j--;
                }
                gfns[j] = p2m[i].gfn;
            }
            n++;
        }
    return n;
}

int prepare_ring_for_helper(struct domain *d, unsigned long gmfn,
                            struct page_info **_page, void **_va)
{
    struct page_info *pg = xenc_h_p2m_lookup(d, gmfn);
    void *va;

    if ( !pg )
        return -EINVAL;
    if ( !get_page_and_type(pg, d, PGT_writable_page) )
        return -EINVAL;
    va = __map_domain_page_global(pg);
    if ( !va )
    {
        put_page_and_type(pg);
        return -ENOMEM;
    }
    *_page = pg;
    *_va = va;
    return 0;
}

void destroy_ring_for_helper(void **_va, struct page_info *page)
{
    if ( !*_va )
        return;
    unmap_domain_page_global(*_va);
    put_page_and_type(page);
    *_va = NULL;
}

/* ---- event channels ----------------------------------------------------------------------- */

int alloc_unbound_xen_event_channel(struct domain *ld, unsigned int lvcpu, domid_t remote_domid,
                                    void *notification_fn)
{
    struct xenc_evtchn *ch = xenc_h_evtchns(ld);
    int port;

    (void)notification_fn;
    if ( ld->is_dying )
        return -EINVAL;
    /* Port 0 is never handed out, as in Xen. */
    for ( port = 1; port < XENC_MAX_EVTCHN && port <= xenc_counters.evtchn_limit; port++ )
        if ( !ch[port].in_use )
        {
            ch[port].in_use = true;
            ch[port].vcpu = lvcpu;
            ch[port].remote = remote_domid;
            ch[port].notified = 0;
            xenc_counters.live_evtchns++;
            return port;
        }
    return -ENOSPC;
}

void free_xen_event_channel(struct domain *d, int port)
{
    struct xenc_evtchn *ch = xenc_h_evtchns(d);

    if ( d->is_dying )
        return; /* torn down by evtchn_destroy */
    ASSERT(port > 0 && port < XENC_MAX_EVTCHN && ch[port].in_use);
    ch[port].in_use = false;
    xenc_counters.live_evtchns--;
}

void notify_via_xen_event_channel(struct domain *ld, int lport)
{
    struct xenc_evtchn *ch = xenc_h_evtchns(ld);

    if ( lport > 0 && lport < XENC_MAX_EVTCHN && ch[lport].in_use )
        ch[lport].notified++;
    xenc_counters.notifications++;
    xenc_counters.last_notified_port = lport;
}

void prepare_wait_on_xen_event_channel(int port)
{
    xenc_counters.waits_prepared++;
    xenc_counters.last_wait_port = port;
}

/* ---- domains and vcpus -------------------------------------------------------------------- */

void domain_pause(struct domain *d)
{
    d->pause_count++;
    xenc_counters.pauses++;
}

void domain_unpause(struct domain *d)
{
    ASSERT(d->pause_count > 0);
    d->pause_count--;
}

void get_knownalive_domain(struct domain *d)
{
    d->refs++;
}

void put_domain(struct domain *d)
{
    ASSERT(d->refs > 0);
    d->refs--;
}

void xenc_domain_crash(struct domain *d, const char *file, int line)
{
    d->crashed++;
    xenc_counters.domain_crashes++;
    xenc_printk("domain_crash(d%u) from %s:%d\n", d->domain_id, file, line);
}

bool vcpu_start_shutdown_deferral(struct vcpu *v)
{
    if ( xenc_counters.shutting_down )
        return false;
    v->shutdown_deferrals++;
    return true;
}

void vcpu_end_shutdown_deferral(struct vcpu *v)
{
    if ( v->shutdown_deferrals > 0 )
        v->shutdown_deferrals--;
}

/* ---- x86 helpers -------------------------------------------------------------------------- */

unsigned int hvm_pci_decode_addr(unsigned int cf8, unsigned int addr, pci_sbdf_t *sbdf)
{
    /* Segment 0; bus/device/function from CF8 bits 23:8; dword register from bits 7:2. */
    sbdf->sbdf = CF8_BDF(cf8);
    return CF8_ADDR_LO(cf8) | (addr & 3);
}

int xenc_rdmsr_safe(unsigned int msr, uint64_t *val)
{
    if ( msr != MSR_AMD64_NB_CFG || !current )
        return -EFAULT;
    *val = current->domain->amd64_nb_cfg;
    return 0;
}

unsigned int get_cpu_family(uint32_t raw, uint8_t *model, uint8_t *stepping)
{
    /* CPUID leaf 1 EAX: base family 11:8, extended family 27:20 when the base is 0xf. */
    unsigned int fam = (raw >> 8) & 0xf;

    if ( fam == 0xf )
        fam += (raw >> 20) & 0xff;
    if ( model )
        *model = (uint8_t)(((raw >> 4) & 0xf) | ((raw >> 12) & 0xf0));
    if ( stepping )
        *stepping = raw & 0xf;
    return fam;
}

void register_portio_handler(struct domain *d, unsigned int port, unsigned int size,
                             portio_action_t *action)
{
    xenc_h_note_portio(d, port, size, action);
}

bool relocate_portio_handler(struct domain *d, unsigned int old_port, unsigned int new_port,
                             unsigned int size)
{
    (void)d;
    (void)old_port;
    (void)new_port;
    (void)size;
    /* A domain being destroyed still has its 0xcf8 handler: destroy_all proceeds. */
    return true;
}

int p2m_set_ioreq_server(struct domain *d, unsigned int flags, struct XENC_SERVER_TAG *s)
{
    (void)d;
    (void)flags;
    (void)s;
    return 0;
}

void p2m_change_entry_type_global(struct domain *d, p2m_type_t ot, p2m_type_t nt)
{
    (void)d;
    (void)ot;
    (void)nt;
}

bool handle_mmio(void)
{
    return true;
}

bool handle_pio(uint16_t port, unsigned int size, int dir)
{
    (void)port;
    (void)size;
    (void)dir;
    return true;
}

void msix_write_completion(struct vcpu *v)
{
    (void)v;
}

struct cpu_user_regs *guest_cpu_user_regs(void)
{
    return NULL;
}

void hvm_emulate_init_once(struct hvm_emulate_ctxt *ctxt, void *validate,
                           struct cpu_user_regs *regs)
{
    (void)ctxt;
    (void)validate;
    (void)regs;
}

void vmx_realmode_emulate_one(struct hvm_emulate_ctxt *ctxt)
{
    (void)ctxt;
}

void hvm_emulate_writeback(struct hvm_emulate_ctxt *ctxt)
{
    (void)ctxt;
}

#ifdef XENC_XEN414
bool vpci_process_pending(struct vcpu *v)
{
    (void)v;
    return false;
}

void raise_softirq(unsigned int nr)
{
    (void)nr;
}
#endif
