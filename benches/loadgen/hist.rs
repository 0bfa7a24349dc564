//! A small HDR-style latency histogram: log-linear buckets with 128 sub-buckets per power of
//! two, so any recorded value is reported within 1/128 (< 0.8 %) of itself, from 1 ns to
//! `u64::MAX`, in a fixed 58 KiB table. It is what HdrHistogram does with 2 significant
//! digits, written here because the load generator needs only record / merge / percentile.

/// log2 of the number of sub-buckets per power of two.
const SUB_BITS: u32 = 7;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets: the first `SUB` values exactly, then `SUB` buckets for each further power of two.
const BUCKETS: usize = ((64 - SUB_BITS as usize) + 1) * SUB as usize;

/// Counts of values (nanoseconds, or any unit) in log-linear buckets.
#[derive(Clone)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
    min: u64,
    max: u64,
    sum: u128,
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new()
    }
}

impl Histogram {
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS],
            total: 0,
            min: u64::MAX,
            max: 0,
            sum: 0,
        }
    }

    fn index(v: u64) -> usize {
        if v < SUB {
            return v as usize;
        }
        let msb = 63 - v.leading_zeros();
        let shift = msb - SUB_BITS;
        let sub = (v >> shift) - SUB;
        ((shift as u64 + 1) * SUB + sub) as usize
    }

    /// The smallest and largest value that fall into bucket `idx`.
    fn bounds(idx: usize) -> (u64, u64) {
        let idx = idx as u64;
        if idx < SUB {
            return (idx, idx);
        }
        let shift = idx / SUB - 1;
        let low = (SUB + idx % SUB) << shift;
        (low, low + ((1u64 << shift) - 1))
    }

    pub fn record(&mut self, v: u64) {
        self.counts[Self::index(v)] += 1;
        self.total += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        self.sum += v as u128;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.sum += other.sum;
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    pub fn min(&self) -> u64 {
        if self.total == 0 {
            0
        } else {
            self.min
        }
    }

    pub fn max(&self) -> u64 {
        self.max
    }

    pub fn mean(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.sum as f64 / self.total as f64
        }
    }

    /// The value at percentile `p` (0–100): the highest value equivalent to the bucket that
    /// holds the ⌈p·n/100⌉-th smallest recording (as HdrHistogram reports it), never more
    /// than the largest recorded value. 0 when empty.
    pub fn percentile(&self, p: f64) -> u64 {
        if self.total == 0 {
            return 0;
        }
        let rank = ((p.clamp(0.0, 100.0) / 100.0) * self.total as f64).ceil() as u64;
        let rank = rank.clamp(1, self.total);
        let mut seen = 0u64;
        for (idx, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Self::bounds(idx).1.min(self.max).max(self.min);
            }
        }
        self.max
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_values_are_exact() {
        let mut h = Histogram::new();
        for v in 0..SUB {
            h.record(v);
        }
        assert_eq!(h.count(), SUB);
        assert_eq!(h.min(), 0);
        assert_eq!(h.max(), SUB - 1);
        assert_eq!(h.percentile(50.0), SUB / 2 - 1);
        assert_eq!(h.percentile(100.0), SUB - 1);
    }

    #[test]
    fn every_value_lands_in_a_bucket_that_contains_it() {
        let mut v = 1u64;
        while v < u64::MAX / 4 {
            for x in [v, v + 1, v + v / 2, v * 2 - 1] {
                let (lo, hi) = Histogram::bounds(Histogram::index(x));
                assert!(lo <= x && x <= hi, "{x} not in [{lo}, {hi}]");
                // Bucket width is at most 1/128 of its low end: < 0.8 % error.
                assert!((hi - lo) as f64 <= lo as f64 / SUB as f64 + 1.0);
            }
            v = v + v / 5 * 2 + 1;
        }
        let (lo, hi) = Histogram::bounds(Histogram::index(u64::MAX));
        assert!(lo > u64::MAX / 2 && hi == u64::MAX);
        assert!(Histogram::index(u64::MAX) < BUCKETS);
    }

    #[test]
    fn percentiles_of_a_uniform_range() {
        let mut h = Histogram::new();
        for v in 1..=100_000u64 {
            h.record(v * 1000); // 1 µs .. 100 ms in ns
        }
        let close = |got: u64, want: u64| {
            let err = (got as f64 - want as f64).abs() / want as f64;
            assert!(err < 0.01, "got {got}, want {want}");
        };
        close(h.percentile(50.0), 50_000_000);
        close(h.percentile(99.0), 99_000_000);
        close(h.percentile(99.9), 99_900_000);
        assert_eq!(h.percentile(100.0), 100_000_000);
        let p0 = h.percentile(0.0);
        assert!((1000..1008).contains(&p0), "{p0}");
        close(h.mean() as u64, 50_000_500);
    }

    #[test]
    fn a_tail_shows_at_p99_not_at_p50() {
        let mut h = Histogram::new();
        for _ in 0..985 {
            h.record(20_000);
        }
        for _ in 0..15 {
            h.record(5_000_000);
        }
        assert!(h.percentile(50.0) < 20_200);
        assert!(h.percentile(99.0) >= 4_960_000);
        assert_eq!(h.percentile(99.9), 5_000_000);
    }

    #[test]
    fn merge_adds_counts_and_extremes() {
        let mut a = Histogram::new();
        let mut b = Histogram::new();
        a.record(10);
        b.record(1_000_000);
        b.record(5);
        a.merge(&b);
        assert_eq!(a.count(), 3);
        assert_eq!(a.min(), 5);
        assert_eq!(a.max(), 1_000_000);
        assert_eq!(a.percentile(100.0), 1_000_000);
    }

    #[test]
    fn empty_histogram_reports_zero() {
        let h = Histogram::new();
        assert_eq!(h.percentile(99.0), 0);
        assert_eq!(h.min(), 0);
        assert_eq!(h.mean(), 0.0);
    }
}
