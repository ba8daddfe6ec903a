//! The C harness (`c/harness.h`) and the layout probe: raw declarations in `raw`, and the thin
//! safe functions over them that the rest of the crate uses. All `unsafe` of the crate is here.

use core::ffi::{c_char, c_int, c_uint, c_void, CStr};
use core::ptr::NonNull;

/// `struct domain` of the harness: opaque to Rust.
#[repr(C)]
pub struct CDomainRaw {
    _private: [u8; 0],
}

/// `struct xenc_counters` (`c/harness.h`), all int64_t.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub live_allocs: i64,
    pub live_pages: i64,
    pub live_global_maps: i64,
    pub live_evtchns: i64,
    pub notifications: i64,
    pub last_notified_port: i64,
    pub waits_prepared: i64,
    pub last_wait_port: i64,
    pub pauses: i64,
    pub p2m_adds: i64,
    pub p2m_removes: i64,
    pub domain_crashes: i64,
    pub fail_alloc_after: i64,
    pub fail_domheap: i64,
    pub fail_global_map: i64,
    pub evtchn_limit: i64,
    pub shutting_down: i64,
}

/// `struct xenc_domain_stats` (`c/harness.h`), all int64_t.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DomainStats {
    pub refs: i64,
    pub pause_count: i64,
    pub crashed: i64,
    pub live_evtchns: i64,
    pub p2m_entries: i64,
    pub rangesets: i64,
    pub lock_depth: i64,
    pub shutdown_deferrals: i64,
}

/// Xen's `ioreq_t` as the harness passes it (32 bytes; the bitfield byte is `bits`, laid out as
/// the layout probe reports: state 0..3, data_is_ptr 4, dir 5, df 6).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawIoreq {
    pub addr: u64,
    pub data: u64,
    pub count: u32,
    pub size: u32,
    pub vp_eport: u32,
    pub pad0: u16,
    pub bits: u8,
    pub type_: u8,
}
const _: () = assert!(core::mem::size_of::<RawIoreq>() == 32);
const _: () = assert!(core::mem::offset_of!(RawIoreq, bits) == 30);
const _: () = assert!(core::mem::offset_of!(RawIoreq, type_) == 31);

use xen_ioreq_rs::ffi::AbiBool;
use xen_ioreq_rs::rangeset::ffi as rs;

type ReportCb =
    Option<unsafe extern "C" fn(core::ffi::c_ulong, core::ffi::c_ulong, *mut c_void) -> c_int>;

/// `struct xenc_rs_table` (`c/rs_dispatch.c`): the Rust crate's rangeset C ABI, field by field.
#[repr(C)]
pub struct RustRangesetTable {
    new_: unsafe extern "C" fn(*mut rs::domain, *const c_char, c_uint) -> *mut rs::rangeset,
    destroy: unsafe extern "C" fn(*mut rs::rangeset),
    limit: unsafe extern "C" fn(*mut rs::rangeset, c_uint),
    add_range:
        unsafe extern "C" fn(*mut rs::rangeset, core::ffi::c_ulong, core::ffi::c_ulong) -> c_int,
    remove_range:
        unsafe extern "C" fn(*mut rs::rangeset, core::ffi::c_ulong, core::ffi::c_ulong) -> c_int,
    contains_range:
        unsafe extern "C" fn(*mut rs::rangeset, core::ffi::c_ulong, core::ffi::c_ulong) -> AbiBool,
    overlaps_range:
        unsafe extern "C" fn(*mut rs::rangeset, core::ffi::c_ulong, core::ffi::c_ulong) -> AbiBool,
    contains_singleton: unsafe extern "C" fn(*mut rs::rangeset, core::ffi::c_ulong) -> AbiBool,
    report_ranges: unsafe extern "C" fn(
        *mut rs::rangeset,
        core::ffi::c_ulong,
        core::ffi::c_ulong,
        ReportCb,
        *mut c_void,
    ) -> c_int,
}

static RUST_RANGESET: RustRangesetTable = RustRangesetTable {
    new_: rs::rangeset_new,
    destroy: rs::rangeset_destroy,
    limit: rs::rangeset_limit,
    add_range: rs::rangeset_add_range,
    remove_range: rs::rangeset_remove_range,
    contains_range: rs::rangeset_contains_range,
    overlaps_range: rs::rangeset_overlaps_range,
    contains_singleton: rs::rangeset_contains_singleton,
    report_ranges: rs::rangeset_report_ranges,
};

/// Makes Xen's ioreq C use the Rust crate's rangeset (true) or Xen's own `rangeset.c` (false).
/// Switch only while the harness has no domain (no set may cross implementations).
pub fn use_rust_rangeset(on: bool) {
    let t: *const RustRangesetTable = if on {
        &RUST_RANGESET
    } else {
        core::ptr::null()
    };
    // SAFETY: the table is a static of valid function pointers with the C layout the dispatcher
    // declares (or NULL); the dispatcher only stores it.
    unsafe { (api().use_rust_rangeset)(t) }
}

/// One entry of the layout probe.
#[repr(C)]
pub struct LayoutEntry {
    pub name: *const c_char,
    pub value: u64,
}

/// Declares the harness API (`c/harness.h`) once for each C build: the 4.17 objects define
/// `xenc_h_<name>`, the 4.14 objects the same functions as `xen414_h_<name>` (build.rs). [`Api`]
/// holds one build's functions; [`select_xen`] chooses the build the safe functions below use.
macro_rules! harness_api {
    ($( fn $name:ident ( $($arg:ident : $ty:ty),* ) $(-> $ret:ty)? ; )*) => {
        /// The harness functions of one C build.
        #[allow(dead_code)]
        pub struct Api {
            $( $name: unsafe extern "C" fn($($ty),*) $(-> $ret)?, )*
        }
        mod raw417 {
            use super::*;
            extern "C" {
                $(
                    #[link_name = concat!("xenc_h_", stringify!($name))]
                    pub fn $name($($arg: $ty),*) $(-> $ret)?;
                )*
            }
        }
        #[cfg(not(xen_c_414_unavailable))]
        mod raw414 {
            use super::*;
            extern "C" {
                $(
                    #[link_name = concat!("xen414_h_", stringify!($name))]
                    pub fn $name($($arg: $ty),*) $(-> $ret)?;
                )*
            }
        }
        static API_417: Api = Api { $( $name: raw417::$name, )* };
        #[cfg(not(xen_c_414_unavailable))]
        static API_414: Api = Api { $( $name: raw414::$name, )* };
    };
}

harness_api! {
    fn domain_create(domid: u16, nr_vcpus: c_uint) -> *mut CDomainRaw;
    fn domain_destroy(d: *mut CDomainRaw);
    fn domain_set_hvm(d: *mut CDomainRaw, hvm: bool);
    fn domain_set_privileged(d: *mut CDomainRaw, privileged: bool);
    fn domain_set_dm_target(d: *mut CDomainRaw, target: c_int);
    fn domain_set_pool(d: *mut CDomainRaw, base: u64, nr_pages: c_uint) -> c_int;
    fn domain_set_cpu(d: *mut CDomainRaw, amd: bool, family: c_uint, cf8_ext: bool);
    fn vcpu_add(d: *mut CDomainRaw) -> c_int;
    fn vcpu_add_again(d: *mut CDomainRaw, vcpu: c_uint) -> c_int;
    fn vcpu_remove_last(d: *mut CDomainRaw);
    fn nr_vcpus(d: *mut CDomainRaw) -> c_uint;
    fn set_current(d: *mut CDomainRaw, vcpu: c_uint);
    fn domain_stats(d: *mut CDomainRaw, out: *mut DomainStats);
    fn dm_op(domid: u16, buf: *mut c_void, len: usize) -> c_int;
    fn create(domid: u16, handle_bufioreq: u8, id: *mut u16) -> c_int;
    fn get_info(domid: u16, id: u16, flags: u16, ioreq_gfn: *mut u64, bufioreq_gfn: *mut u64, bufioreq_port: *mut u32) -> c_int;
    fn map_range(domid: u16, id: u16, ty: u32, start: u64, end: u64) -> c_int;
    fn unmap_range(domid: u16, id: u16, ty: u32, start: u64, end: u64) -> c_int;
    fn set_state(domid: u16, id: u16, enabled: u8) -> c_int;
    fn destroy(domid: u16, id: u16) -> c_int;
    fn get_frame(domid: u16, id: u16, idx: c_uint, mfn: *mut u64) -> c_int;
    fn portio(d: *mut CDomainRaw, dir: c_int, port: c_uint, bytes: c_uint, val: *mut u32) -> c_int;
    fn select(d: *mut CDomainRaw, p: *mut RawIoreq) -> c_int;
    fn send(d: *mut CDomainRaw, id: u16, p: *mut RawIoreq, buffered: bool) -> c_int;
    fn broadcast(d: *mut CDomainRaw, p: *mut RawIoreq, buffered: bool) -> c_uint;
    fn io_pending() -> bool;
    fn handle_completion() -> bool;
    fn vcpu_io_req() -> RawIoreq;
    fn server_enabled(d: *mut CDomainRaw, id: u16) -> c_int;
    fn server_emulator(d: *mut CDomainRaw, id: u16) -> c_int;
    fn server_bufioreq_handling(d: *mut CDomainRaw, id: u16) -> c_int;
    fn server_bufioreq_evtchn(d: *mut CDomainRaw, id: u16) -> i64;
    fn server_vcpu_evtchn(d: *mut CDomainRaw, id: u16, vcpu: c_uint) -> i64;
    fn server_gfn(d: *mut CDomainRaw, id: u16, buf: bool) -> u64;
    fn server_page(d: *mut CDomainRaw, id: u16, buf: bool) -> *mut c_void;
    fn server_ranges(d: *mut CDomainRaw, id: u16, ty: u32, out: *mut u64, max: c_uint) -> c_int;
    fn evtchn_notified(d: *mut CDomainRaw, port: c_uint) -> i64;
    fn emulator_respond(d: *mut CDomainRaw, id: u16, vcpu: c_uint, data: u64) -> c_int;
    fn p2m_present(d: *mut CDomainRaw, gfn: u64) -> bool;
    fn rangeset_dump(d: *mut CDomainRaw);
    fn counters(out: *mut Counters);
    fn set_fault(fail_alloc_after: i64, fail_domheap: bool, fail_global_map: bool, evtchn_limit: i64);
    fn console_take(buf: *mut c_char, len: usize) -> usize;
    fn sizeof_counters() -> usize;
    fn sizeof_domain_stats() -> usize;
    fn use_rust_rangeset(table: *const RustRangesetTable);
}

/// Which of Xen's C builds the harness functions reach.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum XenC {
    /// Xen 4.17's `common/ioreq.c` + `arch/x86/hvm/ioreq.c`.
    V417,
    /// Xen 4.14's `arch/x86/hvm/ioreq.c` (its public `hvm_*` functions).
    V414,
}

/// Whether the 4.14 build is linked (Xen 4.14's source was available).
pub const C414_AVAILABLE: bool = cfg!(not(xen_c_414_unavailable));

static USE_414: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Makes every function of this module reach `which` C build. Each build has its own domains and
/// counters; switch only while no [`CDomain`] is alive. Panics for 4.14 when it is not linked.
pub fn select_xen(which: XenC) {
    assert!(
        which == XenC::V417 || C414_AVAILABLE,
        "the Xen 4.14 C is not built"
    );
    USE_414.store(which == XenC::V414, std::sync::atomic::Ordering::Relaxed);
}

/// The C build currently selected.
pub fn selected_xen() -> XenC {
    if USE_414.load(std::sync::atomic::Ordering::Relaxed) {
        XenC::V414
    } else {
        XenC::V417
    }
}

fn api() -> &'static Api {
    #[cfg(not(xen_c_414_unavailable))]
    if selected_xen() == XenC::V414 {
        return &API_414;
    }
    &API_417
}

mod raw {
    use super::*;
    extern "C" {
        pub fn xenc_layout_probe_417(count: *mut c_uint) -> *const LayoutEntry;
    }

    #[cfg(not(xen_c_414_unavailable))]
    extern "C" {
        pub fn xenc_layout_probe_414(count: *mut c_uint) -> *const LayoutEntry;
    }
}

/// A domain of the C harness. Owns it: dropping it without [`CDomain::destroy`] leaks it (the
/// harness's counters then show the leak). Not `Send`: the harness is single-threaded.
pub struct CDomain {
    raw: NonNull<CDomainRaw>,
    domid: u16,
    /// The C build that created it (see [`select_xen`]).
    api: &'static Api,
}

impl CDomain {
    /// A new HVM domain with `nr_vcpus` vcpus (at most 8); `None` if the id is live.
    pub fn create(domid: u16, nr_vcpus: u32) -> Option<Self> {
        let api = api();
        // SAFETY: plain values in; the harness returns NULL or a domain it owns until destroy.
        let raw = unsafe { (api.domain_create)(domid, nr_vcpus) };
        NonNull::new(raw).map(|raw| CDomain { raw, domid, api })
    }

    pub fn domid(&self) -> u16 {
        self.domid
    }

    fn p(&self) -> *mut CDomainRaw {
        self.raw.as_ptr()
    }

    /// Tears the domain down as Xen does (destroy_all, event channels, P2M, rangesets).
    pub fn destroy(self) {
        // SAFETY: `self` owns a live harness domain; consuming it ends every use of the pointer.
        unsafe { (self.api.domain_destroy)(self.p()) }
    }

    pub fn set_hvm(&self, hvm: bool) {
        // SAFETY: live domain (owned by self).
        unsafe { (self.api.domain_set_hvm)(self.p(), hvm) }
    }

    pub fn set_privileged(&self, privileged: bool) {
        // SAFETY: live domain (owned by self).
        unsafe { (self.api.domain_set_privileged)(self.p(), privileged) }
    }

    pub fn set_dm_target(&self, target: Option<u16>) {
        let t = target.map_or(-1, c_int::from);
        // SAFETY: live domain (owned by self).
        unsafe { (self.api.domain_set_dm_target)(self.p(), t) }
    }

    /// The ioreq GFN pool (params 32/33), populated with guest RAM; 0 or -errno.
    pub fn set_pool(&self, base: u64, nr_pages: u32) -> i32 {
        // SAFETY: live domain (owned by self).
        unsafe { (self.api.domain_set_pool)(self.p(), base, nr_pages) }
    }

    pub fn set_cpu(&self, amd: bool, family: u32, cf8_ext: bool) {
        // SAFETY: live domain (owned by self).
        unsafe { (self.api.domain_set_cpu)(self.p(), amd, family, cf8_ext) }
    }

    /// Adds a vcpu, registering it with every server; 0 or -errno.
    pub fn vcpu_add(&self) -> i32 {
        // SAFETY: live domain (owned by self).
        unsafe { (self.api.vcpu_add)(self.p()) }
    }

    /// Registers existing vcpu `vcpu` with every server again (a caller's misuse: FIDELITY I15);
    /// 0 or -errno.
    pub fn vcpu_add_again(&self, vcpu: u32) -> i32 {
        // SAFETY: live domain (owned by self); the harness checks the index.
        unsafe { (self.api.vcpu_add_again)(self.p(), vcpu) }
    }

    pub fn vcpu_remove_last(&self) {
        // SAFETY: live domain (owned by self).
        unsafe { (self.api.vcpu_remove_last)(self.p()) }
    }

    pub fn nr_vcpus(&self) -> u32 {
        // SAFETY: live domain (owned by self).
        unsafe { (self.api.nr_vcpus)(self.p()) }
    }

    /// Makes vcpu `vcpu` of this domain `current` (the caller of what follows).
    pub fn make_current(&self, vcpu: u32) {
        // SAFETY: live domain (owned by self).
        unsafe { (self.api.set_current)(self.p(), vcpu) }
    }

    pub fn stats(&self) -> DomainStats {
        let mut s = DomainStats::default();
        // SAFETY: live domain; `s` is a valid, exclusive DomainStats (size checked in tests).
        unsafe { (self.api.domain_stats)(self.p(), &mut s) };
        s
    }

    /// A port access through the handlers the ioreq code registered; the X86EMUL code, or -1.
    pub fn portio(&self, dir: i32, port: u32, bytes: u32, val: &mut u32) -> i32 {
        // SAFETY: live domain; `val` is a valid exclusive u32.
        unsafe { (self.api.portio)(self.p(), dir, port, bytes, val) }
    }

    /// `ioreq_server_select`: the id of the chosen server; `p` may be rewritten.
    pub fn select(&self, p: &mut RawIoreq) -> Option<u16> {
        // SAFETY: live domain; `p` is a valid exclusive ioreq_t (layout asserted above).
        let id = unsafe { (self.api.select)(self.p(), p) };
        u16::try_from(id).ok()
    }

    /// `ioreq_send` to server `id` as the current vcpu: IOREQ_STATUS_*, or -1 without a server.
    pub fn send(&self, id: u16, p: &mut RawIoreq, buffered: bool) -> i32 {
        // SAFETY: live domain; `p` valid and exclusive.
        unsafe { (self.api.send)(self.p(), id, p, buffered) }
    }

    /// `ioreq_broadcast` as the current vcpu (which must belong to this domain).
    pub fn broadcast(&self, p: &mut RawIoreq, buffered: bool) -> u32 {
        // SAFETY: live domain; `p` valid and exclusive.
        unsafe { (self.api.broadcast)(self.p(), p, buffered) }
    }

    pub fn server_enabled(&self, id: u16) -> Option<bool> {
        // SAFETY: live domain.
        let r = unsafe { (self.api.server_enabled)(self.p(), id) };
        (r >= 0).then_some(r != 0)
    }

    pub fn server_emulator(&self, id: u16) -> Option<u16> {
        // SAFETY: live domain.
        let r = unsafe { (self.api.server_emulator)(self.p(), id) };
        u16::try_from(r).ok()
    }

    pub fn server_bufioreq_handling(&self, id: u16) -> Option<u8> {
        // SAFETY: live domain.
        let r = unsafe { (self.api.server_bufioreq_handling)(self.p(), id) };
        u8::try_from(r).ok()
    }

    pub fn server_bufioreq_evtchn(&self, id: u16) -> Option<u32> {
        // SAFETY: live domain.
        let r = unsafe { (self.api.server_bufioreq_evtchn)(self.p(), id) };
        u32::try_from(r).ok()
    }

    pub fn server_vcpu_evtchn(&self, id: u16, vcpu: u32) -> Option<u32> {
        // SAFETY: live domain.
        let r = unsafe { (self.api.server_vcpu_evtchn)(self.p(), id, vcpu) };
        u32::try_from(r).ok()
    }

    /// The server's ioreq (`buf` false) or bufioreq gfn; `None` when it has none.
    pub fn server_gfn(&self, id: u16, buf: bool) -> Option<u64> {
        // SAFETY: live domain.
        let g = unsafe { (self.api.server_gfn)(self.p(), id, buf) };
        (g != u64::MAX).then_some(g)
    }

    /// A copy of the server's shared page (`buf` false: ioreq, true: bufioreq), if it has one.
    pub fn server_page(&self, id: u16, buf: bool) -> Option<[u8; 4096]> {
        // SAFETY: live domain.
        let p = unsafe { (self.api.server_page)(self.p(), id, buf) };
        let p = NonNull::new(p.cast::<[u8; 4096]>())?;
        // SAFETY: a non-NULL page pointer of the harness is a live, mapped 4096-byte frame; the
        // single-threaded harness does not write it during this copy.
        Some(unsafe { *p.as_ptr() })
    }

    /// The server's ranges of type `ty` in ascending order; `None` without such a server/type.
    pub fn server_ranges(&self, id: u16, ty: u32) -> Option<std::vec::Vec<(u64, u64)>> {
        let mut buf = std::vec![0u64; 2 * 300];
        // SAFETY: live domain; `buf` has room for 300 pairs, the `max` passed.
        let n = unsafe { (self.api.server_ranges)(self.p(), id, ty, buf.as_mut_ptr(), 300) };
        let n = usize::try_from(n).ok()?;
        assert!(n <= 300, "more ranges than the harness buffer");
        Some(buf[..2 * n].chunks(2).map(|c| (c[0], c[1])).collect())
    }
}

impl CDomain {
    /// Notifications sent on `port` of this domain; `None` when the port is not allocated.
    pub fn evtchn_notified(&self, port: u32) -> Option<u64> {
        // SAFETY: live domain.
        let n = unsafe { (self.api.evtchn_notified)(self.p(), port) };
        u64::try_from(n).ok()
    }

    /// The emulator answers `vcpu`'s request on server `id` (data, then IORESP_READY); false
    /// without such a page.
    pub fn emulator_respond(&self, id: u16, vcpu: u32, data: u64) -> bool {
        // SAFETY: live domain.
        unsafe { (self.api.emulator_respond)(self.p(), id, vcpu, data) == 0 }
    }

    /// The domain's rangesets as Xen's 'q' debug key prints them.
    pub fn rangeset_dump(&self) -> std::string::String {
        let _ = console_take();
        // SAFETY: live domain.
        unsafe { (self.api.rangeset_dump)(self.p()) };
        console_take()
    }

    /// Whether this domain's P2M maps `gfn`.
    pub fn p2m_present(&self, gfn: u64) -> bool {
        // SAFETY: live domain.
        unsafe { (self.api.p2m_present)(self.p(), gfn) }
    }

    /// Writes `bytes` at `off` into the server's shared page (`buf` false: ioreq; true: ring), as
    /// the emulator would; false when there is no such page or the range is outside it.
    pub fn server_page_write(&self, id: u16, buf: bool, off: usize, bytes: &[u8]) -> bool {
        // SAFETY: live domain.
        let p = unsafe { (self.api.server_page)(self.p(), id, buf) };
        let Some(p) = NonNull::new(p.cast::<u8>()) else {
            return false;
        };
        if off.checked_add(bytes.len()).is_none_or(|end| end > 4096) {
            return false;
        }
        // SAFETY: a non-NULL page pointer of the harness is a live 4096-byte frame and
        // off + len <= 4096 was checked; nothing else accesses it during the copy.
        unsafe { core::ptr::copy_nonoverlapping(bytes.as_ptr(), p.as_ptr().add(off), bytes.len()) };
        true
    }
}

/// The usual small world: a privileged dom0 (current, as the emulator) and HVM guest `guest` with
/// `nr_vcpus` vcpus and an 8-page ioreq pool at 0xfeff0.
pub fn dom0_and_guest(guest: u16, nr_vcpus: u32) -> (CDomain, CDomain) {
    let dm = CDomain::create(0, 1).expect("dom0");
    dm.set_privileged(true);
    let g = CDomain::create(guest, nr_vcpus).expect("guest");
    assert_eq!(g.set_pool(0xfeff0, 8), 0);
    dm.make_current(0);
    (dm, g)
}

/// The XEN_DMOP hypercall with one buffer, as the current vcpu; 0 or -errno.
pub fn dm_op(domid: u16, buf: &mut [u8]) -> i32 {
    // SAFETY: `buf` is valid for writes of its length, which is passed.
    unsafe { (api().dm_op)(domid, buf.as_mut_ptr().cast(), buf.len()) }
}

/// `ioreq_server_get_frame` of the 4.17 build, as the current vcpu's domain: 0 (and the frame) or
/// -errno.
pub fn get_frame(domid: u16, id: u16, idx: u32) -> Result<u64, i32> {
    let mut mfn = 0u64;
    // SAFETY: `mfn` is a valid exclusive u64.
    let rc = unsafe { (api().get_frame)(domid, id, idx, &mut mfn) };
    if rc == 0 {
        Ok(mfn)
    } else {
        Err(rc)
    }
}

pub fn create(domid: u16, handle_bufioreq: u8, id: &mut u16) -> i32 {
    // SAFETY: `id` is a valid exclusive u16.
    unsafe { (api().create)(domid, handle_bufioreq, id) }
}

/// get_info: the outputs are in-out, as in the hypercall (left alone on failure).
pub fn get_info(
    domid: u16,
    id: u16,
    flags: u16,
    ioreq_gfn: &mut u64,
    bufioreq_gfn: &mut u64,
    bufioreq_port: &mut u32,
) -> i32 {
    // SAFETY: all three outputs are valid exclusive references.
    unsafe { (api().get_info)(domid, id, flags, ioreq_gfn, bufioreq_gfn, bufioreq_port) }
}

pub fn map_range(domid: u16, id: u16, ty: u32, start: u64, end: u64) -> i32 {
    // SAFETY: plain values.
    unsafe { (api().map_range)(domid, id, ty, start, end) }
}

pub fn unmap_range(domid: u16, id: u16, ty: u32, start: u64, end: u64) -> i32 {
    // SAFETY: plain values.
    unsafe { (api().unmap_range)(domid, id, ty, start, end) }
}

pub fn set_state(domid: u16, id: u16, enabled: u8) -> i32 {
    // SAFETY: plain values.
    unsafe { (api().set_state)(domid, id, enabled) }
}

pub fn destroy(domid: u16, id: u16) -> i32 {
    // SAFETY: plain values.
    unsafe { (api().destroy)(domid, id) }
}

/// `vcpu_ioreq_pending(current)`.
pub fn io_pending() -> bool {
    // SAFETY: no arguments; the harness requires `current` set, which callers ensure.
    unsafe { (api().io_pending)() }
}

/// `vcpu_ioreq_handle_completion(current)`. Aborts the process if Xen would block.
pub fn handle_completion() -> bool {
    // SAFETY: as io_pending.
    unsafe { (api().handle_completion)() }
}

/// `current->io.req`.
pub fn vcpu_io_req() -> RawIoreq {
    // SAFETY: as io_pending.
    unsafe { (api().vcpu_io_req)() }
}

pub fn counters() -> Counters {
    let mut c = Counters::default();
    // SAFETY: `c` is a valid exclusive Counters (size checked in tests).
    unsafe { (api().counters)(&mut c) };
    c
}

/// Fault injection: the (n+1)th xmalloc fails (`None`: never), domheap/global-map failures,
/// highest allocatable event-channel port.
pub fn set_fault(
    fail_alloc_after: Option<u32>,
    fail_domheap: bool,
    fail_global_map: bool,
    evtchn_limit: u32,
) {
    let n = fail_alloc_after.map_or(-1, i64::from);
    // SAFETY: plain values.
    unsafe { (api().set_fault)(n, fail_domheap, fail_global_map, i64::from(evtchn_limit)) }
}

/// What the C printed since the last call.
pub fn console_take() -> std::string::String {
    let mut buf = std::vec![0u8; 1 << 16];
    // SAFETY: `buf` is valid for writes of its length, which is passed.
    let n = unsafe { (api().console_take)(buf.as_mut_ptr().cast(), buf.len()) };
    buf.truncate(n);
    std::string::String::from_utf8_lossy(&buf).into_owned()
}

/// The C sizes of the two counter records, to check the Rust mirrors.
pub fn c_record_sizes() -> (usize, usize) {
    // SAFETY: no arguments.
    unsafe { ((api().sizeof_counters)(), (api().sizeof_domain_stats)()) }
}

/// The layout probe's entries for Xen `ver` ("4.17" or "4.14"); `None` if not built.
pub fn layout_probe(ver: &str) -> Option<std::vec::Vec<(std::string::String, u64)>> {
    let mut n: c_uint = 0;
    let p = match ver {
        // SAFETY: `n` is a valid exclusive c_uint; the probe returns a static array of n entries.
        "4.17" => unsafe { raw::xenc_layout_probe_417(&mut n) },
        #[cfg(not(xen_c_414_unavailable))]
        // SAFETY: as above.
        "4.14" => unsafe { raw::xenc_layout_probe_414(&mut n) },
        _ => return None,
    };
    if p.is_null() {
        return None;
    }
    // SAFETY: the probe returned a static array of `n` initialised entries.
    let entries = unsafe { core::slice::from_raw_parts(p, n as usize) };
    Some(
        entries
            .iter()
            .map(|e| {
                // SAFETY: every name is a NUL-terminated string literal of the probe.
                let name = unsafe { CStr::from_ptr(e.name) };
                (name.to_string_lossy().into_owned(), e.value)
            })
            .collect(),
    )
}

/// The benchmark's C driver (`c/bench.c`, in the `xenb_*` release build of Xen's ioreq C): both
/// implementations timed through their C entry points from one C loop.
pub mod bench {
    use super::*;
    use xen_ioreq_rs::ioreq::IoreqSlot;
    use xen_ioreq_rs::platform::domain::HvmDomains;
    use xen_ioreq_rs::platform::host::HostPlatform;
    use xen_ioreq_rs::platform::DomainRef;

    /// One side's world as the driver sees it (`struct bench_io`).
    #[repr(C)]
    #[derive(Clone, Copy, Debug)]
    pub struct BenchIo {
        /// The guest: the C harness's `struct domain *`, or the Rust host domain.
        pub d: *mut c_void,
        /// Rust: the guest's vcpu 0 (the C side uses its `current`).
        pub v: *mut c_void,
        /// vcpu 0's slot in the oldest server's shared page.
        pub slot: *mut RawIoreq,
        pub req: RawIoreq,
    }

    /// Which implementation a run times.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    #[repr(i32)]
    pub enum Side {
        C = 0,
        Rust = 1,
    }

    /// What a run times.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    #[repr(i32)]
    pub enum What {
        Select = 0,
        RoundTrip = 1,
    }

    extern "C" {
        fn xenb_bench_io_run(
            side: c_int,
            what: c_int,
            w: *const BenchIo,
            iters: usize,
            label: *const c_char,
            sum: *mut u64,
        ) -> u64;
        fn xenb_bench_c_world(servers: c_uint, ranges: u64, page: *mut *mut c_void) -> *mut c_void;
        fn xenb_bench_c_cf8(guest: *mut c_void, cf8: u32);
        fn xenb_bench_c_teardown(guest: *mut c_void);
    }

    /// The C side's world: `servers` enabled servers with `ranges` ranges per type (see
    /// `bench_c_world`); the guest and the oldest server's shared page.
    pub fn c_world(servers: u32, ranges: u64) -> Option<(NonNull<c_void>, NonNull<c_void>)> {
        let mut page = core::ptr::null_mut();
        // SAFETY: plain harness calls; `page` is a live local the driver writes.
        let d = unsafe { xenb_bench_c_world(servers, ranges, &mut page) };
        Some((NonNull::new(d)?, NonNull::new(page)?))
    }

    /// The C guest writes `cf8` to port 0xcf8.
    pub fn c_cf8(guest: NonNull<c_void>, cf8: u32) {
        // SAFETY: a guest from c_world.
        unsafe { xenb_bench_c_cf8(guest.as_ptr(), cf8) }
    }

    /// The Rust side's selection alone, an out-of-line C entry point for the driver's selection
    /// loop: the crate exports no select-only function (Xen's I/O path selects and sends in one
    /// call, `hvm_ioreq_select_and_send`, which the round trip times), so this calls the core's
    /// selection as that export does: as the current vCPU, in its domain (`d`, the guest, whose
    /// vcpu 0 the bench makes current; without a current vCPU, in `d` under the shared lock).
    ///
    /// # Safety
    /// `d` is a live host domain; `p` a readable and writable `ioreq_t`.
    #[no_mangle]
    pub unsafe extern "C" fn bench_rust_select(d: *mut c_void, p: *mut IoreqSlot) -> bool {
        // SAFETY: the caller's contract for `p`.
        let p = unsafe { &mut *p };
        if let Some(v) = HostPlatform::current_vcpu() {
            return xen_ioreq_rs::ioreq::select_server_vcpu::<HostPlatform>(v, p).is_some();
        }
        // SAFETY: the caller's contract: a live host domain.
        let Some(d) = (unsafe { DomainRef::from_ptr(d) }) else {
            return false;
        };
        xen_ioreq_rs::ioreq::select_server::<HostPlatform>(d, p).is_some()
    }

    /// Destroys a world from [`c_world`].
    pub fn c_teardown(guest: NonNull<c_void>) {
        // SAFETY: a guest from c_world, not used afterwards.
        unsafe { xenb_bench_c_teardown(guest.as_ptr()) }
    }

    /// Runs `iters` of `what` on `side`; (ns, checksum). With a label, callgrind's counters
    /// cover exactly this run.
    ///
    /// # Safety
    /// `w` must describe a live world of `side` (domain, vcpu and slot pointers from its setup),
    /// with the Rust side's current vCPU set to `w.v` for Rust runs.
    pub unsafe fn run(
        side: Side,
        what: What,
        w: &BenchIo,
        iters: usize,
        label: Option<&CStr>,
    ) -> (u64, u64) {
        let mut sum = 0u64;
        // SAFETY: the caller's contract for `w`; `label` is NULL or NUL-terminated; `sum` is a
        // live local.
        let ns = unsafe {
            xenb_bench_io_run(
                side as c_int,
                what as c_int,
                w,
                iters,
                label.map_or(core::ptr::null(), CStr::as_ptr),
                &mut sum,
            )
        };
        (ns, sum)
    }
}
