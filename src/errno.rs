//! Xen's errno values for the codes this crate returns (x86 Xen uses Linux's numbering).
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

use core::fmt;

/// A positive Xen errno; C callers see it negated (`-EINVAL`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(i32);

impl Errno {
    pub const EPERM: Errno = Errno(1);
    pub const ENOENT: Errno = Errno(2);
    pub const ESRCH: Errno = Errno(3);
    pub const ENOMEM: Errno = Errno(12);
    pub const EACCES: Errno = Errno(13);
    pub const EFAULT: Errno = Errno(14);
    pub const EBUSY: Errno = Errno(16);
    pub const EEXIST: Errno = Errno(17);
    pub const EINVAL: Errno = Errno(22);
    pub const ENOSPC: Errno = Errno(28);
    pub const ENOSYS: Errno = Errno(38);
    pub const EOPNOTSUPP: Errno = Errno(95);

    /// The value a C function returns for this error: the errno negated. Wrapping, because
    /// [`Errno::from_ret`] accepts any negative C result, including `i32::MIN`, whose negation
    /// overflows (it maps back to itself).
    pub const fn to_neg(self) -> i32 {
        self.0.wrapping_neg()
    }

    /// Interprets a C return value: negative means an error, anything else success.
    pub const fn from_ret(rc: i32) -> Result<i32, Errno> {
        if rc < 0 {
            Err(Errno(rc.wrapping_neg()))
        } else {
            Ok(rc)
        }
    }

    pub const fn raw(self) -> i32 {
        self.0
    }

    const fn name(self) -> &'static str {
        match self.0 {
            1 => "EPERM",
            2 => "ENOENT",
            3 => "ESRCH",
            12 => "ENOMEM",
            13 => "EACCES",
            14 => "EFAULT",
            16 => "EBUSY",
            17 => "EEXIST",
            22 => "EINVAL",
            28 => "ENOSPC",
            38 => "ENOSYS",
            95 => "EOPNOTSUPP",
            _ => "E?",
        }
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}({})", self.name(), self.0)
    }
}

/// Results of the safe cores.
pub type XenResult<T> = Result<T, Errno>;

/// Converts a unit result into the C convention: 0 or `-errno`.
pub fn to_c(r: XenResult<()>) -> i32 {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_neg(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_match_xen() {
        assert_eq!(Errno::ENOMEM.to_neg(), -12);
        assert_eq!(Errno::from_ret(-22), Err(Errno::EINVAL));
        assert_eq!(Errno::from_ret(3), Ok(3));
        assert_eq!(to_c(Err(Errno::EEXIST)), -17);
        assert_eq!(to_c(Ok(())), 0);
    }

    /// Regression: a platform hook returning `i32::MIN` used to overflow in `to_neg` (a panic,
    /// i.e. a host crash, with overflow checks on); it now round-trips unchanged.
    #[test]
    fn any_negative_c_result_round_trips() {
        for rc in [i32::MIN, i32::MIN + 1, -1, -4096] {
            let e = Errno::from_ret(rc).unwrap_err();
            assert_eq!(e.to_neg(), rc);
            assert_eq!(to_c(Err(e)), rc);
        }
    }
}
