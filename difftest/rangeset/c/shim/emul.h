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

/* A failed assertion or BUG is a harness error (the harness never violates the C's preconditions). */
void harness_fatal(const char *what, const char *file, int line);
#define ASSERT(p) do { if ( !(p) ) harness_fatal("ASSERT(" #p ")", __FILE__, __LINE__); } while ( 0 )
#define BUG_ON(p) do { if ( p ) harness_fatal("BUG_ON(" #p ")", __FILE__, __LINE__); } while ( 0 )

#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))
#define min(x, y) ({ __typeof__(x) x_ = (x); __typeof__(y) y_ = (y); x_ < y_ ? x_ : y_; })
#define max(x, y) ({ __typeof__(x) x_ = (x); __typeof__(y) y_ = (y); x_ > y_ ? x_ : y_; })

/* malloc, unless the harness is injecting allocation failures on this thread. */
void *harness_xmalloc(size_t size);
#define xmalloc(type) ((type *)harness_xmalloc(sizeof(type)))
#define xfree(p) free(p)
#define safe_strcpy(d, s) ((void)snprintf((d), sizeof(d), "%s", (s)))

/* printk appends to a per-thread buffer that the Rust side reads back and clears. */
void printk(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Locks: one thread per rangeset in the harness, so they only need to exist. */
typedef struct { int held; } spinlock_t;
typedef struct { int held; } rwlock_t;
#define spin_lock_init(l) ((l)->held = 0)
#define rwlock_init(l) ((l)->held = 0)
#define spin_lock(l) ((l)->held++)
#define spin_unlock(l) ((l)->held--)
#define read_lock(l) ((l)->held++)
#define read_unlock(l) ((l)->held--)
#define write_lock(l) ((l)->held++)
#define write_unlock(l) ((l)->held--)

#include <xen/list.h>

/* Only the fields rangeset.c touches. */
struct domain {
    domid_t domain_id;
    struct list_head rangesets;
    spinlock_t rangesets_lock;
};

#endif /* DIFFTEST_RANGESET_EMUL_H */
