//! Independent models used by the oracle: the correct result of a removal, the result Xen 4.17's
//! C is known to produce instead (the ledger's removal divergences), and the byte-exact text of
//! `rangeset_domain_printk`. Ranges are inclusive `(start, end)` pairs in list order.

/// A set's ranges in list order.
pub type Ranges = Vec<(u64, u64)>;

/// Which of Xen 4.17's known removal defects to apply in [`remove`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct RemoveDefects {
    /// When the removal spans several ranges and the range holding the highest start <= `s` ends
    /// below `s - 1`, the C sets that range's end to `s - 1`, growing the set (ledger: growth bug).
    pub grows_lower_neighbour: bool,
    /// When such a spanning removal ends at `~0`, the C sets the last touched range's start to
    /// `e + 1`, which wraps to 0 and leaves a range `[0, end]` at the end of the list.
    pub wraps_at_max: bool,
}

/// Removes `[s, e]` (s <= e) from the sorted, disjoint, coalesced `pre`, optionally with the C's
/// known defects. Without defects this is plain set subtraction.
pub fn remove(pre: &[(u64, u64)], s: u64, e: u64, defects: RemoveDefects) -> Ranges {
    debug_assert!(s <= e);
    // Index of the last range starting at or below a value (the C's lookup, by its definition).
    let last_start_le = |v: u64| pre.iter().rposition(|&(a, _)| a <= v);
    let lo = last_start_le(s);
    let hi = last_start_le(e);
    let spanning = hi.is_some() && lo != hi;

    let mut out = Ranges::with_capacity(pre.len() + 1);
    for (i, &(a, b)) in pre.iter().enumerate() {
        if b < s || a > e {
            // Untouched by a correct removal; the growth defect may still stretch it.
            if spanning && defects.grows_lower_neighbour && Some(i) == lo && a < s {
                out.push((a, s - 1));
            } else {
                out.push((a, b));
            }
            continue;
        }
        if a < s {
            out.push((a, s - 1));
        }
        if b > e {
            out.push((e + 1, b));
        } else if spanning && defects.wraps_at_max && e == u64::MAX && Some(i) == hi {
            // The C kept this range with its start set to e + 1 == 0.
            out.push((0, b));
        }
    }
    out
}

/// Whether a removal of `[s, e]` from `pre` is one in which the C's defect of that kind applies
/// (i.e. `remove` with only that defect differs from the correct result).
pub fn defect_applies(pre: &[(u64, u64)], s: u64, e: u64, defects: RemoveDefects) -> bool {
    remove(pre, s, e, defects) != remove(pre, s, e, RemoveDefects::default())
}

/// Union of `[s, e]` into the sorted, disjoint, coalesced `pre` (coalescing adjacent ranges).
pub fn add(pre: &[(u64, u64)], s: u64, e: u64) -> Ranges {
    let mut out = Ranges::with_capacity(pre.len() + 1);
    let (mut ns, mut ne) = (s, e);
    let mut placed = false;
    for &(a, b) in pre {
        // Separate and not adjacent below the new range.
        if b < ns && b + 1 < ns {
            out.push((a, b));
        } else if a > ne && ne.checked_add(1).is_none_or(|n| a > n) {
            if !placed {
                out.push((ns, ne));
                placed = true;
            }
            out.push((a, b));
        } else {
            ns = ns.min(a);
            ne = ne.max(b);
        }
    }
    if !placed {
        out.push((ns, ne));
    }
    out.sort_unstable();
    out
}

/// Whether the ranges are sorted, disjoint and non-adjacent (the shape add/remove maintain).
pub fn is_canonical(r: &[(u64, u64)]) -> bool {
    r.iter().all(|&(a, b)| a <= b)
        && r.windows(2)
            .all(|w| w[0].1.checked_add(1).is_some_and(|n| n < w[1].0))
}

/// The bytes `rangeset_printk` gives for one set (no newline): the name left-justified to 10
/// bytes, then ` { a-b, c }` with `%lx` or `%lu` numbers.
pub fn format_set(name: &[u8], hex: bool, ranges: &[(u64, u64)]) -> Vec<u8> {
    use std::fmt::Write;
    let num = |v: u64| {
        if hex {
            format!("{v:x}")
        } else {
            format!("{v}")
        }
    };
    let mut t = String::from(" {");
    for (i, &(a, b)) in ranges.iter().enumerate() {
        if i > 0 {
            t.push(',');
        }
        let _ = write!(t, " {}", num(a));
        if a != b {
            let _ = write!(t, "-{}", num(b));
        }
    }
    t.push_str(" }");
    let mut out = name.to_vec();
    out.resize(name.len().max(10), b' ');
    out.extend_from_slice(t.as_bytes());
    out
}

/// One set as printed: name, hex flag, ranges.
pub type SetView<'a> = (&'a [u8], bool, &'a [(u64, u64)]);

/// The bytes `rangeset_domain_printk` gives for domain `domid` whose sets, newest first, are
/// `sets`.
pub fn format_domain(domid: u16, sets: &[SetView<'_>]) -> Vec<u8> {
    let mut t = format!("Rangesets belonging to domain {domid}:\n").into_bytes();
    if sets.is_empty() {
        t.extend_from_slice(b"    None\n");
    }
    for (name, hex, ranges) in sets {
        t.extend_from_slice(b"    ");
        t.extend_from_slice(&format_set(name, *hex, ranges));
        t.push(b'\n');
    }
    t
}

/// The name a set gets: NULL gives `(no name)`, longer names keep their first 31 bytes.
pub fn stored_name(name: Option<&[u8]>) -> Vec<u8> {
    match name {
        None => b"(no name)".to_vec(),
        Some(n) => n[..n.len().min(31)].to_vec(),
    }
}

/// How a `consume_ranges` callback behaves (see [`consume_step`]).
pub use crate::ops::ConsumePlan;

/// The consume callback's `call`-th (1-based) invocation on [a, z]: how much it consumes (never
/// more than the C's ASSERT allows: `z - a + 1`, computed modulo 2^64) and what it returns. It
/// returns the plan's non-zero rc on its last planned call and whenever it consumes nothing (the C
/// would loop forever otherwise).
pub fn consume_step(plan: ConsumePlan, call: usize, a: u64, z: u64, consumed: &mut u64) -> i32 {
    let len = z.wrapping_sub(a).wrapping_add(1); // 0 for [0, ~0]
    let amount = match plan.amount {
        0 => len,
        1 => len / 2 + (len & 1),
        2 => len.min(1),
        3 => 0,
        _ => len.saturating_sub(1),
    };
    *consumed = amount;
    if amount == 0 || call >= usize::from(plan.calls) || call > 1000 {
        plan.stop_rc
    } else {
        0
    }
}

/// `consume_ranges` with the callback [`consume_step`] on `pre`: (rc, callback calls, ranges
/// after). With `wraps_at_max`, as Xen 4.17 does it: a range's start advances modulo 2^64, so
/// consuming all of a range that ends at `~0` leaves `[0, ~0]` instead of freeing it.
pub fn consume(pre: &[(u64, u64)], plan: ConsumePlan, wraps_at_max: bool) -> (i32, Ranges, Ranges) {
    let mut ranges: Ranges = pre.to_vec();
    let mut calls = Vec::new();
    let mut rc = 0;
    while let Some(&(a, z)) = ranges.first() {
        let mut amount = 0;
        calls.push((a, z));
        rc = consume_step(plan, calls.len(), a, z, &mut amount);
        let exhausted = if wraps_at_max {
            a.wrapping_add(amount) > z
        } else {
            u128::from(amount) > u128::from(z - a)
        };
        if exhausted {
            ranges.remove(0);
        } else {
            ranges[0].0 = a.wrapping_add(amount);
        }
        if rc != 0 {
            break;
        }
    }
    (rc, calls, ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOTH: RemoveDefects = RemoveDefects {
        grows_lower_neighbour: true,
        wraps_at_max: true,
    };
    const GROW: RemoveDefects = RemoveDefects {
        grows_lower_neighbour: true,
        wraps_at_max: false,
    };
    const WRAP: RemoveDefects = RemoveDefects {
        grows_lower_neighbour: false,
        wraps_at_max: true,
    };

    #[test]
    fn removal_examples_from_the_notes_and_spec() {
        let ok = RemoveDefects::default();
        // FIDELITY R1: removing [45,50] from {[36,38],[48,86]} gives {[36,44],[51,86]} in the C.
        let pre = [(36, 38), (48, 86)];
        assert_eq!(remove(&pre, 45, 50, GROW), vec![(36, 44), (51, 86)]);
        assert_eq!(remove(&pre, 45, 50, ok), vec![(36, 38), (51, 86)]);
        // FIDELITY R1: {0-1, 4-5} remove 3-4 gives {0-2, 5} in the C.
        assert_eq!(remove(&[(0, 1), (4, 5)], 3, 4, GROW), vec![(0, 2), (5, 5)]);
        // FIDELITY R2: {0-1, 5-10} remove 3-MAX gives {0-2, 0-10} in the C.
        assert_eq!(
            remove(&[(0, 1), (5, 10)], 3, u64::MAX, BOTH),
            vec![(0, 2), (0, 10)]
        );
        assert_eq!(remove(&[(0, 1), (5, 10)], 3, u64::MAX, ok), vec![(0, 1)]);
        // FIDELITY R2: removing [0,~0] from {[5,10],[20,30]} gives {[0,30]}.
        assert_eq!(
            remove(&[(5, 10), (20, 30)], 0, u64::MAX, WRAP),
            vec![(0, 30)]
        );
        assert_eq!(remove(&[(5, 10), (20, 30)], 0, u64::MAX, ok), vec![]);
        // Removals spanning several ranges, as the series' C gives them.
        let r = remove(&[(5, 50), (60, 70)], 45, 65, ok);
        assert_eq!(r, vec![(5, 44), (66, 70)]);
        assert_eq!(remove(&r, 0, 1000, BOTH), vec![]);
    }

    #[test]
    fn add_and_format() {
        let mut r = vec![(10, 20)];
        for (s, e) in [(12, 15), (15, 25), (5, 9), (40, 50), (60, 70), (27, 45)] {
            r = add(&r, s, e);
        }
        assert_eq!(r, vec![(5, 25), (27, 50), (60, 70)]);
        r = add(&r, 26, 26);
        assert_eq!(r, vec![(5, 50), (60, 70)]);
        assert_eq!(
            add(&add(&[], u64::MAX - 1, u64::MAX), 0, u64::MAX - 2),
            vec![(0, u64::MAX)]
        );
        assert_eq!(
            format_set(b"(no name)", true, &[(0, 2), (5, 5)]),
            b"(no name)  { 0-2, 5 }"
        );
        assert_eq!(
            format_set(b"dec", false, &[(0, u64::MAX)]),
            b"dec        { 0-18446744073709551615 }"
        );
        assert_eq!(
            format_domain(3, &[]),
            b"Rangesets belonging to domain 3:\n    None\n"
        );
    }
}
