//! Locks. Xen's spinlocks and rwlocks have a layout Rust cannot see, so a raw lock is an object the
//! platform creates (the Xen glue allocates a `rwlock_t`); this file wraps it in RAII guards.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::cell::UnsafeCell;
use core::ops::{Deref, DerefMut};

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
