/*
 * The differential harness around Xen's ioreq C: fake domains, the DMOP entry, the I/O path and
 * read-only views of the servers, for the Rust tests (difftest/ioreq/src/c.rs).
 *
 * All functions here are named xenc_h_*; build.rs renames every other global defined by the C
 * objects to xenc_<name>, so Xen's functions never bind to the Rust crate's #[no_mangle] exports.
 * The 4.14 build of the same files (XENC_XEN414) has every global renamed to xen414_<name>
 * instead (xenc_h_* to xen414_h_*).
 * Structures crossing to Rust are plain fixed-width records (mirrored in c.rs, sizes checked).
 */
#ifndef XENC_HARNESS_H
#define XENC_HARNESS_H

/*
 * What the harness calls, per Xen version: 4.17's common ioreq API, or 4.14's public hvm_*
 * functions (the DMOP handler is ours for 4.14: c414/dm414.c, after 4.14's dm.c).
 */
#ifdef XENC_XEN414
#include <asm/hvm/ioreq.h>
typedef struct hvm_ioreq_server xenc_server_t;
typedef struct hvm_ioreq_vcpu xenc_server_vcpu_t;
#define XENC_SERVERS(d) ((d)->arch.hvm.ioreq_server)
#define XENC_VCPU_REQ(v) ((v)->arch.hvm.hvm_io.io_req)
#define xenc_v_domain_init(d) hvm_ioreq_init(d)
#define xenc_v_destroy_all(d) hvm_destroy_all_ioreq_servers(d)
#define xenc_v_add_vcpu_all(d, v) hvm_all_ioreq_servers_add_vcpu((d), (v))
#define xenc_v_remove_vcpu_all(d, v) hvm_all_ioreq_servers_remove_vcpu((d), (v))
#define xenc_v_dm_op(op, d, const_op) xenc_dm_op414((op), (d), (const_op))
#define xenc_v_select(d, p) hvm_select_ioreq_server((d), (p))
#define xenc_v_send(s, p, buffered) hvm_send_ioreq((s), (p), (buffered))
#define xenc_v_broadcast(p, buffered) hvm_broadcast_ioreq((p), (buffered))
#define xenc_v_pending(v) hvm_io_pending(v)
#define xenc_v_handle_completion(v) handle_hvm_io_completion(v)
#define XENC_HANDLE_BUFIOREQ(s) ((s)->bufioreq_handling != HVM_IOREQSRV_BUFIOREQ_OFF)
/* The ioreq cases of 4.14's dm.c do_dm_op(), after its prologue (c414/dm414.c). */
int xenc_dm_op414(struct xen_dm_op *op, struct domain *d, bool *const_op);
#else
#include <xen/ioreq.h>
typedef struct ioreq_server xenc_server_t;
typedef struct ioreq_vcpu xenc_server_vcpu_t;
#define XENC_SERVERS(d) ((d)->ioreq_server)
#define XENC_VCPU_REQ(v) ((v)->io.req)
#define xenc_v_domain_init(d) ioreq_domain_init(d)
#define xenc_v_destroy_all(d) ioreq_server_destroy_all(d)
#define xenc_v_add_vcpu_all(d, v) ioreq_server_add_vcpu_all((d), (v))
#define xenc_v_remove_vcpu_all(d, v) ioreq_server_remove_vcpu_all((d), (v))
#define xenc_v_dm_op(op, d, const_op) ioreq_server_dm_op((op), (d), (const_op))
#define xenc_v_select(d, p) ioreq_server_select((d), (p))
#define xenc_v_send(s, p, buffered) ioreq_send((s), (p), (buffered))
#define xenc_v_broadcast(p, buffered) ioreq_broadcast((p), (buffered))
#define xenc_v_pending(v) vcpu_ioreq_pending(v)
#define xenc_v_handle_completion(v) vcpu_ioreq_handle_completion(v)
#define XENC_HANDLE_BUFIOREQ(s) HANDLE_BUFIOREQ(s)
#endif

#define XENC_MAX_EVTCHN 1024
#define XENC_MAX_P2M 4096
#define XENC_MAX_VCPUS 8

/* Process-wide counters of everything the fakes hand out (fakes.c). */
struct xenc_counters {
    int64_t live_allocs;        /* xmalloc'ed blocks not yet freed */
    int64_t live_pages;         /* frames (domheap + guest RAM) not yet freed */
    int64_t live_global_maps;   /* __map_domain_page_global mappings */
    int64_t live_evtchns;       /* allocated Xen-consumer event channels */
    int64_t notifications;      /* notify_via_xen_event_channel calls */
    int64_t last_notified_port;
    int64_t waits_prepared;     /* prepare_wait_on_xen_event_channel calls */
    int64_t last_wait_port;
    int64_t pauses;             /* domain_pause calls */
    int64_t p2m_adds;
    int64_t p2m_removes;
    int64_t domain_crashes;
    /* fault injection */
    int64_t fail_alloc_after;   /* -1: never; n >= 0: the (n+1)th xmalloc from now fails */
    int64_t fail_domheap;       /* alloc_domheap_page fails */
    int64_t fail_global_map;    /* __map_domain_page_global fails */
    int64_t evtchn_limit;       /* highest port that may be allocated */
    int64_t shutting_down;      /* vcpu_start_shutdown_deferral fails */
};
extern struct xenc_counters xenc_counters;

struct xenc_evtchn {
    bool in_use;
    unsigned int vcpu;
    domid_t remote;
    unsigned long notified;
};

/* Per-domain state (harness.c) reachable from the fakes. */
struct xenc_evtchn *xenc_h_evtchns(struct domain *d);
void xenc_h_note_portio(struct domain *d, unsigned int port, unsigned int size,
                        portio_action_t *action);
struct page_info *xenc_h_guest_ram_page(struct domain *d);
void xenc_h_release_guest_ram_page(struct page_info *pg);
struct page_info *xenc_h_p2m_lookup(struct domain *d, unsigned long gfn);
unsigned int xenc_h_p2m_teardown(struct domain *d);
unsigned int xenc_h_p2m_entries(struct domain *d, unsigned long *gfns, unsigned int max);

/* ---- API for the Rust side ---------------------------------------------------------------- */

/* Domains: an HVM target or an emulator. Returns NULL if the id is taken. */
struct domain *xenc_h_domain_create(uint16_t domid, unsigned int nr_vcpus);
/* Teardown as Xen does it: dying, destroy_all, vcpus, P2M, rangesets. */
void xenc_h_domain_destroy(struct domain *d);
struct domain *xenc_h_domain_lookup(uint16_t domid);
void xenc_h_domain_set_hvm(struct domain *d, bool hvm);
void xenc_h_domain_set_privileged(struct domain *d, bool privileged);
/* The domain whose device model d is (-1 for none). */
void xenc_h_domain_set_dm_target(struct domain *d, int target);
/* The ioreq GFN pool as the toolstack sets it up (params 32/33), populated with guest RAM. */
int xenc_h_domain_set_pool(struct domain *d, unsigned long base, unsigned int nr_pages);
/* The CPU the domain sees: vendor AMD or Intel, family, and NB_CFG's CF8 extension bit. */
void xenc_h_domain_set_cpu(struct domain *d, bool amd, unsigned int family, bool cf8_ext);
/* Adds a vcpu (hvm_vcpu_initialise's ioreq step); <0 on failure (vcpu not added). */
int xenc_h_vcpu_add(struct domain *d);
/* hvm_vcpu_initialise's ioreq step again for existing vcpu `vcpu` (a caller's misuse, FIDELITY I15). */
int xenc_h_vcpu_add_again(struct domain *d, unsigned int vcpu);
/* Removes the highest vcpu (hvm_vcpu_destroy's ioreq step). */
void xenc_h_vcpu_remove_last(struct domain *d);
unsigned int xenc_h_nr_vcpus(struct domain *d);

/* The caller of subsequent hypercalls and I/O: vcpu `vcpu` of d. */
void xenc_h_set_current(struct domain *d, unsigned int vcpu);

struct xenc_domain_stats {
    int64_t refs;
    int64_t pause_count;
    int64_t crashed;
    int64_t live_evtchns;
    int64_t p2m_entries;
    int64_t rangesets;
    int64_t lock_depth;          /* d->ioreq_server.lock nesting (0 between calls) */
    int64_t shutdown_deferrals;  /* summed over the vcpus */
};
void xenc_h_domain_stats(struct domain *d, struct xenc_domain_stats *out);

/*
 * The XEN_DMOP hypercall for one buffer: dm_op()'s prologue (domain lookup, HVM check, XSM,
 * size and pad checks) then ioreq_server_dm_op(); on success of a non-const op the union is
 * copied back into buf. len is the buffer's size in bytes.
 */
int xenc_h_dm_op(uint16_t domid, void *buf, size_t len);

/* Convenience forms of the six ioreq DMOPs (same path as xenc_h_dm_op). */
int xenc_h_create(uint16_t domid, uint8_t handle_bufioreq, uint16_t *id);
int xenc_h_get_info(uint16_t domid, uint16_t id, uint16_t flags, uint64_t *ioreq_gfn,
                    uint64_t *bufioreq_gfn, uint32_t *bufioreq_port);
int xenc_h_map_range(uint16_t domid, uint16_t id, uint32_t type, uint64_t start, uint64_t end);
int xenc_h_unmap_range(uint16_t domid, uint16_t id, uint32_t type, uint64_t start,
                       uint64_t end);
int xenc_h_set_state(uint16_t domid, uint16_t id, uint8_t enabled);
int xenc_h_destroy(uint16_t domid, uint16_t id);

/* ioreq_server_get_frame (XENMEM_acquire_resource) as the current vcpu's domain; 4.17 only. */
int xenc_h_get_frame(uint16_t domid, uint16_t id, unsigned int idx, uint64_t *mfn);

/* ---- the I/O path (as the current vcpu of d) ---------------------------------------------- */

/* A port access through the portio handlers registered by the ioreq code (0xcf8). Returns the
 * handler's X86EMUL code, or -1 when no registered handler covers the access. */
int xenc_h_portio(struct domain *d, int dir, unsigned int port, unsigned int bytes,
                  uint32_t *val);
/* ioreq_server_select: the chosen server's id, or -1; *p may be rewritten (PCI). */
int xenc_h_select(struct domain *d, ioreq_t *p);
/* ioreq_send to server `id` (IOREQ_STATUS_*), or -1 when there is no such server. */
int xenc_h_send(struct domain *d, uint16_t id, ioreq_t *p, bool buffered);
unsigned int xenc_h_broadcast(struct domain *d, ioreq_t *p, bool buffered);
/* vcpu_ioreq_pending / vcpu_ioreq_handle_completion for the current vcpu. */
bool xenc_h_io_pending(void);
bool xenc_h_handle_completion(void);
ioreq_t xenc_h_vcpu_io_req(void);

/* ---- views of a server (all return -1 / NULL when id is not a server) --------------------- */

int xenc_h_server_enabled(struct domain *d, uint16_t id);
int xenc_h_server_emulator(struct domain *d, uint16_t id);
int xenc_h_server_bufioreq_handling(struct domain *d, uint16_t id);
int64_t xenc_h_server_bufioreq_evtchn(struct domain *d, uint16_t id);
int64_t xenc_h_server_vcpu_evtchn(struct domain *d, uint16_t id, unsigned int vcpu);
/* The gfns (~0 when none) and the shared pages (NULL when not allocated/mapped). */
uint64_t xenc_h_server_gfn(struct domain *d, uint16_t id, bool buf);
void *xenc_h_server_page(struct domain *d, uint16_t id, bool buf);
/* The ranges of one type as (start, end) pairs in out[2*i], out[2*i+1]; returns the count
 * (which may exceed max; only max pairs are written). */
int xenc_h_server_ranges(struct domain *d, uint16_t id, uint32_t type, uint64_t *out,
                         unsigned int max);

/* The emulator answers vcpu's request on server id: data, then state IORESP_READY. */
int xenc_h_emulator_respond(struct domain *d, uint16_t id, unsigned int vcpu, uint64_t data);

/* Notifications sent on port of d (-1 when the port is not allocated). */
int64_t xenc_h_evtchn_notified(struct domain *d, unsigned int port);
/* rangeset_domain_printk(d) into the console buffer (the 'q' debug-key dump). */
void xenc_h_rangeset_dump(struct domain *d);
/* Whether d's P2M maps gfn. */
bool xenc_h_p2m_present(struct domain *d, uint64_t gfn);

/* ---- process-wide ------------------------------------------------------------------------- */

void xenc_h_counters(struct xenc_counters *out);
void xenc_h_set_fault(int64_t fail_alloc_after, bool fail_domheap, bool fail_global_map,
                      int64_t evtchn_limit);
size_t xenc_h_console_take(char *buf, size_t len);
size_t xenc_h_sizeof_counters(void);
size_t xenc_h_sizeof_domain_stats(void);

#endif /* XENC_HARNESS_H */
