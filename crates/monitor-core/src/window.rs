//! The last N values of one metric (the legacy keeps 1000), in recording order, with a
//! sorted view kept up to date incrementally.
//!
//! Why not sort on each read: the legacy copies and sorts the whole history on every
//! `getStats` (~0.3 ms for 1000 values). Here recording is O(1) — the value goes into the
//! ring (the newest `added` values are the changes), an evicted value into a `removed`
//! list — and the first
//! read after a change sorts only those few changes and merges them into the cached sorted
//! copy in one linear pass (O(n + k log k) for k changes). After more than N/2 changes a
//! full rebuild is cheaper and is done instead. The computed stats are cached until the
//! next change, so repeated reads cost nothing.

use crate::stats::{self, Stats};

/// One recorded value. `seq` numbers the values of a metric from 0 in recording order
/// (the drop-in layer uses it to join metadata it keeps on the JS side).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub value: f64,
    pub timestamp_ms: f64,
    pub seq: u64,
}

/// A ring of samples stored as three parallel arrays (values are scanned alone by the
/// statistics), oldest at `head` once full.
#[derive(Debug)]
pub struct RecentWindow {
    capacity: usize,
    values: Vec<f64>,
    times: Vec<f64>,
    seqs: Vec<u64>,
    head: usize,
    /// Sorted values as of the last sync, unless `stale`.
    sorted: Vec<f64>,
    /// How many of the newest values arrived since the last sync.
    added: usize,
    /// Values evicted since the last sync (all of them are in `sorted`).
    removed: Vec<f64>,
    stale: bool,
    merge_buf: Vec<f64>,
    cached: Option<Stats>,
    scratch: Vec<f64>,
}

impl RecentWindow {
    pub fn new(capacity: usize) -> Self {
        assert!(capacity > 0, "window capacity must be positive");
        RecentWindow {
            capacity,
            values: Vec::new(),
            times: Vec::new(),
            seqs: Vec::new(),
            head: 0,
            sorted: Vec::new(),
            added: 0,
            removed: Vec::new(),
            stale: false,
            merge_buf: Vec::new(),
            cached: None,
            scratch: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Physical index of the j-th oldest sample.
    #[inline]
    fn physical(&self, j: usize) -> usize {
        let i = self.head + j;
        if i >= self.values.len() {
            i - self.values.len()
        } else {
            i
        }
    }

    /// The values oldest first, as two slices.
    #[inline]
    fn value_slices(&self) -> (&[f64], &[f64]) {
        (&self.values[self.head..], &self.values[..self.head])
    }

    #[inline]
    fn time_slices(&self) -> (&[f64], &[f64]) {
        (&self.times[self.head..], &self.times[..self.head])
    }

    /// Appends a value, evicting the oldest when full. O(1).
    #[inline]
    pub fn push(&mut self, sample: Sample) {
        if self.values.len() < self.capacity {
            // not full yet: head stays 0 and the arrays grow in order
            self.values.push(sample.value);
            self.times.push(sample.timestamp_ms);
            self.seqs.push(sample.seq);
        } else {
            let i = self.head;
            if !self.stale {
                self.removed.push(self.values[i]);
            }
            self.values[i] = sample.value;
            self.times[i] = sample.timestamp_ms;
            self.seqs[i] = sample.seq;
            self.head = if i + 1 == self.capacity { 0 } else { i + 1 };
        }
        if !self.stale {
            self.added += 1;
            if self.added > self.capacity / 2 {
                self.mark_stale();
            }
        }
        self.cached = None;
    }

    /// Appends `values[i]` recorded at `times[i]`, numbered from `first_seq`, in order: the
    /// same end state as pushing them one by one, but once the run makes the sorted copy
    /// stale (the common case for a batch) the ring is written by slice copies.
    pub fn push_slices(&mut self, values: &[f64], times: &[f64], first_seq: u64) {
        let k = values.len().min(times.len());
        if k == 0 {
            return;
        }
        if !self.stale && self.added + k > self.capacity / 2 {
            // pushing one by one would cross the threshold within this run
            self.mark_stale();
        }
        if !self.stale {
            for (j, (&value, &timestamp_ms)) in values.iter().zip(times).enumerate() {
                self.push(Sample {
                    value,
                    timestamp_ms,
                    seq: first_seq + j as u64,
                });
            }
            return;
        }
        // Stale: the next read re-sorts, so only the ring is written. Values that later
        // values of the same run would evict are never written.
        let skip = k.saturating_sub(self.capacity);
        let (mut values, mut times) = (&values[skip..k], &times[skip..k]);
        let mut seq = first_seq + skip as u64;
        // not full yet: head stays 0 and the arrays grow in order
        let grow = (self.capacity - self.values.len()).min(values.len());
        self.values.extend_from_slice(&values[..grow]);
        self.times.extend_from_slice(&times[..grow]);
        self.seqs.extend(seq..seq + grow as u64);
        seq += grow as u64;
        (values, times) = (&values[grow..], &times[grow..]);
        // full: overwrite from the oldest, in at most two segments
        while !values.is_empty() {
            let len = self.values.len();
            let (h, n) = (self.head, (len - self.head).min(values.len()));
            self.values[h..h + n].copy_from_slice(&values[..n]);
            self.times[h..h + n].copy_from_slice(&times[..n]);
            for (dst, s) in self.seqs[h..h + n].iter_mut().zip(seq..) {
                *dst = s;
            }
            seq += n as u64;
            self.head = if h + n == len { 0 } else { h + n };
            (values, times) = (&values[n..], &times[n..]);
        }
        self.cached = None;
    }

    fn mark_stale(&mut self) {
        self.stale = true;
        self.added = 0;
        self.removed.clear();
        self.cached = None;
    }

    /// Brings `sorted` up to date with the ring.
    fn sync(&mut self) {
        if self.stale {
            self.sorted.clear();
            self.sorted.extend_from_slice(&self.values[self.head..]);
            self.sorted.extend_from_slice(&self.values[..self.head]);
            self.sorted.sort_unstable_by(f64::total_cmp);
            self.stale = false;
            return;
        }
        if self.added == 0 && self.removed.is_empty() {
            return;
        }
        // the values added since the last sync are the newest `added` ones
        let mut added = std::mem::take(&mut self.scratch);
        added.clear();
        let n = self.values.len();
        for j in n - self.added..n {
            added.push(self.values[self.physical(j)]);
        }
        added.sort_unstable_by(f64::total_cmp);
        self.removed.sort_unstable_by(f64::total_cmp);
        let out = &mut self.merge_buf;
        out.clear();
        out.reserve(n);
        let (mut a, mut r) = (0, 0);
        for &x in &self.sorted {
            if r < self.removed.len() && self.removed[r].total_cmp(&x).is_eq() {
                r += 1;
                continue;
            }
            while a < added.len() && added[a].total_cmp(&x).is_lt() {
                out.push(added[a]);
                a += 1;
            }
            out.push(x);
        }
        out.extend_from_slice(&added[a..]);
        debug_assert_eq!(r, self.removed.len());
        std::mem::swap(&mut self.sorted, &mut self.merge_buf);
        self.added = 0;
        self.removed.clear();
        self.scratch = added;
    }

    /// Stats over every retained value; cached until the next change.
    pub fn stats(&mut self) -> Option<Stats> {
        if self.values.is_empty() {
            return None;
        }
        if let Some(s) = self.cached {
            return Some(s);
        }
        self.sync();
        let (a, b) = self.value_slices();
        let (mean, stddev) = stats::mean_stddev(a.iter().chain(b).copied());
        let s = stats::from_sorted(&self.sorted, mean, stddev);
        self.cached = Some(s);
        Some(s)
    }

    /// How many retained values have `timestamp ≥ cutoff`.
    pub fn count_since(&self, cutoff_ms: f64) -> usize {
        let (a, b) = self.time_slices();
        a.iter().chain(b).filter(|&&t| t >= cutoff_ms).count()
    }

    /// Stats over the values with `timestamp ≥ cutoff` (the legacy time-window rule).
    /// When the window holds every value this is `stats()`; otherwise the subset is
    /// reduced by selection (expected O(n)), not sorted.
    pub fn stats_since(&mut self, cutoff_ms: f64) -> Option<Stats> {
        let k = self.count_since(cutoff_ms);
        if k == 0 {
            return None;
        }
        if k == self.values.len() {
            return self.stats();
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        for j in 0..self.values.len() {
            let i = self.physical(j);
            if self.times[i] >= cutoff_ms {
                scratch.push(self.values[i]);
            }
        }
        let (mean, stddev) = stats::mean_stddev(scratch.iter().copied());
        let s = stats::by_selection(&mut scratch, mean, stddev);
        self.scratch = scratch;
        Some(s)
    }

    fn sample(&self, j: usize) -> Sample {
        let i = self.physical(j);
        Sample {
            value: self.values[i],
            timestamp_ms: self.times[i],
            seq: self.seqs[i],
        }
    }

    /// The last `limit` samples, oldest first.
    pub fn last(&self, limit: usize) -> impl Iterator<Item = Sample> + '_ {
        let n = self.values.len();
        (n.saturating_sub(limit)..n).map(move |j| self.sample(j))
    }

    /// Every retained sample, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..self.values.len()).map(move |j| self.sample(j))
    }

    /// Keeps only the values with `timestamp ≥ cutoff` (legacy `clearOldMetrics`).
    pub fn retain_since(&mut self, cutoff_ms: f64) {
        if self.count_since(cutoff_ms) == self.values.len() {
            return;
        }
        let kept: Vec<Sample> = self
            .iter()
            .filter(|s| s.timestamp_ms >= cutoff_ms)
            .collect();
        self.values.clear();
        self.times.clear();
        self.seqs.clear();
        self.head = 0;
        for s in kept {
            self.values.push(s.value);
            self.times.push(s.timestamp_ms);
            self.seqs.push(s.seq);
        }
        self.mark_stale();
    }

    pub fn clear(&mut self) {
        self.values.clear();
        self.times.clear();
        self.seqs.clear();
        self.head = 0;
        self.sorted.clear();
        self.added = 0;
        self.removed.clear();
        self.stale = false;
        self.cached = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sample(value: f64, ts: f64, seq: u64) -> Sample {
        Sample {
            value,
            timestamp_ms: ts,
            seq,
        }
    }

    /// The legacy computation over the retained values, in recording order.
    fn naive_since(values: &[(f64, f64)], cutoff: f64) -> Option<Stats> {
        let v: Vec<f64> = values
            .iter()
            .filter(|(_, t)| *t >= cutoff)
            .map(|(v, _)| *v)
            .collect();
        stats::naive(&v)
    }

    #[test]
    fn keeps_the_last_capacity_values_in_order() {
        let mut w = RecentWindow::new(3);
        for i in 0..5 {
            w.push(sample(i as f64, i as f64, i));
        }
        let kept: Vec<f64> = w.iter().map(|s| s.value).collect();
        assert_eq!(kept, vec![2.0, 3.0, 4.0]);
        assert_eq!(w.stats().unwrap().min, 2.0);
    }

    #[test]
    fn retain_since_drops_old_values_and_stats_follow() {
        let mut w = RecentWindow::new(10);
        for i in 0..6 {
            w.push(sample(i as f64 * 10.0, i as f64, i));
        }
        assert_eq!(w.stats().unwrap().count, 6);
        w.retain_since(3.0);
        let s = w.stats().unwrap();
        assert_eq!((s.count, s.min, s.max), (3, 30.0, 50.0));
        w.retain_since(100.0);
        assert!(w.stats().is_none());
    }

    proptest! {
        // Runs pushed at once end in the state of the same values pushed one by one:
        // the same samples in order, the same stats (runs longer than the capacity, runs
        // that cross the re-sort threshold, and runs between reads all occur).
        #[test]
        fn a_run_equals_its_values_pushed_one_by_one(
            runs in prop::collection::vec((prop::collection::vec(-50i32..50, 0..120), any::<bool>()), 1..40),
            cap in prop::sample::select(vec![1usize, 2, 7, 50, 100]),
        ) {
            let (mut by_run, mut by_one) = (RecentWindow::new(cap), RecentWindow::new(cap));
            let mut seq = 0u64;
            for (run, read) in runs {
                let run: Vec<(f64, f64)> = run
                    .into_iter()
                    .map(|v| (v as f64, (seq + v.unsigned_abs() as u64) as f64))
                    .collect();
                let (values, times): (Vec<f64>, Vec<f64>) = run.iter().copied().unzip();
                by_run.push_slices(&values, &times, seq);
                for &(value, timestamp_ms) in &run {
                    by_one.push(sample(value, timestamp_ms, seq));
                    seq += 1;
                }
                if read {
                    prop_assert_eq!(by_run.stats(), by_one.stats());
                    prop_assert_eq!(by_run.stats_since(seq as f64 - 20.0), by_one.stats_since(seq as f64 - 20.0));
                }
                prop_assert!(by_run.iter().eq(by_one.iter()));
            }
            prop_assert_eq!(by_run.stats(), by_one.stats());
        }

        // Interleaved pushes and reads: every read equals the naive recomputation over the
        // same retained values, exactly (same summation order, same percentile rule).
        #[test]
        fn incremental_stats_equal_naive(
            ops in prop::collection::vec((-1e4f64..1e4, 0u8..4, 0u8..20), 1..2500),
            cap in prop::sample::select(vec![1usize, 2, 7, 50, 1000]),
        ) {
            let mut w = RecentWindow::new(cap);
            let mut all: Vec<(f64, f64)> = Vec::new();
            for (i, (v, read, cut)) in ops.into_iter().enumerate() {
                // coarse values so duplicates (and duplicate removals) happen
                let v = if i % 3 == 0 { (v / 1000.0).round() } else { v };
                let ts = i as f64;
                w.push(sample(v, ts, i as u64));
                all.push((v, ts));
                if all.len() > cap { all.remove(0); }
                if read == 0 {
                    prop_assert_eq!(w.stats(), naive_since(&all, f64::NEG_INFINITY));
                } else if read == 1 {
                    let cutoff = ts - cut as f64;
                    prop_assert_eq!(w.stats_since(cutoff), naive_since(&all, cutoff));
                } else if read == 2 && cut == 0 && i % 7 == 0 {
                    // clearOldMetrics now and then
                    let cutoff = ts - 30.0;
                    w.retain_since(cutoff);
                    all.retain(|(_, t)| *t >= cutoff);
                    let kept: Vec<f64> = w.iter().map(|s| s.value).collect();
                    let want: Vec<f64> = all.iter().map(|(v, _)| *v).collect();
                    prop_assert_eq!(kept, want);
                }
            }
            prop_assert_eq!(w.stats(), naive_since(&all, f64::NEG_INFINITY));
        }
    }
}
