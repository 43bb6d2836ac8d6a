//! An HDR histogram fixed at 3 significant digits, lowest discernible value 1, counts as
//! saturating `u32`: the same bucket layout, memory and quantile rule as
//! `hdrhistogram::Histogram::<u32>::new(3)` (auto-resizing), which the tests use as the
//! oracle.
//!
//! Why not the crate: recording is the per-value hot path of the monitor, and the crate's
//! `record` (generic precision, `Option`/`Result` plumbing, min/max and total bookkeeping we
//! keep exactly elsewhere) was the largest single cost of a batch. With the layout fixed
//! at compile time, recording is a leading-zero count, a shift and an increment.

/// Sub-buckets per bucket: 2^11 = 2048 ≥ 2·10^3 (3 significant digits).
const SUB_BUCKET_COUNT_MAGNITUDE: u32 = 11;
const SUB_BUCKET_HALF_COUNT_MAGNITUDE: u32 = SUB_BUCKET_COUNT_MAGNITUDE - 1;
const SUB_BUCKET_HALF_COUNT: usize = 1 << SUB_BUCKET_HALF_COUNT_MAGNITUDE;
const SUB_BUCKET_MASK: u64 = (1 << SUB_BUCKET_COUNT_MAGNITUDE) - 1;
/// 64 − unit magnitude (0: lowest discernible value 1) − sub-bucket-count magnitude.
const LEADING_ZERO_COUNT_BASE: u32 = 64 - SUB_BUCKET_COUNT_MAGNITUDE;

#[derive(Debug, Clone, Default)]
pub struct Hdr {
    /// Grown a whole bucket at a time to cover the largest value seen, as the crate does.
    counts: Vec<u32>,
    total: u64,
}

#[inline]
fn bucket_of(value: u64) -> u32 {
    LEADING_ZERO_COUNT_BASE - (value | SUB_BUCKET_MASK).leading_zeros()
}

/// The counts index of `value` (the crate's `index_for`).
#[inline]
fn index_of(value: u64) -> usize {
    let bucket = bucket_of(value);
    let sub_bucket = (value >> bucket) as usize;
    // bucket 0 uses all its sub-buckets; the others only their top half
    ((bucket as usize + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE) + sub_bucket - SUB_BUCKET_HALF_COUNT
}

/// The lowest value of the counts index `index` (the crate's `value_for`).
fn value_of(index: usize) -> u64 {
    let bucket = (index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) as i64 - 1;
    let sub_bucket = (index & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT;
    if bucket < 0 {
        (sub_bucket - SUB_BUCKET_HALF_COUNT) as u64
    } else {
        (sub_bucket as u64) << bucket
    }
}

/// The highest value counted together with `value` (the crate's `highest_equivalent`).
fn highest_equivalent(value: u64) -> u64 {
    let bucket = bucket_of(value);
    let lowest = (value >> bucket) << bucket;
    lowest.saturating_add(1 << bucket) - 1
}

impl Hdr {
    pub fn new() -> Self {
        Self::default()
    }

    /// Counts `value`. Memory grows to cover the largest value seen (callers bound it).
    #[inline]
    pub fn record(&mut self, value: u64) {
        let i = index_of(value);
        if i >= self.counts.len() {
            self.grow(i);
        }
        let c = &mut self.counts[i];
        *c = c.saturating_add(1);
        self.total += 1;
    }

    #[cold]
    fn grow(&mut self, index: usize) {
        // to the end of the index's bucket, as the crate's resize
        let len =
            ((index >> SUB_BUCKET_HALF_COUNT_MAGNITUDE) + 1) << SUB_BUCKET_HALF_COUNT_MAGNITUDE;
        let len = len.max(2 * SUB_BUCKET_HALF_COUNT);
        self.counts.resize(len, 0);
    }

    pub fn len(&self) -> u64 {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Bytes held by the counts.
    pub fn memory(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<u32>()
    }

    /// The crate's `value_at_quantile`: the highest value equivalent to the first index
    /// whose cumulative count reaches ⌈q·total⌉ (at least 1); the lowest for q = 0.
    /// 0 when empty.
    pub fn value_at_quantile(&self, quantile: f64) -> u64 {
        let quantile = if quantile > 1.0 { 1.0 } else { quantile };
        let target = ((quantile * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        let mut last = None;
        for (i, &c) in self.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            seen += u64::from(c);
            last = Some(i);
            if seen >= target {
                break;
            }
        }
        // a saturated count can leave `seen` short of the total: the last value counted
        let Some(i) = last else { return 0 };
        let v = value_of(i);
        if quantile == 0.0 {
            v
        } else {
            highest_equivalent(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::Histogram;
    use proptest::prelude::*;

    const QUANTILES: [f64; 9] = [0.0, 0.001, 0.05, 0.5, 0.9, 0.99, 0.999, 1.0, 1.5];

    fn check_against_crate(values: &[u64]) -> Result<(), TestCaseError> {
        let mut ours = Hdr::new();
        let mut theirs = Histogram::<u32>::new(3).unwrap();
        for &v in values {
            ours.record(v);
            theirs.record(v).unwrap();
        }
        prop_assert_eq!(ours.len(), theirs.len());
        prop_assert_eq!(ours.counts.len(), theirs.distinct_values(), "same memory");
        for q in QUANTILES {
            prop_assert_eq!(
                ours.value_at_quantile(q),
                theirs.value_at_quantile(q),
                "q = {}",
                q
            );
        }
        Ok(())
    }

    #[test]
    fn layout_matches_the_crate_at_bucket_edges() {
        let mut edges = vec![0u64, 1, 2, 1023, 1024, 2047, 2048, 2049, 4095, 4096];
        for b in 11..40 {
            let p = 1u64 << b;
            edges.extend([p - 1, p, p + 1, p + (p >> 1)]);
        }
        edges.push(1_000_000_000_000);
        let h = Histogram::<u32>::new(3).unwrap();
        for &v in &edges {
            assert_eq!(highest_equivalent(v), h.highest_equivalent(v), "value {v}");
            assert_eq!(value_of(index_of(v)), h.lowest_equivalent(v), "value {v}");
        }
        check_against_crate(&edges).unwrap();
    }

    #[test]
    fn empty_is_zero() {
        assert_eq!(Hdr::new().value_at_quantile(0.5), 0);
    }

    proptest! {
        #[test]
        fn same_quantiles_and_memory_as_the_crate(
            values in prop::collection::vec(
                prop_oneof![0u64..5000, 0u64..100_000_000, 0u64..=1_000_000_000_000],
                1..400,
            ),
        ) {
            check_against_crate(&values)?;
        }
    }
}
