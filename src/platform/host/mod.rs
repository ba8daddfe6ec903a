//! The host platform: std-backed, single-process stand-ins for Xen's primitives, each counting
//! what it hands out so that tests can prove that nothing leaks. State is per thread, so tests
//! running on parallel threads do not see each other's counters.

// Test scaffolding: a broken test precondition may panic here; no hypervisor input reaches it.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

pub mod alloc;
pub mod console;
pub mod domain;
pub mod evtchn;
pub mod guest_copy;
pub mod irq;
pub mod memory;
pub mod sync;

use super::Platform;

/// The host implementation of [`Platform`].
pub struct HostPlatform;

impl Platform for HostPlatform {}
