/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Userspace environment in which Xen's xen/common/rangeset.c compiles unchanged. Forced into the
 * translation unit with `-include`; the shadow headers beside it are empty so that the hypervisor's
 * own headers are never pulled in. Only Xen's list.h and rangeset.h are used from the Xen tree.
 */
#ifndef DIFFTEST_RANGESET_EMUL_H
#define DIFFTEST_RANGESET_EMUL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef bool bool_t;
typedef uint16_t domid_t;

#define __must_check __attribute__((warn_unused_result))
#define cf_check
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define smp_wmb() __asm__ __volatile__("" ::: "memory")
#define prefetch(x) ((void)(x))

/*
 * A failed assertion or BUG is a harness error (the harness never violates the C's preconditions).
 * The benchmark's copy (XENC_BENCH_RELEASE) is built as a release Xen builds it: ASSERT compiled
 * out exactly as Xen's !CONFIG_DEBUG ASSERT, BUG_ON kept (it is live in release Xen too).
 */
void harness_fatal(const char *what, const char *file, int line);
#ifdef XENC_BENCH_RELEASE
#define ASSERT(p) do { if ( 0 && (p) ) {} } while ( 0 )
#else
#define ASSERT(p) do { if ( !(p) ) harness_fatal("ASSERT(" #p ")", __FILE__, __LINE__); } while ( 0 )
#endif
#define BUG_ON(p) do { if ( unlikely(p) ) harness_fatal("BUG_ON(" #p ")", __FILE__, __LINE__); } while ( 0 )

#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))
#define min(x, y) ({ __typeof__(x) x_ = (x); __typeof__(y) y_ = (y); x_ < y_ ? x_ : y_; })
#define max(x, y) ({ __typeof__(x) x_ = (x); __typeof__(y) y_ = (y); x_ > y_ ? x_ : y_; })

/* malloc, unless the harness is injecting allocation failures on this thread. */
void *harness_xmalloc(size_t size);
#ifdef XENC_BENCH_RELEASE
/* The benchmark: straight to malloc, as the Rust side's global allocator there is malloc. */
#define xmalloc(type) ((type *)malloc(sizeof(type)))
#else
#define xmalloc(type) ((type *)harness_xmalloc(sizeof(type)))
#endif
#define xfree(p) free(p)
#define safe_strcpy(d, s) ((void)snprintf((d), sizeof(d), "%s", (s)))

/* printk appends to a per-thread buffer that the Rust side reads back and clears. */
void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Locks: real atomic read-modify-writes, as Xen's cost the C as much as the Rust's locks cost it
 * (the fast paths of Xen 4.17's qrwlock: read_lock a locked add, read_unlock a locked sub,
 * write_lock a cmpxchg from 0, write_unlock a locked and),
 * but asserting instead of spinning: each set is used by one thread, so contention (e.g. a set
 * merged into itself) is a harness error.
 */
#define HARNESS_WRITER (1 << 30)
typedef struct { int v; } spinlock_t;
typedef struct { int v; } rwlock_t;
static inline void harness_lock_excl(int *v)
{
    int free = 0;

    if ( !__atomic_compare_exchange_n(v, &free, HARNESS_WRITER, false, __ATOMIC_ACQUIRE,
                                      __ATOMIC_RELAXED) )
        harness_fatal("lock contended", __FILE__, __LINE__);
}
static inline void harness_lock_shared(int *v)
{
    if ( __atomic_fetch_add(v, 1, __ATOMIC_ACQUIRE) & HARNESS_WRITER )
        harness_fatal("read lock contended", __FILE__, __LINE__);
}
#define spin_lock_init(l) ((l)->v = 0)
#define rwlock_init(l) ((l)->v = 0)
#define spin_lock(l) harness_lock_excl(&(l)->v)
#define spin_unlock(l) __atomic_store_n(&(l)->v, 0, __ATOMIC_RELEASE)
#define read_lock(l) harness_lock_shared(&(l)->v)
#define read_unlock(l) ((void)__atomic_fetch_sub(&(l)->v, 1, __ATOMIC_RELEASE))
#define write_lock(l) harness_lock_excl(&(l)->v)
/* Xen's qrwlock releases a write lock with a locked AND (atomic_and in _write_unlock). */
#define write_unlock(l) ((void)__atomic_fetch_and(&(l)->v, 0, __ATOMIC_RELEASE))

#include <xen/list.h>

/* Only the fields rangeset.c touches. */
struct domain {
    domid_t domain_id;
    struct list_head rangesets;
    spinlock_t rangesets_lock;
};

#endif /* DIFFTEST_RANGESET_EMUL_H */
