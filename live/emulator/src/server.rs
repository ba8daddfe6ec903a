//! One ioreq server's life as QEMU lives it on Xen 4.17: create, map its pages through
//! acquire_resource, claim ranges, enable, bind each vCPU's event channel and the ring's, serve,
//! then unmap ranges, disable, unbind, unmap pages and destroy.

use std::collections::HashMap;
use std::mem::{offset_of, size_of};
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

use xen_ioreq_live_script::device::Device;
use xen_ioreq_live_script::layout::{ServerLayout, CF8_PORT, PORT_REGS, SERVERS};
use xen_ioreq_rs::ioreq::abi::{
    BufIoreqSlot, BufferedIopage, FromBytes, IoreqSlot, FLAG_STATE_MASK, IOREQ_BUFFER_SLOT_NUM,
    IOREQ_WRITE, SHARED_IOPAGE_SLOTS, STATE_IOREQ_INPROCESS, STATE_IOREQ_READY, STATE_IORESP_READY,
};

use crate::dmop::{
    DeviceModel, RANGE_MEMORY, RANGE_PCI, RANGE_PORT, RESOURCE_FRAME_BUFIOREQ,
    RESOURCE_FRAME_IOREQ0, XENMEM_RESOURCE_IOREQ_SERVER,
};
use crate::request::{serve, GuestMemory, Served};
use crate::sys::{Errno, Evtchn, Mapping, Privcmd, PAGE_SIZE};
use crate::Transcript;

const SLOT_SIZE: usize = size_of::<IoreqSlot>();

/// Guest RAM through privcmd foreign mappings, one page at a time, cached.
pub struct ForeignMemory<'a> {
    privcmd: &'a Privcmd,
    domid: u16,
    pages: HashMap<u64, Mapping>,
}

impl<'a> ForeignMemory<'a> {
    pub fn new(privcmd: &'a Privcmd, domid: u16) -> Self {
        Self {
            privcmd,
            domid,
            pages: HashMap::new(),
        }
    }

    fn page(&mut self, gfn: u64) -> Result<&Mapping, Errno> {
        if !self.pages.contains_key(&gfn) {
            if self.pages.len() >= 256 {
                self.pages.clear();
            }
            let m = self.privcmd.map_foreign(self.domid, gfn)?;
            self.pages.insert(gfn, m);
        }
        self.pages.get(&gfn).ok_or(Errno(libc::EFAULT))
    }
}

impl GuestMemory for ForeignMemory<'_> {
    fn read(&mut self, gpa: u64, buf: &mut [u8]) -> Result<(), Errno> {
        for (i, b) in buf.iter_mut().enumerate() {
            let a = gpa.checked_add(i as u64).ok_or(Errno(libc::EFAULT))?;
            let page = self.page(a >> 12)?;
            *b = page
                .read_u8((a & 0xfff) as usize)
                .ok_or(Errno(libc::EFAULT))?;
        }
        Ok(())
    }
    fn write(&mut self, gpa: u64, buf: &[u8]) -> Result<(), Errno> {
        for (i, b) in buf.iter().enumerate() {
            let a = gpa.checked_add(i as u64).ok_or(Errno(libc::EFAULT))?;
            let page = self.page(a >> 12)?;
            page.write_u8((a & 0xfff) as usize, *b)
                .ok_or(Errno(libc::EFAULT))?;
        }
        Ok(())
    }
}

/// One range claimed on a server.
#[derive(Clone, Copy, Debug)]
pub struct Claim {
    pub type_: u32,
    pub start: u64,
    pub end: u64,
}

fn range_name(t: u32) -> &'static str {
    match t {
        RANGE_PORT => "port",
        RANGE_MEMORY => "mmio",
        RANGE_PCI => "pci",
        _ => "range?",
    }
}

/// What one server claims for the script's layout.
pub fn claims_of(l: &ServerLayout) -> Vec<Claim> {
    let mut c = vec![Claim {
        type_: RANGE_PORT,
        start: u64::from(l.port_base),
        end: u64::from(l.port_base) + u64::from(PORT_REGS) - 1,
    }];
    if l.claims_cf8 {
        c.push(Claim {
            type_: RANGE_PORT,
            start: u64::from(CF8_PORT),
            end: u64::from(CF8_PORT) + 3,
        });
    }
    c.push(Claim {
        type_: RANGE_MEMORY,
        start: l.mmio_first,
        end: l.mmio_last,
    });
    c.push(Claim {
        type_: RANGE_PCI,
        start: u64::from(l.sbdf),
        end: u64::from(l.sbdf),
    });
    c
}

pub struct Server {
    pub name: &'static str,
    pub id: u16,
    pub dev: Device,
    /// The resource pages: [bufioreq page,] synchronous page.
    pages: Option<Mapping>,
    ioreq_off: usize,
    buffered: bool,
    /// Guest-side ports, read from the shared page after enabling (untrusted).
    vp_eports: Vec<u32>,
    /// Our local ports, per vCPU.
    local_ports: Vec<Option<u32>>,
    buf_remote: u32,
    buf_local: Option<u32>,
    claims: Vec<Claim>,
    enabled: bool,
    destroyed: bool,
}

impl Server {
    /// Creates server `index` of the layout, maps its pages and claims its ranges (disabled).
    pub fn create(dm: &DeviceModel, index: usize, log: &mut Transcript) -> Result<Self, String> {
        let layout = SERVERS.get(index).ok_or("no such server")?;
        let dev = Device::new(index).ok_or("no device")?;
        Self::create_with(
            dm,
            layout.name,
            layout.bufioreq,
            dev,
            &claims_of(layout),
            log,
        )
    }

    /// Creates a server named `name`, maps its pages and claims `claims` (disabled).
    pub fn create_with(
        dm: &DeviceModel,
        name: &'static str,
        bufioreq: bool,
        dev: Device,
        claims: &[Claim],
        log: &mut Transcript,
    ) -> Result<Self, String> {
        let id = dm
            .create_ioreq_server(bufioreq)
            .map_err(|e| format!("create_ioreq_server({name}): {e}"))?;
        log.note(&format!(
            "server {name} created id={id} bufioreq={}",
            u8::from(bufioreq)
        ));
        let mut s = Self {
            name,
            id,
            dev,
            pages: None,
            ioreq_off: 0,
            buffered: bufioreq,
            vp_eports: Vec::new(),
            local_ports: Vec::new(),
            buf_remote: 0,
            buf_local: None,
            claims: Vec::new(),
            enabled: false,
            destroyed: false,
        };
        // From here on, a failure destroys the server again.
        match s.setup(dm, claims, log) {
            Ok(()) => Ok(s),
            Err(e) => {
                let _ = dm.destroy_ioreq_server(id);
                s.destroyed = true;
                Err(e)
            }
        }
    }

    fn setup(
        &mut self,
        dm: &DeviceModel,
        claims: &[Claim],
        log: &mut Transcript,
    ) -> Result<(), String> {
        let name = self.name;
        self.buf_remote = dm
            .bufioreq_port(self.id)
            .map_err(|e| format!("get_ioreq_server_info({name}): {e}"))?;
        log.note(&format!(
            "server {name} info bufioreq_port={}",
            if self.buf_remote != 0 { "set" } else { "none" }
        ));
        let (first, num) = if self.buffered {
            (RESOURCE_FRAME_BUFIOREQ, 2)
        } else {
            (RESOURCE_FRAME_IOREQ0, 1)
        };
        let pages = dm
            .privcmd
            .map_resource(
                dm.domid,
                XENMEM_RESOURCE_IOREQ_SERVER,
                u32::from(self.id),
                first,
                num,
            )
            .map_err(|e| format!("acquire_resource({name}): {e}"))?;
        self.ioreq_off = if self.buffered { PAGE_SIZE } else { 0 };
        self.pages = Some(pages);
        log.note(&format!("server {name} mapped {num} resource page(s)"));
        for c in claims {
            dm.map_io_range(self.id, c.type_, c.start, c.end)
                .map_err(|e| {
                    format!(
                        "map_io_range({name} {} {:#x}-{:#x}): {e}",
                        range_name(c.type_),
                        c.start,
                        c.end
                    )
                })?;
            log.note(&format!(
                "server {name} claims {} {:#x}-{:#x}",
                range_name(c.type_),
                c.start,
                c.end
            ));
            self.claims.push(*c);
        }
        Ok(())
    }

    /// Destroys the server at once, whatever is pending (the hostile pass), then lets go of its
    /// event channels and pages.
    pub fn destroy_now(&mut self, dm: &DeviceModel, evtchn: &Evtchn) -> Result<(), Errno> {
        let rc = dm.destroy_ioreq_server(self.id);
        self.destroyed = true;
        for p in self
            .local_ports
            .iter()
            .flatten()
            .chain(self.buf_local.iter())
        {
            let _ = evtchn.unbind(*p);
        }
        self.local_ports.clear();
        self.buf_local = None;
        self.pages = None;
        rc
    }

    /// Enables the server and binds its event channels (the ports appear in the page on enable).
    pub fn enable(
        &mut self,
        dm: &DeviceModel,
        evtchn: &Evtchn,
        nr_vcpus: u32,
        log: &mut Transcript,
    ) -> Result<(), String> {
        dm.set_ioreq_server_state(self.id, true)
            .map_err(|e| format!("set_ioreq_server_state({}, 1): {e}", self.name))?;
        self.enabled = true;
        let n = (nr_vcpus as usize).min(SHARED_IOPAGE_SLOTS);
        for v in 0..n {
            let port = self
                .slot_u32(v, offset_of!(IoreqSlot, vp_eport))
                .ok_or_else(|| format!("server {}: no slot for vcpu {v}", self.name))?;
            self.vp_eports.push(port);
            let local = evtchn
                .bind_interdomain(dm.domid, port)
                .map_err(|e| format!("bind vcpu {v} port of {}: {e}", self.name))?;
            self.local_ports.push(Some(local));
        }
        if self.buf_remote != 0 {
            self.buf_local = Some(
                evtchn
                    .bind_interdomain(dm.domid, self.buf_remote)
                    .map_err(|e| format!("bind bufioreq port of {}: {e}", self.name))?,
            );
        }
        log.note(&format!(
            "server {} enabled vcpus={n} bufioreq={}",
            self.name,
            u8::from(self.buf_local.is_some())
        ));
        Ok(())
    }

    fn slot_off(&self, vcpu: usize, field: usize) -> Option<usize> {
        self.ioreq_off
            .checked_add(vcpu.checked_mul(SLOT_SIZE)?)?
            .checked_add(field)
    }

    fn slot_u32(&self, vcpu: usize, field: usize) -> Option<u32> {
        self.pages.as_ref()?.read_u32(self.slot_off(vcpu, field)?)
    }

    pub fn pages(&self) -> Option<&Mapping> {
        self.pages.as_ref()
    }

    pub fn ioreq_off(&self) -> usize {
        self.ioreq_off
    }

    pub fn local_port(&self, vcpu: usize) -> Option<u32> {
        self.local_ports.get(vcpu).copied().flatten()
    }

    pub fn nr_vcpus(&self) -> usize {
        self.local_ports.len()
    }

    /// The copy of vCPU `vcpu`'s slot if it holds a request ready for us.
    pub fn ready_request(&self, vcpu: usize) -> Option<IoreqSlot> {
        let pages = self.pages.as_ref()?;
        let base = self.slot_off(vcpu, 0)?;
        let flags = pages.read_u8(base.checked_add(offset_of!(IoreqSlot, flags))?)?;
        if flags & FLAG_STATE_MASK != STATE_IOREQ_READY {
            return None;
        }
        fence(Ordering::Acquire);
        let mut b = [0u8; SLOT_SIZE];
        for (i, chunk) in b.chunks_mut(8).enumerate() {
            let w = pages.read_u64(base.checked_add(i * 8)?)?;
            chunk.copy_from_slice(&w.to_le_bytes());
        }
        let mut req = IoreqSlot::read_from_bytes(&b).ok()?;
        // The state we act on is the one we checked, whatever the page says by now.
        req.set_state(STATE_IOREQ_READY);
        Some(req)
    }

    /// Writes the slot's state nibble, keeping the other bits of the byte as `req` had them.
    pub fn set_state(&self, vcpu: usize, req: &IoreqSlot, state: u8) -> Option<()> {
        let off = self.slot_off(vcpu, offset_of!(IoreqSlot, flags))?;
        self.pages.as_ref()?.write_u8(
            off,
            (req.flags & !FLAG_STATE_MASK) | (state & FLAG_STATE_MASK),
        )
    }

    pub fn write_data(&self, vcpu: usize, data: u64) -> Option<()> {
        let off = self.slot_off(vcpu, offset_of!(IoreqSlot, data))?;
        self.pages.as_ref()?.write_u64(off, data)
    }

    /// READY -> IN_SERVICE, serve, data, IORESP_READY, notify.
    pub fn take_and_serve(
        &mut self,
        vcpu: usize,
        mem: &mut dyn GuestMemory,
        evtchn: &Evtchn,
    ) -> Option<Served> {
        let req = self.ready_request(vcpu)?;
        self.set_state(vcpu, &req, STATE_IOREQ_INPROCESS)?;
        let served = serve(self.name, &mut self.dev, &req, mem);
        if let Some(d) = served.data {
            self.write_data(vcpu, d)?;
        }
        fence(Ordering::Release);
        self.set_state(vcpu, &req, STATE_IORESP_READY)?;
        if let Some(p) = self.local_port(vcpu) {
            let _ = evtchn.notify(p);
        }
        Some(served)
    }

    /// Serves whatever the buffered ring holds (writes only); the pointers are untrusted.
    pub fn drain_buffered(&mut self, mem: &mut dyn GuestMemory, log: &mut Transcript) -> u32 {
        let Some(pages) = self.pages.as_ref().filter(|_| self.buffered) else {
            return 0;
        };
        let (Some(rp), Some(wp)) = (
            pages.read_u32(offset_of!(BufferedIopage, read_pointer)),
            pages.read_u32(offset_of!(BufferedIopage, write_pointer)),
        ) else {
            return 0;
        };
        fence(Ordering::Acquire);
        let pending = wp.wrapping_sub(rp);
        if pending == 0 {
            return 0;
        }
        if pending > IOREQ_BUFFER_SLOT_NUM {
            log.note(&format!("server {} bufioreq pointers inconsistent (read {rp:#x} write {wp:#x}): resynchronised", self.name));
            let _ = pages.write_u32(offset_of!(BufferedIopage, read_pointer), wp);
            return 0;
        }
        let slot_at = |p: u32| -> Option<BufIoreqSlot> {
            let idx = (p % IOREQ_BUFFER_SLOT_NUM) as usize;
            pages
                .read_u64(offset_of!(BufferedIopage, buf_ioreq).checked_add(idx.checked_mul(8)?)?)
                .map(BufIoreqSlot::from_u64)
        };
        let mut done = 0u32;
        let mut reqs = Vec::new();
        while done < pending {
            let Some(b) = slot_at(rp.wrapping_add(done)) else {
                break;
            };
            let mut data = u64::from(b.data);
            let mut used = 1;
            if b.size_code() == 3 {
                // an 8-byte write takes two slots: the second holds the high half
                if done + 1 >= pending {
                    break;
                }
                data |= u64::from(slot_at(rp.wrapping_add(done + 1)).map_or(0, |h| h.data)) << 32;
                used = 2;
            }
            let mut req = IoreqSlot {
                addr: u64::from(b.addr()),
                data,
                count: 1,
                size: 1 << b.size_code(),
                type_: b.type_(),
                ..Default::default()
            };
            req.set_dir(b.dir());
            reqs.push(req);
            done += used;
        }
        fence(Ordering::Release);
        let _ = pages.write_u32(
            offset_of!(BufferedIopage, read_pointer),
            rp.wrapping_add(done),
        );
        for mut req in reqs {
            // Buffered requests are writes by construction; treat any other as one.
            req.set_dir(IOREQ_WRITE);
            let s = serve(self.name, &mut self.dev, &req, mem);
            if let Some(l) = s.line {
                log.req(&format!("buf {l}"));
            }
        }
        done
    }

    /// Unmaps every range, disables, unbinds, unmaps the pages and destroys.
    pub fn teardown(
        mut self,
        dm: &DeviceModel,
        evtchn: &Evtchn,
        log: &mut Transcript,
    ) -> Result<(), String> {
        if self.destroyed {
            return Ok(());
        }
        let mut first_err = None;
        for c in std::mem::take(&mut self.claims) {
            match dm.unmap_io_range(self.id, c.type_, c.start, c.end) {
                Ok(()) => log.note(&format!(
                    "server {} unclaims {} {:#x}-{:#x}",
                    self.name,
                    range_name(c.type_),
                    c.start,
                    c.end
                )),
                Err(e) => {
                    first_err.get_or_insert(format!("unmap_io_range({}): {e}", self.name));
                }
            }
        }
        if self.enabled {
            match dm.set_ioreq_server_state(self.id, false) {
                Ok(()) => log.note(&format!("server {} disabled", self.name)),
                Err(e) => {
                    first_err
                        .get_or_insert(format!("set_ioreq_server_state({}, 0): {e}", self.name));
                }
            }
        }
        for p in self
            .local_ports
            .iter()
            .flatten()
            .chain(self.buf_local.iter())
        {
            let _ = evtchn.unbind(*p);
        }
        self.pages = None;
        match dm.destroy_ioreq_server(self.id) {
            Ok(()) => log.note(&format!("server {} destroyed", self.name)),
            Err(e) => {
                first_err.get_or_insert(format!("destroy_ioreq_server({}): {e}", self.name));
            }
        }
        first_err.map_or(Ok(()), Err)
    }
}

/// Serving statistics.
#[derive(Default, Debug)]
pub struct Stats {
    pub requests: u64,
    pub pings: u64,
    pub buffered: u64,
}

/// Serves every server until the guest's end-of-script write (or `timeout`).
pub fn serve_until_done(
    servers: &mut [Server],
    evtchn: &Evtchn,
    mem: &mut dyn GuestMemory,
    timeout: Duration,
    log: &mut Transcript,
) -> Result<Stats, String> {
    let deadline = Instant::now() + timeout;
    let mut stats = Stats::default();
    loop {
        let fired = evtchn.wait(100).map_err(|e| format!("evtchn wait: {e}"))?;
        for p in &fired {
            let _ = evtchn.unmask(*p);
        }
        // Every slot is looked at on each wake-up (and on each timeout), so a lost event costs
        // at most one poll period, never the run.
        let mut done = false;
        for s in servers.iter_mut() {
            stats.buffered += u64::from(s.drain_buffered(mem, log));
            for v in 0..s.nr_vcpus() {
                if let Some(served) = s.take_and_serve(v, mem, evtchn) {
                    if served.ping {
                        stats.pings += 1;
                    } else {
                        stats.requests += 1;
                    }
                    if let Some(l) = served.line {
                        log.req(&l);
                    }
                    done |= served.done;
                }
            }
        }
        if done {
            return Ok(stats);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "timeout after {}s: {} requests served",
                timeout.as_secs(),
                stats.requests
            ));
        }
    }
}
