//! Host implementation of [`crate::platform::EventChannels`].

use super::HostPlatform;
use crate::platform::EventChannels;

impl EventChannels for HostPlatform {}
