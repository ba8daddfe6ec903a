//! Unit tests of the core: fixed examples whose results were checked on the series' C, the
//! budget, swap counters, printing, and one test per FIDELITY `R` entry.

use super::*;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;

const MAX: u64 = u64::MAX;

fn set(ranges: &[(u64, u64)]) -> RangeList {
    let mut r = RangeList::new(Some(b"t"), RangesetFlags::PRETTYPRINT_HEX);
    for &(s, e) in ranges {
        r.add_range(s, e).unwrap();
    }
    r
}

fn list(r: &RangeList) -> Vec<(u64, u64)> {
    r.ranges().iter().map(|x| (x.s, x.e)).collect()
}

fn body(r: &RangeList) -> String {
    let s = r.to_string();
    s[s.find('{').unwrap()..].to_string()
}

#[test]
fn add_sequence_verified() {
    let mut r = set(&[(10, 20)]);
    r.add_range(12, 15).unwrap();
    assert_eq!(list(&r), [(10, 20)]);
    r.add_range(15, 25).unwrap();
    assert_eq!(list(&r), [(10, 25)]);
    r.add_range(5, 9).unwrap();
    assert_eq!(list(&r), [(5, 25)]);
    r.add_range(40, 50).unwrap();
    r.add_range(60, 70).unwrap();
    r.add_range(27, 45).unwrap();
    assert_eq!(list(&r), [(5, 25), (27, 50), (60, 70)]);
    r.add_singleton(26).unwrap();
    assert_eq!(list(&r), [(5, 50), (60, 70)]);

    let mut m = set(&[(MAX - 1, MAX)]);
    m.add_range(0, MAX - 2).unwrap();
    assert_eq!(list(&m), [(0, MAX)]);
    assert_eq!(m.budget(), -2);
}

#[test]
fn add_swallows_many() {
    let mut r = set(&[(1, 2), (4, 5), (7, 8), (10, 11), (20, 30)]);
    assert_eq!(r.budget(), -6);
    r.add_range(3, 12).unwrap();
    assert_eq!(list(&r), [(1, 12), (20, 30)]);
    assert_eq!(r.budget(), -3);
    r.add_range(0, MAX).unwrap();
    assert_eq!(list(&r), [(0, MAX)]);
    assert_eq!(r.budget(), -2);
}

#[test]
fn remove_sequence_verified() {
    let mut r = set(&[(5, 50), (60, 70)]);
    r.remove_range(100, 200).unwrap();
    r.remove_range(0, 4).unwrap();
    assert_eq!(list(&r), [(5, 50), (60, 70)]);
    r.remove_range(45, 65).unwrap();
    assert_eq!(list(&r), [(5, 44), (66, 70)]);
    r.remove_singleton(5).unwrap();
    assert_eq!(list(&r), [(6, 44), (66, 70)]);
    r.remove_singleton(70).unwrap();
    assert_eq!(list(&r), [(6, 44), (66, 69)]);
    r.remove_range(0, 1000).unwrap();
    assert!(r.is_empty());
    assert_eq!(r.budget(), -1);
}

#[test]
fn remove_split_and_edges() {
    let mut r = set(&[(10, 20)]);
    r.remove_range(12, 15).unwrap();
    assert_eq!(list(&r), [(10, 11), (16, 20)]);
    r.remove_range(10, 10).unwrap();
    r.remove_range(20, 25).unwrap();
    assert_eq!(list(&r), [(11, 11), (16, 19)]);
    let mut m = set(&[(0, MAX)]);
    m.remove_range(1, MAX - 1).unwrap();
    assert_eq!(list(&m), [(0, 0), (MAX, MAX)]);
    m.remove_range(MAX, MAX).unwrap();
    m.remove_range(0, MAX).unwrap();
    assert!(m.is_empty());
}

/// R1: Xen 4.17 gives {0-2, 5} (the range below s grows); the correct subtraction is {0-1, 5}.
#[test]
fn r1_remove_does_not_grow() {
    let mut r = set(&[(0, 1), (4, 5)]);
    r.remove_range(3, 4).unwrap();
    assert_eq!(list(&r), [(0, 1), (5, 5)]);
    // The differential test's find: Xen gives {36-44, 51-86}.
    let mut r = set(&[(36, 38), (48, 86)]);
    r.remove_range(45, 50).unwrap();
    assert_eq!(list(&r), [(36, 38), (51, 86)]);
    assert_eq!(r.budget(), -3);
}

/// R2: Xen 4.17 wraps y->s to 0: {0-1, 5-10} minus 3-MAX gives {0-2, 0-10}, and {5-10, 20-30}
/// minus 0-MAX gives {0-30}. The Rust frees the last range (and counts it freed).
#[test]
fn r2_remove_to_max_does_not_wrap() {
    let mut r = set(&[(0, 1), (5, 10)]);
    r.remove_range(3, MAX).unwrap();
    assert_eq!(list(&r), [(0, 1)]);
    assert_eq!(r.budget(), -2);
    let mut r = set(&[(5, 10), (20, 30)]);
    r.remove_range(0, MAX).unwrap();
    assert!(r.is_empty());
    assert_eq!(r.budget(), -1);
    r.check_invariants(true).unwrap();
}

/// R3: the 2014 series reported nothing when s was below the first range; 4.17 (and the Rust)
/// walk from the first range.
#[test]
fn r3_report_from_below_first_range() {
    let r = set(&[(0x13, 0x1f), (0x30, 0x40)]);
    let mut got = vec![];
    assert_eq!(
        r.report_ranges(0, 0xffff, |s, e| {
            got.push((s, e));
            0
        }),
        0
    );
    assert_eq!(got, [(0x13, 0x1f), (0x30, 0x40)]);
    got.clear();
    r.report_ranges(0x14, 0x35, |s, e| {
        got.push((s, e));
        0
    });
    assert_eq!(got, [(0x14, 0x1f), (0x30, 0x35)]);
}

#[test]
fn report_stops_on_nonzero() {
    let r = set(&[(1, 2), (4, 5), (7, 8)]);
    let mut n = 0;
    let rc = r.report_ranges(0, MAX, |_, _| {
        n += 1;
        if n == 2 {
            -28
        } else {
            0
        }
    });
    assert_eq!((rc, n), (-28, 2));
    // No s <= e check, as in Xen: a range holding both bounds reports (s, e) inverted.
    let mut got = vec![];
    r.report_ranges(8, 7, |s, e| {
        got.push((s, e));
        0
    });
    assert_eq!(got, [(8, 7)]);
}

/// R4: s > e is refused (-EINVAL, unchanged) by add/remove and false for contains/overlaps.
#[test]
fn r4_inverted_bounds() {
    let mut r = set(&[(0, 10)]);
    assert_eq!(r.add_range(5, 3), Err(Errno::EINVAL));
    assert_eq!(r.remove_range(7, 3), Err(Errno::EINVAL));
    assert_eq!(list(&r), [(0, 10)]);
    assert!(!r.contains_range(7, 3));
    assert!(!r.overlaps_range(7, 3));
    assert_eq!(r.budget(), -2);
}

#[test]
fn contains_and_overlaps() {
    let r = set(&[(5, 50), (60, 70)]);
    assert!(r.contains_range(5, 50));
    assert!(r.contains_singleton(60));
    assert!(!r.contains_range(40, 60));
    assert!(!r.contains_singleton(55));
    assert!(r.overlaps_range(50, 60));
    assert!(r.overlaps_range(0, 5));
    assert!(!r.overlaps_range(51, 59));
    assert!(!r.overlaps_range(0, 4));
    assert!(r.overlaps_range(0, MAX));
}

#[test]
fn claim_verified() {
    let mut r = set(&[(0x13, 0x1f), (0x30, 0x40)]);
    assert_eq!(r.claim_range(0x10), Ok(0));
    assert_eq!(list(&r), [(0, 0xf), (0x13, 0x1f), (0x30, 0x40)]);
    assert_eq!(r.claim_range(3), Ok(0x10));
    // Extended, not merged: 0-12 now touches 13-1f.
    assert_eq!(list(&r), [(0, 0x12), (0x13, 0x1f), (0x30, 0x40)]);
    assert_eq!(body(&r), "{ 0-12, 13-1f, 30-40 }");
    assert_eq!(r.claim_range(0x100), Ok(0x41));
    assert_eq!(list(&r), [(0, 0x12), (0x13, 0x1f), (0x30, 0x140)]);
    r.check_invariants(false).unwrap();
    assert!(r.check_invariants(true).is_err());

    let mut full = set(&[(0, MAX)]);
    assert_eq!(full.claim_range(1), Err(Errno::ENOSPC));
    let mut top = set(&[(0, 10)]);
    assert_eq!(top.claim_range(MAX - 10), Ok(11));
    assert_eq!(list(&top), [(0, MAX)]);
    let mut top = set(&[(0, 10)]);
    assert_eq!(top.claim_range(MAX - 9), Err(Errno::ENOSPC));
    assert_eq!(list(&top), [(0, 10)]);
}

/// On a set made non-coalesced by claim_range, the other operations act as Xen's list walk does.
#[test]
fn non_coalesced_set_behaves_as_xen() {
    let mut r = set(&[(0, 4), (10, 14), (20, 24)]);
    assert_eq!(r.claim_range(5), Ok(5));
    assert_eq!(r.claim_range(5), Ok(15));
    assert_eq!(list(&r), [(0, 9), (10, 19), (20, 24)]);
    // Containment is per range.
    assert!(!r.contains_range(8, 12));
    assert!(r.overlaps_range(8, 12));
    // Adding inside one range merges only the immediate neighbour.
    r.add_singleton(12).unwrap();
    assert_eq!(list(&r), [(0, 9), (10, 24)]);
    let mut r = set(&[(0, 4), (10, 14), (20, 24)]);
    r.claim_range(5).unwrap();
    r.claim_range(5).unwrap();
    // Swallows 10-19, then the end 19 touches 20-24, which is merged too.
    r.add_range(3, 12).unwrap();
    assert_eq!(list(&r), [(0, 24)]);
    r.remove_range(19, 20).unwrap();
    assert_eq!(list(&r), [(0, 18), (21, 24)]);
}

/// R5: Xen's claim on an empty set computes the free space as `(~0UL - 0) + 1` = 0 and fails with
/// -ENOSPC; the Rust claims from 0.
#[test]
fn r5_claim_on_empty_set() {
    let mut r = set(&[]);
    assert_eq!(r.claim_range(1), Ok(0));
    assert_eq!(list(&r), [(0, 0)]);
    let mut r = set(&[]);
    assert_eq!(r.claim_range(MAX), Ok(0));
    assert_eq!(list(&r), [(0, MAX - 1)]);
}

/// R6: claim of size 0 is -EINVAL (Xen inserts [0, ~0UL] at the head).
#[test]
fn r6_claim_size_zero() {
    let mut r = set(&[(5, 6)]);
    assert_eq!(r.claim_range(0), Err(Errno::EINVAL));
    assert_eq!(list(&r), [(5, 6)]);
}

#[test]
fn consume() {
    let mut r = set(&[(1, 10), (20, 29)]);
    // Consume 4 at a time, stopping (like -ERESTART) after each chunk.
    let mut seen = vec![];
    let rc = r.consume_ranges(|s, e, c| {
        seen.push((s, e));
        *c = 4;
        -85
    });
    assert_eq!(rc, -85);
    assert_eq!(list(&r), [(5, 10), (20, 29)]);
    let rc = r.consume_ranges(|s, e, c| {
        seen.push((s, e));
        *c = e - s + 1;
        0
    });
    assert_eq!(rc, 0);
    assert!(r.is_empty());
    assert_eq!(seen, [(1, 10), (5, 10), (20, 29)]);
    assert_eq!(r.budget(), -1);
}

/// R7: consuming all of a range that ends at u64::MAX frees it (Xen wraps its start to 0).
#[test]
fn r7_consume_to_max() {
    let mut r = set(&[(5, MAX)]);
    assert_eq!(
        r.consume_ranges(|s, _, c| {
            *c = MAX - s + 1;
            0
        }),
        0
    );
    assert!(r.is_empty());
    let mut r = set(&[(0, MAX)]);
    assert_eq!(
        r.consume_ranges(|_, _, c| {
            *c = MAX; // all but one
            0
        }),
        0
    );
    assert!(r.is_empty());
}

#[test]
fn merge_and_partial_failure() {
    let mut a = set(&[(0, 1), (10, 11)]);
    let b = set(&[(2, 3), (20, 21), (30, 31)]);
    a.merge(&b).unwrap();
    assert_eq!(list(&a), [(0, 3), (10, 11), (20, 21), (30, 31)]);
    let mut a = set(&[(0, 1)]);
    a.set_limit(1);
    assert_eq!(a.merge(&b), Err(Errno::ENOMEM));
    // 2-3 extended 0-1 (no allocation), 20-21 got the one range, 30-31 failed.
    assert_eq!(list(&a), [(0, 3), (20, 21)]);
}

#[test]
fn limit_verified() {
    let mut r = set(&[]);
    r.set_limit(1);
    r.add_range(1, 2).unwrap();
    assert_eq!(r.budget(), 0);
    assert_eq!(r.add_singleton(10), Err(Errno::ENOMEM));
    assert_eq!(list(&r), [(1, 2)]);
    r.add_range(0, 100).unwrap();
    assert_eq!(list(&r), [(0, 100)]);
    // A split needs a range: refused, unchanged.
    assert_eq!(r.remove_range(5, 6), Err(Errno::ENOMEM));
    assert_eq!(list(&r), [(0, 100)]);
    // Trimming needs none.
    r.remove_range(0, 5).unwrap();
    assert_eq!(list(&r), [(6, 100)]);
    // Claims below the first range need one, extensions do not.
    assert_eq!(r.claim_range(2), Err(Errno::ENOMEM));
    assert_eq!(r.claim_range(200), Ok(101));
    assert_eq!(list(&r), [(6, 300)]);

    let mut z = set(&[]);
    z.set_limit(0);
    assert_eq!(z.add_singleton(0), Err(Errno::ENOMEM));
    assert!(z.is_empty());

    // Limit on a non-empty set: `limit` more ranges.
    let mut m = set(&[(0, 0), (2, 2), (4, 4)]);
    m.set_limit(1);
    m.add_singleton(6).unwrap();
    assert_eq!(m.add_singleton(8), Err(Errno::ENOMEM));
    m.remove_singleton(0).unwrap();
    assert_eq!(m.budget(), 1);
    m.add_singleton(8).unwrap();
    assert_eq!(list(&m), [(2, 2), (4, 4), (6, 6), (8, 8)]);
}

#[test]
fn swap_keeps_counters() {
    let mut a = set(&[]);
    a.set_limit(1);
    a.add_range(1, 2).unwrap();
    let mut b = set(&[]);
    assert_eq!((a.budget(), b.budget()), (0, -1));
    a.swap_ranges(&mut b);
    assert_eq!(list(&a), []);
    assert_eq!(list(&b), [(1, 2)]);
    assert_eq!((a.budget(), b.budget()), (0, -1));
    // `a` holds nothing yet has no budget left.
    assert_eq!(a.add_singleton(5), Err(Errno::ENOMEM));
    // `b` was unlimited, but freeing the range it received brings its counter to 0.
    b.remove_range(1, 2).unwrap();
    assert_eq!(b.budget(), 0);
    assert_eq!(b.add_singleton(5), Err(Errno::ENOMEM));
    assert_eq!(b.name(), b"t");
}

#[test]
fn names_and_printing() {
    let mut r = RangeList::new(Some(b"ioreq_server 1 port"), RangesetFlags::PRETTYPRINT_HEX);
    for (s, e) in [(0x13, 0x1f), (0x30, 0x40), (0x50, 0x3ef)] {
        r.add_range(s, e).unwrap();
    }
    assert_eq!(
        r.to_string(),
        "ioreq_server 1 port { 13-1f, 30-40, 50-3ef }"
    );

    let mut r = RangeList::new(None, RangesetFlags::PRETTYPRINT_HEX);
    r.add_range(0, 2).unwrap();
    r.add_singleton(5).unwrap();
    assert_eq!(r.to_string(), "(no name)  { 0-2, 5 }");

    let mut r = RangeList::new(Some(b"dec"), RangesetFlags::empty());
    r.add_range(0, MAX).unwrap();
    assert_eq!(r.to_string(), "dec        { 0-18446744073709551615 }");

    let mut r = RangeList::new(
        Some(b"limited-name-that-is-longer-than-31-characters"),
        RangesetFlags::PRETTYPRINT_HEX,
    );
    r.add_range(2, 3).unwrap();
    r.add_singleton(5).unwrap();
    assert_eq!(r.name().len(), 31);
    assert_eq!(r.to_string(), "limited-name-that-is-longer-tha { 2-3, 5 }");

    let r = RangeList::new(Some(b"e"), RangesetFlags::empty());
    assert_eq!(r.to_string(), "e          { }");
    let r = RangeList::new(Some(b""), RangesetFlags::empty());
    assert_eq!(r.to_string(), "           { }");
    // strlcpy stops at NUL.
    let r = RangeList::new(Some(b"ab\0cd"), RangesetFlags::empty());
    assert_eq!(r.name(), b"ab");
    let mut r = RangeList::new(Some(b"hex"), RangesetFlags::PRETTYPRINT_HEX);
    r.add_singleton(MAX).unwrap();
    assert_eq!(format!("{r}"), "hex        { ffffffffffffffff }");
}

/// R10: name bytes that are not UTF-8 print as U+FFFD; padding still counts the name's bytes.
#[test]
fn r10_non_utf8_name() {
    let r = RangeList::new(Some(b"a\xffb"), RangesetFlags::empty());
    assert_eq!(r.name(), b"a\xffb");
    assert_eq!(r.to_string(), "a\u{fffd}b        { }");
}

#[test]
fn clear_returns_budget() {
    let mut r = set(&[(1, 1), (3, 3)]);
    r.set_limit(0);
    r.clear();
    assert_eq!(r.budget(), 2);
}

#[test]
fn containing_hinted_agrees_for_any_hint() {
    // Coalesced, and a non-coalesced set (claim_range leaves touching ranges).
    let mut touching = set(&[(0, 3), (8, 9)]);
    assert_eq!(touching.claim_range(4), Ok(4));
    assert_eq!(list(&touching), [(0, 7), (8, 9)]);
    let points = [
        0,
        1,
        2,
        4,
        5,
        7,
        8,
        9,
        10,
        20,
        21,
        25,
        30,
        31,
        40,
        MAX - 1,
        MAX,
    ];
    let sets = [
        set(&[(2, 4), (10, 20), (30, 30), (40, MAX)]),
        touching,
        set(&[]),
    ];
    for r in sets {
        for s in points {
            for e in points {
                let want = r.containing(s, e);
                assert_eq!(want.is_some(), r.contains_range(s, e));
                for hint in 0..6 {
                    assert_eq!(r.containing_hinted(s, e, hint), want, "{s} {e} {hint}");
                }
            }
        }
    }
}

#[test]
fn searches_and_shifts_around_their_size_thresholds() {
    // Sets on both sides of LINEAR_MAX (counted vs bisected), SHORT_MOVE (carried vs memmoved)
    // and CHUNK (one chunk vs several: splits, merges, searches across chunks).
    let sizes = (0..LINEAR_MAX as u64 + 4).chain([
        CHUNK as u64 - 1,
        CHUNK as u64,
        CHUNK as u64 + 1,
        2 * CHUNK as u64 + 3,
    ]);
    for n in sizes {
        let base: Vec<(u64, u64)> = (0..n).map(|i| (10 * i + 10, 10 * i + 13)).collect();
        let mut r = set(&base);
        r.check_invariants(true).unwrap();
        for x in 0..10 * n + 30 {
            let want = base
                .partition_point(|q| q.0 <= x)
                .checked_sub(1)
                .map(|i| base[i]);
            let at = |p: Option<Pos>| p.map(|p| r.get(p).map(|q| (q.s, q.e)).unwrap());
            assert_eq!(at(r.find(x)), want, "n={n} x={x}");
            assert_eq!(at(r.lookup(x)), want, "n={n} x={x}");
            let ranges: Vec<Range> = r.ranges().to_vec();
            assert_eq!(
                prefix_len(&ranges, |q| q.e < x),
                ranges.partition_point(|q| q.e < x)
            );
        }
        // A new range in every gap (and before the first), then removed again; and a split of
        // every range, healed again.
        for j in 0..=n {
            let (s, e) = (10 * j + 5, 10 * j + 6);
            r.add_range(s, e).unwrap();
            let mut want = base.clone();
            want.insert(j as usize, (s, e));
            assert_eq!(list(&r), want, "n={n} add in gap {j}");
            r.check_invariants(true).unwrap();
            r.remove_range(s, e).unwrap();
            assert_eq!(list(&r), base, "n={n} remove from gap {j}");
            r.check_invariants(true).unwrap();
        }
        for j in 0..n {
            let s = 10 * j + 11;
            r.remove_range(s, s + 1).unwrap();
            let mut want = base.clone();
            want[j as usize].1 = s - 1;
            want.insert(j as usize + 1, (s + 2, s + 2));
            assert_eq!(list(&r), want, "n={n} split {j}");
            r.check_invariants(true).unwrap();
            r.add_range(s, s + 1).unwrap();
            assert_eq!(list(&r), base, "n={n} heal {j}");
        }
        assert_eq!(r.budget(), UNLIMITED - n as i64);
    }
}

/// The set's ranges as a bitmap of the values 0..N, for comparing with a reference.
fn from_bitmap(bits: &[bool]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (v, &b) in bits.iter().enumerate() {
        let v = v as u64;
        if b {
            match out.last_mut() {
                Some(last) if last.1 + 1 == v => last.1 = v,
                _ => out.push((v, v)),
            }
        }
    }
    out
}

#[test]
fn random_adds_and_removes_on_large_sets_match_a_bitmap() {
    // Sets of up to a few thousand ranges (many chunks), changed by random adds and removes of
    // short and long spans (swallowing and splitting across chunks), against a bitmap; the budget
    // always accounts for every range.
    const N: usize = 30_000;
    let mut bits = vec![false; N];
    let mut r = RangeList::new(None, RangesetFlags::empty());
    let mut seed = 0x1234_5678_9abc_def0u64;
    let mut rand = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let mut most = 0;
    for step in 0..30_000u32 {
        most = most.max(r.ranges().len());
        let s = rand() % N as u64;
        let len = match rand() % 64 {
            0 => rand() % 2_000,
            1..=6 => rand() % 64,
            _ => rand() % 3,
        };
        let e = (s + len).min(N as u64 - 1);
        // Mostly adds of short spans while the set is small, removes of long ones now and then.
        let add = rand() % 8 < 5;
        if add {
            r.add_range(s, e).unwrap();
        } else {
            r.remove_range(s, e).unwrap();
        }
        for v in s..=e {
            bits[v as usize] = add;
        }
        if step % 97 == 0 || len >= 64 {
            assert_eq!(list(&r), from_bitmap(&bits), "step {step}");
            r.check_invariants(true).unwrap();
            assert_eq!(r.budget(), UNLIMITED - r.ranges().len() as i64);
            for _ in 0..20 {
                let x = rand() % N as u64;
                assert_eq!(r.contains_singleton(x), bits[x as usize]);
            }
        }
    }
    assert_eq!(list(&r), from_bitmap(&bits));
    assert!(
        most > 8 * CHUNK,
        "the sets stayed small: {most} ranges at most"
    );
}
