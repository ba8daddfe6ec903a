//! printk into a per-thread buffer that tests read back.

use core::cell::RefCell;
use std::string::String;

use super::HostPlatform;
use crate::platform::console::{write_pieces, Piece};
use crate::platform::Console;

std::thread_local! {
    static CONSOLE: RefCell<String> = const { RefCell::new(String::new()) };
}

impl Console for HostPlatform {
    fn printk(pieces: &[Piece<'_>]) {
        CONSOLE.with(|c| {
            let mut c = c.borrow_mut();
            // Every piece is text or digits: valid UTF-8 however it is cut.
            write_pieces(pieces, &mut |b| c.push_str(&String::from_utf8_lossy(b)));
        });
    }
}

/// Returns and clears what this thread printed.
pub fn take_console() -> String {
    CONSOLE.with(|c| core::mem::take(&mut *c.borrow_mut()))
}
