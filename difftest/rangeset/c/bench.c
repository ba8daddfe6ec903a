/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * The benchmark driver (benches/rangeset.rs): one C translation unit that calls both rangesets
 * through their C entry points, out of line, exactly as Xen's C callers do:
 *   - Xen 4.17's rangeset.c, built a second time for the benchmark as a release Xen builds it
 *     (ASSERTs compiled out, xmalloc straight to malloc; symbols renamed `xenb_*`);
 *   - the Rust crate's `#[no_mangle]` exports (`rangeset_*`), linked as extern functions.
 * The two loops below are the same macro expanded twice, so both sides get the same driver code;
 * only the called symbol differs. This file is not renamed by build.rs.
 *
 * Instruction counts: when `label` is given, the run is bracketed by callgrind client requests
 * (zero the counters, run, dump them under the label), which cost nothing outside valgrind.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#ifdef BENCH_HAVE_CALLGRIND
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_ZERO_STATS do { } while ( 0 )
#define CALLGRIND_DUMP_STATS_AT(l) do { (void)(l); } while ( 0 )
#endif

struct rangeset;
struct domain;
typedef int report_cb_t(unsigned long s, unsigned long e, void *ctxt);

#define DECLARE_RANGESET(P)                                                                   \
    struct rangeset *P##rangeset_new(struct domain *d, const char *name, unsigned int flags);   \
    void P##rangeset_destroy(struct rangeset *r);                                              \
    int P##rangeset_add_range(struct rangeset *r, unsigned long s, unsigned long e);           \
    int P##rangeset_remove_range(struct rangeset *r, unsigned long s, unsigned long e);        \
    bool P##rangeset_contains_singleton(struct rangeset *r, unsigned long s);                  \
    bool P##rangeset_overlaps_range(struct rangeset *r, unsigned long s, unsigned long e);     \
    int P##rangeset_report_ranges(struct rangeset *r, unsigned long s, unsigned long e,        \
                                  report_cb_t *cb, void *ctxt);

DECLARE_RANGESET(xenb_)  /* Xen's C, release build */
DECLARE_RANGESET()       /* the Rust exports */

/* The benchmark sets hold [16 i, 16 i + 7] for i in 0..n: 8 values, then a gap of 8. */
#define STRIDE 16

enum bench_kind {
    K_CONTAINS,       /* contains_singleton(base + off): in a range (off < 8) or in a gap */
    K_OVERLAPS,       /* overlaps_range(base + off, base + off + 3) */
    K_ADD_COVERED,    /* add_range inside range i: no change */
    K_REMOVE_ABSENT,  /* remove_range of gap i's interior: no change */
    K_ADD_REMOVE,     /* add_range of a new range in gap i, then remove_range of it */
    K_SPLIT_HEAL,     /* remove_range splitting range i in two, then add_range healing it */
    K_REPORT_WINDOW,  /* report_ranges over about 4 ranges from range i */
    K_REPORT_ALL,     /* report_ranges over everything */
    K_NR
};

/* One operation's arguments, drawn once (benches/rangeset.rs) and replayed on both sides. */
struct bench_op {
    uint64_t base;  /* 16 i: the start of range i */
    uint64_t off;   /* 0..15 */
    uint64_t wend;  /* the end of K_REPORT_WINDOW's window */
};

static int sum_cb(unsigned long s, unsigned long e, void *ctxt)
{
    *(uint64_t *)ctxt += s ^ e;
    return 0;
}

/* The timed loop for one implementation; returns a checksum of every result. */
#define DEFINE_RUN(NAME, P)                                                                   \
static __attribute__((noinline)) uint64_t NAME(struct rangeset *r, int kind,                 \
                                               const struct bench_op *op, size_t nops)       \
{                                                                                             \
    uint64_t sum = 0;                                                                         \
    size_t i;                                                                                 \
                                                                                              \
    switch ( kind )                                                                           \
    {                                                                                         \
    case K_CONTAINS:                                                                          \
        for ( i = 0; i < nops; i++ )                                                          \
            sum += P##rangeset_contains_singleton(r, op[i].base + op[i].off);                 \
        break;                                                                                \
    case K_OVERLAPS:                                                                          \
        for ( i = 0; i < nops; i++ )                                                          \
            sum += P##rangeset_overlaps_range(r, op[i].base + op[i].off,                      \
                                              op[i].base + op[i].off + 3);                    \
        break;                                                                                \
    case K_ADD_COVERED:                                                                       \
        for ( i = 0; i < nops; i++ )                                                          \
            sum += P##rangeset_add_range(r, op[i].base + 1, op[i].base + 1 + op[i].off % 6);  \
        break;                                                                                \
    case K_REMOVE_ABSENT:                                                                     \
        for ( i = 0; i < nops; i++ )                                                          \
            sum += P##rangeset_remove_range(r, op[i].base + 9, op[i].base + 9 + op[i].off % 6); \
        break;                                                                                \
    case K_ADD_REMOVE:                                                                        \
        for ( i = 0; i < nops; i++ )                                                          \
        {                                                                                     \
            sum += P##rangeset_add_range(r, op[i].base + 10, op[i].base + 12);                \
            sum += P##rangeset_remove_range(r, op[i].base + 10, op[i].base + 12);             \
        }                                                                                     \
        break;                                                                                \
    case K_SPLIT_HEAL:                                                                        \
        for ( i = 0; i < nops; i++ )                                                          \
        {                                                                                     \
            sum += P##rangeset_remove_range(r, op[i].base + 3, op[i].base + 4);               \
            sum += P##rangeset_add_range(r, op[i].base + 3, op[i].base + 4);                  \
        }                                                                                     \
        break;                                                                                \
    case K_REPORT_WINDOW:                                                                     \
        for ( i = 0; i < nops; i++ )                                                          \
            sum += P##rangeset_report_ranges(r, op[i].base + op[i].off, op[i].wend, sum_cb,   \
                                             &sum);                                           \
        break;                                                                                \
    case K_REPORT_ALL:                                                                        \
        for ( i = 0; i < nops; i++ )                                                          \
            sum += P##rangeset_report_ranges(r, 0, ~0UL, sum_cb, &sum);                       \
        break;                                                                                \
    }                                                                                         \
    return sum;                                                                               \
}

DEFINE_RUN(run_c, xenb_)
DEFINE_RUN(run_rust, )

/* A set of n benchmark ranges (side 0: C, 1: Rust), NULL on failure. */
struct rangeset *bench_rs_build(int side, unsigned long n)
{
    struct rangeset *r = side ? rangeset_new(NULL, "bench", 0)
                              : xenb_rangeset_new(NULL, "bench", 0);
    unsigned long i;

    for ( i = 0; r && i < n; i++ )
        if ( (side ? rangeset_add_range(r, i * STRIDE, i * STRIDE + 7)
                   : xenb_rangeset_add_range(r, i * STRIDE, i * STRIDE + 7)) != 0 )
            return NULL;
    return r;
}

void bench_rs_destroy(int side, struct rangeset *r)
{
    if ( side )
        rangeset_destroy(r);
    else
        xenb_rangeset_destroy(r);
}

/* A digest of the whole set (to check both sides hold the same ranges). */
uint64_t bench_rs_digest(int side, struct rangeset *r)
{
    uint64_t sum = 0;

    if ( side )
        rangeset_report_ranges(r, 0, ~0UL, sum_cb, &sum);
    else
        xenb_rangeset_report_ranges(r, 0, ~0UL, sum_cb, &sum);
    return sum;
}

/*
 * Runs nops operations of `kind` on side's set r; returns the elapsed nanoseconds and the
 * results' checksum in *sum. With `label`, callgrind's counters cover exactly this run.
 */
uint64_t bench_rs_run(int side, struct rangeset *r, int kind, const struct bench_op *op,
                      size_t nops, const char *label, uint64_t *sum)
{
    struct timespec t0, t1;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ( label )
        CALLGRIND_ZERO_STATS;
    *sum = side ? run_rust(r, kind, op, nops) : run_c(r, kind, op, nops);
    if ( label )
        CALLGRIND_DUMP_STATS_AT(label);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (uint64_t)(t1.tv_sec - t0.tv_sec) * 1000000000u + (uint64_t)t1.tv_nsec -
           (uint64_t)t0.tv_nsec;
}
