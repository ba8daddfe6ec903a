//! What the differential engine asks of each implementation: the six ioreq-server hypercalls,
//! the guest's I/O path, the emulator's view of the shared pages, and resource accounting.
//!
//! Results are kept in each side's own conventions (its ids, its send status codes); the engine
//! translates between them.

/// The domains of one test world. Ids are the same on both sides.
#[derive(Clone, Copy, Debug)]
pub struct World {
    /// The HVM guest whose ioreq servers are exercised.
    pub guest: u16,
    /// A privileged emulator (dom0).
    pub dm0: u16,
    /// A stub-domain emulator: device model of `guest` only.
    pub stub: u16,
    /// A domain with no rights over `guest`.
    pub unpriv: u16,
    /// A second HVM domain (target for "wrong domain" calls; no servers of interest).
    pub other: u16,
    /// A domain id that does not exist.
    pub missing: u16,
    pub nr_vcpus: u32,
    pub pool_base: u64,
    pub pool_pages: u32,
}

impl World {
    pub const fn standard(nr_vcpus: u32, pool_pages: u32) -> Self {
        World {
            guest: 5,
            dm0: 0,
            stub: 1,
            unpriv: 2,
            other: 6,
            missing: 9,
            nr_vcpus,
            pool_base: 0xfeff0,
            pool_pages,
        }
    }
    /// The emulators that may issue ioreq hypercalls in a sequence.
    pub fn callers(&self) -> [u16; 3] {
        [self.dm0, self.stub, self.unpriv]
    }
}

/// get_info's outputs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    pub ioreq_gfn: u64,
    /// (gfn, port) of the buffered ring, when the server has one.
    pub buf: Option<(u64, u32)>,
}

/// A server as both sides can describe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub enabled: bool,
    pub emulator: u16,
    /// Ranges per type (port, memory, pci), ascending.
    pub ranges: [Vec<(u64, u64)>; 3],
    /// (vcpu id, port) for every vcpu the server serves, ascending by vcpu.
    pub ports: Vec<(u32, u32)>,
    pub buf_port: Option<u32>,
}

/// What a send did, in neutral terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// Posted into the slot (synchronous) or the ring (buffered).
    Posted,
    /// Not posted; the caller must handle the access otherwise.
    NotPosted,
    /// Reported handled without being posted (Xen 4.17's buffered path for unbufferable
    /// requests; see I112).
    DroppedAsHandled,
}

/// Counters compared between the sides and checked for leaks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resources {
    /// Event channels allocated in the guest.
    pub guest_evtchns: i64,
    /// The guest's pause count (0 between operations).
    pub guest_paused: i64,
    /// Hypervisor mappings of guest pages.
    pub mapped_pages: i64,
    /// Times the guest was crashed.
    pub guest_crashes: i64,
}

pub trait Side {
    /// One hypercall, as `caller`, on `target`; pads are the DMOP structs' pads (the HVMOP structs
    /// of the series have fewer; see I106).
    fn create(&mut self, caller: u16, target: u16, handling: u8, pad: u8) -> Result<u16, i32>;
    fn get_info(&mut self, caller: u16, target: u16, id: u16) -> Result<Info, i32>;
    #[allow(clippy::too_many_arguments)]
    fn map(&mut self, caller: u16, target: u16, id: u16, ty: u32, s: u64, e: u64, pad: u16) -> i32;
    #[allow(clippy::too_many_arguments)]
    fn unmap(
        &mut self,
        caller: u16,
        target: u16,
        id: u16,
        ty: u32,
        s: u64,
        e: u64,
        pad: u16,
    ) -> i32;
    fn set_state(&mut self, caller: u16, target: u16, id: u16, enabled: u8, pad: u8) -> i32;
    fn destroy(&mut self, caller: u16, target: u16, id: u16, pad: u16) -> i32;

    /// A guest port access by `vcpu` reaching the ioreq code's port handlers (0xcf8).
    fn portio(&mut self, vcpu: u32, dir: u8, port: u32, bytes: u32, val: u32);
    /// Server selection for an access by `vcpu`; `p` may be rewritten (PCI).
    fn select(&mut self, vcpu: u32, p: &mut crate::abi::IoreqSlot) -> Option<u16>;
    fn send(&mut self, vcpu: u32, id: u16, p: &crate::abi::IoreqSlot, buffered: bool) -> Sent;
    /// Whether `vcpu` waits for an emulator.
    fn pending(&mut self, vcpu: u32) -> bool;
    /// `vcpu` resumes after the emulator answered (C: vcpu_ioreq_handle_completion; 2014:
    /// hvm_do_resume).
    fn resume(&mut self, vcpu: u32);

    fn view(&self, id: u16) -> Option<View>;
    /// Every server's view by id (one pass where the side can do better than `view` per id).
    fn views(&self, ids: &[u16]) -> std::collections::BTreeMap<u16, View> {
        ids.iter()
            .filter_map(|&i| self.view(i).map(|v| (i, v)))
            .collect()
    }
    /// The page as the emulator sees it (`None` if the emulator could not map it).
    fn page(&self, id: u16, buf: bool) -> Option<Box<[u8; 4096]>>;
    fn page_write(&mut self, id: u16, buf: bool, off: usize, bytes: &[u8]) -> bool;
    fn p2m_present(&self, gfn: u64) -> bool;
    /// The guest's rangesets as the 'q' debug key prints them.
    fn rangeset_dump(&mut self) -> String;
    fn notified(&self, port: u32) -> u64;
    fn resources(&self) -> Resources;

    fn add_vcpu(&mut self) -> i32;
    fn remove_vcpu(&mut self);
}
