//! Xen's console: `printk`.

use core::fmt;

pub trait Console {
    /// Prints formatted text exactly as given (no prefix, no added newline), like `printk("%s")`.
    fn printk(args: fmt::Arguments<'_>);
}
