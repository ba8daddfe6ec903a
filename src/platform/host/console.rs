//! printk into a per-thread buffer that tests read back.

use core::cell::RefCell;
use core::fmt::{self, Write};
use std::string::String;

use super::HostPlatform;
use crate::platform::Console;

std::thread_local! {
    static CONSOLE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl Console for HostPlatform {
    fn printk(args: fmt::Arguments<'_>) {
        CONSOLE.with(|c| {
            let _ = c.borrow_mut().write_fmt(args);
        });
    }
}

/// Returns and clears what this thread printed.
pub fn take_console() -> String {
    CONSOLE.with(|c| core::mem::take(&mut *c.borrow_mut()))
}
