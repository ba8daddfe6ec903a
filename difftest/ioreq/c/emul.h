/*
 * Userspace emulation of the hypervisor environment that Xen's ioreq and rangeset C expect.
 *
 * Force-included (-include emul.h) before every Xen translation unit of the differential harness;
 * the stand-in headers under shim/ are empty so that this file is the single definition of each
 * type and primitive. Only what the compiled files use is here: struct vcpu/domain carry just the
 * fields they touch. Everything with external linkage that they call is implemented in fakes.c,
 * which counts what it hands out (domain references, pauses, event channels, pages).
 *
 * Our own code, written against the interfaces the Xen files use; no Xen code is copied here.
 *
 * The same header serves Xen 4.17 (common/ioreq.c + arch/x86/hvm/ioreq.c) and, with XENC_XEN414
 * defined, Xen 4.14 (arch/x86/hvm/ioreq.c): only where the two files expect their state differs
 * (the server array and per-vcpu I/O state under d->arch.hvm / v->arch.hvm in 4.14) are there
 * two variants. 4.14's server structs are not ours: build.rs extracts them from 4.14's headers
 * into OUT_DIR as xenc414_structs.h.
 */
#ifndef XENC_EMUL_H
#define XENC_EMUL_H

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- compiler and configuration ---------------------------------------------------------- */

typedef bool bool_t;
typedef uint64_t paddr_t;

#define CONFIG_X86 1
#define CONFIG_HVM 1
#define CONFIG_IOREQ_SERVER 1
#define IS_ENABLED(option) (option)

#define __must_check __attribute__((__warn_unused_result__))
#define cf_check
#define __read_mostly
#define __init
#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define prefetch(x) ((void)(x))
#define barrier() __asm__ __volatile__("" ::: "memory")
#define smp_wmb() __atomic_thread_fence(__ATOMIC_RELEASE)
#define smp_rmb() __atomic_thread_fence(__ATOMIC_ACQUIRE)
#define smp_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#define read_atomic(p) (*(const volatile __typeof__(*(p)) *)(p))
#define ACCESS_ONCE(x) (*(volatile __typeof__(x) *)&(x))

#ifndef container_of
#define container_of(ptr, type, member) \
    ((type *)((char *)(ptr) - offsetof(type, member)))
#endif
#define min(x, y) ((x) < (y) ? (x) : (y))
#define max(x, y) ((x) > (y) ? (x) : (y))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Assertions of the Xen code stay live: a failure is a harness finding, reported loudly. The
 * benchmark's copy (XENC_BENCH_RELEASE) is built as a release Xen is: ASSERT and
 * ASSERT_UNREACHABLE compiled out exactly as Xen's !CONFIG_DEBUG ones, BUG_ON and BUG kept.
 */
void xenc_assert_failed(const char *what, const char *file, int line)
    __attribute__((__noreturn__));
#ifdef XENC_BENCH_RELEASE
#define ASSERT(p) do { if ( 0 && (p) ) {} } while ( 0 )
#define ASSERT_UNREACHABLE() do { } while ( 0 )
#else
#define ASSERT(p) \
    do { if ( !(p) ) xenc_assert_failed(#p, __FILE__, __LINE__); } while ( 0 )
#define ASSERT_UNREACHABLE() xenc_assert_failed("unreachable", __FILE__, __LINE__)
#endif
#define BUG_ON(p) \
    do { if ( __builtin_expect(!!(p), 0) ) xenc_assert_failed("BUG_ON(" #p ")", __FILE__, __LINE__); } while ( 0 )
#define BUG() xenc_assert_failed("BUG", __FILE__, __LINE__)
#define BUILD_BUG_ON(c) _Static_assert(!(c), #c)

/* ---- console ------------------------------------------------------------------------------ */

/* printk output goes to a buffer the tests can read (fakes.c). */
void xenc_printk(const char *fmt, ...) __attribute__((__format__(__printf__, 1, 2)));
#define printk xenc_printk
#define XENLOG_ERR "<E>"
#define XENLOG_WARNING "<W>"
#define XENLOG_INFO "<I>"
#define XENLOG_G_ERR "<G><E>"
#define XENLOG_G_WARNING "<G><W>"
#define XENLOG_G_INFO "<G><I>"
#define gprintk(lvl, fmt, ...) xenc_printk(lvl "(d?v?) " fmt, ##__VA_ARGS__)
#define gdprintk(lvl, fmt, ...) xenc_printk(lvl "(d?v?) " fmt, ##__VA_ARGS__)

/* ---- memory allocation -------------------------------------------------------------------- */

/* Counted and fault-injectable (fakes.c). */
void *xenc_xmalloc(size_t size, bool zero);
void xenc_xfree(void *p);
#define xmalloc(type) ((type *)xenc_xmalloc(sizeof(type), false))
#define xzalloc(type) ((type *)xenc_xmalloc(sizeof(type), true))
#define xmalloc_bytes(n) xenc_xmalloc((n), false)
#define xzalloc_bytes(n) xenc_xmalloc((n), true)
#define xfree(p) xenc_xfree(p)

/* Xen's contract: 0 or -ENOMEM (not glibc's length). */
int xasprintf(char **bufp, const char *fmt, ...)
    __attribute__((__format__(__printf__, 2, 3)));

#define safe_strcpy(d, s) \
    do { strncpy((d), (s), sizeof(d) - 1); (d)[sizeof(d) - 1] = '\0'; } while ( 0 )

/* ---- bit operations ----------------------------------------------------------------------- */

#define BITS_PER_LONG (sizeof(unsigned long) * 8)
static inline int test_and_clear_bit(unsigned int nr, volatile void *addr)
{
    volatile unsigned long *w = (volatile unsigned long *)addr + nr / BITS_PER_LONG;
    unsigned long m = 1UL << (nr % BITS_PER_LONG);
    int old = !!(*w & m);

    *w &= ~m;
    return old;
}
static inline void set_bit(unsigned int nr, volatile void *addr)
{
    volatile unsigned long *w = (volatile unsigned long *)addr + nr / BITS_PER_LONG;

    *w |= 1UL << (nr % BITS_PER_LONG);
}
static inline void clear_bit(unsigned int nr, volatile void *addr)
{
    volatile unsigned long *w = (volatile unsigned long *)addr + nr / BITS_PER_LONG;

    *w &= ~(1UL << (nr % BITS_PER_LONG));
}
#define guest_cmpxchg64(d, ptr, o, n) __sync_val_compare_and_swap((ptr), (o), (n))
#define cmpxchg(ptr, o, n) __sync_val_compare_and_swap((ptr), (o), (n))

/*
 * ---- locks: atomic as Xen's (single-threaded harness: contention is a deadlock, reported) ------
 *
 * Spinlocks are Xen 4.17's ticket locks, out of line as in xen/common/spinlock.c (fakes.c): a
 * locked xadd to take a ticket, a plain add to release; recursive ones record the owner and a
 * depth. rwlocks are the fast paths of Xen 4.17's inline qrwlock (xen/include/xen/rwlock.h): a
 * locked add / sub for readers, a cmpxchg from 0 and a locked and for the writer. `held` is the
 * nesting depth, for the tests' lock-balance checks (XENC_SERVERS(d).lock.held).
 */
typedef struct {
    uint32_t head_tail;  /* ticket lock: head in the low 16 bits, tail in the high */
    int held;            /* nesting depth, recursive or not */
    bool recursive;
} spinlock_t;
#define SPIN_LOCK_UNLOCKED { 0, 0, false }
#define DEFINE_SPINLOCK(l) spinlock_t l = SPIN_LOCK_UNLOCKED
#define spin_lock_init(l) (*(l) = (spinlock_t)SPIN_LOCK_UNLOCKED)
void xenc_spin_lock(spinlock_t *l);
void xenc_spin_unlock(spinlock_t *l);
void xenc_spin_lock_recursive(spinlock_t *l);
void xenc_spin_unlock_recursive(spinlock_t *l);
#define spin_lock(l) xenc_spin_lock(l)
#define spin_unlock(l) xenc_spin_unlock(l)
#define spin_lock_recursive(l) xenc_spin_lock_recursive(l)
#define spin_unlock_recursive(l) xenc_spin_unlock_recursive(l)
#define spin_is_locked(l) ((l)->held > 0)

#define XENC_QW_LOCKED 0xffu
#define XENC_QR_BIAS 0x1000u
typedef struct { uint32_t cnts; } rwlock_t;
#define rwlock_init(l) (*(l) = (rwlock_t){ 0 })
static inline void xenc_read_lock(rwlock_t *l)
{
    if ( __atomic_add_fetch(&l->cnts, XENC_QR_BIAS, __ATOMIC_ACQUIRE) & XENC_QW_LOCKED )
        xenc_assert_failed("read_lock: deadlock (write-locked)", __FILE__, __LINE__);
}
static inline void xenc_write_lock(rwlock_t *l)
{
    uint32_t free = 0;

    if ( !__atomic_compare_exchange_n(&l->cnts, &free, XENC_QW_LOCKED, false, __ATOMIC_ACQUIRE,
                                      __ATOMIC_RELAXED) )
        xenc_assert_failed("write_lock: deadlock (locked)", __FILE__, __LINE__);
}
#define read_lock(l) xenc_read_lock(l)
#define read_unlock(l) ((void)__atomic_sub_fetch(&(l)->cnts, XENC_QR_BIAS, __ATOMIC_RELEASE))
#define write_lock(l) xenc_write_lock(l)
#define write_unlock(l) ((void)__atomic_and_fetch(&(l)->cnts, ~XENC_QW_LOCKED, __ATOMIC_RELEASE))

/* ---- frames and pages --------------------------------------------------------------------- */

#define PAGE_SHIFT 12
#define PAGE_SIZE (1UL << PAGE_SHIFT)

typedef struct { unsigned long gfn; } gfn_t;
typedef struct { unsigned long mfn; } mfn_t;
typedef struct { unsigned long pfn; } pfn_t;
static inline gfn_t _gfn(unsigned long g) { return (gfn_t){ g }; }
static inline unsigned long gfn_x(gfn_t g) { return g.gfn; }
static inline bool gfn_eq(gfn_t a, gfn_t b) { return a.gfn == b.gfn; }
static inline mfn_t _mfn(unsigned long m) { return (mfn_t){ m }; }
static inline unsigned long mfn_x(mfn_t m) { return m.mfn; }
static inline pfn_t _pfn(unsigned long p) { return (pfn_t){ p }; }
#define INVALID_GFN _gfn(~0UL)
#define INVALID_MFN _mfn(~0UL)

/* A fake machine frame: its contents and who holds references to it. */
struct page_info {
    unsigned long mfn;
    struct domain *owner;
    int refs;          /* general references */
    int type_refs;     /* writable-type references */
    int alloc_ref;     /* the allocation reference (domheap pages) */
    bool domheap;      /* from alloc_domheap_page (else a guest RAM page) */
    void *data;        /* PAGE_SIZE bytes */
    int global_maps;   /* live __map_domain_page_global mappings */
};

#define MEMF_no_refcount (1U << 0)
#define PGT_writable_page 1

struct page_info *alloc_domheap_page(struct domain *d, unsigned int memflags);
bool get_page_and_type(struct page_info *page, struct domain *d, unsigned long type);
void put_page_and_type(struct page_info *page);
void put_page_alloc_ref(struct page_info *page);
void *__map_domain_page_global(const struct page_info *pg);
void unmap_domain_page_global(const void *va);
mfn_t page_to_mfn(const struct page_info *pg);
#define clear_page(va) memset((va), 0, PAGE_SIZE)

int prepare_ring_for_helper(struct domain *d, unsigned long gmfn,
                            struct page_info **_page, void **_va);
void destroy_ring_for_helper(void **_va, struct page_info *page);

typedef unsigned int p2m_type_t;
#define p2m_ram_rw 0
#define p2m_ioreq_server 15
int p2m_remove_page(struct domain *d, gfn_t gfn, mfn_t mfn, unsigned int page_order);
int p2m_add_page(struct domain *d, gfn_t gfn, mfn_t mfn, unsigned int page_order,
                 p2m_type_t t);
/* 4.14's names for the same P2M operations. */
#define guest_physmap_add_page(d, gfn, mfn, order) p2m_add_page((d), (gfn), (mfn), (order), p2m_ram_rw)
#define guest_physmap_remove_page(d, gfn, mfn, order) p2m_remove_page((d), (gfn), (mfn), (order))
void paging_mark_pfn_dirty(struct domain *d, pfn_t pfn);

/* ---- public interface (Xen's own headers) ------------------------------------------------- */

#include <public/xen.h>
#include <public/event_channel.h>
#include <public/memory.h>
#include <public/hvm/ioreq.h>
#include <public/hvm/params.h>
#include <public/hvm/dm_op.h>
#include <public/hvm/hvm_op.h>

#include <xen/list.h>
#include <xen/rangeset.h>

/* ---- event channels ----------------------------------------------------------------------- */

struct domain;
struct vcpu;
int alloc_unbound_xen_event_channel(struct domain *ld, unsigned int lvcpu, domid_t remote_domid,
                                    void *notification_fn);
void free_xen_event_channel(struct domain *d, int port);
void notify_via_xen_event_channel(struct domain *ld, int lport);
void prepare_wait_on_xen_event_channel(int port);
/* The harness never blocks: completion is only driven once the emulator side has answered. */
void xenc_would_block(int port) __attribute__((__noreturn__));
#define wait_on_xen_event_channel(port, condition) \
    do { if ( !(condition) ) xenc_would_block(port); } while ( 0 )

/* ---- vcpus and domains -------------------------------------------------------------------- */

#ifdef XENC_XEN414
/* Xen 4.14's hvm_ioreq_{page,vcpu,server}, enum hvm_io_completion and the inline helpers the
 * file uses (hvm_ioreq_needs_completion, hvm_mmio_first/last_byte), extracted by build.rs. */
#include "xenc414_structs.h"
#define XENC_SERVER_TAG hvm_ioreq_server

struct hvm_vcpu_io {
    enum hvm_io_completion io_completion;
    ioreq_t io_req;
};
#else
#define XENC_SERVER_TAG ioreq_server

enum vio_completion {
    VIO_no_completion,
    VIO_mmio_completion,
    VIO_pio_completion,
    VIO_realmode_completion,
};

struct vcpu_io {
    enum vio_completion completion;
    bool suspended;
    ioreq_t req;
};
#endif

struct vcpu {
    int vcpu_id;
    struct domain *domain;
    struct vcpu *next_in_list;
#ifdef XENC_XEN414
    struct { struct { struct hvm_vcpu_io hvm_io; } hvm; } arch;
#else
    struct vcpu_io io;
#endif
    bool mapcache_invalidate;
    int shutdown_deferrals;   /* vcpu_start/end_shutdown_deferral balance */
};

#define X86_VENDOR_INTEL (1U << 0)
#define X86_VENDOR_AMD (1U << 1)
struct cpuid_policy {
    unsigned int x86_vendor;
    struct { uint32_t raw_fms; } basic;
};

struct p2m_domain {
    struct { long entry_count; } ioreq;
};

#define MAX_NR_IOREQ_SERVERS 8

struct domain {
    domid_t domain_id;
    bool is_dying;
    bool creation_finished;
    struct vcpu *vcpu_list;   /* for_each_vcpu order */

    struct list_head rangesets;
    spinlock_t rangesets_lock;

#ifndef XENC_XEN414
    struct {
        spinlock_t lock;
        struct ioreq_server *server[MAX_NR_IOREQ_SERVERS];
    } ioreq_server;
#endif

    struct {
        struct {
            struct {
                unsigned long base;
                unsigned long mask;
                unsigned long legacy_mask;
            } ioreq_gfn;
#ifdef XENC_XEN414
            struct {
                spinlock_t lock;
                struct hvm_ioreq_server *server[MAX_NR_IOREQ_SERVERS];
            } ioreq_server;
#endif
            uint64_t params[HVM_NR_PARAMS];
            uint32_t pci_cf8;
        } hvm;
        struct cpuid_policy *cpuid;
        struct cpuid_policy cpuid_storage;
    } arch;

    struct p2m_domain p2m;

    /* Harness bookkeeping (fakes.c). */
    int refs;          /* get_knownalive_domain / put_domain balance */
    int pause_count;
    int crashed;
    uint64_t amd64_nb_cfg;   /* what rdmsr_safe(MSR_AMD64_NB_CFG) returns for this domain */
};

#define for_each_vcpu(d, v) for ( (v) = (d)->vcpu_list; (v) != NULL; (v) = (v)->next_in_list )

/* The vcpu running the hypercall or the guest access (set by the harness). */
extern struct vcpu *xenc_current;
#define current xenc_current

/* Harness vcpus never run concurrently with the hypervisor code. */
#define vcpu_runnable(v) ((void)(v), false)
#define is_hvm_domain(d) ((void)(d), true)

void domain_pause(struct domain *d);
void domain_unpause(struct domain *d);
void get_knownalive_domain(struct domain *d);
void put_domain(struct domain *d);
void xenc_domain_crash(struct domain *d, const char *file, int line);
#define domain_crash(d) xenc_domain_crash((d), __FILE__, __LINE__)
bool vcpu_start_shutdown_deferral(struct vcpu *v);
void vcpu_end_shutdown_deferral(struct vcpu *v);

/* ---- the rest of the x86 HVM code the ioreq files call ------------------------------------ */

#define X86EMUL_OKAY 0
#define X86EMUL_UNHANDLEABLE 1
#define X86EMUL_EXCEPTION 2
#define X86EMUL_RETRY 3
#define IOREQ_STATUS_HANDLED X86EMUL_OKAY
#define IOREQ_STATUS_UNHANDLED X86EMUL_UNHANDLEABLE
#define IOREQ_STATUS_RETRY X86EMUL_RETRY

#define CF8_BDF(cf8) (((cf8) & 0x00ffff00U) >> 8)
#define CF8_ADDR_LO(cf8) ((cf8) & 0x000000fcU)
#define CF8_ADDR_HI(cf8) (((cf8) & 0x0f000000U) >> 16)
#define CF8_ENABLED(cf8) (!!((cf8) & 0x80000000U))

typedef union {
    uint32_t sbdf;
    struct { uint8_t devfn, bus; uint16_t seg; };
} pci_sbdf_t;
unsigned int hvm_pci_decode_addr(unsigned int cf8, unsigned int addr, pci_sbdf_t *sbdf);

#define MSR_AMD64_NB_CFG 0xc001001fU
#define AMD64_NB_CFG_CF8_EXT_ENABLE_BIT 46
int xenc_rdmsr_safe(unsigned int msr, uint64_t *val);
#define rdmsr_safe(msr, val) xenc_rdmsr_safe((msr), &(val))
unsigned int get_cpu_family(uint32_t raw, uint8_t *model, uint8_t *stepping);

typedef int portio_action_t(int dir, unsigned int port, unsigned int bytes, uint32_t *val);
void register_portio_handler(struct domain *d, unsigned int port, unsigned int size,
                             portio_action_t *action);
bool relocate_portio_handler(struct domain *d, unsigned int old_port, unsigned int new_port,
                             unsigned int size);

int p2m_set_ioreq_server(struct domain *d, unsigned int flags, struct XENC_SERVER_TAG *s);
#define p2m_get_hostp2m(d) (&(d)->p2m)
void p2m_change_entry_type_global(struct domain *d, p2m_type_t ot, p2m_type_t nt);

bool handle_mmio(void);
bool handle_pio(uint16_t port, unsigned int size, int dir);
void msix_write_completion(struct vcpu *v);
struct cpu_user_regs;
struct cpu_user_regs *guest_cpu_user_regs(void);
struct hvm_emulate_ctxt { int unused; };
void hvm_emulate_init_once(struct hvm_emulate_ctxt *ctxt, void *validate,
                           struct cpu_user_regs *regs);
void vmx_realmode_emulate_one(struct hvm_emulate_ctxt *ctxt);
void hvm_emulate_writeback(struct hvm_emulate_ctxt *ctxt);

#ifdef XENC_XEN414
/* 4.14's completion path asks vPCI first; the harness domains have no vPCI. */
#define has_vpci(d) ((void)(d), false)
bool vpci_process_pending(struct vcpu *v);
#define SCHEDULE_SOFTIRQ 0
void raise_softirq(unsigned int nr);
/* 4.14 still calls it asprintf (Xen's contract: 0 or -ENOMEM). */
#define asprintf xasprintf
#endif

#endif /* XENC_EMUL_H */
