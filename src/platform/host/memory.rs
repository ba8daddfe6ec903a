//! Host implementation of [`crate::platform::GuestMemory`]: a fake P2M (gmfn -> page) per domain
//! over reference-counted heap pages, with counters (live pages, hypervisor mappings, P2M entries)
//! and fault injection, plus an "emulator" view so tests can play the device model on the same
//! pages the hypervisor side maps.

use core::cell::{Cell, RefCell};
use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::AtomicU64;
use std::boxed::Box;
use std::vec::Vec;

use super::HostPlatform;
use crate::errno::{Errno, XenResult};
use crate::platform::domain::DomainRef;
use crate::platform::memory::{GuestMemory, RawGuestPage, SharedPage, PAGE_SIZE};

type PageMem = [AtomicU64; PAGE_SIZE / 8];

struct HostPage {
    mem: Box<PageMem>,
    /// The (domain, gmfn) the page was last put at in a P2M.
    home: Option<(usize, u64)>,
    /// One per P2M entry pointing at it, per hypervisor mapping, per emulator view.
    refs: u32,
}

struct P2mEntry {
    d: usize,
    gmfn: u64,
    page: Option<usize>,
}

std::thread_local! {
    static PAGES: RefCell<Vec<Option<HostPage>>> = const { RefCell::new(Vec::new()) };
    static P2M: RefCell<Vec<P2mEntry>> = const { RefCell::new(Vec::new()) };
    static MAPPED: Cell<i64> = const { Cell::new(0) };
    static FAIL_MAP: Cell<Option<Errno>> = const { Cell::new(None) };
    static FAIL_PHYSMAP: Cell<Option<Errno>> = const { Cell::new(None) };
    static FAIL_ALLOC: Cell<Option<Errno>> = const { Cell::new(None) };
    static ALLOCATED: Cell<i64> = const { Cell::new(0) };
}

/// Makes the next `alloc_server_page` fail with `e`.
pub fn fail_next_alloc(e: Option<Errno>) {
    FAIL_ALLOC.with(|f| f.set(e));
}

/// Pages of `alloc_server_page` not yet freed, on this thread.
pub fn allocated_server_pages() -> i64 {
    ALLOCATED.with(|a| a.get())
}

/// An emulator's mapping of a page it got through `XENMEM_acquire_resource` (the page handle
/// `get_frame` reported): holds a reference, so the page outlives the server, as a foreign
/// mapping does in Xen.
pub fn emulator_map_frame(page: NonNull<c_void>) -> Option<EmulatorPage> {
    let id = handle_id(page);
    page_va(id)?;
    get_ref(id);
    Some(EmulatorPage(id))
}

fn key(d: DomainRef) -> usize {
    d.as_ptr() as usize
}

fn new_page() -> usize {
    let mem: Box<PageMem> = Box::new([const { AtomicU64::new(0) }; PAGE_SIZE / 8]);
    PAGES.with(|p| {
        let mut p = p.borrow_mut();
        let page = HostPage {
            mem,
            refs: 0,
            home: None,
        };
        if let Some(i) = p.iter().position(Option::is_none) {
            p[i] = Some(page);
            i
        } else {
            p.push(Some(page));
            p.len() - 1
        }
    })
}

fn get_ref(id: usize) {
    PAGES.with(|p| {
        if let Some(Some(pg)) = p.borrow_mut().get_mut(id) {
            pg.refs += 1;
        }
    });
}

fn put_ref(id: usize) {
    PAGES.with(|p| {
        let mut p = p.borrow_mut();
        if let Some(slot) = p.get_mut(id) {
            if let Some(pg) = slot {
                pg.refs -= 1;
                if pg.refs == 0 {
                    *slot = None;
                }
            }
        }
    });
}

fn page_va(id: usize) -> Option<NonNull<u8>> {
    PAGES.with(|p| {
        p.borrow()
            .get(id)
            .and_then(|s| s.as_ref())
            .map(|pg| NonNull::from(&*pg.mem).cast::<u8>())
    })
}

fn page_handle(id: usize) -> NonNull<c_void> {
    NonNull::new(core::ptr::without_provenance_mut(id + 1)).unwrap_or(NonNull::dangling())
}

fn handle_id(h: NonNull<c_void>) -> usize {
    (h.as_ptr() as usize).wrapping_sub(1)
}

/// The page at `gmfn` of `d`, if the P2M has one.
pub fn p2m_lookup(d: DomainRef, gmfn: u64) -> Option<usize> {
    P2M.with(|m| {
        m.borrow()
            .iter()
            .find(|e| e.d == key(d) && e.gmfn == gmfn)
            .and_then(|e| e.page)
    })
}

fn p2m_set(d: DomainRef, gmfn: u64, page: Option<usize>) {
    let old = P2M.with(|m| {
        let mut m = m.borrow_mut();
        match m.iter_mut().find(|e| e.d == key(d) && e.gmfn == gmfn) {
            Some(e) => core::mem::replace(&mut e.page, page),
            None => {
                m.push(P2mEntry {
                    d: key(d),
                    gmfn,
                    page,
                });
                None
            }
        }
    });
    if let Some(p) = page {
        get_ref(p);
        PAGES.with(|pg| {
            if let Some(Some(hp)) = pg.borrow_mut().get_mut(p) {
                hp.home = Some((key(d), gmfn));
            }
        });
    }
    if let Some(o) = old {
        put_ref(o);
    }
}

/// Puts a fresh zeroed page at `gmfn` of `d` (replacing any page there).
pub fn populate(d: DomainRef, gmfn: u64) {
    let id = new_page();
    p2m_set(d, gmfn, Some(id));
}

/// Removes every P2M entry of `d` (call before destroying the domain).
pub fn depopulate_all(d: DomainRef) {
    let ids: Vec<usize> = P2M.with(|m| {
        let mut m = m.borrow_mut();
        let ids = m
            .iter_mut()
            .filter(|e| e.d == key(d))
            .filter_map(|e| e.page.take())
            .collect();
        m.retain(|e| e.d != key(d));
        ids
    });
    for id in ids {
        put_ref(id);
    }
}

/// Pages alive on this thread (in a P2M or referenced by a mapping).
pub fn live_pages() -> usize {
    PAGES.with(|p| p.borrow().iter().filter(|s| s.is_some()).count())
}

/// Hypervisor mappings (`map_guest_page` minus `unmap_guest_page`) on this thread.
pub fn mapped_pages() -> i64 {
    MAPPED.with(|m| m.get())
}

/// P2M entries that map a page, over all domains of this thread.
pub fn p2m_entries() -> usize {
    P2M.with(|m| m.borrow().iter().filter(|e| e.page.is_some()).count())
}

/// Makes the next `map_guest_page` fail with `e` (e.g. -ENOENT for a paged-out frame).
pub fn fail_next_map(e: Option<Errno>) {
    FAIL_MAP.with(|f| f.set(e));
}

/// Makes the next physmap add/remove fail with `e`.
pub fn fail_next_physmap(e: Option<Errno>) {
    FAIL_PHYSMAP.with(|f| f.set(e));
}

/// An emulator's foreign mapping of a guest page: stays valid after the page leaves the P2M.
pub struct EmulatorPage(usize);

impl EmulatorPage {
    /// Maps `gmfn` of `d` as the emulator would (the page must be in the P2M).
    pub fn map(d: DomainRef, gmfn: u64) -> Option<Self> {
        let id = p2m_lookup(d, gmfn)?;
        get_ref(id);
        Some(Self(id))
    }

    /// Like [`EmulatorPage::map`], but also finds a page that was at `gmfn` of `d` and has left
    /// the P2M since (an emulator that mapped it earlier still sees it).
    pub fn map_any(d: DomainRef, gmfn: u64) -> Option<Self> {
        if let Some(p) = Self::map(d, gmfn) {
            return Some(p);
        }
        let id = PAGES.with(|p| {
            p.borrow()
                .iter()
                .position(|s| s.as_ref().is_some_and(|hp| hp.home == Some((key(d), gmfn))))
        })?;
        get_ref(id);
        Some(Self(id))
    }

    /// The page's host address while it is allocated: a benchmark's C driver writes the
    /// emulator's answers through it, as the C side's emulator writes its shared page.
    pub fn host_ptr(&self) -> Option<NonNull<u8>> {
        page_va(self.0)
    }

    /// The page the emulator sees.
    pub fn with<R>(&self, f: impl FnOnce(SharedPage<'_>) -> R) -> R {
        let va = page_va(self.0);
        // SAFETY: this mapping holds a reference on page `self.0`, so its memory stays allocated
        // while `f` runs (the view does not outlive the call).
        f(unsafe { SharedPage::from_raw_host(va) })
    }

    pub fn read_u8(&self, off: usize) -> u8 {
        self.with(|p| p.load_u8(off))
    }
    pub fn read_u32(&self, off: usize) -> u32 {
        self.with(|p| p.load_u32(off))
    }
    pub fn read_u64(&self, off: usize) -> u64 {
        self.with(|p| p.load_u64(off))
    }
    pub fn write_u8(&self, off: usize, v: u8) {
        self.with(|p| p.store_u8(off, v))
    }
    pub fn write_u32(&self, off: usize, v: u32) {
        self.with(|p| p.store_u32(off, v))
    }
    pub fn write_u64(&self, off: usize, v: u64) {
        self.with(|p| p.store_u64(off, v))
    }
    /// True if every byte is zero.
    pub fn is_zero(&self) -> bool {
        self.with(|p| (0..PAGE_SIZE).step_by(8).all(|o| p.load_u64(o) == 0))
    }
    /// Whether this is the page `gmfn` of `d` currently maps.
    pub fn is_at(&self, d: DomainRef, gmfn: u64) -> bool {
        p2m_lookup(d, gmfn) == Some(self.0)
    }
}

impl Drop for EmulatorPage {
    fn drop(&mut self) {
        put_ref(self.0);
    }
}

impl GuestMemory for HostPlatform {
    fn map_guest_page(d: DomainRef, gmfn: u64) -> XenResult<RawGuestPage> {
        if let Some(e) = FAIL_MAP.with(|f| f.take()) {
            return Err(e);
        }
        let id = p2m_lookup(d, gmfn).ok_or(Errno::EINVAL)?;
        let va = page_va(id).ok_or(Errno::EINVAL)?;
        get_ref(id);
        MAPPED.with(|m| m.set(m.get() + 1));
        // SAFETY: `va` is page `id`'s memory, kept alive by the reference just taken, which
        // the release (`unmap_guest_page`/`free_server_page`) drops through the handle.
        Ok(unsafe { RawGuestPage::new(page_handle(id), va) })
    }

    fn unmap_guest_page(page: RawGuestPage) {
        MAPPED.with(|m| m.set(m.get() - 1));
        put_ref(handle_id(page.page()));
    }

    fn physmap_remove_page(d: DomainRef, gmfn: u64, page: &RawGuestPage) -> XenResult<()> {
        if let Some(e) = FAIL_PHYSMAP.with(|f| f.take()) {
            return Err(e);
        }
        if p2m_lookup(d, gmfn) == Some(handle_id(page.page())) {
            p2m_set(d, gmfn, None);
        }
        Ok(())
    }

    fn physmap_add_page(d: DomainRef, gmfn: u64, page: &RawGuestPage) -> XenResult<()> {
        if let Some(e) = FAIL_PHYSMAP.with(|f| f.take()) {
            return Err(e);
        }
        p2m_set(d, gmfn, Some(handle_id(page.page())));
        Ok(())
    }

    fn alloc_server_page(_d: DomainRef) -> XenResult<RawGuestPage> {
        if let Some(e) = FAIL_ALLOC.with(|f| f.take()) {
            return Err(e);
        }
        let id = new_page();
        get_ref(id);
        let va = page_va(id).ok_or(Errno::ENOMEM)?;
        MAPPED.with(|m| m.set(m.get() + 1));
        ALLOCATED.with(|a| a.set(a.get() + 1));
        // SAFETY: `va` is page `id`'s memory, kept alive by the reference just taken, which
        // the release (`unmap_guest_page`/`free_server_page`) drops through the handle.
        Ok(unsafe { RawGuestPage::new(page_handle(id), va) })
    }

    fn free_server_page(page: RawGuestPage) {
        MAPPED.with(|m| m.set(m.get() - 1));
        ALLOCATED.with(|a| a.set(a.get() - 1));
        put_ref(handle_id(page.page()));
    }
}
