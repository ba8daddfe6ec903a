//! Xen's console: `printk`.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::fmt;

pub trait Console {
    /// Prints formatted text exactly as given (no prefix, no added newline), like `printk("%s")`.
    fn printk(args: fmt::Arguments<'_>);
}
