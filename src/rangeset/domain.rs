//! Rangesets as the rest of the hypervisor sees them: a [`RangeList`] behind the platform's rwlock,
//! optionally attached to a domain so that `rangeset_domain_printk` lists it and
//! `rangeset_domain_destroy` cleans it up.
//!
//! Use from Rust (e.g. an ioreq server's per-server sets):
//! ```text
//! domain_initialise::<P>(d)?;                        // once per domain (Xen: domain_create)
//! let name = [Piece::Str("ioreq_server "), Piece::Dec(id.into()), Piece::Str(" port")];
//! let ports = Rangeset::<P>::new_named(Some(d), &name, RangesetFlags::PRETTYPRINT_HEX)?;
//! ports.limit(256);
//! ports.add_range(0x3f8, 0x3ff)?;
//! if ports.contains_range(0x3f8, 0x3f8) { /* ... */ }
//! drop(ports);                                       // rangeset_destroy: unlinked and freed
//! domain_destroy::<P>(d);                            // once per domain (Xen: _domain_destroy)
//! ```
//! A set owned by a [`Rangeset`] is never freed behind its owner's back: `domain_destroy` only
//! detaches it. Sets whose ownership went to C (`Rangeset::into_raw`, i.e. `rangeset_new`) are
//! freed by `domain_destroy`, as Xen frees them.
//!
//! Locking follows Xen: readers (contains/overlaps/report/print) share the set's rwlock, writers
//! (add/remove/claim/consume/merge/swap/limit) hold it alone; callbacks run with it held, so they
//! must not call back into the same set. The per-domain list has its own lock. Creating or
//! destroying sets of a domain must not race with `domain_initialise`/`domain_destroy` of that
//! domain (Xen's contract too: see `xen/include/xen/rangeset.h`).
//!
//! An `ExclusiveRangeset` (the ioreq servers' sets) is the exception on the read side: its writers
//! need `&mut` to it, so its owner's own lock already excludes them, and its reads skip the set's
//! lock (writers still take it, against the domain's dump).
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::ffi::c_void;
use core::ops::{Deref, DerefMut};
use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use super::core::{RangeList, RangesetFlags, NAME_MAX};
use crate::errno::{Errno, XenResult};
use crate::platform::console::{write_pieces, Piece};
use crate::platform::domain::{RangesetsKey, SlotState, SlotValue};
use crate::platform::fallible::{try_box, try_push};
use crate::platform::sync::{ReadGuard, RwLock, WriteGuard};
use crate::platform::{DomainRef, Platform};

/// One rangeset: Xen's `struct rangeset`.
pub struct LockedRangeset<P: Platform> {
    set: RwLock<P::RwLock, RangeList>,
    /// The domain whose list holds this set (Xen's `r->domain`); null when none.
    domain: AtomicPtr<c_void>,
    /// Who owns the set (the module's one ownership rule, `rangeset/mod.rs`): set by
    /// [`Rangeset::into_raw`] (C owns it, so `domain_destroy` frees it), cleared by
    /// [`Rangeset::from_raw`] (a `Rangeset` owns it again, and `domain_destroy` only detaches it).
    owned_by_c: AtomicBool,
    /// Whether the set holds no range, refreshed by every writer before it unlocks, so that
    /// `is_empty` takes no lock, as in Xen (whose `rangeset_is_empty` reads the list unlocked):
    /// a `consume_ranges` callback may ask whether its own set is empty (FIDELITY R14).
    empty: AtomicBool,
    /// A `rangeset_limit` not yet applied ([`NO_LIMIT`] when none). Xen's `rangeset_limit` is a
    /// plain store that takes no lock, so a report or consume callback may call it on the set
    /// it walks; taking the write lock here would deadlock there. The next writer applies it as
    /// it takes the lock (and a consume walk right after the callback that set it), before any
    /// allocation could read the budget.
    limit: AtomicU64,
}

/// [`Rangeset::limit`]: no limit waiting to be applied (limits are `u32`).
const NO_LIMIT: u64 = u64::MAX;

/// Takes the limit waiting in `pending`, if any.
fn take_limit(pending: &AtomicU64) -> Option<u32> {
    u32::try_from(pending.swap(NO_LIMIT, Ordering::AcqRel)).ok()
}

/// The set's write lock; `empty` is refreshed from the set just before the lock is released.
struct Writing<'a, P: Platform> {
    guard: WriteGuard<'a, P::RwLock, RangeList>,
    empty: &'a AtomicBool,
    limit: &'a AtomicU64,
}

impl<P: Platform> Writing<'_, P> {
    /// Applies a `rangeset_limit` made since the last writer.
    fn apply_limit(&mut self) {
        if let Some(l) = take_limit(self.limit) {
            self.guard.set_limit(l);
        }
    }
}

impl<P: Platform> Deref for Writing<'_, P> {
    type Target = RangeList;
    fn deref(&self) -> &RangeList {
        &self.guard
    }
}

impl<P: Platform> DerefMut for Writing<'_, P> {
    fn deref_mut(&mut self) -> &mut RangeList {
        &mut self.guard
    }
}

impl<P: Platform> Drop for Writing<'_, P> {
    fn drop(&mut self) {
        // Runs before `guard` (a field) is dropped, i.e. while the write lock is still held.
        self.apply_limit();
        self.empty.store(self.guard.is_empty(), Ordering::Release);
    }
}

/// A domain's sets (Xen's `d->rangesets` and `d->rangesets_lock`), oldest first, kept in the
/// domain's [`DomainSlot::Rangesets`] word.
pub(crate) struct DomainRangesets<P: Platform> {
    sets: RwLock<P::RwLock, Vec<NonNull<LockedRangeset<P>>>>,
}

// SAFETY: the list holds addresses of `LockedRangeset`s, which are Send + Sync (their state is
// behind the platform rwlock and atomics); the Vec itself is only reached under the list's own
// lock.
unsafe impl<P: Platform> Send for DomainRangesets<P> {}
// SAFETY: as for Send.
unsafe impl<P: Platform> Sync for DomainRangesets<P> {}

impl<P: Platform> SlotValue<P> for RangesetsKey {
    type Value = DomainRangesets<P>;
}

type ListSlot = SlotState<RangesetsKey>;

/// The domain's list, if `domain_initialise` made one. It lives until `domain_destroy`, which
/// does not race with the users of the domain's sets (see the module comment).
fn domain_list<P: Platform>(d: DomainRef) -> Option<&'static DomainRangesets<P>> {
    ListSlot::get::<P>(d)
}

/// `rangeset_domain_initialise`: gives `d` its (empty) list. Idempotent. -ENOMEM if the list or its
/// lock cannot be allocated; sets for `d` then cannot be created (Xen's version cannot fail).
#[cfg_attr(feature = "xen", optimize(size))]
pub fn domain_initialise<P: Platform>(d: DomainRef) -> XenResult<()> {
    ListSlot::get_or_init::<P>(d, || {
        Ok(DomainRangesets {
            sets: RwLock::new(Vec::new())?,
        })
    })
    .map(|_| ())
}

/// `rangeset_domain_destroy`: detaches every set still attached to `d`, frees those owned by C
/// and then the list. Idempotent; a no-op for a domain never initialised.
///
/// # Safety
/// The module's contract (Xen's too): no set of `d` may be created, destroyed (a
/// [`Rangeset`] dropped) or printed with `domain_printk` concurrently with this call, and
/// every pointer C holds to a set of `d` it owns (`rangeset_new`) is dangling afterwards. The
/// list's references are `'static` only by this contract.
#[cfg_attr(feature = "xen", optimize(size))]
pub unsafe fn domain_destroy<P: Platform>(d: DomainRef) {
    // SAFETY: the caller's contract: nothing creates, destroys or prints `d`'s sets concurrently,
    // and those are the only users of the list reference.
    let Some(list) = (unsafe { ListSlot::take::<P>(d) }) else {
        return;
    };
    let sets = list.sets.into_inner();
    for r in sets.into_iter().rev() {
        // SAFETY: attached sets stay allocated while on the list (their destruction unlinks them
        // first, under the list lock, and nobody destroys concurrently with domain_destroy).
        let set = unsafe { r.as_ref() };
        set.domain.store(ptr::null_mut(), Ordering::Release);
        if set.owned_by_c.load(Ordering::Acquire) {
            // SAFETY: C owns this set (into_raw) and Xen's contract is that domain destruction
            // frees it; it was just detached, so dropping the handle does not touch the list.
            drop(unsafe { Rangeset::from_raw(r.as_ptr()) });
        }
    }
}

/// `rangeset_domain_printk`: the domain's sets, newest first, one per line.
#[cfg_attr(feature = "xen", optimize(size))]
pub fn domain_printk<P: Platform>(d: DomainRef) {
    P::printk(&[
        Piece::Str("Rangesets belonging to domain "),
        Piece::Dec(P::domain_id(d).into()),
        Piece::Str(":\n"),
    ]);
    let Some(list) = domain_list::<P>(d) else {
        P::printk(&[Piece::Str("    None\n")]);
        return;
    };
    let sets = list.sets.read();
    if sets.is_empty() {
        P::printk(&[Piece::Str("    None\n")]);
    }
    for r in sets.iter().rev() {
        // SAFETY: listed sets are live: destruction unlinks them under the list lock we hold.
        let set = unsafe { r.as_ref() };
        P::printk(&[Piece::Str("    ")]);
        set.printk();
        P::printk(&[Piece::Str("\n")]);
    }
}

impl<P: Platform> LockedRangeset<P> {
    /// Read access to the set (for inspection); do not call this set's writers while holding it.
    pub fn read(&self) -> ReadGuard<'_, P::RwLock, RangeList> {
        self.set.read()
    }

    /// `rangeset_is_empty`, without the lock (see `empty`).
    pub fn is_empty(&self) -> bool {
        self.empty.load(Ordering::Acquire)
    }

    /// The write lock (every writer goes through this, keeping `empty` current).
    fn write(&self) -> Writing<'_, P> {
        let mut w = Writing {
            guard: self.set.write(),
            empty: &self.empty,
            limit: &self.limit,
        };
        w.apply_limit();
        w
    }

    /// `rangeset_limit` (see [`RangeList::set_limit`]): takes no lock, as in Xen, so that a
    /// report or consume callback may limit the set it walks (see `limit`).
    pub fn limit(&self, limit: u32) {
        self.limit.store(u64::from(limit), Ordering::Release);
    }

    /// The budget of new ranges as the next writer will see it: a limit not yet applied counts
    /// (see `limit`), so that a `limit` is visible at once, as Xen's plain store is.
    pub fn budget(&self) -> i64 {
        match u32::try_from(self.limit.load(Ordering::Acquire)) {
            Ok(pending) => i64::from(pending),
            Err(_) => self.set.read().budget(),
        }
    }

    pub fn add_range(&self, s: u64, e: u64) -> XenResult<()> {
        self.write().add_range(s, e)
    }

    pub fn remove_range(&self, s: u64, e: u64) -> XenResult<()> {
        self.write().remove_range(s, e)
    }

    pub fn contains_range(&self, s: u64, e: u64) -> bool {
        self.set.read().contains_range(s, e)
    }

    pub fn overlaps_range(&self, s: u64, e: u64) -> bool {
        self.set.read().overlaps_range(s, e)
    }

    pub fn add_singleton(&self, x: u64) -> XenResult<()> {
        self.add_range(x, x)
    }

    pub fn remove_singleton(&self, x: u64) -> XenResult<()> {
        self.remove_range(x, x)
    }

    pub fn contains_singleton(&self, x: u64) -> bool {
        self.contains_range(x, x)
    }

    /// `rangeset_report_ranges` (see [`RangeList::report_ranges`]); `cb` runs under the read lock.
    pub fn report_ranges(&self, s: u64, e: u64, cb: impl FnMut(u64, u64) -> i32) -> i32 {
        self.set.read().report_ranges(s, e, cb)
    }

    /// `rangeset_claim_range` (see [`RangeList::claim_range`]): the start of the claimed block.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn claim_range(&self, size: u64) -> XenResult<u64> {
        self.write().claim_range(size)
    }

    /// `rangeset_consume_ranges` (see [`RangeList::consume_ranges`]); `cb` runs under the write
    /// lock.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn consume_ranges(&self, cb: impl FnMut(u64, u64, &mut u64) -> i32) -> i32 {
        let limit = &self.limit;
        self.write()
            .consume_ranges_with_limits(cb, || take_limit(limit))
    }

    /// `rangeset_merge(self, other)`: adds every range of `other`. Both locks are taken in address
    /// order, so merges in opposite directions cannot deadlock. Merging a set into itself changes
    /// nothing and returns Ok (R8: Xen deadlocks there).
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn merge(&self, other: &LockedRangeset<P>) -> XenResult<()> {
        if ptr::eq(self, other) {
            return Ok(());
        }
        if (self as *const Self) < (other as *const Self) {
            let mut dst = self.write();
            let src = other.set.read();
            dst.merge(&src)
        } else {
            let src = other.set.read();
            let mut dst = self.write();
            dst.merge(&src)
        }
    }

    /// `rangeset_swap`: exchanges the two sets' ranges (not names, flags or budgets), locking both
    /// in address order. Swapping a set with itself does nothing (R8: Xen deadlocks there).
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn swap(&self, other: &LockedRangeset<P>) {
        if ptr::eq(self, other) {
            return;
        }
        let (first, second) = if (self as *const Self) < (other as *const Self) {
            (self, other)
        } else {
            (other, self)
        };
        let mut a = first.write();
        let mut b = second.write();
        a.swap_ranges(&mut b);
    }

    /// Xen's (static) `rangeset_printk`: the set on one line, no newline.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn printk(&self) {
        let set = self.set.read();
        set.print(&mut |pieces| P::printk(pieces));
    }

    /// The domain this set is attached to, if any.
    pub fn domain(&self) -> Option<DomainRef> {
        // SAFETY: the word is NULL or the address of the `DomainRef` the set was attached to in
        // `Rangeset::new`, a live domain until `domain_destroy` clears the word (whose contract
        // orders it before the domain goes away and excludes concurrent users of the list).
        unsafe { DomainRef::from_ptr(self.domain.load(Ordering::Acquire)) }
    }
}

/// A rangeset, owned: the one safe type for the other components. Creating one is
/// `rangeset_new`, dropping it is `rangeset_destroy` (unlink from the domain, free). Dereferences
/// to its [`LockedRangeset`].
pub struct Rangeset<P: Platform> {
    ptr: NonNull<LockedRangeset<P>>,
}

// SAFETY: the handle owns its LockedRangeset, whose state is behind the platform rwlock (Send +
// Sync) and atomics; the domain list it may touch on drop has its own lock.
unsafe impl<P: Platform> Send for Rangeset<P> {}
// SAFETY: shared access only reaches `&LockedRangeset`, whose methods all lock.
unsafe impl<P: Platform> Sync for Rangeset<P> {}

impl<P: Platform> Rangeset<P> {
    /// `rangeset_new(d, name, flags)`: an empty, unlimited set, attached to `domain` (newest first
    /// in its list) if given. `name` is cut at its first NUL and at 31 bytes; `None` is
    /// `"(no name)"`. -ENOMEM when out of memory; -EINVAL if `domain` has no rangeset list
    /// (`domain_initialise` was not called, failed, or `domain_destroy` already ran).
    /// Out of line: creation is rare, and its callers would otherwise each carry a copy.
    #[inline(never)]
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn new(
        domain: Option<DomainRef>,
        name: Option<&[u8]>,
        flags: RangesetFlags,
    ) -> XenResult<Self> {
        let list = match domain {
            Some(d) => Some(domain_list::<P>(d).ok_or(Errno::EINVAL)?),
            None => None,
        };
        let set = try_box(LockedRangeset::<P> {
            set: RwLock::new(RangeList::new(name, flags))?,
            domain: AtomicPtr::new(ptr::null_mut()),
            owned_by_c: AtomicBool::new(false),
            empty: AtomicBool::new(true),
            limit: AtomicU64::new(NO_LIMIT),
        })?;
        let ptr = NonNull::from(Box::leak(set));
        let this = Rangeset { ptr };
        if let (Some(d), Some(list)) = (domain, list) {
            // On failure `this` is dropped before it is attached: nothing to unlink.
            try_push(&mut list.sets.write(), ptr)?;
            this.domain.store(d.as_ptr(), Ordering::Release);
        }
        Ok(this)
    }

    /// [`Rangeset::new`] with a name made of pieces, e.g. `ioreq_server {id} port`; written into
    /// a 31-byte buffer (longer names are cut, as Xen cuts them), so nothing is allocated for the
    /// name.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn new_named(
        domain: Option<DomainRef>,
        name: &[Piece<'_>],
        flags: RangesetFlags,
    ) -> XenResult<Self> {
        let mut buf = NameBuf {
            bytes: [0; NAME_MAX],
            len: 0,
        };
        write_pieces(name, &mut |b| buf.push(b));
        Self::new(domain, Some(buf.as_bytes()), flags)
    }

    /// Hands ownership to C: the pointer is freed by `from_raw` + drop (`rangeset_destroy`) or, if
    /// the set is attached to a domain, by `domain_destroy`.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn into_raw(self) -> *mut LockedRangeset<P> {
        self.owned_by_c.store(true, Ordering::Release);
        let p = self.ptr.as_ptr();
        core::mem::forget(self);
        p
    }

    /// Takes back ownership of a pointer from [`Rangeset::into_raw`].
    ///
    /// # Safety
    /// `p` must come from `into_raw` and not have been freed (by `from_raw` + drop or by
    /// `domain_destroy`), and no other `Rangeset` may own it.
    #[cfg_attr(feature = "xen", optimize(size))]
    pub unsafe fn from_raw(p: *mut LockedRangeset<P>) -> Self {
        // SAFETY: the caller guarantees `p` is a live set from into_raw, hence non-null.
        let ptr = unsafe { NonNull::new_unchecked(p) };
        // SAFETY: as above, `p` is live.
        unsafe { ptr.as_ref() }
            .owned_by_c
            .store(false, Ordering::Release);
        Rangeset { ptr }
    }
}

/// A [`Rangeset`] that only its owner changes: every writer takes `&mut self`, so while anyone
/// holds `&self` nothing writes the set, and reads through [`ExclusiveRangeset::get`] skip the
/// set's lock. The set stays attached to its domain, whose 'q' dump reads it under the lock;
/// writers still take the lock for writing, to exclude those dumps. It is never handed to C (no
/// `into_raw`) and never lends out the `&LockedRangeset` whose `&self` writers would bypass
/// `&mut`.
///
/// For sets embedded in a structure with its own lock: the ioreq servers' sets, changed only under
/// the registry's write lock and read on every guest I/O with the registry held for reading,
/// which then is the only lock the read path takes.
pub struct ExclusiveRangeset<P: Platform> {
    b: Rangeset<P>,
}

impl<P: Platform> ExclusiveRangeset<P> {
    /// [`Rangeset::new_named`].
    #[cfg_attr(feature = "xen", optimize(size))]
    pub fn new_named(
        domain: Option<DomainRef>,
        name: &[Piece<'_>],
        flags: RangesetFlags,
    ) -> XenResult<Self> {
        Rangeset::new_named(domain, name, flags).map(|b| Self { b })
    }

    /// The set, without locking.
    ///
    /// Nobody writes the set while `&self` lives: its writers are the `LockedRangeset` methods
    /// that take the write lock, reachable only through `&LockedRangeset`, which this type uses
    /// only inside its `&mut self` methods and never lends out; the domain list only reads the set
    /// (domain_printk, under the read lock) or detaches it (the `domain` atomic), and frees only
    /// sets owned by C, which this one never is (no `into_raw`).
    pub fn get(&self) -> &RangeList {
        // SAFETY: no `&mut RangeList` can exist while `&self` lives (see above).
        unsafe { self.b.set.read_unlocked() }
    }

    /// `rangeset_limit` (see [`RangeList::set_limit`]).
    pub fn limit(&mut self, limit: u32) {
        self.b.limit(limit);
    }

    pub fn add_range(&mut self, s: u64, e: u64) -> XenResult<()> {
        self.b.add_range(s, e)
    }

    pub fn remove_range(&mut self, s: u64, e: u64) -> XenResult<()> {
        self.b.remove_range(s, e)
    }
}

/// A name being formatted: keeps the first [`NAME_MAX`] bytes.
struct NameBuf {
    bytes: [u8; NAME_MAX],
    len: usize,
}

impl NameBuf {
    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&self.bytes)
    }
}

impl NameBuf {
    fn push(&mut self, bytes: &[u8]) {
        let room = self.bytes.get_mut(self.len..).unwrap_or_default();
        let n = room.iter_mut().zip(bytes).map(|(dst, &b)| *dst = b).count();
        // n fits in the room left, so len stays <= NAME_MAX.
        self.len = self.len.saturating_add(n);
    }
}

impl<P: Platform> Deref for Rangeset<P> {
    type Target = LockedRangeset<P>;
    fn deref(&self) -> &LockedRangeset<P> {
        // SAFETY: the handle owns a live set until it is dropped.
        unsafe { self.ptr.as_ref() }
    }
}

impl<P: Platform> Drop for Rangeset<P> {
    #[cfg_attr(feature = "xen", optimize(size))]
    fn drop(&mut self) {
        if let Some(d) = self.domain() {
            // domain_destroy detaches this set (domain() is then None) and does not race with its
            // destruction, so a listed set finds the list still there.
            if let Some(list) = domain_list::<P>(d) {
                let mut sets = list.sets.write();
                if let Some(i) = sets.iter().position(|p| *p == self.ptr) {
                    sets.remove(i);
                }
            }
        }
        // SAFETY: the set came from Box::leak in `new`, is owned by this box alone and is no
        // longer reachable from any domain list.
        drop(unsafe { Box::from_raw(self.ptr.as_ptr()) });
    }
}

#[cfg(all(test, feature = "host"))]
mod tests {
    use super::*;
    use crate::platform::host::console::take_console;
    use crate::platform::host::domain::HostDomain;
    use crate::platform::host::HostPlatform as H;
    use alloc::vec;

    #[test]
    fn domain_list_newest_first_and_destroy() {
        let d = HostDomain::create(7);
        domain_printk::<H>(d);
        assert_eq!(
            take_console(),
            "Rangesets belonging to domain 7:\n    None\n"
        );
        domain_initialise::<H>(d).unwrap();
        domain_initialise::<H>(d).unwrap();
        let hex = RangesetFlags::PRETTYPRINT_HEX;
        let port = Rangeset::<H>::new(Some(d), Some(b"ioreq_server 1 port"), hex).unwrap();
        let mem = Rangeset::<H>::new(Some(d), Some(b"ioreq_server 1 memory"), hex).unwrap();
        let pci = Rangeset::<H>::new(Some(d), Some(b"ioreq_server 1 pci"), hex).unwrap();
        let loose =
            Rangeset::<H>::new_named(None, &[Piece::Str("lo"), Piece::Str("ose")], hex).unwrap();
        let long = Rangeset::<H>::new_named(
            None,
            &[
                Piece::Str("ioreq_server "),
                Piece::Dec(65535),
                Piece::Str(" a-very-long-kind"),
            ],
            hex,
        )
        .unwrap();
        assert_eq!(long.read().name(), b"ioreq_server 65535 a-very-long-");
        assert_eq!(loose.read().name(), b"loose");
        port.limit(256);
        for (s, e) in [(0x13, 0x1f), (0x30, 0x40), (0x50, 0x3ef)] {
            port.add_range(s, e).unwrap();
        }
        assert_eq!(port.domain(), Some(d));
        assert_eq!(loose.domain(), None);
        domain_printk::<H>(d);
        assert_eq!(
            take_console(),
            "Rangesets belonging to domain 7:\n    ioreq_server 1 pci { }\n    \
             ioreq_server 1 memory { }\n    ioreq_server 1 port { 13-1f, 30-40, 50-3ef }\n"
        );
        drop(mem);
        domain_printk::<H>(d);
        assert_eq!(
            take_console(),
            "Rangesets belonging to domain 7:\n    ioreq_server 1 pci { }\n    \
             ioreq_server 1 port { 13-1f, 30-40, 50-3ef }\n"
        );
        // A C-owned set is freed by domain_destroy; Rust-owned ones are only detached.
        let raw = Rangeset::<H>::new(Some(d), None, hex).unwrap().into_raw();
        assert!(!raw.is_null());
        // SAFETY: one thread; no set of `d` is being created, dropped or printed, and `raw` is
        // not used after it is freed here.
        unsafe {
            domain_destroy::<H>(d);
            domain_destroy::<H>(d);
        }
        assert_eq!(port.domain(), None);
        assert!(port.contains_range(0x13, 0x1f));
        assert_eq!(
            Rangeset::<H>::new(Some(d), None, hex).err(),
            Some(Errno::EINVAL)
        );
        drop((port, pci, loose, long));
        HostDomain::destroy(d);
    }

    #[test]
    fn limit_is_seen_at_once_and_applied_by_the_next_writer() {
        let r = Rangeset::<H>::new(None, Some(b"l"), RangesetFlags::empty()).unwrap();
        assert_eq!(r.budget(), -1, "a new set is unlimited");
        r.limit(2);
        // Pending (no writer yet), yet what the next allocation will see.
        assert_eq!(r.read().budget(), -1);
        assert_eq!(r.budget(), 2);
        r.add_range(1, 2).unwrap();
        r.add_range(10, 12).unwrap();
        assert_eq!((r.budget(), r.read().budget()), (0, 0));
        assert_eq!(r.add_range(20, 20), Err(Errno::ENOMEM));
        // From inside a walk of the set (the lock held), as a callback may.
        let rc = r.report_ranges(0, u64::MAX, |_, _| {
            r.limit(1);
            0
        });
        assert_eq!((rc, r.budget()), (0, 1));
        r.add_range(20, 20).unwrap();
        assert_eq!(r.budget(), 0);
    }

    #[test]
    fn swap_and_merge_locking() {
        let f = RangesetFlags::empty();
        let a = Rangeset::<H>::new(None, Some(b"a"), f).unwrap();
        let b = Rangeset::<H>::new(None, Some(b"b"), f).unwrap();
        a.add_range(1, 2).unwrap();
        b.add_range(5, 6).unwrap();
        a.swap(&b);
        b.swap(&a);
        a.swap(&b);
        a.swap(&a);
        a.printk();
        assert_eq!(take_console(), "a          { 5-6 }");
        a.merge(&b).unwrap();
        b.merge(&a).unwrap();
        a.merge(&a).unwrap();
        let mut got = vec![];
        b.report_ranges(0, u64::MAX, |s, e| {
            got.push((s, e));
            0
        });
        assert_eq!(got, [(1, 2), (5, 6)]);
        assert_eq!(a.claim_range(2), Ok(3));
        let rc = a.consume_ranges(|s, e, c| {
            *c = e - s + 1;
            0
        });
        assert_eq!(rc, 0);
        assert!(a.is_empty());
    }
}
