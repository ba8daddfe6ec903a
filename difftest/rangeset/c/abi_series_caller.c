/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * FIDELITY R15: callers of the Rust rangeset built against either header.
 *
 * include/xen_ioreq_rs.h has Xen 4.17's prototypes: the four queries return bool and
 * rangeset_new takes a const char *. A caller built against the 2014 series' header believes the
 * queries return int and rangeset_new takes a char *. The series' prototypes are declared below
 * under other C names bound to the same symbols (asm labels), which is how such a caller's object
 * file references them; each abi_series_* function returns what that caller reads, i.e. all 32
 * bits of the return register. Built with -Wall -Werror (build.rs).
 */
#include <stddef.h>
#include <xen_ioreq_rs.h>

#define SERIES_SYMBOL(name) __asm__(#name)

/* RANGESETF_prettyprint_hex (both headers). */
#define PRETTYPRINT_HEX 1u

/* The series' (2014) signatures of the five functions whose prototypes changed since. */
int series_is_empty(struct rangeset *r) SERIES_SYMBOL(rangeset_is_empty);
int series_contains_range(struct rangeset *r, unsigned long s, unsigned long e)
    SERIES_SYMBOL(rangeset_contains_range);
int series_overlaps_range(struct rangeset *r, unsigned long s, unsigned long e)
    SERIES_SYMBOL(rangeset_overlaps_range);
int series_contains_singleton(struct rangeset *r, unsigned long s)
    SERIES_SYMBOL(rangeset_contains_singleton);
struct rangeset *series_new(struct domain *d, char *name, unsigned int flags)
    SERIES_SYMBOL(rangeset_new);

/*
 * Leaves a non-zero upper part in %eax, as an earlier call of the caller's may: a query that
 * defined only %al would hand it back to an int-reading caller.
 */
__attribute__((noinline)) unsigned int abi_poison_eax(void)
{
    __asm__ volatile("" ::: "memory");
    return 0xdeadbe00u;
}

static volatile unsigned int sink;

unsigned int abi_series_is_empty(struct rangeset *r)
{
    sink = abi_poison_eax();
    return (unsigned int)series_is_empty(r);
}

unsigned int abi_series_contains_range(struct rangeset *r, unsigned long s, unsigned long e)
{
    sink = abi_poison_eax();
    return (unsigned int)series_contains_range(r, s, e);
}

unsigned int abi_series_overlaps_range(struct rangeset *r, unsigned long s, unsigned long e)
{
    sink = abi_poison_eax();
    return (unsigned int)series_overlaps_range(r, s, e);
}

unsigned int abi_series_contains_singleton(struct rangeset *r, unsigned long s)
{
    sink = abi_poison_eax();
    return (unsigned int)series_contains_singleton(r, s);
}

/* What a caller built against our header (4.17's prototypes) reads. */
bool abi_417_contains_range(struct rangeset *r, unsigned long s, unsigned long e)
{
    return rangeset_contains_range(r, s, e);
}

bool abi_417_overlaps_range(struct rangeset *r, unsigned long s, unsigned long e)
{
    return rangeset_overlaps_range(r, s, e);
}

/* rangeset_new: a 4.17 caller passes a const char * as it is (no cast: -Werror). */
struct rangeset *abi_417_new(struct domain *d, const char *name)
{
    return rangeset_new(d, name, PRETTYPRINT_HEX);
}

/* A series caller passes a char *; the pointer travels in the same register either way. */
struct rangeset *abi_series_new(struct domain *d, char *name)
{
    return series_new(d, name, PRETTYPRINT_HEX);
}

/*
 * rangeset_printk: exported by the series, static since b5b8c93a73 and not exported by the Rust.
 * Declared weak so that this file links either way; non-zero if some object defines it.
 */
extern void rangeset_printk(struct rangeset *r) __attribute__((weak));

int abi_rangeset_printk_exported(void)
{
    return rangeset_printk != NULL;
}
