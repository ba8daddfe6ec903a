/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Compile-time proof that the Rust exports have Xen 4.17's rangeset prototypes: Xen's own
 * xen/include/xen/rangeset.h and our generated include/xen_ioreq_rs.h in one translation unit. C
 * rejects two declarations of one function with different types, so any mismatch fails the build.
 * The build script also checks that the Rust header declares every one of the functions, so that
 * this cannot pass by declaring nothing.
 */
#include <xen/rangeset.h>
#include "xen_ioreq_rs.h"

/* Also take each one's address through Xen's prototype (catches a macro standing in for one). */
void *difftest_rangeset_header_check[] = {
    (void *)rangeset_domain_initialise, (void *)rangeset_domain_destroy,
    (void *)rangeset_new, (void *)rangeset_destroy, (void *)rangeset_limit,
    (void *)rangeset_is_empty, (void *)rangeset_add_range, (void *)rangeset_claim_range,
    (void *)rangeset_remove_range, (void *)rangeset_contains_range,
    (void *)rangeset_overlaps_range, (void *)rangeset_report_ranges,
    (void *)rangeset_consume_ranges, (void *)rangeset_merge, (void *)rangeset_add_singleton,
    (void *)rangeset_remove_singleton, (void *)rangeset_contains_singleton,
    (void *)rangeset_swap, (void *)rangeset_domain_printk,
};
