//! Locks. Xen's spinlocks and rwlocks have a layout Rust cannot see, so a raw lock is an object the
//! platform creates (the Xen glue allocates a `rwlock_t`); this file wraps it in RAII guards.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};
use core::sync::atomic::{AtomicBool, Ordering};

use crate::errno::XenResult;

/// A raw reader/writer lock as Xen's `rwlock_t`: spinning, not reentrant.
pub trait RawRwLock: Sized {
    /// Creates an unlocked lock; may need memory (-ENOMEM).
    fn new() -> XenResult<Self>;
    fn read_lock(&self);
    fn read_unlock(&self);
    fn write_lock(&self);
    fn write_unlock(&self);
}

pub trait Locks {
    type RwLock: RawRwLock + Send + Sync;
}

/// Data behind a platform rwlock.
pub struct RwLock<L: RawRwLock, T> {
    raw: L,
    data: UnsafeCell<T>,
}

// SAFETY: access to `data` is only through guards, which hold the raw lock: shared guards give `&T`
// (so T must be Sync), the exclusive guard gives `&mut T` (so T must be Send).
unsafe impl<L: RawRwLock + Send + Sync, T: Send + Sync> Sync for RwLock<L, T> {}
// SAFETY: moving the lock moves the data with it; T: Send is what that needs.
unsafe impl<L: RawRwLock + Send, T: Send> Send for RwLock<L, T> {}

impl<L: RawRwLock, T> RwLock<L, T> {
    pub fn new(data: T) -> XenResult<Self> {
        Ok(Self {
            raw: L::new()?,
            data: UnsafeCell::new(data),
        })
    }

    pub fn read(&self) -> ReadGuard<'_, L, T> {
        self.raw.read_lock();
        ReadGuard { lock: self }
    }

    pub fn write(&self) -> WriteGuard<'_, L, T> {
        self.raw.write_lock();
        WriteGuard { lock: self }
    }

    /// Shared access without locking, for data whose writers are excluded by other means (see
    /// `rangeset::domain::ExclusiveRangeset`: writers there need `&mut` to the owner).
    ///
    /// # Safety
    /// While the returned reference lives, nobody may hold or take this lock for writing (or
    /// otherwise get `&mut T`). Readers that take the lock may run concurrently.
    pub unsafe fn read_unlocked(&self) -> &T {
        // SAFETY: the caller guarantees that no `&mut T` exists while the reference lives.
        unsafe { &*self.data.get() }
    }

    /// Exclusive access without locking: `&mut self` proves nobody else holds the lock.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }

    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

pub struct ReadGuard<'a, L: RawRwLock, T> {
    lock: &'a RwLock<L, T>,
}

impl<L: RawRwLock, T> Deref for ReadGuard<'_, L, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock for reading, so no `&mut T` exists while it lives.
        unsafe { &*self.lock.data.get() }
    }
}

impl<L: RawRwLock, T> Drop for ReadGuard<'_, L, T> {
    fn drop(&mut self) {
        self.lock.raw.read_unlock();
    }
}

pub struct WriteGuard<'a, L: RawRwLock, T> {
    lock: &'a RwLock<L, T>,
}

impl<L: RawRwLock, T> Deref for WriteGuard<'_, L, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: this guard holds the lock for writing: it is the only accessor of the data.
        unsafe { &*self.lock.data.get() }
    }
}

impl<L: RawRwLock, T> DerefMut for WriteGuard<'_, L, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: this guard holds the lock for writing: it is the only accessor of the data.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<L: RawRwLock, T> Drop for WriteGuard<'_, L, T> {
    fn drop(&mut self) {
        self.lock.raw.write_unlock();
    }
}

/// Data behind a platform rwlock whose hot readers, the vCPUs on the guest I/O path, each own a
/// flag (the idea of Xen's `percpu_rwlock`, per vCPU): such a reader raises its flag with one
/// compare-exchange and lowers it with a plain release store, where the shared lock costs two
/// locked read-modify-writes. A writer takes the platform lock for writing, raises `writer` and
/// waits for every flag to be down before it touches the data. Other readers, and a vCPU whose
/// flag is already up (a nested or concurrent use of the same id) or whose id has no flag, take
/// the platform lock for reading.
///
/// Why it excludes: reader and writer each store their own word, then load the other's, all
/// sequentially consistent; in that single order one of the two loads comes after the other
/// side's store, so either the reader sees `writer` up and backs out, or the writer sees the
/// flag up and waits for the release store that lowers it.
pub struct VcpuRwLock<L: RawRwLock, T, const N: usize> {
    lock: RwLock<L, T>,
    writer: AtomicBool,
    readers: [AtomicBool; N],
}

// SAFETY: as RwLock's: the data is reached only through guards; flag readers get `&T` (T: Sync),
// only the write guard gives `&mut T` (T: Send), and only once no flag reader is left.
unsafe impl<L: RawRwLock + Send + Sync, T: Send + Sync, const N: usize> Sync
    for VcpuRwLock<L, T, N>
{
}
// SAFETY: moving the lock moves the data with it.
unsafe impl<L: RawRwLock + Send, T: Send, const N: usize> Send for VcpuRwLock<L, T, N> {}

impl<L: RawRwLock, T, const N: usize> VcpuRwLock<L, T, N> {
    pub fn new(data: T) -> XenResult<Self> {
        Ok(Self {
            lock: RwLock::new(data)?,
            writer: AtomicBool::new(false),
            readers: [const { AtomicBool::new(false) }; N],
        })
    }

    /// Shared access through the platform lock (the control paths).
    pub fn read(&self) -> ReadGuard<'_, L, T> {
        self.lock.read()
    }

    /// Shared access for vCPU `id` (the guest I/O path): its flag if free, else the platform lock.
    pub fn read_as_vcpu(&self, id: u32) -> VcpuReadGuard<'_, L, T> {
        let flag = usize::try_from(id).ok().and_then(|i| self.readers.get(i));
        if let Some(flag) = flag {
            if flag
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::Relaxed)
                .is_ok()
            {
                if !self.writer.load(Ordering::SeqCst) {
                    // Our flag is up and `writer` was down after it went up: a writer that
                    // comes later waits for the flag (see the type's comment) before it makes a
                    // `&mut T`, and one that was here has lowered `writer` only after its last
                    // use of `&mut T` (VcpuWriteGuard's drop).
                    // SAFETY: so no `&mut T` exists while the guard lives.
                    let data = unsafe { &*self.lock.data.get() };
                    return VcpuReadGuard::Flag { flag, data };
                }
                flag.store(false, Ordering::Release);
            }
        }
        VcpuReadGuard::Shared(self.lock.read())
    }

    /// Exclusive access: the platform lock for writing, then every vCPU flag down.
    pub fn write(&self) -> VcpuWriteGuard<'_, L, T> {
        let guard = self.lock.write();
        self.wait_for_vcpu_readers();
        VcpuWriteGuard {
            guard,
            writer: &self.writer,
        }
    }
}

impl<L: RawRwLock, T, const N: usize> VcpuRwLock<L, T, N> {
    /// Raises `writer` and waits for every vCPU flag to be down (the writers' one copy of it).
    #[inline(never)]
    fn wait_for_vcpu_readers(&self) {
        self.writer.store(true, Ordering::SeqCst);
        for flag in &self.readers {
            while flag.load(Ordering::SeqCst) {
                core::hint::spin_loop();
            }
        }
    }
}

/// A vCPU's shared access ([`VcpuRwLock::read_as_vcpu`]).
pub enum VcpuReadGuard<'a, L: RawRwLock, T> {
    /// Under the vCPU's flag, lowered on drop.
    Flag { flag: &'a AtomicBool, data: &'a T },
    /// Under the platform lock.
    Shared(ReadGuard<'a, L, T>),
}

impl<L: RawRwLock, T> Deref for VcpuReadGuard<'_, L, T> {
    type Target = T;
    fn deref(&self) -> &T {
        match self {
            Self::Flag { data, .. } => data,
            Self::Shared(g) => g,
        }
    }
}

impl<L: RawRwLock, T> Drop for VcpuReadGuard<'_, L, T> {
    fn drop(&mut self) {
        if let Self::Flag { flag, .. } = self {
            flag.store(false, Ordering::Release);
        }
    }
}

/// Exclusive access ([`VcpuRwLock::write`]).
pub struct VcpuWriteGuard<'a, L: RawRwLock, T> {
    guard: WriteGuard<'a, L, T>,
    writer: &'a AtomicBool,
}

impl<L: RawRwLock, T> Deref for VcpuWriteGuard<'_, L, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<L: RawRwLock, T> DerefMut for VcpuWriteGuard<'_, L, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

impl<L: RawRwLock, T> Drop for VcpuWriteGuard<'_, L, T> {
    fn drop(&mut self) {
        // No `&mut T` is used past this point; flag readers may come back in before the platform
        // lock (dropped with `guard`, right after) is released.
        self.writer.store(false, Ordering::Release);
    }
}
