//! The differential engine: generates operations, runs each on the Rust (2014 series semantics)
//! and on Xen 4.17's C, and compares everything observable after every step.
//!
//! Where Xen evolved after the series the engine maps the two explicitly and counts the mapping
//! under its FIDELITY id (`I100`..): an id map between the sides' server ids, and re-running an
//! operation on one side so that both stay in the same state (e.g. the C refuses a foreign
//! emulator; the same operation by the creator must then give the Rust's result). Anything else
//! that differs is an unexplained divergence.

use std::collections::BTreeMap;

use crate::abi::IoreqSlot;
use crate::entropy::Entropy;
use crate::side::{Info, Sent, Side, View, World};

/// Divergences the engine knows, with what they are (the FIDELITY entries carry the details).
pub mod ids {
    /// Server ids: Xen 4.17 uses the lowest free slot 0..7, the series a 16-bit counter.
    pub const ID_SCHEME: &str = "I100";
    /// Xen 4.17 caps a domain at eight servers (-ENOSPC); the series has no cap.
    pub const EIGHT_SERVERS: &str = "I101";
    /// Xen 4.17 refuses an emulator other than the server's creator (-EPERM); the series lets
    /// any device-model-privileged domain act on any server.
    pub const CREATOR_CHECK: &str = "I102";
    /// Xen 4.17 maps the shared pages lazily (on get_info); the series at create.
    pub const LAZY_PAGES: &str = "I103";
    /// `bufioreq_handling` (4.17: 0/1/2, >2 -EINVAL, 2 = atomic pointer canonicalisation) vs the
    /// series' boolean `handle_bufioreq`.
    pub const BUFIOREQ_HANDLING: &str = "I104";
    /// The DMOP structs' pad fields must be zero in Xen 4.17 (-EINVAL); the HVMOP structs of the
    /// series have no such check.
    pub const DMOP_PADS: &str = "I106";
    /// Xen 4.17 adds the CF8 extended-register bits only on AMD family 10h-16h with NB_CFG's
    /// enable bit; the series always.
    pub const AMD_CF8_EXT: &str = "I107";
    /// A buffered send of a request the ring cannot carry: 4.17 reports it handled (dropped), the
    /// series reports it not sent (the caller falls back to a synchronous send).
    pub const BUF_UNBUFFERABLE: &str = "I112";
    /// Xen 4.17 dereferences a NULL shared page when an enabled server whose pages were never
    /// mapped is sent a synchronous request (hypervisor crash); the series maps at create, so the
    /// Rust posts the request.
    pub const SEND_UNMAPPED: &str = "I113";
    /// Xen 4.17 walks servers by slot index, highest first, which is "newest first" only until a
    /// slot is reused; the series walks its list newest first. Visible in selection when two
    /// servers claim the same access, and in the order new vcpus' ports are handed out.
    pub const ITERATION_ORDER: &str = "I114";
    /// A request outstanding when its server is disabled: the series clears the slot, so the
    /// vcpu stops being "pending" at once; 4.17 keeps its per-vcpu pending flag until the vcpu
    /// resumes (and then completes the request with no data).
    pub const DISABLE_PENDING: &str = "I115";
    pub const ALL: &[&str] = &[
        ID_SCHEME,
        EIGHT_SERVERS,
        CREATOR_CHECK,
        LAZY_PAGES,
        BUFIOREQ_HANDLING,
        DMOP_PADS,
        AMD_CF8_EXT,
        BUF_UNBUFFERABLE,
        SEND_UNMAPPED,
        ITERATION_ORDER,
        DISABLE_PENDING,
    ];
}

use ids::*;

const EPERM: i32 = -1;
const ENOENT: i32 = -2;
const ENOMEM: i32 = -12;
const EINVAL: i32 = -22;
const ENOSPC: i32 = -28;

/// A server alive on both sides.
#[derive(Clone, Debug)]
struct Pair {
    cid: u16,
    rid: u16,
    creator: u16,
    has_buf: bool,
    atomic: bool,
    /// Whether the emulator has the pages mapped on each side (after a successful get_info
    /// while the pages were reachable).
    c_seen: bool,
    r_seen: bool,
    /// The gfns each side gave out (None: not yet known / not allocated).
    c_gfns: Option<(u64, Option<u64>)>,
    r_gfns: Option<(u64, Option<u64>)>,
    enabled: bool,
    /// C: the pages were taken out of the P2M by an enable (4.17 only does so if mapped then).
    c_removed: bool,
    /// C: the vcpus' ports are in the slots (written when enabling with the page mapped; a page
    /// first mapped while enabled has none, and 4.17 refuses to send through it).
    c_eports: bool,
}

/// A vcpu waiting for an emulator: on which pair, and whether each side posted.
#[derive(Clone, Copy, Debug)]
struct Wait {
    pair: usize,
    c: bool,
    r: bool,
}

/// The per-run knobs.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    pub world: World,
    /// The guest's CPU as the C sees it: AMD family 10h with the CF8 extension enabled (the
    /// series' behaviour), or Intel (4.17 drops the extension bits; I107).
    pub amd_cf8_ext: bool,
    /// Xen's ioreq C runs on the Rust crate's rangeset instead of Xen's `rangeset.c` (its sets
    /// then belong to no domain, so the 'q' dump is not compared).
    pub c_on_rust_rangeset: bool,
}

pub struct Engine<R: Side> {
    pub c: crate::cside::CSide,
    pub r: R,
    setup: Setup,
    pairs: Vec<Pair>,
    vcpus: u32,
    /// Per vcpu: what it waits for (a synchronous send posted, not yet completed).
    pending: Vec<Option<Wait>>,
    c_pool: u64,
    r_pool: u64,
    pub ops: u64,
    pub observed: BTreeMap<&'static str, u64>,
    /// How often each interesting outcome happened (agreeing sides), to show what was covered.
    pub coverage: BTreeMap<&'static str, u64>,
    pub unexplained: Vec<String>,
    pub context: String,
    /// Per event channel: notifications the Rust sent that the C did not, by a mapped
    /// divergence (I103, I113), so that counts can still be compared.
    notify_skew: BTreeMap<u32, u64>,
}

/// Interesting values to make ranges and accesses collide.
const PORTS: &[u64] = &[0x0, 0x60, 0x70, 0xcf8, 0xcfc, 0x3f8, 0xb000, 0xfff0];
const MMIO: &[u64] = &[0xa_0000, 0xf_fff0, 0xe000_0000, 0xfeb0_0000, 0xffff_fff0];
const BDFS: &[u64] = &[0x0, 0x8, 0x10, 0x18, 0x20, 0x100, 0x1_0018];

impl<R: Side> Engine<R> {
    pub fn new(c: crate::cside::CSide, r: R, setup: Setup) -> Self {
        let w = setup.world;
        c.configure_cpu(
            setup.amd_cf8_ext,
            if setup.amd_cf8_ext { 0x10 } else { 6 },
            true,
        );
        let pool = if w.pool_pages >= 64 {
            u64::MAX
        } else {
            (1u64 << w.pool_pages) - 1
        };
        Engine {
            c,
            r,
            setup,
            pairs: Vec::new(),
            vcpus: w.nr_vcpus,
            pending: vec![None; w.nr_vcpus as usize],
            c_pool: pool,
            r_pool: pool,
            ops: 0,
            observed: BTreeMap::new(),
            coverage: BTreeMap::new(),
            unexplained: Vec::new(),
            context: String::new(),
            notify_skew: BTreeMap::new(),
        }
    }

    fn covered(&mut self, what: &'static str) {
        *self.coverage.entry(what).or_insert(0) += 1;
    }

    fn note(&mut self, id: &'static str) {
        *self.observed.entry(id).or_insert(0) += 1;
    }

    fn fail(&mut self, what: String) {
        if self.unexplained.len() < 50 {
            self.unexplained.push(format!("{}: {what}", self.context));
        } else {
            self.unexplained.push(String::new());
        }
    }

    fn check<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, c: T, r: T) -> bool {
        if c != r {
            self.fail(format!("{what}: C {c:?} vs Rust {r:?}"));
            false
        } else {
            true
        }
    }

    fn w(&self) -> World {
        self.setup.world
    }

    // ---- model helpers ----------------------------------------------------------------------

    fn pool_take(mask: &mut u64) -> Option<u64> {
        if *mask == 0 {
            return None;
        }
        let i = mask.trailing_zeros();
        *mask &= !(1u64 << i);
        Some(u64::from(i))
    }

    fn pool_free(mask: &mut u64, base: u64, gfn: u64) {
        let i = gfn.wrapping_sub(base);
        if i < 64 {
            *mask |= 1u64 << i;
        }
    }

    fn pages_needed(has_buf: bool) -> u32 {
        if has_buf {
            2
        } else {
            1
        }
    }

    // ---- generation -------------------------------------------------------------------------

    fn caller(&self, e: &mut impl Entropy) -> u16 {
        let w = self.w();
        match e.weighted(&[70, 25, 5]) {
            0 => w.dm0,
            1 => w.stub,
            _ => w.unpriv,
        }
    }

    /// Mostly the guest; sometimes a PV domain, a missing one, or the caller itself.
    fn target(&self, e: &mut impl Entropy, caller: u16) -> u16 {
        let w = self.w();
        match e.weighted(&[94, 2, 2, 2]) {
            0 => w.guest,
            1 => w.other,
            2 => w.missing,
            _ => caller,
        }
    }

    /// A live pair (by index) or an id unknown to both sides.
    fn server(&self, e: &mut impl Entropy) -> Result<usize, (u16, u16)> {
        if !self.pairs.is_empty() && e.chance(92) {
            return Ok(e.below(self.pairs.len() as u64) as usize);
        }
        let taken = |raw: u16| self.pairs.iter().any(|p| p.cid == raw || p.rid == raw);
        for _ in 0..4 {
            let raw = match e.below(4) {
                0 => e.below(16) as u16,
                1 => 0xffff,
                2 => 8,
                _ => e.u64() as u16,
            };
            if !taken(raw) {
                return Err((raw, raw));
            }
        }
        // (A fuzzer's input may keep choosing taken ids.)
        let raw = (0x8000..=0xffffu16).find(|&r| !taken(r)).unwrap_or(0xffff);
        Err((raw, raw))
    }

    fn range(e: &mut impl Entropy, ty: u32) -> (u64, u64) {
        if e.chance(3) {
            let a = e.u64();
            let b = e.u64();
            return if e.chance(50) {
                (a.min(b), a.max(b))
            } else {
                (a, b)
            };
        }
        let (base, len) = match ty {
            0 => (e.pick(PORTS) + e.below(16), e.below(12)),
            1 => (e.pick(MMIO) + e.below(0x20), e.below(0x18)),
            2 => (
                e.pick(BDFS) + e.below(3),
                if e.chance(80) { 0 } else { e.below(4) },
            ),
            _ => (e.below(0x100), e.below(0x10)),
        };
        let end = base.saturating_add(len);
        if e.chance(3) {
            (end.saturating_add(1), base)
        } else {
            (base, end)
        }
    }

    /// One random operation, run on both sides and compared.
    pub fn step(&mut self, e: &mut impl Entropy) {
        self.ops += 1;
        let any_pending = self.pending.iter().any(Option::is_some);
        let weights = [
            10,                               // create
            5,                                // get_info
            14,                               // map
            8,                                // unmap
            8,                                // set_state
            3,                                // destroy
            6,                                // cf8
            30,                               // io
            if any_pending { 25 } else { 0 }, // complete
            3,                                // ring consume
            1,                                // vcpu add/remove
            1,                                // many ranges
        ];
        match e.weighted(&weights) {
            0 => self.op_create(e),
            1 => self.op_get_info(e),
            2 => self.op_range(e, true),
            3 => self.op_range(e, false),
            4 => self.op_set_state(e),
            5 => self.op_destroy(e),
            6 => self.op_cf8(e),
            7 => self.op_io(e),
            8 => self.op_complete(e),
            9 => self.op_ring_consume(e),
            10 => self.op_vcpu(e),
            _ => self.op_many_ranges(e),
        }
        self.compare_all();
    }

    // ---- hypercalls -------------------------------------------------------------------------

    fn op_create(&mut self, e: &mut impl Entropy) {
        let caller = self.caller(e);
        let target = self.target(e, caller);
        let handling = match e.weighted(&[35, 50, 10, 5]) {
            0 => 0,
            1 => 1,
            2 => 2,
            _ => e.u64() as u8,
        };
        let pad = if e.chance(3) {
            1 + e.below(255) as u8
        } else {
            0
        };
        self.context =
            format!("create(caller {caller}, target {target}, handling {handling}, pad {pad})");
        let rc_c = self.c.create(caller, target, handling, pad);
        let rc_r = self.r.create(caller, target, handling, pad);
        self.after_create(caller, target, handling, pad, rc_c, rc_r);
        if e.chance(85) && rc_c.is_ok() && rc_r.is_ok() {
            let i = self.pairs.len() - 1;
            self.get_info_pair(caller, i);
        }
    }

    fn after_create(
        &mut self,
        caller: u16,
        target: u16,
        handling: u8,
        pad: u8,
        rc_c: Result<u16, i32>,
        rc_r: Result<u16, i32>,
    ) {
        let has_buf = handling != 0;
        match (rc_c, rc_r) {
            (Ok(cid), Ok(rid)) => {
                self.covered("create ok");
                if pad != 0 || handling > 2 {
                    self.fail("C accepted a create it must refuse".into());
                }
                if cid != rid {
                    self.note(ID_SCHEME);
                }
                // The series allocates the pages at create, from its own pool.
                let need = Self::pages_needed(has_buf);
                let mut gf = None;
                if self.r_pool.count_ones() >= need {
                    let base = self.w().pool_base;
                    let g = Self::pool_take(&mut self.r_pool).map(|i| base + i);
                    let b = if has_buf {
                        Self::pool_take(&mut self.r_pool).map(|i| base + i)
                    } else {
                        None
                    };
                    gf = g.map(|g| (g, b));
                } else {
                    self.fail("Rust created a server although its pool model is exhausted".into());
                }
                self.pairs.push(Pair {
                    cid,
                    rid,
                    creator: caller,
                    has_buf,
                    atomic: handling == 2,
                    c_seen: false,
                    r_seen: false,
                    c_gfns: None,
                    r_gfns: gf,
                    enabled: false,
                    c_removed: false,
                    c_eports: false,
                });
            }
            (Err(ec), Ok(rid)) => {
                // The series has no pad check, no eight-server cap, and takes any non-zero
                // handle_bufioreq; the Rust server is then destroyed again to stay in step.
                let why = if pad != 0 {
                    Some(DMOP_PADS)
                } else if handling > 2 && ec == EINVAL {
                    Some(BUFIOREQ_HANDLING)
                } else if ec == ENOSPC && self.pairs.len() >= 8 {
                    Some(EIGHT_SERVERS)
                } else {
                    None
                };
                match why {
                    Some(id) => self.note(id),
                    None => self.fail(format!("create: C {ec} vs Rust Ok({rid})")),
                }
                let d = self.r.destroy(caller, target, rid, 0);
                self.check("resync: Rust destroy of the extra server", 0, d);
            }
            (Ok(cid), Err(er)) => {
                // The series maps its pages at create: with the pool exhausted it fails where
                // 4.17 (lazy) succeeds.
                let need = Self::pages_needed(has_buf);
                if er == ENOMEM && self.r_pool.count_ones() < need {
                    self.note(LAZY_PAGES);
                } else {
                    self.fail(format!("create: C Ok({cid}) vs Rust {er}"));
                }
                let d = self.c.destroy(caller, target, cid, 0);
                self.check("resync: C destroy of the extra server", 0, d);
            }
            (Err(ec), Err(er)) => {
                // 4.17's own checks come first.
                if ec == er {
                } else if pad != 0 && ec == EINVAL {
                    self.note(DMOP_PADS);
                } else if handling > 2 && ec == EINVAL {
                    self.note(BUFIOREQ_HANDLING);
                } else if ec == ENOSPC && self.pairs.len() >= 8 {
                    self.note(EIGHT_SERVERS);
                } else {
                    self.fail(format!("create rc: C {ec} vs Rust {er}"));
                }
            }
        }
    }

    /// get_info by `caller` (who may not be the creator) on pair `i`.
    fn get_info_pair(&mut self, caller: u16, i: usize) {
        let w = self.w();
        let p = self.pairs[i].clone();
        let rc_r = self.r.get_info(caller, w.guest, p.rid);
        let mut rc_c = self.c.get_info(caller, w.guest, p.cid);
        if caller != p.creator && rc_c == Err(EPERM) && rc_r.is_ok() {
            self.note(CREATOR_CHECK);
            rc_c = self.c.get_info(p.creator, w.guest, p.cid);
        }
        match (rc_c, rc_r) {
            (Ok(ic), Ok(ir)) => {
                self.covered("get_info ok");
                self.info_ok(i, ic, ir)
            }
            (Err(ec), Err(er)) => {
                self.check("get_info rc", ec, er);
            }
            (c, r) => self.fail(format!("get_info: C {c:?} vs Rust {r:?}")),
        }
    }

    fn info_ok(&mut self, i: usize, ic: Info, ir: Info) {
        let base = self.w().pool_base;
        let p = self.pairs[i].clone();
        // The C allocates on first get_info, lowest free first (ioreq, then the ring).
        let c_expect = match p.c_gfns {
            Some(g) => Some(g),
            None => {
                let g = Self::pool_take(&mut self.c_pool).map(|x| base + x);
                let b = if p.has_buf {
                    Self::pool_take(&mut self.c_pool).map(|x| base + x)
                } else {
                    None
                };
                g.map(|g| (g, b))
            }
        };
        let c_got = (ic.ioreq_gfn, ic.buf.map(|b| b.0));
        let r_got = (ir.ioreq_gfn, ir.buf.map(|b| b.0));
        if c_expect != Some(c_got) {
            self.fail(format!("C gfns {c_got:x?}, model {c_expect:x?}"));
        }
        if p.r_gfns != Some(r_got) {
            self.fail(format!("Rust gfns {r_got:x?}, model {:x?}", p.r_gfns));
        }
        if c_got != r_got {
            self.note(LAZY_PAGES);
        }
        self.check(
            "get_info bufioreq port",
            ic.buf.map(|b| b.1),
            ir.buf.map(|b| b.1),
        );
        let first_c = p.c_gfns.is_none();
        let pr = &mut self.pairs[i];
        pr.c_gfns = Some(c_got);
        // The emulator maps the pages it was told about, if they are in the guest's P2M.
        if first_c {
            // 4.17 maps them now; they stay in the P2M even if the server is already enabled,
            // and then carry no ports until the next enable.
            pr.c_seen = true;
            pr.c_eports = !pr.enabled;
        }
        if !pr.r_seen && !pr.enabled {
            pr.r_seen = true;
        }
        let (c_seen, r_seen, enabled) = (pr.c_seen, pr.r_seen, pr.enabled);
        if enabled && first_c {
            // Mapped after enabling: the 4.17 pages remain in the P2M (the series' were removed
            // at enable and the emulator cannot map them any more).
            self.note(LAZY_PAGES);
        }
        let _ = (c_seen, r_seen);
    }

    fn op_get_info(&mut self, e: &mut impl Entropy) {
        let caller = self.caller(e);
        let target = self.target(e, caller);
        match self.server(e) {
            Ok(i) if target == self.w().guest => {
                self.context = format!("get_info(caller {caller}, pair {i})");
                self.get_info_pair(caller, i);
            }
            Ok(i) => {
                let p = self.pairs[i].clone();
                self.context = format!("get_info(caller {caller}, target {target}, pair {i})");
                let c = self.c.get_info(caller, target, p.cid).err();
                let r = self.r.get_info(caller, target, p.rid).err();
                self.check("get_info rc (other target)", c, r);
            }
            Err((cid, rid)) => {
                self.context = format!("get_info(caller {caller}, target {target}, unknown {cid})");
                let c = self.c.get_info(caller, target, cid).err();
                let r = self.r.get_info(caller, target, rid).err();
                self.check("get_info rc (unknown id)", c, r);
            }
        }
    }

    fn op_range(&mut self, e: &mut impl Entropy, map: bool) {
        let caller = self.caller(e);
        let target = self.target(e, caller);
        let srv = self.server(e);
        let pad = if e.chance(2) {
            1 + e.below(0xffff) as u16
        } else {
            0
        };
        // Unmaps mostly aim at what is registered (a whole range or a piece of one).
        if !map && e.chance(60) {
            if let Ok(i) = srv {
                if let Some((ty, (a, b))) = self.registered_range(e, i) {
                    let (s, end) = if e.chance(40) {
                        (a, b)
                    } else {
                        let s = e.within(a, b);
                        (s, e.within(s, b))
                    };
                    self.range_call(caller, target, srv, map, ty, s, end, pad);
                    return;
                }
            }
        }
        let ty = if e.chance(4) {
            3 + e.below(8) as u32
        } else {
            e.below(3) as u32
        };
        let (s, end) = Self::range(e, ty);
        self.range_call(caller, target, srv, map, ty, s, end, pad);
    }

    /// One registered range of pair `i` (as the Rust reports it, equal to the C's): (type, range).
    fn registered_range(&self, e: &mut impl Entropy, i: usize) -> Option<(u32, (u64, u64))> {
        let v = self.r.view(self.pairs[i].rid)?;
        let types: Vec<usize> = (0..3).filter(|t| !v.ranges[*t].is_empty()).collect();
        if types.is_empty() {
            return None;
        }
        let t = e.pick(&types);
        let r = v.ranges[t][e.below(v.ranges[t].len() as u64) as usize];
        Some((t as u32, r))
    }

    #[allow(clippy::too_many_arguments)]
    fn range_call(
        &mut self,
        caller: u16,
        target: u16,
        srv: Result<usize, (u16, u16)>,
        map: bool,
        ty: u32,
        s: u64,
        end: u64,
        pad: u16,
    ) {
        let (cid, rid, creator) = match srv {
            Ok(i) => (
                self.pairs[i].cid,
                self.pairs[i].rid,
                Some(self.pairs[i].creator),
            ),
            Err((c, r)) => (c, r, None),
        };
        let name = if map { "map" } else { "unmap" };
        self.context = format!(
            "{name}(caller {caller}, target {target}, ids {cid}/{rid}, type {ty}, {s:#x}..={end:#x}, pad {pad})"
        );
        let call_c = |c: &mut crate::cside::CSide, caller: u16, pad: u16| {
            if map {
                c.map(caller, target, cid, ty, s, end, pad)
            } else {
                c.unmap(caller, target, cid, ty, s, end, pad)
            }
        };
        let rc_r = if map {
            self.r.map(caller, target, rid, ty, s, end, pad)
        } else {
            self.r.unmap(caller, target, rid, ty, s, end, pad)
        };
        let mut rc_c = call_c(&mut self.c, caller, pad);
        if rc_c == rc_r {
            self.covered(match (map, rc_c) {
                (true, 0) => "map ok",
                (false, 0) => "unmap ok",
                (_, -17) => "map/unmap -EEXIST",
                (_, -12) => "map/unmap -ENOMEM (range limit)",
                (_, -2) => "map/unmap -ENOENT",
                (_, -22) => "map/unmap -EINVAL",
                (_, -1) => "map/unmap -EPERM",
                _ => "map/unmap other error",
            });
            return;
        }
        // 4.17's checks that come before the series' own, in their order.
        if pad != 0 && rc_c == EINVAL {
            self.note(DMOP_PADS);
            rc_c = call_c(&mut self.c, caller, 0);
            if rc_c == rc_r {
                return;
            }
        }
        if let Some(creator) = creator {
            if caller != creator && rc_c == EPERM && target == self.w().guest {
                self.note(CREATOR_CHECK);
                rc_c = call_c(&mut self.c, creator, 0);
                if rc_c == rc_r {
                    return;
                }
            }
        }
        self.fail(format!("{name} rc: C {rc_c} vs Rust {rc_r}"));
    }

    fn op_many_ranges(&mut self, e: &mut impl Entropy) {
        // Enough disjoint singletons to reach the 256-range limit, then a split at the limit.
        let Ok(i) = self.server(e) else { return };
        let p = self.pairs[i].clone();
        let g = self.w().guest;
        let ty = e.below(3) as u32;
        let base = e.below(0x1000) * 0x1000;
        for k in 0..(250 + e.below(20)) {
            let a = base + 2 * k;
            self.range_call(p.creator, g, Ok(i), true, ty, a, a, 0);
        }
        let a = base + 2 * e.below(300);
        self.range_call(p.creator, g, Ok(i), true, ty, a, a + 1, 0);
        self.range_call(p.creator, g, Ok(i), false, ty, a, a, 0);
    }

    fn op_set_state(&mut self, e: &mut impl Entropy) {
        let caller = self.caller(e);
        let target = self.target(e, caller);
        let enabled = match e.weighted(&[45, 45, 10]) {
            0 => 0,
            1 => 1,
            _ => e.u64() as u8,
        };
        let pad = if e.chance(2) {
            1 + e.below(255) as u8
        } else {
            0
        };
        let srv = self.server(e);
        let (cid, rid, creator) = match srv {
            Ok(i) => (
                self.pairs[i].cid,
                self.pairs[i].rid,
                Some(self.pairs[i].creator),
            ),
            Err((c, r)) => (c, r, None),
        };
        self.context = format!(
            "set_state(caller {caller}, target {target}, ids {cid}/{rid}, enabled {enabled}, pad {pad})"
        );
        let rc_r = self.r.set_state(caller, target, rid, enabled, pad);
        let mut rc_c = self.c.set_state(caller, target, cid, enabled, pad);
        if rc_c != rc_r && pad != 0 && rc_c == EINVAL {
            self.note(DMOP_PADS);
            rc_c = self.c.set_state(caller, target, cid, enabled, 0);
        }
        if rc_c != rc_r {
            if let Some(creator) = creator {
                if caller != creator && rc_c == EPERM && target == self.w().guest {
                    self.note(CREATOR_CHECK);
                    rc_c = self.c.set_state(creator, target, cid, enabled, 0);
                }
            }
        }
        if !self.check("set_state rc", rc_c, rc_r) || rc_c != 0 {
            return;
        }
        if let Ok(i) = srv {
            let on = enabled != 0;
            let p = &mut self.pairs[i];
            if on != p.enabled {
                // 4.17 takes the pages out of the P2M only if it has mapped them.
                p.c_removed = on && p.c_gfns.is_some();
                p.enabled = on;
                p.c_eports = p.c_gfns.is_some();
                if !on {
                    self.disabled_while_pending(i);
                }
            }
        }
    }

    /// After pair `i` was disabled: its outstanding requests are gone from the (cleared) slots.
    fn disabled_while_pending(&mut self, i: usize) {
        for v in 0..self.vcpus {
            let Some(w) = self.pending[v as usize] else {
                continue;
            };
            if w.pair != i {
                continue;
            }
            let (c, r) = (self.c.pending(v), self.r.pending(v));
            if r {
                self.fail(format!(
                    "vcpu {v} still pending on a disabled server (Rust)"
                ));
            }
            if c != w.c {
                self.fail(format!("vcpu {v} pending (C) {c}, model {}", w.c));
            }
            if c && !r {
                self.note(DISABLE_PENDING);
            }
            self.c.resume(v);
            self.r.resume(v);
            let (c, r) = (self.c.pending(v), self.r.pending(v));
            self.check(
                &format!("vcpu {v} pending after resume from a disabled server"),
                c,
                r,
            );
            self.pending[v as usize] = None;
        }
    }

    fn op_destroy(&mut self, e: &mut impl Entropy) {
        let caller = if e.chance(85) {
            None
        } else {
            Some(self.caller(e))
        };
        let srv = self.server(e);
        let target = match caller {
            Some(c) => self.target(e, c),
            None => self.w().guest,
        };
        let pad = if e.chance(2) {
            1 + e.below(0xffff) as u16
        } else {
            0
        };
        let (cid, rid, creator) = match srv {
            Ok(i) => (
                self.pairs[i].cid,
                self.pairs[i].rid,
                Some(self.pairs[i].creator),
            ),
            Err((c, r)) => (c, r, None),
        };
        let caller = caller.or(creator).unwrap_or(self.w().dm0);
        // Its channels, whose counts restart when the ports are handed out again.
        let ports: Vec<u32> = self
            .r
            .view(rid)
            .map(|v| v.ports.iter().map(|p| p.1).chain(v.buf_port).collect())
            .unwrap_or_default();
        self.context =
            format!("destroy(caller {caller}, target {target}, ids {cid}/{rid}, pad {pad})");
        let rc_r = self.r.destroy(caller, target, rid, pad);
        let mut rc_c = self.c.destroy(caller, target, cid, pad);
        if rc_c != rc_r && pad != 0 && rc_c == EINVAL {
            self.note(DMOP_PADS);
            rc_c = self.c.destroy(caller, target, cid, 0);
        }
        if rc_c != rc_r {
            if let Some(creator) = creator {
                if caller != creator && rc_c == EPERM && target == self.w().guest {
                    self.note(CREATOR_CHECK);
                    rc_c = self.c.destroy(creator, target, cid, 0);
                }
            }
        }
        if !self.check("destroy rc", rc_c, rc_r) || rc_c != 0 {
            return;
        }
        if let Ok(i) = srv {
            for p in ports {
                self.notify_skew.remove(&p);
            }
            self.forget(i);
        }
        // Life-cycle misuse: the same server destroyed again at once (nothing reused its id).
        if e.chance(2) {
            self.context = format!("destroy again(caller {caller}, ids {cid}/{rid})");
            let rc_r = self.r.destroy(caller, target, rid, 0);
            let rc_c = self.c.destroy(caller, target, cid, 0);
            if self.check("destroy again rc", rc_c, rc_r) && rc_r == ENOENT {
                self.covered("destroy again -ENOENT");
            }
        }
    }

    /// The Rust notified `vcpu`'s port of server `rid` where the C did not.
    fn skew_vcpu_port(&mut self, rid: u16, vcpu: u32) {
        let port = self
            .r
            .view(rid)
            .and_then(|v| v.ports.iter().find(|(x, _)| *x == vcpu).map(|(_, p)| *p));
        if let Some(port) = port {
            *self.notify_skew.entry(port).or_insert(0) += 1;
        }
    }

    /// Drops pair `i` from the model after a destroy on both sides.
    fn forget(&mut self, i: usize) {
        let base = self.w().pool_base;
        let p = self.pairs.remove(i);
        for (g, b) in [p.c_gfns].into_iter().flatten() {
            Self::pool_free(&mut self.c_pool, base, g);
            if let Some(b) = b {
                Self::pool_free(&mut self.c_pool, base, b);
            }
        }
        for (g, b) in [p.r_gfns].into_iter().flatten() {
            Self::pool_free(&mut self.r_pool, base, g);
            if let Some(b) = b {
                Self::pool_free(&mut self.r_pool, base, b);
            }
        }
        for slot in self.pending.iter_mut() {
            match slot {
                Some(w) if w.pair == i => *slot = None,
                Some(w) if w.pair > i => w.pair -= 1,
                _ => {}
            }
        }
        // A vcpu that waited on the destroyed server no longer does.
        for v in 0..self.vcpus {
            let (c, r) = (self.c.pending(v), self.r.pending(v));
            let m = self.pending[v as usize];
            self.check(
                &format!("vcpu {v} pending (C) after destroy"),
                c,
                m.is_some_and(|w| w.c),
            );
            self.check(
                &format!("vcpu {v} pending (Rust) after destroy"),
                r,
                m.is_some_and(|w| w.r),
            );
        }
    }

    // ---- the guest's I/O path ---------------------------------------------------------------

    fn op_cf8(&mut self, e: &mut impl Entropy) {
        let vcpu = e.below(u64::from(self.vcpus.max(1))) as u32;
        let bdf = e.pick(BDFS) & 0xffff;
        let mut val = 0x8000_0000u32 | ((bdf as u32) << 8) | ((e.below(64) as u32) << 2);
        if e.chance(30) {
            val |= (1 + e.below(15) as u32) << 24;
        }
        if e.chance(10) {
            val &= 0x7fff_ffff;
        }
        let (dir, port, bytes) = match e.weighted(&[85, 5, 5, 5]) {
            0 => (0u8, 0xcf8, 4),
            1 => (0, 0xcf8, 2),
            2 => (1, 0xcf8, 4),
            _ => (0, 0xcf9 + e.below(3) as u32, 1),
        };
        self.context =
            format!("cf8(vcpu {vcpu}, dir {dir}, port {port:#x}, bytes {bytes}, {val:#x})");
        self.c.portio(vcpu, dir, port, bytes, val);
        self.r.portio(vcpu, dir, port, bytes, val);
    }

    /// Mostly an access inside a registered range of some server (a PCI one after latching its
    /// device in CF8 on both sides), so that selection and sends are exercised.
    fn aimed_ioreq(&mut self, e: &mut impl Entropy, vcpu: u32) -> Option<IoreqSlot> {
        if self.pairs.is_empty() || !e.chance(75) {
            return None;
        }
        let enabled: Vec<usize> = (0..self.pairs.len())
            .filter(|&i| self.pairs[i].enabled)
            .collect();
        let i = if !enabled.is_empty() && e.chance(80) {
            e.pick(&enabled)
        } else {
            e.below(self.pairs.len() as u64) as usize
        };
        let (ty, (a, b)) = self.registered_range(e, i)?;
        let mut p = IoreqSlot {
            count: 1,
            data: e.u64(),
            ..Default::default()
        };
        p.set_dir(e.below(2) as u8);
        p.set_data_is_ptr(e.chance(5));
        match ty {
            0 => {
                p.type_ = 0;
                p.size = e.pick(&[1, 2, 4]);
                p.addr = e.within(a, b);
                // Guest ports are 16-bit.
                if p.addr > 0xffff {
                    return None;
                }
            }
            1 => {
                p.type_ = 1;
                p.size = e.pick(&[1, 2, 4, 8]);
                p.count = if e.chance(80) { 1 } else { 2 };
                p.addr = e.within(a, b);
                if e.chance(15) && p.addr >= 16 {
                    p.set_df(true);
                }
                // Guest physical addresses stay far below 2^64 (no wrap-around of the bytes).
                if p.addr >= 1 << 52 {
                    return None;
                }
            }
            _ => {
                // Only segment 0 is reachable through CF8.
                let sbdf = e.within(a, b);
                if sbdf > 0xffff {
                    return None;
                }
                let mut cf8 = 0x8000_0000u32 | ((sbdf as u32) << 8) | ((e.below(64) as u32) << 2);
                if e.chance(20) {
                    cf8 |= (e.below(16) as u32) << 24;
                }
                self.c.portio(vcpu, 0, 0xcf8, 4, cf8);
                self.r.portio(vcpu, 0, 0xcf8, 4, cf8);
                p.type_ = 0;
                p.size = e.pick(&[1, 2, 4]);
                p.addr = 0xcfc + e.below(4);
            }
        }
        Some(p)
    }

    /// A guest access as the emulation code hands it to the ioreq servers.
    fn gen_ioreq(&self, e: &mut impl Entropy) -> IoreqSlot {
        let mut p = IoreqSlot::default();
        match e.weighted(&[45, 45, 10]) {
            0 => {
                p.type_ = 0;
                p.addr = if e.chance(30) {
                    0xcfc + e.below(4)
                } else {
                    e.pick(PORTS) + e.below(16)
                };
                p.size = e.pick(&[1, 2, 4, 4, 8]);
                p.count = if e.chance(80) {
                    1
                } else {
                    1 + e.below(4) as u32
                };
            }
            1 => {
                p.type_ = 1;
                p.addr = e.pick(MMIO) + e.below(0x20);
                p.size = e.pick(&[1, 2, 4, 8]);
                p.count = if e.chance(70) {
                    1
                } else {
                    1 + e.below(4) as u32
                };
                p.set_df(e.chance(20));
            }
            _ => {
                p.type_ = e.pick(&[2, 7, 8, 3]);
                p.addr = e.below(0x1_0000);
                p.size = 4;
                p.count = 1;
            }
        }
        p.set_dir(e.below(2) as u8);
        p.set_data_is_ptr(e.chance(10));
        p.data = e.u64();
        // Requests are generated as the emulation code makes them: sizes 1..8 and no wrap-around
        // of the bytes touched (4.17 would otherwise hand the rangeset start > end, an ASSERT).
        p
    }

    fn op_io(&mut self, e: &mut impl Entropy) {
        let free: Vec<u32> = (0..self.vcpus)
            .filter(|v| self.pending[*v as usize].is_none())
            .collect();
        if free.is_empty() {
            return;
        }
        let vcpu = e.pick(&free);
        let p0 = match self.aimed_ioreq(e, vcpu) {
            Some(p) => p,
            None => self.gen_ioreq(e),
        };
        let buffered = e.chance(30);
        self.context = format!("io(vcpu {vcpu}, buffered {buffered}, {p0:x?})");
        let mut pc = p0;
        let mut pr = p0;
        #[allow(unused_assignments)]
        let sc = self.c.select(vcpu, &mut pc);
        let sr = self.r.select(vcpu, &mut pr);
        let ic = sc.and_then(|cid| self.pairs.iter().position(|p| p.cid == cid));
        let ir = sr.and_then(|rid| self.pairs.iter().position(|p| p.rid == rid));
        if sc.is_some() != ic.is_some() || sr.is_some() != ir.is_some() {
            self.fail(format!(
                "selection returned an unknown server: C {sc:?} Rust {sr:?}"
            ));
            return;
        }
        // PCI rewrite: 4.17 on Intel drops CF8[27:24] (I107); the C then sends the series'
        // rewrite so that both slots can be compared.
        if pc != pr {
            let ext = pr.addr & 0xf00;
            let mut expect = pr;
            expect.addr &= !0xf00;
            if !self.setup.amd_cf8_ext && pr.type_ == 2 && ext != 0 && pc == expect {
                self.note(AMD_CF8_EXT);
                pc = pr;
            } else {
                self.fail(format!("rewritten request: C {pc:x?} vs Rust {pr:x?}"));
                return;
            }
        }
        let i = if ic == ir {
            self.covered(if ic.is_some() {
                "selection hit"
            } else {
                "selection miss"
            });
            if pr.type_ == 2 && ic.is_some() {
                self.covered("selection PCI config hit");
            }
            ic
        } else {
            // Two servers claim it: 4.17 takes the highest slot, the series the newest (I114).
            // Both sides then send to the series' choice.
            let (ec, er) = self.expected_selection(&pr);
            if ic == ec && ir == er {
                self.note(ITERATION_ORDER);
                ir
            } else {
                self.fail(format!(
                    "selected pair: C {ic:?} (order model {ec:?}) vs Rust {ir:?} (model {er:?})"
                ));
                return;
            }
        };
        let Some(i) = i else { return };
        let p = self.pairs[i].clone();
        let ring_before = (
            self.c.page(p.cid, true).map(|b| ring_ptrs(&b)),
            self.r.page(p.rid, true).map(|b| ring_ptrs(&b)),
        );
        if buffered && p.has_buf && p.c_gfns.is_none() {
            // No 4.17 ring yet (lazy, I103): the C refuses; the Rust ring exists since create,
            // so the Rust is not asked (its ring would then hold requests the C's never had).
            let rc = self.c.send(vcpu, p.cid, &pc, true);
            if self.check("buffered send without a C ring", rc, Sent::NotPosted) {
                self.note(LAZY_PAGES);
            }
            return;
        }
        if !buffered && p.c_gfns.is_none() {
            // 4.17 would write through a NULL page (I113): only the Rust side is asked.
            let rr = self.r.send(vcpu, p.rid, &pr, false);
            self.note(SEND_UNMAPPED);
            if rr == Sent::Posted {
                self.skew_vcpu_port(p.rid, vcpu);
                self.pending[vcpu as usize] = Some(Wait {
                    pair: i,
                    c: false,
                    r: true,
                });
            }
            return;
        }
        let rc = self.c.send(vcpu, p.cid, &pc, buffered);
        let rr = self.r.send(vcpu, p.rid, &pr, buffered);
        if buffered {
            let c_after = self.c.page(p.cid, true).map(|b| ring_ptrs(&b));
            let c_posted = c_after.is_some() && c_after != ring_before.0;
            let rc = if rc == Sent::Posted && !c_posted {
                Sent::DroppedAsHandled
            } else {
                rc
            };
            if rc == Sent::DroppedAsHandled && rr == Sent::NotPosted {
                self.note(BUF_UNBUFFERABLE);
            } else if self.check("buffered send", rc, rr) {
                self.covered(if rc == Sent::Posted {
                    "buffered send posted"
                } else {
                    "buffered send refused"
                });
            }
            let _ = ring_before.1;
            return;
        }
        if rc == Sent::NotPosted && rr == Sent::Posted && !p.c_eports {
            // The 4.17 page was mapped while enabled and has no port in the slot (I103).
            self.note(LAZY_PAGES);
            self.skew_vcpu_port(p.rid, vcpu);
        } else if !self.check("send", rc, rr) {
            return;
        } else {
            self.covered(if rc == Sent::Posted {
                "send posted"
            } else {
                "send refused"
            });
        }
        if rc == Sent::Posted || rr == Sent::Posted {
            self.pending[vcpu as usize] = Some(Wait {
                pair: i,
                c: rc == Sent::Posted,
                r: rr == Sent::Posted,
            });
        }
        let (c, r) = (self.c.pending(vcpu), self.r.pending(vcpu));
        self.check("pending after send (C)", c, rc == Sent::Posted);
        self.check("pending after send (Rust)", r, rr == Sent::Posted);
    }

    /// The pair each side should select for `p` (already rewritten), from the compared views:
    /// (4.17: highest slot first, series: newest first).
    fn expected_selection(&self, p: &IoreqSlot) -> (Option<usize>, Option<usize>) {
        let claims = |i: usize| -> bool {
            let Some(v) = self.r.view(self.pairs[i].rid) else {
                return false;
            };
            if !v.enabled {
                return false;
            }
            let within =
                |rs: &[(u64, u64)], a: u64, b: u64| rs.iter().any(|&(s, e)| s <= a && b <= e);
            // Xen computes an access's ends in wrapping 64-bit arithmetic; so does this model.
            let size = u64::from(p.size);
            match p.type_ {
                0 => within(
                    &v.ranges[0],
                    p.addr,
                    p.addr.wrapping_add(size).wrapping_sub(1),
                ),
                1 => {
                    let total = size.wrapping_mul(u64::from(p.count));
                    let first = if p.df() {
                        p.addr
                            .wrapping_sub(u64::from(p.count).wrapping_sub(1).wrapping_mul(size))
                    } else {
                        p.addr
                    };
                    within(
                        &v.ranges[1],
                        first,
                        first.wrapping_add(total).wrapping_sub(1),
                    )
                }
                _ => within(&v.ranges[2], p.addr >> 32, p.addr >> 32),
            }
        };
        let mut by_slot: Vec<usize> = (0..self.pairs.len()).collect();
        by_slot.sort_by_key(|&i| std::cmp::Reverse(self.pairs[i].cid));
        let c = by_slot.into_iter().find(|&i| claims(i));
        let r = (0..self.pairs.len()).rev().find(|&i| claims(i));
        (c, r)
    }

    /// Whether 4.17's slot order is the series' creation order for the live servers.
    fn orders_agree(&self) -> bool {
        self.pairs.windows(2).all(|w| w[0].cid < w[1].cid)
    }

    fn op_complete(&mut self, e: &mut impl Entropy) {
        // Only vcpus whose emulator can answer on both sides.
        let waiting: Vec<u32> = (0..self.vcpus)
            .filter(|v| {
                self.pending[*v as usize].is_some_and(|w| {
                    let p = &self.pairs[w.pair];
                    w.c && w.r && p.c_seen && p.r_seen
                })
            })
            .collect();
        if waiting.is_empty() {
            return;
        }
        let vcpu = e.pick(&waiting);
        let Some(w) = self.pending[vcpu as usize] else {
            return;
        };
        let p = self.pairs[w.pair].clone();
        let data = e.u64();
        self.context = format!("complete(vcpu {vcpu}, pair {})", w.pair);
        // The emulator answers in the slot: data, then state IORESP_READY.
        let off = vcpu as usize * 32;
        let wc = self
            .c
            .page_write(p.cid, false, off + 8, &data.to_le_bytes());
        let wr = self
            .r
            .page_write(p.rid, false, off + 8, &data.to_le_bytes());
        if !(wc && wr) {
            self.fail(format!("emulator cannot write the slot: C {wc} Rust {wr}"));
            return;
        }
        let (Some(c), Some(r)) = (self.c.page(p.cid, false), self.r.page(p.rid, false)) else {
            self.fail("emulator cannot read the slot".into());
            return;
        };
        self.c
            .page_write(p.cid, false, off + 30, &[(c[off + 30] & !0x0f) | 3]);
        self.r
            .page_write(p.rid, false, off + 30, &[(r[off + 30] & !0x0f) | 3]);
        self.c.resume(vcpu);
        self.r.resume(vcpu);
        let pc = self.c.pending(vcpu);
        let pr = self.r.pending(vcpu);
        self.covered("completion");
        self.check("pending after resume (C)", pc, false);
        self.check("pending after resume (Rust)", pr, false);
        self.pending[vcpu as usize] = None;
    }

    fn op_ring_consume(&mut self, e: &mut impl Entropy) {
        let Ok(i) = self.server(e) else { return };
        let p = self.pairs[i].clone();
        if !(p.c_seen && p.r_seen) {
            // The emulator can consume only what it can see on both sides, to keep them in step.
            return;
        }
        self.context = format!("ring consume(pair {i})");
        for c_side in [true, false] {
            let page = if c_side {
                self.c.page(p.cid, true)
            } else {
                self.r.page(p.rid, true)
            };
            let Some(b) = page else { continue };
            let (_, wp) = ring_ptrs(&b);
            if c_side {
                self.c.page_write(p.cid, true, 0, &wp.to_le_bytes());
            } else {
                self.r.page_write(p.rid, true, 0, &wp.to_le_bytes());
            }
        }
    }

    fn op_vcpu(&mut self, e: &mut impl Entropy) {
        if e.chance(50) && self.vcpus < 8 {
            if !self.orders_agree() {
                // Ports for the new vcpu would be handed out in different server orders (I114):
                // not comparable afterwards.
                self.note(ITERATION_ORDER);
                return;
            }
            self.context = "vcpu add".into();
            let c = self.c.add_vcpu();
            let r = self.r.add_vcpu();
            if self.check("vcpu add rc", c, r) && c == 0 {
                self.vcpus += 1;
                self.pending.push(None);
            }
        } else if self.vcpus > 1 && self.pending[self.vcpus as usize - 1].is_none() {
            self.context = "vcpu remove".into();
            let last = self.vcpus - 1;
            let ports: Vec<u32> = self
                .pairs
                .iter()
                .filter_map(|p| self.r.view(p.rid))
                .flat_map(|v| v.ports.into_iter().filter(|x| x.0 == last).map(|x| x.1))
                .collect();
            for p in ports {
                self.notify_skew.remove(&p);
            }
            self.c.remove_vcpu();
            self.r.remove_vcpu();
            self.vcpus -= 1;
            self.pending.pop();
        }
    }

    // ---- state comparison -------------------------------------------------------------------

    fn compare_all(&mut self) {
        let (rc, rr) = (self.c.resources(), self.r.resources());
        self.check("guest event channels", rc.guest_evtchns, rr.guest_evtchns);
        self.check("guest pause count (C)", rc.guest_paused, 0);
        self.check("guest pause count (Rust)", rr.guest_paused, 0);
        self.check("guest crashes", rc.guest_crashes, rr.guest_crashes);
        let pairs = self.pairs.clone();
        let cids: Vec<u16> = pairs.iter().map(|p| p.cid).collect();
        let rids: Vec<u16> = pairs.iter().map(|p| p.rid).collect();
        let mut vcs = self.c.views(&cids);
        let mut vrs = self.r.views(&rids);
        if vcs.len() != pairs.len() || vrs.len() != pairs.len() {
            self.fail(format!(
                "live servers: C {:?}, Rust {:?}, model {} pairs",
                vcs.keys().collect::<Vec<_>>(),
                vrs.keys().collect::<Vec<_>>(),
                pairs.len()
            ));
        }
        for p in &pairs {
            let vc = vcs.remove(&p.cid);
            let vr = vrs.remove(&p.rid);
            match (vc, vr) {
                (Some(vc), Some(vr)) => self.compare_view(p, &vc, &vr),
                (c, r) => self.fail(format!(
                    "server {}/{} exists: C {} Rust {}",
                    p.cid,
                    p.rid,
                    c.is_some(),
                    r.is_some()
                )),
            }
            self.compare_pages(p);
        }
        self.compare_p2m();
        if self.ops.is_multiple_of(16) && !self.setup.c_on_rust_rangeset {
            self.compare_dump();
        }
    }

    /// The 'q' dump of the guest's rangesets, byte for byte once the Rust ids are mapped to the
    /// C's (I100): set names are "ioreq_server <id> port|memory|pci".
    pub fn compare_dump(&mut self) {
        let c = self.c.rangeset_dump();
        let r = self.r.rangeset_dump();
        let map: BTreeMap<u16, u16> = self.pairs.iter().map(|p| (p.rid, p.cid)).collect();
        let r: String = r
            .lines()
            .map(|l| {
                let Some(rest) = l.strip_prefix("    ioreq_server ") else {
                    return format!("{l}\n");
                };
                let (num, tail) = rest.split_at(rest.find(' ').unwrap_or(rest.len()));
                match num.parse::<u16>().ok().and_then(|n| map.get(&n)) {
                    Some(cid) => format!("    ioreq_server {cid}{tail}\n"),
                    None => format!("{l}\n"),
                }
            })
            .collect();
        if c != r {
            self.fail(format!("rangeset dump:\nC:\n{c}Rust (ids mapped):\n{r}"));
        } else {
            self.covered("rangeset dump compared");
        }
    }

    fn compare_view(&mut self, p: &Pair, vc: &View, vr: &View) {
        let what = format!("server {}/{}", p.cid, p.rid);
        self.check(&format!("{what} enabled"), vc.enabled, vr.enabled);
        self.check(&format!("{what} enabled (model)"), vc.enabled, p.enabled);
        self.check(&format!("{what} emulator"), vc.emulator, vr.emulator);
        self.check(&format!("{what} emulator (model)"), vc.emulator, p.creator);
        for t in 0..3 {
            self.check(
                &format!("{what} ranges type {t}"),
                &vc.ranges[t],
                &vr.ranges[t],
            );
        }
        if self.check(&format!("{what} vcpu ports"), &vc.ports, &vr.ports) {
            for &(_, port) in vc.ports.iter() {
                let (c, r) = (self.c.notified(port), self.r.notified(port));
                let skew = self.notify_skew.get(&port).copied().unwrap_or(0);
                self.check(&format!("{what} notifications on port {port}"), c + skew, r);
            }
        }
        if self.check(&format!("{what} ring port"), vc.buf_port, vr.buf_port) {
            if let Some(port) = vc.buf_port {
                let (c, r) = (self.c.notified(port), self.r.notified(port));
                self.check(&format!("{what} notifications on ring port {port}"), c, r);
            }
        }
    }

    fn compare_pages(&mut self, p: &Pair) {
        // Only what an emulator can see on both sides: the pages it has mapped.
        if !(p.c_seen && p.r_seen) {
            return;
        }
        let what = format!("server {}/{}", p.cid, p.rid);
        let (Some(c), Some(r)) = (self.c.page(p.cid, false), self.r.page(p.rid, false)) else {
            self.fail(format!("{what}: ioreq page not visible"));
            return;
        };
        for v in 0..self.vcpus as usize {
            let (sc, sr) = (&c[v * 32..v * 32 + 32], &r[v * 32..v * 32 + 32]);
            if sc != sr {
                self.fail(format!("{what} slot {v}: C {sc:02x?} vs Rust {sr:02x?}"));
            }
        }
        if p.has_buf {
            let (Some(c), Some(r)) = (self.c.page(p.cid, true), self.r.page(p.rid, true)) else {
                self.fail(format!("{what}: ring not visible"));
                return;
            };
            let (cr, cw) = ring_ptrs(&c);
            let (rr, rw) = ring_ptrs(&r);
            if (cr, cw) != (rr, rw) {
                // 4.17's atomic mode rebases both pointers by a multiple of the ring size.
                let same_ring = cw.wrapping_sub(cr) == rw.wrapping_sub(rr) && cr % 511 == rr % 511;
                if p.atomic && same_ring {
                    self.note(BUFIOREQ_HANDLING);
                } else {
                    self.fail(format!(
                        "{what} ring pointers: C {cr}/{cw} vs Rust {rr}/{rw}"
                    ));
                    return;
                }
            }
            if c[8..] != r[8..] {
                let first = (8..4096).find(|&k| c[k] != r[k]).unwrap_or(8);
                let slot = (first - 8) / 8;
                self.fail(format!(
                    "{what} ring slot {slot}: C {:02x?} vs Rust {:02x?}",
                    &c[8 + slot * 8..16 + slot * 8],
                    &r[8 + slot * 8..16 + slot * 8]
                ));
            }
        }
    }

    fn compare_p2m(&mut self) {
        let w = self.w();
        for k in 0..u64::from(w.pool_pages.min(64)) {
            let g = w.pool_base + k;
            let has =
                |gf: Option<(u64, Option<u64>)>| gf.is_some_and(|(a, b)| a == g || b == Some(g));
            let r_model = !self.pairs.iter().any(|p| p.enabled && has(p.r_gfns));
            let c_model = !self.pairs.iter().any(|p| p.c_removed && has(p.c_gfns));
            let (c, r) = (self.c.p2m_present(g), self.r.p2m_present(g));
            if c != c_model || r != r_model {
                self.fail(format!(
                    "P2M gfn {g:#x}: C {c} (model {c_model}), Rust {r} (model {r_model})"
                ));
            } else if c != r {
                self.note(LAZY_PAGES);
            }
        }
    }

    /// Ends the sequence: both guests are destroyed by the caller; returns the pairs left.
    pub fn live_servers(&self) -> usize {
        self.pairs.len()
    }
}

fn ring_ptrs(b: &[u8; 4096]) -> (u32, u32) {
    (
        u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
    )
}

/// Parses the `### I<n>:` ids of FIDELITY.md's ioreq section.
pub fn fidelity_ioreq_ids(text: &str) -> Vec<String> {
    let mut in_section = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## ") {
            in_section = h.trim_start().starts_with("ioreq servers");
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some(rest) = line.strip_prefix("### ") {
            if let Some((id, _)) = rest.split_once(':') {
                let id = id.trim();
                if id.starts_with('I') && id[1..].chars().all(|c| c.is_ascii_digit()) {
                    out.push(id.to_string());
                }
            }
        }
    }
    out
}

/// The model's server for tests of the engine itself.
pub fn is_known(id: &str) -> bool {
    ids::ALL.contains(&id)
}

#[allow(dead_code)]
fn unused() -> (i32, i32) {
    (ENOENT, ENOMEM)
}
