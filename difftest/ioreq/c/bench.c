/*
 * The benchmark driver (benches/ioreq.rs): one C translation unit that times both ioreq
 * implementations through their C entry points, out of line, as Xen's I/O path calls them:
 *   - Xen 4.17's common/ioreq.c + arch/x86/hvm/ioreq.c + rangeset.c, built a second time for the
 *     benchmark as a release Xen builds them (XENC_BENCH_RELEASE: ASSERT off; atomic ticket
 *     spinlocks and qrwlock fast paths as Xen's, see emul.h), with this file, fakes.c and
 *     harness.c; build.rs renames every global of these objects `xenb_<name>`;
 *   - the Rust crate's exports as Xen's I/O path calls them (hvm_ioreq_select_and_send: select
 *     and send in one call; hvm_ioreq_complete), which stay unresolved here and bind to the
 *     crate, and for selection alone bench_rust_select (src/ffi.rs: the core's selection, as
 *     hvm_ioreq_select_and_send calls it; the crate exports no select-only function).
 * Both loops are the same code; only the called functions differ. The emulator's answer is the
 * same two stores on both sides (data, then state IORESP_READY in the shared slot).
 *
 * Instruction counts: with a label, the run is bracketed by callgrind client requests (zero the
 * counters, run, dump them under the label); outside valgrind they cost nothing.
 */
#include "harness.h"

#include <time.h>

#ifdef BENCH_HAVE_CALLGRIND
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_ZERO_STATS do { } while ( 0 )
#define CALLGRIND_DUMP_STATS_AT(l) do { (void)(l); } while ( 0 )
#endif

/* The Rust exports (include/xen_ioreq_rs.h; its struct domain / vcpu are the host platform's). */
int hvm_ioreq_select_and_send(ioreq_t *p, uint32_t route);
int hvm_ioreq_complete(void *v, ioreq_t *resp, uint32_t *port);
bool bench_rust_select(void *d, ioreq_t *p);
#define HVM_IOREQ_ROUTE_RANGE 0
#define HVM_IOREQ_COMPLETED 1

/* One benchmark world of one side, as benches/ioreq.rs fills it in. */
struct bench_io {
    void *d;                 /* the guest (C: struct domain *; Rust: the host domain) */
    void *v;                 /* Rust: its vcpu 0 (the C side uses `current`) */
    volatile ioreq_t *slot;  /* vcpu 0's slot in the (oldest) server's shared page */
    ioreq_t req;             /* the access, as the guest makes it */
};

static inline void emulator_respond(volatile ioreq_t *slot)
{
    slot->data = 7;
    smp_wmb();
    slot->state = STATE_IORESP_READY;
}

/* Selection only: returns how many selections found a server, plus the rewritten addresses. */
static __attribute__((noinline)) uint64_t select_c(const struct bench_io *w, size_t iters)
{
    uint64_t sum = 0;
    size_t i;

    for ( i = 0; i < iters; i++ )
    {
        ioreq_t q = w->req;

        sum += ioreq_server_select(w->d, &q) != NULL;
        sum += q.addr + q.type;
    }
    return sum;
}

static __attribute__((noinline)) uint64_t select_rust(const struct bench_io *w, size_t iters)
{
    uint64_t sum = 0;
    size_t i;

    for ( i = 0; i < iters; i++ )
    {
        ioreq_t q = w->req;

        sum += bench_rust_select(w->d, &q);
        sum += q.addr + q.type;
    }
    return sum;
}

/* The synchronous round trip: select, send, the emulator answers, the vcpu completes. Counts
 * the steps that went as expected (3 per iteration). */
static __attribute__((noinline)) uint64_t round_trip_c(const struct bench_io *w, size_t iters)
{
    uint64_t sum = 0;
    size_t i;

    for ( i = 0; i < iters; i++ )
    {
        ioreq_t q = w->req;
        struct ioreq_server *s = ioreq_server_select(w->d, &q);

        if ( !s )
            continue;
        sum += ioreq_send(s, &q, false) == IOREQ_STATUS_RETRY;
        emulator_respond(w->slot);
        sum += vcpu_ioreq_handle_completion(current);
        sum += w->slot->state == STATE_IOREQ_NONE;
    }
    return sum;
}

static __attribute__((noinline)) uint64_t round_trip_rust(const struct bench_io *w, size_t iters)
{
    uint64_t sum = 0;
    size_t i;

    for ( i = 0; i < iters; i++ )
    {
        ioreq_t q = w->req, resp;

        /* The current vCPU (the host platform's) is the guest's vcpu 0, w->v. */
        sum += hvm_ioreq_select_and_send(&q, HVM_IOREQ_ROUTE_RANGE) == IOREQ_STATUS_RETRY;
        emulator_respond(w->slot);
        sum += hvm_ioreq_complete(w->v, &resp, NULL) == HVM_IOREQ_COMPLETED;
        sum += w->slot->state == STATE_IOREQ_NONE;
    }
    return sum;
}

/*
 * Runs `iters` of `what` (0: selection, 1: round trip) on side (0: C, 1: Rust); returns the
 * elapsed nanoseconds, and the loop's checksum in *sum.
 */
uint64_t bench_io_run(int side, int what, const struct bench_io *w, size_t iters,
                      const char *label, uint64_t *sum)
{
    struct timespec t0, t1;

    if ( side == 0 )
        xenc_h_set_current(w->d, 0);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ( label )
        CALLGRIND_ZERO_STATS;
    if ( what == 0 )
        *sum = side ? select_rust(w, iters) : select_c(w, iters);
    else
        *sum = side ? round_trip_rust(w, iters) : round_trip_c(w, iters);
    if ( label )
        CALLGRIND_DUMP_STATS_AT(label);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)t1.tv_nsec -
           (uint64_t)t0.tv_nsec;
}

/* ---- the C side's world (the Rust side's is built by benches/ioreq.rs) -------------------- */

#define GUEST 5
#define DM0 0

/*
 * `servers` enabled servers of the guest, each with `ranges` ranges per type: disjoint, with
 * gaps, newer servers' ranges below older ones' (as benches/ioreq.rs builds the Rust world), and
 * the guest's vcpu 0 current. Returns the guest and the oldest server's shared page, or NULL.
 */
struct domain *bench_c_world(unsigned int servers, uint64_t ranges, void **page)
{
    struct domain *guest = xenc_h_domain_create(GUEST, 1);
    struct domain *dm0 = xenc_h_domain_create(DM0, 1);
    unsigned int k;
    uint64_t j;

    if ( !guest || !dm0 || xenc_h_domain_set_pool(guest, 0xfeff0, 64) )
        return NULL;
    xenc_h_domain_set_privileged(dm0, true);
    for ( k = 0; k < servers; k++ )
    {
        uint64_t base = (uint64_t)(servers - 1 - k) * ranges * 4, g = 0, bg = 0;
        uint32_t bp = 0;
        uint16_t id;

        xenc_h_set_current(dm0, 0);
        if ( xenc_h_create(GUEST, 0, &id) || xenc_h_get_info(GUEST, id, 0, &g, &bg, &bp) )
            return NULL;
        for ( j = 0; j < ranges; j++ )
        {
            uint64_t s = base + 2 * j;

            if ( xenc_h_map_range(GUEST, id, 0, 0x1000 + s, 0x1000 + s) ||
                 xenc_h_map_range(GUEST, id, 1, 0xe0000000 + s, 0xe0000000 + s) ||
                 xenc_h_map_range(GUEST, id, 2, s, s) )
                return NULL;
        }
        if ( xenc_h_set_state(GUEST, id, 1) )
            return NULL;
        if ( k == 0 )
            *page = xenc_h_server_page(guest, id, false);
    }
    xenc_h_set_current(guest, 0);
    return guest;
}

/* The guest's 4-byte write of `cf8` to port 0xcf8 (latches a PCI config address). */
void bench_c_cf8(struct domain *guest, uint32_t cf8)
{
    xenc_h_set_current(guest, 0);
    (void)xenc_h_portio(guest, IOREQ_WRITE, 0xcf8, 4, &cf8);
}

void bench_c_teardown(struct domain *guest)
{
    xenc_h_domain_destroy(guest);
    xenc_h_domain_destroy(xenc_h_domain_lookup(DM0));
}
