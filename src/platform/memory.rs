//! Guest pages and the P2M: the ioreq servers' shared pages.
//!
//! A server maps a guest frame (`prepare_ring_for_helper`) and keeps the mapping for its life; the
//! page is shared with an emulator that is not trusted and writes it concurrently, so every access
//! goes through [`SharedPage`]: bounds-checked, naturally aligned, atomic (never a Rust reference
//! into the page, never a torn or cached read).
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::ffi::c_void;
use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicU8, Ordering};

use super::domain::DomainRef;
use crate::errno::XenResult;

/// Bytes in a guest page.
pub const PAGE_SIZE: usize = 4096;

/// A guest frame mapped into the hypervisor: Xen's `struct page_info *` (holding a general and a
/// writable-type reference) plus its global mapping.
///
/// Only the platforms make one ([`RawGuestPage::new`]): the page is accessed through `va` and
/// released through `page`, so a forged value would reach freed or foreign memory.
#[derive(Debug)]
pub struct RawGuestPage {
    /// The platform's page handle (`struct page_info *`), opaque to Rust.
    page: NonNull<c_void>,
    /// The hypervisor address of the 4 KiB page.
    va: NonNull<u8>,
}

impl RawGuestPage {
    /// # Safety
    /// `va` is the address of a 4 KiB, 8-byte-aligned page mapped into the hypervisor, and `page`
    /// the platform's handle for it holding the references its release
    /// ([`GuestMemory::unmap_guest_page`] or [`GuestMemory::free_server_page`]) drops; the page
    /// stays mapped until this value is handed to that release.
    pub(crate) unsafe fn new(page: NonNull<c_void>, va: NonNull<u8>) -> Self {
        Self { page, va }
    }

    /// The platform's page handle (opaque).
    pub fn page(&self) -> NonNull<c_void> {
        self.page
    }

    /// The page's hypervisor address.
    pub fn va(&self) -> NonNull<u8> {
        self.va
    }
}

pub trait GuestMemory {
    /// `prepare_ring_for_helper(d, gmfn, &page, &va)`: takes a writable reference on the page at
    /// `gmfn` of `d` and maps it. -ENOENT (paged out or shared), -EINVAL (no page, or not
    /// writable), -ENOMEM (no mapping space).
    fn map_guest_page(d: DomainRef, gmfn: u64) -> XenResult<RawGuestPage>;

    /// `destroy_ring_for_helper(&va, page)`: unmaps and drops the references.
    fn unmap_guest_page(page: RawGuestPage);

    /// `guest_physmap_remove_page(d, gmfn, page_to_mfn(page), 0)`.
    fn physmap_remove_page(d: DomainRef, gmfn: u64, page: &RawGuestPage) -> XenResult<()>;

    /// `guest_physmap_add_page(d, gmfn, page_to_mfn(page), 0)`, the frame marked dirty for
    /// log-dirty tracking on success.
    fn physmap_add_page(d: DomainRef, gmfn: u64, page: &RawGuestPage) -> XenResult<()>;

    /// A fresh zeroed page owned by `d` that no guest frame maps, with a writable type reference
    /// and a global mapping (`alloc_domheap_page(d, MEMF_no_refcount)`, `get_page_and_type`,
    /// `__map_domain_page_global`): the pages an emulator maps through
    /// `XENMEM_acquire_resource`. -ENOMEM; -ENODATA when the type reference cannot be taken
    /// (the calling domain is crashed then: nobody else can know the page).
    fn alloc_server_page(d: DomainRef) -> XenResult<RawGuestPage>;

    /// Releases a page of [`GuestMemory::alloc_server_page`]: unmaps it and drops the allocation
    /// and type references (the page is freed once foreign mappings of it are gone).
    fn free_server_page(page: RawGuestPage);
}

/// An owned mapping of one page: a guest frame ([`GuestPageMapping::map`]) or a page allocated
/// for the purpose ([`GuestPageMapping::alloc`]); unmapped (and freed) on drop.
pub struct GuestPageMapping<M: GuestMemory> {
    raw: Option<RawGuestPage>,
    allocated: bool,
    _m: PhantomData<fn() -> M>,
}

// SAFETY: the mapping is a global hypervisor mapping usable from any CPU; all accesses to the page
// are atomic (SharedPage).
unsafe impl<M: GuestMemory> Send for GuestPageMapping<M> {}
// SAFETY: as for Send: shared access only performs atomic loads and stores.
unsafe impl<M: GuestMemory> Sync for GuestPageMapping<M> {}

impl<M: GuestMemory> GuestPageMapping<M> {
    /// Maps `gmfn` of `d` (see [`GuestMemory::map_guest_page`]).
    pub fn map(d: DomainRef, gmfn: u64) -> XenResult<Self> {
        Ok(Self {
            raw: Some(M::map_guest_page(d, gmfn)?),
            allocated: false,
            _m: PhantomData,
        })
    }

    /// Allocates a page of `d` (see [`GuestMemory::alloc_server_page`]).
    pub fn alloc(d: DomainRef) -> XenResult<Self> {
        Ok(Self {
            raw: Some(M::alloc_server_page(d)?),
            allocated: true,
            _m: PhantomData,
        })
    }

    /// The platform's page handle.
    pub fn raw(&self) -> Option<&RawGuestPage> {
        self.raw.as_ref()
    }

    /// Atomic access to the page.
    pub fn page(&self) -> SharedPage<'_> {
        SharedPage {
            va: self.raw.as_ref().map(|r| r.va),
            _l: PhantomData,
        }
    }
}

impl<M: GuestMemory> Drop for GuestPageMapping<M> {
    fn drop(&mut self) {
        if let Some(r) = self.raw.take() {
            if self.allocated {
                M::free_server_page(r);
            } else {
                M::unmap_guest_page(r);
            }
        }
    }
}

/// Atomic, bounds-checked access to a mapped 4 KiB page shared with an untrusted party. Accesses
/// outside the page or misaligned are ignored (loads give 0): callers compute offsets from
/// validated indices, so this only hardens against our own bugs, never panics.
#[derive(Clone, Copy)]
pub struct SharedPage<'a> {
    va: Option<NonNull<u8>>,
    _l: PhantomData<&'a ()>,
}

macro_rules! shared_access {
    ($load:ident, $store:ident, $t:ty, $atomic:ty) => {
        pub fn $load(&self, off: usize) -> $t {
            match self.at::<$atomic>(off) {
                // SAFETY: `at` checked that `p` is inside the mapped page and aligned for the
                // atomic; the mapping lives as long as 'a; concurrent writers only use atomics or
                // are an untrusted emulator whose writes can give any value, which the type admits.
                Some(p) => unsafe { <$atomic>::from_ptr(p) }.load(Ordering::Relaxed),
                None => 0,
            }
        }
        pub fn $store(&self, off: usize, v: $t) {
            if let Some(p) = self.at::<$atomic>(off) {
                // SAFETY: as for the load.
                unsafe { <$atomic>::from_ptr(p) }.store(v, Ordering::Relaxed)
            }
        }
    };
}

impl<'a> SharedPage<'a> {
    fn at<A>(&self, off: usize) -> Option<*mut <A as AtomicWidth>::Int>
    where
        A: AtomicWidth,
    {
        let w = core::mem::size_of::<A::Int>();
        let va = self.va?;
        if off.checked_rem(w) != Some(0) || off.checked_add(w)? > PAGE_SIZE {
            return None;
        }
        Some(va.as_ptr().wrapping_add(off).cast())
    }

    shared_access!(load_u8, store_u8, u8, AtomicU8);
    shared_access!(load_u16, store_u16, u16, AtomicU16);
    shared_access!(load_u32, store_u32, u32, AtomicU32);
    shared_access!(load_u64, store_u64, u64, AtomicU64);

    /// Atomically replaces the 8 bytes at `off` by `new` if they hold `old`; false otherwise (or
    /// for an offset outside the page or misaligned).
    pub fn compare_exchange_u64(&self, off: usize, old: u64, new: u64) -> bool {
        match self.at::<AtomicU64>(off) {
            // SAFETY: as for the loads: inside the page, aligned, alive for 'a.
            Some(p) => unsafe { AtomicU64::from_ptr(p) }
                .compare_exchange(old, new, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok(),
            None => false,
        }
    }

    /// Block `index` of `N` bytes (`N` a multiple of 8): `[index * N, index * N + N)`; None past
    /// the end of the page or for a page not mapped. Its bounds are checked here, once; accesses
    /// inside it at constant offsets (a struct's fields) then check nothing once inlined.
    #[inline]
    pub fn block<const N: usize>(&self, index: usize) -> Option<SharedBlock<'a, N>> {
        let va = self.va?;
        let off = index.checked_mul(N)?;
        if N == 0 || N % 8 != 0 || off.checked_add(N)? > PAGE_SIZE {
            return None;
        }
        Some(SharedBlock {
            base: NonNull::new(va.as_ptr().wrapping_add(off))?,
            _l: PhantomData,
        })
    }

    /// `clear_page`: zeroes the page.
    pub fn clear(&self) {
        for off in (0..PAGE_SIZE).step_by(8) {
            self.store_u64(off, 0);
        }
    }
}

/// An `N`-byte block of a shared page ([`SharedPage::block`]): inside the page and 8-byte aligned
/// (the page is, and `N` is a multiple of 8). Accesses past `N` or misaligned are ignored (loads
/// give 0), as the page's.
#[derive(Clone, Copy)]
pub struct SharedBlock<'a, const N: usize> {
    base: NonNull<u8>,
    _l: PhantomData<&'a ()>,
}

macro_rules! block_access {
    ($load:ident, $store:ident, $t:ty, $atomic:ty) => {
        #[inline]
        pub fn $load(&self, off: usize) -> $t {
            match self.at::<$atomic>(off) {
                // SAFETY: `at` checked that `p` is inside the block (so inside the mapped page,
                // `block`'s check) and aligned; as for SharedPage's loads otherwise.
                Some(p) => unsafe { <$atomic>::from_ptr(p) }.load(Ordering::Relaxed),
                None => 0,
            }
        }
        #[inline]
        pub fn $store(&self, off: usize, v: $t) {
            if let Some(p) = self.at::<$atomic>(off) {
                // SAFETY: as for the load.
                unsafe { <$atomic>::from_ptr(p) }.store(v, Ordering::Relaxed)
            }
        }
    };
}

impl<const N: usize> SharedBlock<'_, N> {
    #[inline]
    fn at<A>(&self, off: usize) -> Option<*mut <A as AtomicWidth>::Int>
    where
        A: AtomicWidth,
    {
        let w = core::mem::size_of::<A::Int>();
        if off.checked_rem(w) != Some(0) || off.checked_add(w)? > N {
            return None;
        }
        Some(self.base.as_ptr().wrapping_add(off).cast())
    }

    block_access!(load_u8, store_u8, u8, AtomicU8);
    block_access!(load_u32, store_u32, u32, AtomicU32);
    block_access!(load_u64, store_u64, u64, AtomicU64);
}

/// Maps an atomic type to its integer.
pub trait AtomicWidth {
    type Int;
}
impl AtomicWidth for AtomicU8 {
    type Int = u8;
}
impl AtomicWidth for AtomicU16 {
    type Int = u16;
}
impl AtomicWidth for AtomicU32 {
    type Int = u32;
}
impl AtomicWidth for AtomicU64 {
    type Int = u64;
}

#[cfg(feature = "host")]
impl SharedPage<'_> {
    /// The host platform's view of one of its own pages.
    ///
    /// # Safety
    /// `va` is NULL or a live, 8-byte-aligned 4 KiB page that stays allocated for the lifetime
    /// the caller gives the result.
    pub(crate) unsafe fn from_raw_host(va: Option<NonNull<u8>>) -> Self {
        SharedPage {
            va,
            _l: PhantomData,
        }
    }
}
