//! A log-linear histogram of `u64` values with the layout, precision and quantile rule of
//! an HDR histogram at 3 significant digits (unit 1): values below 2048 are counted
//! exactly; above, bucket `b` holds 1024 bins of width `2^b`. Recording is a few
//! arithmetic operations and one increment, inlined into the caller's loop (a call into a
//! general-purpose HDR implementation, with its range checks and per-value min/max
//! tracking, cost more than the rest of recording a value). A test checks that every
//! quantile equals the `hdrhistogram` crate's for the same values.

/// Bins per half bucket (`2^10`): 3 significant digits.
const HALF_MAGNITUDE: u32 = 10;
const HALF: usize = 1 << HALF_MAGNITUDE;
/// `value | SUB_MASK` has its highest bit at 10 or above.
const SUB_MASK: u64 = (2 * HALF as u64) - 1;

#[derive(Debug, Default, Clone)]
pub struct LogHistogram {
    /// Counts by bin; grows a bucket at a time up to the highest bin recorded.
    counts: Vec<u32>,
}

/// The bucket of `value`: 0 below 2048, then one more per doubling.
#[inline]
fn bucket(value: u64) -> u32 {
    (63 - HALF_MAGNITUDE) - (value | SUB_MASK).leading_zeros()
}

/// The bin of `value`.
#[inline]
pub fn index_of(value: u64) -> usize {
    let b = bucket(value);
    ((b as usize) << HALF_MAGNITUDE) + (value >> b) as usize
}

/// The lowest value of bin `index`, and the bin's width.
fn bin_range(index: usize) -> (u64, u64) {
    let b = (index >> HALF_MAGNITUDE).saturating_sub(1) as u32;
    let sub = (index - ((b as usize) << HALF_MAGNITUDE)) as u64;
    (sub << b, 1 << b)
}

impl LogHistogram {
    pub fn new() -> Self {
        LogHistogram::default()
    }

    /// Counts `value` (a bin's count saturates at `u32::MAX`).
    #[inline]
    pub fn record(&mut self, value: u64) {
        let i = index_of(value);
        if i >= self.counts.len() {
            self.grow(i);
        }
        let c = &mut self.counts[i];
        *c = c.saturating_add(1);
    }

    #[cold]
    fn grow(&mut self, index: usize) {
        // to the end of the index's bucket, as the HDR histogram grows
        let end = ((index >> HALF_MAGNITUDE) + 1) << HALF_MAGNITUDE;
        self.counts.resize(end, 0);
    }

    /// Memory held by the counts, in bytes.
    pub fn bytes(&self) -> usize {
        self.counts.capacity() * std::mem::size_of::<u32>()
    }

    /// The HDR value at quantile `q` (0..=1) of `total` recorded values: the highest value
    /// equivalent to the first bin where the running count reaches `max(1, ceil(q·total))`
    /// (the lowest one for `q = 0`); 0 when empty.
    pub fn value_at_quantile(&self, q: f64, total: u64) -> u64 {
        let q = q.min(1.0);
        let target = ((q * total as f64).ceil() as u64).max(1);
        let mut running = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            running += u64::from(c);
            if running >= target {
                let (low, width) = bin_range(i);
                return if q == 0.0 {
                    low
                } else {
                    low.saturating_add(width) - 1
                };
            }
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::Histogram;
    use proptest::prelude::*;

    #[test]
    fn bins_follow_the_hdr_layout() {
        assert_eq!(index_of(0), 0);
        assert_eq!(index_of(2047), 2047);
        assert_eq!(index_of(2048), 2048);
        assert_eq!(index_of(2049), 2048);
        assert_eq!(index_of(4096), 3072);
        assert_eq!(bin_range(2048), (2048, 2));
        assert_eq!(bin_range(3072), (4096, 4));
        assert_eq!(bin_range(5), (5, 1));
        for v in [0u64, 1, 2047, 2048, 5000, 123_456_789, 1_000_000_000_000] {
            let (low, width) = bin_range(index_of(v));
            assert!(low <= v && v < low + width, "{v} in [{low}, {low}+{width})");
        }
    }

    proptest! {
        // The same values in both: every quantile is the `hdrhistogram` crate's.
        #[test]
        fn quantiles_equal_the_hdr_crate(
            values in prop::collection::vec(
                prop_oneof![0u64..3000, 0u64..200_000, 0u64..=1_000_000_000_000],
                1..400,
            ),
            qs in prop::collection::vec(0.0f64..=1.0, 1..8),
        ) {
            let mut mine = LogHistogram::new();
            let mut hdr = Histogram::<u32>::new(3).unwrap();
            for &v in &values {
                mine.record(v);
                hdr.record(v).unwrap();
            }
            for q in qs.into_iter().chain([0.0, 0.5, 0.9, 0.99, 0.999, 1.0]) {
                prop_assert_eq!(
                    mine.value_at_quantile(q, values.len() as u64),
                    hdr.value_at_quantile(q),
                    "q = {}", q
                );
            }
        }
    }
}
