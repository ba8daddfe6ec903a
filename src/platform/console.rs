//! Xen's console: `printk`.
//!
//! A message is a list of [`Piece`]s (text, and numbers printed as `%u` or `%lx` would), not
//! `core::fmt::Arguments`: the crate's messages need nothing more, and without `core::fmt` the
//! object Xen links carries no formatting machinery (README, "Code size").
#![cfg_attr(
    not(test),
    deny(clippy::indexing_slicing, clippy::arithmetic_side_effects)
)]

/// One piece of a console message.
#[derive(Clone, Copy, Debug)]
pub enum Piece<'a> {
    Str(&'a str),
    /// Decimal, as `%u`/`%lu`.
    Dec(u64),
    /// Lower-case hexadecimal without prefix, as `%lx`.
    Hex(u64),
}

pub trait Console {
    /// Prints the pieces in order, exactly as given (no prefix, no added newline), like
    /// `printk("%s")`.
    fn printk(pieces: &[Piece<'_>]);
}

/// Hands the bytes of `pieces` to `out`, in order and in as many calls as it takes: the crate's one
/// formatter (not generic, never inlined: one copy serves every caller).
#[inline(never)]
pub fn write_pieces(pieces: &[Piece<'_>], out: &mut dyn FnMut(&[u8])) {
    for p in pieces {
        match *p {
            Piece::Str(s) => out(s.as_bytes()),
            Piece::Dec(v) => write_number(v, 10, out),
            Piece::Hex(v) => write_number(v, 16, out),
        }
    }
}

/// `v` in `radix` (10 or 16), lower-case digits, no leading zeros.
#[inline(never)]
fn write_number(mut v: u64, radix: u64, out: &mut dyn FnMut(&[u8])) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    // u64::MAX has 20 decimal digits.
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    while let Some(i) = at.checked_sub(1) {
        at = i;
        // `v % radix` < 16 indexes DIGITS; the fallbacks never happen.
        let digit = v.checked_rem(radix).unwrap_or(0);
        if let Some(slot) = buf.get_mut(i) {
            *slot = DIGITS.get(digit as usize).copied().unwrap_or(b'?');
        }
        v = v.checked_div(radix).unwrap_or(0);
        if v == 0 {
            break;
        }
    }
    out(buf.get(at..).unwrap_or_default());
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn text(pieces: &[Piece<'_>]) -> Vec<u8> {
        let mut v = Vec::new();
        write_pieces(pieces, &mut |b| v.extend_from_slice(b));
        v
    }

    #[test]
    fn numbers_print_as_printk_would() {
        for v in [0u64, 1, 9, 10, 255, 4096, 65535, 1 << 32, u64::MAX] {
            assert_eq!(text(&[Piece::Dec(v)]), std::format!("{v}").into_bytes());
            assert_eq!(text(&[Piece::Hex(v)]), std::format!("{v:x}").into_bytes());
        }
        assert_eq!(
            text(&[
                Piece::Str("d"),
                Piece::Dec(3),
                Piece::Str("v"),
                Piece::Hex(0xab)
            ]),
            b"d3vab"
        );
    }
}
