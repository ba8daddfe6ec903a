//! Sources of choices for the operation generator: a seeded PRNG for the differential test and
//! the benchmark, the fuzzer's bytes for the fuzz target.

pub trait Entropy {
    fn u64(&mut self) -> u64;

    /// Uniform-enough in `0..n` (`n > 0`).
    fn below(&mut self, n: u64) -> u64 {
        self.u64() % n.max(1)
    }
    /// A value in `a..=b` (`a <= b`), the whole `u64` range included.
    fn within(&mut self, a: u64, b: u64) -> u64 {
        match (b - a).checked_add(1) {
            Some(n) => a + self.below(n),
            None => self.u64(),
        }
    }
    /// True with probability `pct`/100.
    fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
    fn pick<T: Copy>(&mut self, xs: &[T]) -> T {
        xs[self.below(xs.len() as u64) as usize]
    }
    /// Index by weights.
    fn weighted(&mut self, weights: &[u64]) -> usize {
        let total: u64 = weights.iter().sum();
        let mut x = self.below(total);
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// SplitMix64.
pub struct Rng(pub u64);

impl Entropy for Rng {
    fn u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// The fuzzer's input, eight bytes per choice; zeros once it is used up.
pub struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Bytes { data }
    }
    pub fn exhausted(&self) -> bool {
        self.data.is_empty()
    }
}

impl Bytes<'_> {
    fn take(&mut self, want: usize) -> u64 {
        let n = self.data.len().min(want).min(8);
        let mut b = [0u8; 8];
        b[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        u64::from_le_bytes(b)
    }
}

impl Entropy for Bytes<'_> {
    fn u64(&mut self) -> u64 {
        self.take(8)
    }
    /// Only as many bytes as `n` needs, so that small choices cost the fuzzer one byte.
    fn below(&mut self, n: u64) -> u64 {
        let n = n.max(1);
        let bytes = (64 - (n - 1).leading_zeros()).div_ceil(8).max(1) as usize;
        self.take(bytes) % n
    }
}
