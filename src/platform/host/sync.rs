//! A spinning reader/writer lock on an atomic word, standing in for Xen's rwlock_t.

use core::hint::spin_loop;
use core::sync::atomic::{AtomicU32, Ordering};

use super::HostPlatform;
use crate::errno::XenResult;
use crate::platform::sync::{Locks, RawRwLock};

const WRITER: u32 = 1 << 31;

pub struct HostRwLock(AtomicU32);

impl RawRwLock for HostRwLock {
    fn new() -> XenResult<Self> {
        Ok(Self(AtomicU32::new(0)))
    }

    fn read_lock(&self) {
        // One atomic add on the uncontended path, as Xen's qrwlock does; back out while a writer
        // holds the lock.
        loop {
            if self.0.fetch_add(1, Ordering::Acquire) & WRITER == 0 {
                return;
            }
            self.0.fetch_sub(1, Ordering::Relaxed);
            while self.0.load(Ordering::Relaxed) & WRITER != 0 {
                spin_loop();
            }
        }
    }

    fn read_unlock(&self) {
        let prev = self.0.fetch_sub(1, Ordering::Release);
        debug_assert!(prev & !WRITER != 0, "read_unlock without read_lock");
    }

    fn write_lock(&self) {
        while self
            .0
            .compare_exchange_weak(0, WRITER, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spin_loop();
        }
    }

    fn write_unlock(&self) {
        // Subtract only the writer bit: readers backing out may have bumped the count meanwhile.
        let prev = self.0.fetch_sub(WRITER, Ordering::Release);
        debug_assert!(prev & WRITER != 0, "write_unlock without write_lock");
    }
}

impl Locks for HostPlatform {
    type RwLock = HostRwLock;
}
