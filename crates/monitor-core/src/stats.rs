//! The statistics the legacy `getStats` returns, with its exact arithmetic: mean and
//! population standard deviation summed in recording order, percentile p taken as
//! `sorted[max(0, ceil(n·p) − 1)]` (so results match the legacy bit for bit).

/// Statistics over a set of values. `p5` is not part of the legacy shape: it is the low
/// tail that higher-is-better metrics are judged by.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stats {
    pub mean: f64,
    pub median: f64,
    pub p95: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
    pub count: usize,
    pub stddev: f64,
    pub p5: f64,
}

/// The legacy percentile rule: index `max(0, ceil(n·p) − 1)`, computed in f64 as JS does.
pub fn percentile_index(n: usize, p: f64) -> usize {
    let i = (n as f64 * p).ceil() - 1.0;
    if i <= 0.0 {
        0
    } else {
        (i as usize).min(n - 1)
    }
}

/// Mean and population standard deviation, summed in the order given (the legacy order).
pub fn mean_stddev<I>(values: I) -> (f64, f64)
where
    I: Iterator<Item = f64> + Clone,
{
    // `fold` (not a `for` loop) so that chained slices are walked one after the other
    let (n, sum) = values
        .clone()
        .fold((0usize, 0.0), |(n, sum), v| (n + 1, sum + v));
    let mean = sum / n as f64;
    let sq = values.fold(0.0, |sq, v| sq + (v - mean) * (v - mean));
    (mean, (sq / n as f64).sqrt())
}

/// Stats from values already sorted ascending (non-empty).
pub fn from_sorted(sorted: &[f64], mean: f64, stddev: f64) -> Stats {
    let n = sorted.len();
    let at = |p: f64| sorted[percentile_index(n, p)];
    Stats {
        mean,
        median: at(0.5),
        p95: at(0.95),
        p99: at(0.99),
        min: sorted[0],
        max: sorted[n - 1],
        count: n,
        stddev,
        p5: at(0.05),
    }
}

/// Stats by selection instead of sorting: expected O(n). `scratch` (non-empty) is
/// reordered. Used for time windows, whose subset changes with every read.
pub fn by_selection(scratch: &mut [f64], mean: f64, stddev: f64) -> Stats {
    let n = scratch.len();
    let (i5, i50, i95, i99) = (
        percentile_index(n, 0.05),
        percentile_index(n, 0.5),
        percentile_index(n, 0.95),
        percentile_index(n, 0.99),
    );
    // Select from the highest rank down: after selecting rank k, every element left of k
    // is ≤ it, so the next (smaller) rank is selected within that prefix only.
    let mut upper = n;
    let mut pick = |k: usize, upper: &mut usize| -> f64 {
        let slice = &mut scratch[..*upper];
        let (_, v, _) = slice.select_nth_unstable_by(k, f64::total_cmp);
        let v = *v;
        *upper = k;
        v
    };
    let max = pick(n - 1, &mut upper);
    let p99 = if i99 == n - 1 {
        max
    } else {
        pick(i99, &mut upper)
    };
    let p95 = if i95 == i99 {
        p99
    } else {
        pick(i95, &mut upper)
    };
    let median = if i50 == i95 {
        p95
    } else {
        pick(i50, &mut upper)
    };
    let p5 = if i5 == i50 {
        median
    } else {
        pick(i5, &mut upper)
    };
    let min = if i5 == 0 { p5 } else { pick(0, &mut upper) };
    Stats {
        mean,
        median,
        p95,
        p99,
        min,
        max,
        count: n,
        stddev,
        p5,
    }
}

/// The naive recomputation (copy, sort, two passes): the reference the tests compare with.
pub fn naive(values: &[f64]) -> Option<Stats> {
    if values.is_empty() {
        return None;
    }
    let (mean, stddev) = mean_stddev(values.iter().copied());
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    Some(from_sorted(&sorted, mean, stddev))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn legacy_percentile_rule() {
        // ceil(n·p) − 1, never below 0
        assert_eq!(percentile_index(1, 0.5), 0);
        assert_eq!(percentile_index(10, 0.5), 4);
        assert_eq!(percentile_index(10, 0.95), 9);
        assert_eq!(percentile_index(1000, 0.95), 949);
        assert_eq!(percentile_index(1000, 0.99), 989);
        assert_eq!(percentile_index(3, 0.0), 0);
    }

    #[test]
    fn stats_of_known_values() {
        let s = naive(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!(
            (s.min, s.max, s.median, s.p95, s.count),
            (1.0, 4.0, 2.0, 4.0, 4)
        );
        assert_eq!(s.mean, 2.5);
        assert!((s.stddev - 1.25f64.sqrt()).abs() < 1e-15);
    }

    proptest! {
        #[test]
        fn selection_equals_sorting(values in prop::collection::vec(-1e6f64..1e6, 1..300)) {
            let expected = naive(&values).unwrap();
            let (mean, sd) = mean_stddev(values.iter().copied());
            let mut scratch = values.clone();
            prop_assert_eq!(by_selection(&mut scratch, mean, sd), expected);
        }
    }
}
