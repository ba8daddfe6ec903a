/*
 * Routes the rangeset calls of Xen's ioreq C (and of the harness) either to Xen's own
 * rangeset.c or, when the Rust tests ask for it, to the Rust crate's rangeset through a table of
 * its C-ABI functions: Xen's ioreq logic running on our data structure.
 *
 * build.rs renames the ioreq objects' references to these nine functions to xenc_rsd_<name>
 * (defined here), and this file's own references to rangeset_<name> to Xen's xenc_rangeset_<name>.
 * The Rust sets are created without a domain (the harness domain is not a Rust domain), so they
 * do not appear in rangeset_domain_printk.
 */
#include "harness.h"

struct xenc_rs_table {
    struct rangeset *(*new_)(struct domain *d, const char *name, unsigned int flags);
    void (*destroy)(struct rangeset *r);
    void (*limit)(struct rangeset *r, unsigned int limit);
    int (*add_range)(struct rangeset *r, unsigned long s, unsigned long e);
    int (*remove_range)(struct rangeset *r, unsigned long s, unsigned long e);
    bool (*contains_range)(struct rangeset *r, unsigned long s, unsigned long e);
    bool (*overlaps_range)(struct rangeset *r, unsigned long s, unsigned long e);
    bool (*contains_singleton)(struct rangeset *r, unsigned long s);
    int (*report_ranges)(struct rangeset *r, unsigned long s, unsigned long e,
                         int (*cb)(unsigned long s, unsigned long e, void *), void *ctxt);
};

/* NULL: Xen's C rangeset. Switch only while no set exists. */
static const struct xenc_rs_table *rust;

void xenc_h_use_rust_rangeset(const struct xenc_rs_table *table)
{
    rust = table;
}

struct rangeset *xenc_rsd_rangeset_new(struct domain *d, const char *name, unsigned int flags)
{
    /* (4.14's rangeset_new takes a non-const name it only copies.) */
    return rust ? rust->new_(NULL, name, flags) : rangeset_new(d, (char *)name, flags);
}

void xenc_rsd_rangeset_destroy(struct rangeset *r)
{
    if ( rust )
        rust->destroy(r);
    else
        rangeset_destroy(r);
}

void xenc_rsd_rangeset_limit(struct rangeset *r, unsigned int limit)
{
    if ( rust )
        rust->limit(r, limit);
    else
        rangeset_limit(r, limit);
}

int xenc_rsd_rangeset_add_range(struct rangeset *r, unsigned long s, unsigned long e)
{
    return rust ? rust->add_range(r, s, e) : rangeset_add_range(r, s, e);
}

int xenc_rsd_rangeset_remove_range(struct rangeset *r, unsigned long s, unsigned long e)
{
    return rust ? rust->remove_range(r, s, e) : rangeset_remove_range(r, s, e);
}

bool_t xenc_rsd_rangeset_contains_range(struct rangeset *r, unsigned long s, unsigned long e)
{
    return rust ? rust->contains_range(r, s, e) : rangeset_contains_range(r, s, e);
}

bool_t xenc_rsd_rangeset_overlaps_range(struct rangeset *r, unsigned long s, unsigned long e)
{
    return rust ? rust->overlaps_range(r, s, e) : rangeset_overlaps_range(r, s, e);
}

bool_t xenc_rsd_rangeset_contains_singleton(struct rangeset *r, unsigned long s)
{
    return rust ? rust->contains_singleton(r, s) : rangeset_contains_singleton(r, s);
}

int xenc_rsd_rangeset_report_ranges(struct rangeset *r, unsigned long s, unsigned long e,
                                    int (*cb)(unsigned long s, unsigned long e, void *),
                                    void *ctxt)
{
    return rust ? rust->report_ranges(r, s, e, cb, ctxt)
                : rangeset_report_ranges(r, s, e, cb, ctxt);
}
