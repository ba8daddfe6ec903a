//! The one boundary to dom0's Xen devices, as QEMU and varstored reach them without the
//! libraries: `/dev/xen/privcmd` (DM_OP, MMAP_RESOURCE, MMAPBATCH_V2, HYPERCALL),
//! `/dev/xen/evtchn` (bind, notify, read/unmask) and `/dev/xen/hypercall` (hypercall buffers).
//! Everything else in the emulator is safe code over these types.
//!
//! The `#[repr(C)]` structs here are Linux's UAPI (include/uapi/xen/privcmd.h, evtchn.h), each
//! declared once, checked for size at compile time.

use std::fs::{File, OpenOptions};
use std::io;
use std::mem::size_of;
use std::os::fd::AsRawFd;
use std::ptr::NonNull;

pub const PAGE_SIZE: usize = 4096;

/// `_IOC(_IOC_NONE, type, nr, size)`.
const fn ioc_none(ty: u8, nr: u8, size: usize) -> u64 {
    ((size as u64) << 16) | ((ty as u64) << 8) | nr as u64
}

/// `struct privcmd_hypercall`.
#[repr(C)]
struct PrivcmdHypercall {
    op: u64,
    arg: [u64; 5],
}
/// `struct privcmd_mmapbatch_v2`.
#[repr(C)]
struct PrivcmdMmapbatchV2 {
    num: u32,
    dom: u16,
    addr: u64,
    arr: *const u64,
    err: *mut i32,
}
/// `struct privcmd_dm_op_buf`.
#[repr(C)]
struct PrivcmdDmOpBuf {
    uptr: *mut u8,
    size: usize,
}
/// `struct privcmd_dm_op`.
#[repr(C)]
struct PrivcmdDmOp {
    dom: u16,
    num: u16,
    ubufs: *const PrivcmdDmOpBuf,
}
/// `struct privcmd_mmap_resource`.
#[repr(C)]
struct PrivcmdMmapResource {
    dom: u16,
    type_: u32,
    id: u32,
    idx: u32,
    num: u64,
    addr: u64,
}
/// `struct ioctl_evtchn_bind_interdomain`.
#[repr(C)]
struct EvtchnBindInterdomain {
    remote_domain: u32,
    remote_port: u32,
}
/// `struct ioctl_evtchn_unbind` / `_notify`.
#[repr(C)]
struct EvtchnPort {
    port: u32,
}

const _: () = assert!(size_of::<PrivcmdHypercall>() == 48);
const _: () = assert!(size_of::<PrivcmdMmapbatchV2>() == 32);
const _: () = assert!(size_of::<PrivcmdDmOpBuf>() == 16);
const _: () = assert!(size_of::<PrivcmdDmOp>() == 16);
const _: () = assert!(size_of::<PrivcmdMmapResource>() == 32);
const _: () = assert!(size_of::<EvtchnBindInterdomain>() == 8);

const IOCTL_PRIVCMD_HYPERCALL: u64 = ioc_none(b'P', 0, size_of::<PrivcmdHypercall>());
const IOCTL_PRIVCMD_MMAPBATCH_V2: u64 = ioc_none(b'P', 4, size_of::<PrivcmdMmapbatchV2>());
const IOCTL_PRIVCMD_DM_OP: u64 = ioc_none(b'P', 5, size_of::<PrivcmdDmOp>());
const IOCTL_PRIVCMD_MMAP_RESOURCE: u64 = ioc_none(b'P', 7, size_of::<PrivcmdMmapResource>());
const IOCTL_EVTCHN_BIND_INTERDOMAIN: u64 = ioc_none(b'E', 1, size_of::<EvtchnBindInterdomain>());
const IOCTL_EVTCHN_UNBIND: u64 = ioc_none(b'E', 3, size_of::<EvtchnPort>());
const IOCTL_EVTCHN_NOTIFY: u64 = ioc_none(b'E', 4, size_of::<EvtchnPort>());

/// A negative errno from the kernel or Xen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno(pub i32);

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "-{} ({})", self.0, io::Error::from_raw_os_error(self.0))
    }
}

fn last_errno() -> Errno {
    Errno(
        io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

fn open_rw(path: &str) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open(path)
}

/// A shared mapping made on a privcmd file descriptor; unmapped on drop. All access is by
/// bounds-checked volatile reads and writes: the other side (Xen, the guest) writes it
/// concurrently and nothing in it is trusted.
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

impl Mapping {
    /// A fresh `len`-byte shared mapping of `fd`, to be populated by an ioctl.
    fn reserve(fd: &File, len: usize) -> Result<Self, Errno> {
        // SAFETY: a new mapping chosen by the kernel; nothing else refers to it yet.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(last_errno());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or(Errno(libc::ENOMEM))?;
        Ok(Self { ptr, len })
    }

    fn addr(&self) -> u64 {
        self.ptr.as_ptr() as u64
    }

    fn in_bounds(&self, off: usize, n: usize) -> bool {
        off.checked_add(n).is_some_and(|end| end <= self.len)
    }

    pub fn read_u8(&self, off: usize) -> Option<u8> {
        // SAFETY: in bounds of our live mapping (checked).
        self.in_bounds(off, 1)
            .then(|| unsafe { std::ptr::read_volatile(self.ptr.as_ptr().add(off)) })
    }

    pub fn write_u8(&self, off: usize, v: u8) -> Option<()> {
        // SAFETY: in bounds of our live, writable mapping (checked).
        self.in_bounds(off, 1)
            .then(|| unsafe { std::ptr::write_volatile(self.ptr.as_ptr().add(off), v) })
    }

    /// A naturally aligned 32-bit read (one load, as Xen writes it).
    pub fn read_u32(&self, off: usize) -> Option<u32> {
        // SAFETY: in bounds and 4-aligned (checked; the mapping is page aligned).
        (self.in_bounds(off, 4) && off % 4 == 0)
            .then(|| unsafe { std::ptr::read_volatile(self.ptr.as_ptr().add(off).cast::<u32>()) })
    }

    pub fn write_u32(&self, off: usize, v: u32) -> Option<()> {
        // SAFETY: in bounds and 4-aligned (checked).
        (self.in_bounds(off, 4) && off % 4 == 0).then(|| unsafe {
            std::ptr::write_volatile(self.ptr.as_ptr().add(off).cast::<u32>(), v)
        })
    }

    pub fn read_u64(&self, off: usize) -> Option<u64> {
        // SAFETY: in bounds and 8-aligned (checked).
        (self.in_bounds(off, 8) && off % 8 == 0)
            .then(|| unsafe { std::ptr::read_volatile(self.ptr.as_ptr().add(off).cast::<u64>()) })
    }

    pub fn write_u64(&self, off: usize, v: u64) -> Option<()> {
        // SAFETY: in bounds and 8-aligned (checked).
        (self.in_bounds(off, 8) && off % 8 == 0).then(|| unsafe {
            std::ptr::write_volatile(self.ptr.as_ptr().add(off).cast::<u64>(), v)
        })
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once; no reference into it outlives `self`.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// `/dev/xen/privcmd`.
pub struct Privcmd {
    fd: File,
    /// One page from `/dev/xen/hypercall` (or locked anonymous memory) for raw hypercall
    /// arguments: Xen reads them from our address space.
    hcall_buf: Option<HypercallBuf>,
}

struct HypercallBuf {
    ptr: NonNull<u8>,
    _fd: Option<File>,
}

impl Drop for HypercallBuf {
    fn drop(&mut self) {
        // SAFETY: our own one-page mapping, unmapped once.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), PAGE_SIZE) };
    }
}

impl HypercallBuf {
    fn new() -> Result<Self, Errno> {
        let fd = open_rw("/dev/xen/hypercall").ok();
        let (flags, raw) = match &fd {
            Some(f) => (libc::MAP_SHARED, f.as_raw_fd()),
            None => (
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_LOCKED,
                -1,
            ),
        };
        // SAFETY: a new one-page mapping chosen by the kernel.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                raw,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(last_errno());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or(Errno(libc::ENOMEM))?;
        Ok(Self { ptr, _fd: fd })
    }
}

impl Privcmd {
    pub fn open() -> io::Result<Self> {
        Ok(Self {
            fd: open_rw("/dev/xen/privcmd")?,
            hcall_buf: None,
        })
    }

    /// `IOCTL_PRIVCMD_DM_OP` with one buffer: `buf` holds a `struct xen_dm_op`; Xen copies the
    /// union back into it on success.
    pub fn dm_op(&self, domid: u16, buf: &mut [u8]) -> Result<(), Errno> {
        let b = PrivcmdDmOpBuf {
            uptr: buf.as_mut_ptr(),
            size: buf.len(),
        };
        let op = PrivcmdDmOp {
            dom: domid,
            num: 1,
            ubufs: &b,
        };
        // SAFETY: `op` and the buffer it names live across the call; the kernel pins the buffer
        // and Xen writes at most `buf.len()` bytes into it.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), IOCTL_PRIVCMD_DM_OP as _, &op) };
        if rc < 0 {
            Err(last_errno())
        } else {
            Ok(())
        }
    }

    /// `IOCTL_PRIVCMD_MMAP_RESOURCE`: maps `num` frames of resource `type_`/`id` from `idx`.
    pub fn map_resource(
        &self,
        domid: u16,
        type_: u32,
        id: u32,
        idx: u32,
        num: usize,
    ) -> Result<Mapping, Errno> {
        let len = num.checked_mul(PAGE_SIZE).ok_or(Errno(libc::EINVAL))?;
        let m = Mapping::reserve(&self.fd, len)?;
        let arg = PrivcmdMmapResource {
            dom: domid,
            type_,
            id,
            idx,
            num: num as u64,
            addr: m.addr(),
        };
        // SAFETY: `arg` names our fresh mapping of exactly `num` pages on this fd.
        let rc =
            unsafe { libc::ioctl(self.fd.as_raw_fd(), IOCTL_PRIVCMD_MMAP_RESOURCE as _, &arg) };
        if rc < 0 {
            Err(last_errno())
        } else {
            Ok(m)
        }
    }

    /// `IOCTL_PRIVCMD_MMAPBATCH_V2` of one guest frame.
    pub fn map_foreign(&self, domid: u16, gfn: u64) -> Result<Mapping, Errno> {
        let m = Mapping::reserve(&self.fd, PAGE_SIZE)?;
        let mut err: i32 = 0;
        let arg = PrivcmdMmapbatchV2 {
            num: 1,
            dom: domid,
            addr: m.addr(),
            arr: &gfn,
            err: &mut err,
        };
        // SAFETY: `arg` names our fresh one-page mapping, one gfn and one error slot, all live
        // across the call.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), IOCTL_PRIVCMD_MMAPBATCH_V2 as _, &arg) };
        if rc < 0 {
            return Err(last_errno());
        }
        if err != 0 {
            return Err(Errno(err.saturating_abs()));
        }
        Ok(m)
    }

    /// A raw hypercall whose second argument points at `arg`, copied into a hypercall buffer
    /// and back; returns Xen's result (negative errno on failure).
    pub fn hypercall_with_buf(&mut self, op: u64, arg0: u64, arg: &mut [u8]) -> Result<i64, Errno> {
        if arg.len() > PAGE_SIZE {
            return Err(Errno(libc::E2BIG));
        }
        if self.hcall_buf.is_none() {
            self.hcall_buf = Some(HypercallBuf::new()?);
        }
        let Some(buf) = &self.hcall_buf else {
            return Err(Errno(libc::ENOMEM));
        };
        let p = buf.ptr.as_ptr();
        // SAFETY: `arg.len()` <= one page, the buffer's size; the regions cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(arg.as_ptr(), p, arg.len()) };
        let mut h = PrivcmdHypercall {
            op,
            arg: [arg0, p as u64, 0, 0, 0],
        };
        // SAFETY: the hypercall reads/writes only the buffer page named in its argument.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), IOCTL_PRIVCMD_HYPERCALL as _, &mut h) };
        // SAFETY: as the copy in.
        unsafe { std::ptr::copy_nonoverlapping(p, arg.as_mut_ptr(), arg.len()) };
        if rc < 0 {
            // privcmd returns Xen's negative result as -1/errno
            Ok(-i64::from(last_errno().0))
        } else {
            Ok(i64::from(rc))
        }
    }
}

/// `/dev/xen/evtchn`.
pub struct Evtchn {
    fd: File,
}

impl Evtchn {
    pub fn open() -> io::Result<Self> {
        Ok(Self {
            fd: open_rw("/dev/xen/evtchn")?,
        })
    }

    /// Binds a local port to `remote_port` of `domid`; returns the local port.
    pub fn bind_interdomain(&self, domid: u16, remote_port: u32) -> Result<u32, Errno> {
        let arg = EvtchnBindInterdomain {
            remote_domain: u32::from(domid),
            remote_port,
        };
        // SAFETY: `arg` lives across the call; the kernel only reads it.
        let rc = unsafe {
            libc::ioctl(
                self.fd.as_raw_fd(),
                IOCTL_EVTCHN_BIND_INTERDOMAIN as _,
                &arg,
            )
        };
        u32::try_from(rc).map_err(|_| last_errno())
    }

    pub fn unbind(&self, port: u32) -> Result<(), Errno> {
        let arg = EvtchnPort { port };
        // SAFETY: as bind_interdomain.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), IOCTL_EVTCHN_UNBIND as _, &arg) };
        if rc < 0 {
            Err(last_errno())
        } else {
            Ok(())
        }
    }

    pub fn notify(&self, port: u32) -> Result<(), Errno> {
        let arg = EvtchnPort { port };
        // SAFETY: as bind_interdomain.
        let rc = unsafe { libc::ioctl(self.fd.as_raw_fd(), IOCTL_EVTCHN_NOTIFY as _, &arg) };
        if rc < 0 {
            Err(last_errno())
        } else {
            Ok(())
        }
    }

    /// Waits up to `timeout_ms` for pending ports; returns those that fired (masked until
    /// [`Evtchn::unmask`]).
    pub fn wait(&self, timeout_ms: i32) -> Result<Vec<u32>, Errno> {
        let mut pfd = libc::pollfd {
            fd: self.fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, live across the call.
        let rc = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if rc < 0 {
            let e = last_errno();
            return if e.0 == libc::EINTR {
                Ok(Vec::new())
            } else {
                Err(e)
            };
        }
        if rc == 0 {
            return Ok(Vec::new());
        }
        let mut ports = [0u32; 64];
        // SAFETY: reading into our own array of the size given.
        let n = unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                ports.as_mut_ptr().cast(),
                std::mem::size_of_val(&ports),
            )
        };
        if n < 0 {
            let e = last_errno();
            return if e.0 == libc::EAGAIN || e.0 == libc::EINTR {
                Ok(Vec::new())
            } else {
                Err(e)
            };
        }
        let count = (n as usize) / 4;
        Ok(ports.iter().take(count).copied().collect())
    }

    /// Re-enables delivery of `port` (the driver masks a port when it reports it).
    pub fn unmask(&self, port: u32) -> Result<(), Errno> {
        let b = port.to_ne_bytes();
        // SAFETY: writing 4 bytes from our own array.
        let n = unsafe { libc::write(self.fd.as_raw_fd(), b.as_ptr().cast(), b.len()) };
        if n == 4 {
            Ok(())
        } else {
            Err(last_errno())
        }
    }
}
