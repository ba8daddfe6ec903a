//! Serving one ioreq: the safe core. Everything in the slot is untrusted (Xen wrote it, but a
//! hostile or buggy peer could have too): sizes, counts, types and addresses are checked before
//! use, element loops are bounded, guest-memory failures are reported, nothing panics.

use std::fmt::Write;

use xen_ioreq_live_script::device::Device;
use xen_ioreq_live_script::layout::{CONTROL_PORT, DONE_MAGIC, PING_PORT};
use xen_ioreq_live_script::{size_mask, Digest};
use xen_ioreq_rs::ioreq::abi::{
    IoreqSlot, IOREQ_READ, IOREQ_TYPE_COPY, IOREQ_TYPE_INVALIDATE, IOREQ_TYPE_PCI_CONFIG,
    IOREQ_TYPE_PIO, IOREQ_TYPE_TIMEOFFSET,
};

use crate::sys::Errno;

/// The most elements one request may carry: Xen clips a string instruction at a page, so 4096
/// one-byte elements at most.
pub const MAX_ELEMENTS: u32 = 4096;

/// Reads and writes of guest-physical memory (the data of `data_is_ptr` requests).
pub trait GuestMemory {
    fn read(&mut self, gpa: u64, buf: &mut [u8]) -> Result<(), Errno>;
    fn write(&mut self, gpa: u64, buf: &[u8]) -> Result<(), Errno>;
}

/// What serving one request produced.
#[derive(Debug, Default)]
pub struct Served {
    /// The value for the slot's `data` (reads without `data_is_ptr`); writes keep `data`.
    pub data: Option<u64>,
    /// The transcript line (none for the timed ping reads, which are only counted).
    pub line: Option<String>,
    pub ping: bool,
    /// The guest's end-of-script write.
    pub done: bool,
}

fn type_name(t: u8) -> String {
    match t {
        IOREQ_TYPE_PIO => "pio".into(),
        IOREQ_TYPE_COPY => "mmio".into(),
        IOREQ_TYPE_PCI_CONFIG => "pci".into(),
        IOREQ_TYPE_TIMEOFFSET => "timeoffset".into(),
        IOREQ_TYPE_INVALIDATE => "invalidate".into(),
        other => format!("type{other}"),
    }
}

/// Address of element `i` from `base`, stepping by `size`, downwards when `df`.
fn element(base: u64, size: u32, i: u32, df: bool) -> u64 {
    let step = u64::from(size).wrapping_mul(u64::from(i));
    if df {
        base.wrapping_sub(step)
    } else {
        base.wrapping_add(step)
    }
}

/// Serves `req` (a copy of the slot taken after it was seen READY) on server `name`'s device.
pub fn serve(name: &str, dev: &mut Device, req: &IoreqSlot, mem: &mut dyn GuestMemory) -> Served {
    let read = req.dir() == IOREQ_READ;
    let ptr = req.data_is_ptr();
    let df = req.df();
    let size = req.size;
    let mut line = format!(
        "{name} {} {} addr={:#x} size={size} count={} df={} ptr={} data={:#x}",
        type_name(req.type_),
        if read { "read" } else { "write" },
        req.addr,
        req.count,
        u8::from(df),
        u8::from(ptr),
        req.data,
    );
    let mut out = Served::default();

    match req.type_ {
        IOREQ_TYPE_INVALIDATE | IOREQ_TYPE_TIMEOFFSET => {
            // Nothing cached, nothing timed: acknowledge.
            out.line = Some(line);
            return out;
        }
        IOREQ_TYPE_PIO | IOREQ_TYPE_COPY | IOREQ_TYPE_PCI_CONFIG => {}
        _ => {
            let _ = write!(line, " -> unknown type, all-ones");
            out.data = read.then_some(u64::MAX);
            out.line = Some(line);
            return out;
        }
    }
    if !matches!(size, 1 | 2 | 4 | 8) || req.count == 0 || req.count > MAX_ELEMENTS {
        let _ = write!(line, " -> invalid size/count, all-ones");
        out.data = (read && !ptr).then_some(size_mask(size));
        out.line = Some(line);
        return out;
    }

    // The guest's timed round trips and its end-of-script marker.
    if req.type_ == IOREQ_TYPE_PIO && !ptr && req.count == 1 {
        if read && req.addr == u64::from(PING_PORT) && size == 4 {
            out.data = Some(dev.port_read(req.addr, size));
            out.ping = true;
            return out;
        }
        if !read && req.addr == u64::from(CONTROL_PORT) && size == 4 {
            out.done = req.data & 0xffff_ffff == u64::from(DONE_MAGIC);
            let _ = write!(line, " -> control{}", if out.done { " done" } else { "" });
            out.line = Some(line);
            return out;
        }
    }

    let one = |dev: &mut Device, addr: u64, value: Option<u64>| -> u64 {
        match (req.type_, value) {
            (IOREQ_TYPE_PIO, None) => dev.port_read(addr, size),
            (IOREQ_TYPE_PIO, Some(v)) => {
                dev.port_write(addr, size, v);
                v
            }
            (IOREQ_TYPE_COPY, None) => dev.mmio_read(addr, size),
            (IOREQ_TYPE_COPY, Some(v)) => {
                dev.mmio_write(addr, size, v);
                v
            }
            (_, value) => {
                // PCI config: the function is ours only if its SBDF is the one we claimed.
                let sbdf = (addr >> 32) as u32;
                let reg = addr & 0xffff_ffff;
                if sbdf != dev.layout().sbdf {
                    return value.unwrap_or(size_mask(size));
                }
                match value {
                    None => dev.pci_read(reg, size),
                    Some(v) => {
                        dev.pci_write(reg, size, v);
                        v
                    }
                }
            }
        }
    };
    // Port and config accesses repeat on one address; MMIO steps through memory.
    let step_addr = req.type_ == IOREQ_TYPE_COPY;

    if !ptr {
        if read {
            // A read carries one element back; Xen sends count 1 here.
            let v = one(dev, req.addr, None) & size_mask(size);
            let _ = write!(line, " -> {v:#x}");
            out.data = Some(v);
        } else {
            // A write of one value to each element (`rep stos` into MMIO).
            let elements = if step_addr { req.count } else { 1 };
            for i in 0..elements {
                let a = if step_addr {
                    element(req.addr, size, i, df)
                } else {
                    req.addr
                };
                one(dev, a, Some(req.data & size_mask(size)));
            }
        }
        out.line = Some(line);
        return out;
    }

    // data_is_ptr: `data` is the guest-physical address of element 0 in guest RAM.
    let mut digest = Digest::new();
    let mut failed = None;
    for i in 0..req.count {
        let a = if step_addr {
            element(req.addr, size, i, df)
        } else {
            req.addr
        };
        let gpa = element(req.data, size, i, df);
        let n = size as usize;
        let mut bytes = [0u8; 8];
        if read {
            let v = one(dev, a, None) & size_mask(size);
            digest.push(v);
            bytes = v.to_le_bytes();
            if let Err(e) = mem.write(gpa, bytes.get(..n).unwrap_or(&[])) {
                failed.get_or_insert((i, gpa, e));
            }
        } else {
            match mem.read(gpa, bytes.get_mut(..n).unwrap_or(&mut [])) {
                Ok(()) => {
                    let v = u64::from_le_bytes(bytes);
                    digest.push(v);
                    one(dev, a, Some(v));
                }
                Err(e) => {
                    failed.get_or_insert((i, gpa, e));
                }
            }
        }
    }
    let _ = write!(line, " -> digest={:#018x}", digest.value());
    if let Some((i, gpa, e)) = failed {
        let _ = write!(line, " guest memory error at element {i} gpa={gpa:#x}: {e}");
    }
    out.line = Some(line);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use xen_ioreq_live_script::layout::SERVERS;
    use xen_ioreq_rs::ioreq::abi::{FromBytes, IOREQ_WRITE};

    #[derive(Default)]
    struct Ram(HashMap<u64, u8>);
    impl GuestMemory for Ram {
        fn read(&mut self, gpa: u64, buf: &mut [u8]) -> Result<(), Errno> {
            for (i, b) in buf.iter_mut().enumerate() {
                *b = *self.0.get(&gpa.wrapping_add(i as u64)).unwrap_or(&0);
            }
            Ok(())
        }
        fn write(&mut self, gpa: u64, buf: &[u8]) -> Result<(), Errno> {
            if gpa > 1 << 40 {
                return Err(Errno(14));
            }
            for (i, b) in buf.iter().enumerate() {
                self.0.insert(gpa.wrapping_add(i as u64), *b);
            }
            Ok(())
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn slot(
        type_: u8,
        dir: u8,
        addr: u64,
        size: u32,
        count: u32,
        ptr: bool,
        df: bool,
        data: u64,
    ) -> IoreqSlot {
        let mut s = IoreqSlot {
            addr,
            data,
            count,
            size,
            type_,
            ..Default::default()
        };
        s.set_dir(dir);
        s.set_data_is_ptr(ptr);
        s.set_df(df);
        s
    }

    #[test]
    fn rep_ins_descending_fills_guest_memory_downwards() {
        let mut dev = Device::new(0).unwrap();
        let mut model = Device::new(0).unwrap();
        let mut ram = Ram::default();
        let port = u64::from(SERVERS[0].port_base) + 4;
        let r = serve(
            "A",
            &mut dev,
            &slot(IOREQ_TYPE_PIO, IOREQ_READ, port, 2, 3, true, true, 0x1004),
            &mut ram,
        );
        assert!(r.data.is_none());
        for i in 0..3u64 {
            let want = model.port_read(port, 2);
            let mut b = [0u8; 2];
            ram.read(0x1004 - 2 * i, &mut b).unwrap();
            assert_eq!(u64::from(u16::from_le_bytes(b)), want);
        }
    }

    #[test]
    fn ping_and_done() {
        let mut dev = Device::new(1).unwrap();
        let r = serve(
            "B",
            &mut dev,
            &slot(
                IOREQ_TYPE_PIO,
                IOREQ_READ,
                u64::from(PING_PORT),
                4,
                1,
                false,
                false,
                0,
            ),
            &mut Ram::default(),
        );
        assert!(r.ping && r.line.is_none());
        let mut dev = Device::new(0).unwrap();
        let r = serve(
            "A",
            &mut dev,
            &slot(
                IOREQ_TYPE_PIO,
                IOREQ_WRITE,
                u64::from(CONTROL_PORT),
                4,
                1,
                false,
                false,
                u64::from(DONE_MAGIC),
            ),
            &mut Ram::default(),
        );
        assert!(r.done);
    }

    /// Whatever a slot holds, serving it neither panics nor loops unboundedly.
    #[test]
    fn hostile_slots_do_not_panic() {
        let mut dev = Device::new(0).unwrap();
        let mut ram = Ram::default();
        let mut x = 0x1234_5678_9abc_def0u64;
        for _ in 0..20000 {
            let mut b = [0u8; 32];
            for chunk in b.chunks_mut(8) {
                x = xen_ioreq_live_script::splitmix64(x);
                chunk.copy_from_slice(&x.to_le_bytes());
            }
            let mut s = IoreqSlot::read_from_bytes(&b).unwrap();
            // keep some requests plausible so the element loops run too
            if x % 3 == 0 {
                s.size = [1, 2, 4, 8][(x >> 8) as usize % 4];
                s.count = (x >> 16) as u32 % 80;
                s.type_ = (x >> 24) as u8 % 3;
            }
            let r = serve("A", &mut dev, &s, &mut ram);
            assert!(r.line.is_some() || r.ping);
        }
    }
}
