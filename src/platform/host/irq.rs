//! Host implementation of [`crate::platform::IsaIrq`].

use super::HostPlatform;
use crate::platform::IsaIrq;

impl IsaIrq for HostPlatform {}
