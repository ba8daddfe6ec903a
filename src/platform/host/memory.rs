//! Host implementation of [`crate::platform::GuestMemory`].

use super::HostPlatform;
use crate::platform::GuestMemory;

impl GuestMemory for HostPlatform {}
