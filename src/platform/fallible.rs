//! Fallible allocation: out of memory is -ENOMEM, never an abort.
//!
//! `Vec::try_reserve` is stable; `Box::try_new` is not, so [`try_box`] does it by hand.
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use alloc::alloc::{alloc, Layout};
use alloc::boxed::Box;
use alloc::vec::Vec;

use crate::errno::{Errno, XenResult};

/// Moves `value` to the heap, or returns -ENOMEM.
pub fn try_box<T>(value: T) -> XenResult<Box<T>> {
    let layout = Layout::new::<T>();
    if layout.size() == 0 {
        return Ok(Box::new(value));
    }
    // SAFETY: the layout has a non-zero size, as `alloc` requires.
    let ptr = unsafe { alloc(layout) }.cast::<T>();
    if ptr.is_null() {
        return Err(Errno::ENOMEM);
    }
    // SAFETY: `ptr` is a fresh, suitably aligned allocation for one T made with the global
    // allocator and T's layout, which is exactly what `Box::from_raw` takes ownership of.
    unsafe {
        ptr.write(value);
        Ok(Box::from_raw(ptr))
    }
}

/// Appends to a vector, or returns -ENOMEM leaving it unchanged.
pub fn try_push<T>(v: &mut Vec<T>, value: T) -> XenResult<()> {
    v.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
    v.push(value);
    Ok(())
}

/// Inserts into a vector at `index`, or returns -ENOMEM leaving it unchanged. An `index` past the
/// end is a caller bug; it gives -EINVAL instead of `Vec::insert`'s panic.
pub fn try_insert<T>(v: &mut Vec<T>, index: usize, value: T) -> XenResult<()> {
    if index > v.len() {
        return Err(Errno::EINVAL);
    }
    v.try_reserve(1).map_err(|_| Errno::ENOMEM)?;
    v.insert(index, value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn try_insert_past_the_end_is_an_error_not_a_panic() {
        let mut v = alloc::vec![1, 3];
        assert_eq!(try_insert(&mut v, 1, 2), Ok(()));
        assert_eq!(try_insert(&mut v, 3, 4), Ok(()));
        assert_eq!(try_insert(&mut v, 5, 9), Err(Errno::EINVAL));
        assert_eq!(v, [1, 2, 3, 4]);
    }
}
