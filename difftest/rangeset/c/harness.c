/* SPDX-License-Identifier: GPL-2.0-only */
/*
 * Harness side of the C rangeset: creates and frees the `struct domain`s it is given (so Rust never
 * sees a C layout) and collects printk output per thread. Every global defined here and in
 * rangeset.c is renamed to `xenc_<name>` after compilation, so the Rust calls these as
 * `xenc_harness_*` and the C rangeset's functions as `xenc_rangeset_*`.
 */
#include <stdarg.h>

static __thread bool fail_allocs;
static __thread char *console;
static __thread size_t console_len, console_cap;

void printk(const char *fmt, ...)
{
    va_list ap;
    int n;

    for ( ; ; )
    {
        size_t room = console_cap - console_len;

        va_start(ap, fmt);
        n = vsnprintf(room ? console + console_len : NULL, room, fmt, ap);
        va_end(ap);
        if ( n < 0 )
            harness_fatal("printk format", __FILE__, __LINE__);
        if ( (size_t)n < room )
            break;
        /* Did not fit: grow and format again. */
        {
            size_t cap = (console_len + n + 1) * 2;
            char *p = realloc(console, cap);

            if ( !p )
                harness_fatal("printk buffer", __FILE__, __LINE__);
            console = p;
            console_cap = cap;
        }
    }
    console_len += n;
}

void harness_fatal(const char *what, const char *file, int line)
{
    fprintf(stderr, "difftest-rangeset: C harness: %s failed at %s:%d\n", what, file, line);
    abort();
}

void *harness_xmalloc(size_t size)
{
    return fail_allocs ? NULL : malloc(size);
}

/* While set, every xmalloc on this thread fails (the Rust side's counterpart is the host
 * platform's CountingAllocator). */
void harness_fail_allocs(bool fail)
{
    fail_allocs = fail;
}

/* The bytes printed on this thread since the last call; valid until the next printk. Clears. */
const char *harness_console_take(size_t *len)
{
    *len = console_len;
    console_len = 0;
    return console ? console : "";
}

/* A zeroed domain (its rangeset list not yet initialised, as in Xen before domain creation). */
struct domain *harness_domain_new(unsigned int domid)
{
    struct domain *d = calloc(1, sizeof(*d));

    if ( d )
        d->domain_id = domid;
    return d;
}

void harness_domain_free(struct domain *d)
{
    free(d);
}
