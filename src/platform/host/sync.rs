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
        loop {
            let v = self.0.load(Ordering::Relaxed);
            if v & WRITER == 0
                && self
                    .0
                    .compare_exchange_weak(v, v + 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                return;
            }
            spin_loop();
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
        let prev = self.0.swap(0, Ordering::Release);
        debug_assert_eq!(prev, WRITER, "write_unlock without write_lock");
    }
}

impl Locks for HostPlatform {
    type RwLock = HostRwLock;
}
