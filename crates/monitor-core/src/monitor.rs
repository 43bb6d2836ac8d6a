//! The registry of metrics: each name gets a small integer id on first record (so the
//! drop-in layer can send batches of plain numbers), its last-N window and its all-time
//! distribution. Ids follow first-recorded order, the order every report walks.

use ahash::AHashMap;

use crate::alltime::AllTime;
use crate::stats::Stats;
use crate::targets::Targets;
use crate::window::{RecentWindow, Sample};

/// Values kept per metric (the legacy keeps the last 1000).
pub const HISTORY: usize = 1000;
/// Default bound on distinct metric names.
pub const DEFAULT_MAX_METRICS: usize = 1000;
/// A batch holds (id, value, timestamp) triples.
pub const BATCH_STRIDE: usize = 3;
/// A batch whose ids all lie within this many consecutive ids is recorded one metric at
/// a time.
const RUN_IDS: usize = 16;
/// Values a batch is sorted by metric at a time (bounds the sort's scratch: 16 KB).
const SORT_CHUNK: usize = 1024;

#[derive(Debug)]
pub struct Metric {
    pub name: String,
    pub window: RecentWindow,
    pub all_time: AllTime,
    next_seq: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MonitorError {
    TooManyMetrics { max: usize },
    UnknownMetric { id: f64 },
    NonFinite { field: &'static str, value: f64 },
    BatchShape { len: usize },
}

impl std::fmt::Display for MonitorError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MonitorError::TooManyMetrics { max } => {
                write!(
                    f,
                    "name would exceed maxMetrics ({max} distinct metric names)"
                )
            }
            MonitorError::UnknownMetric { id } => write!(f, "metric id {id} is not registered"),
            MonitorError::NonFinite { field, value } => {
                write!(f, "{field} must be a finite number, got {value}")
            }
            MonitorError::BatchShape { len } => {
                write!(
                    f,
                    "batch length must be a multiple of {BATCH_STRIDE}, got {len}"
                )
            }
        }
    }
}

impl std::error::Error for MonitorError {}

#[derive(Debug)]
pub struct Monitor {
    metrics: Vec<Metric>,
    by_name: AHashMap<String, u32>,
    pub targets: Targets,
    max_metrics: usize,
    /// A chunk of a batch sorted by metric (at most `SORT_CHUNK` values).
    sorted_values: Vec<f64>,
    sorted_times: Vec<f64>,
}

impl Default for Monitor {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_METRICS)
    }
}

/// A falsy window (0 or NaN) means the whole history, as in the legacy `getStats`.
pub fn is_whole_history(window_ms: f64) -> bool {
    window_ms == 0.0 || window_ms.is_nan()
}

impl Monitor {
    pub fn new(max_metrics: usize) -> Self {
        Monitor {
            metrics: Vec::new(),
            by_name: AHashMap::new(),
            targets: Targets::default(),
            max_metrics,
            sorted_values: Vec::new(),
            sorted_times: Vec::new(),
        }
    }

    /// The id of `name`, registering it (at the end of first-recorded order) if new.
    pub fn register(&mut self, name: &str) -> Result<u32, MonitorError> {
        if let Some(&id) = self.by_name.get(name) {
            return Ok(id);
        }
        if self.metrics.len() >= self.max_metrics {
            return Err(MonitorError::TooManyMetrics {
                max: self.max_metrics,
            });
        }
        let id = self.metrics.len() as u32;
        self.metrics.push(Metric {
            name: name.to_string(),
            window: RecentWindow::new(HISTORY),
            all_time: AllTime::new(),
            next_seq: 0,
        });
        self.by_name.insert(name.to_string(), id);
        Ok(id)
    }

    pub fn id_of(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    pub fn metric(&self, id: u32) -> Option<&Metric> {
        self.metrics.get(id as usize)
    }

    pub fn metrics(&self) -> &[Metric] {
        &self.metrics
    }

    pub fn metric_count(&self) -> usize {
        self.metrics.len()
    }

    pub fn record(&mut self, id: u32, value: f64, timestamp_ms: f64) -> Result<(), MonitorError> {
        check_finite("value", value)?;
        check_finite("timestamp", timestamp_ms)?;
        let m = self
            .metrics
            .get_mut(id as usize)
            .ok_or(MonitorError::UnknownMetric { id: id as f64 })?;
        push(m, value, timestamp_ms);
        Ok(())
    }

    /// Records (id, value, timestamp) triples in order. The whole batch is checked first:
    /// a bad entry records nothing, so nothing already recorded is corrupted.
    pub fn record_batch(&mut self, batch: &[f64]) -> Result<(), MonitorError> {
        if !batch.len().is_multiple_of(BATCH_STRIDE) {
            return Err(MonitorError::BatchShape { len: batch.len() });
        }
        let n = self.metrics.len() as f64;
        // Checked without a branch per value (the error path looks again for the first
        // bad entry); the smallest and largest id come with it.
        let (mut ok, mut lo, mut hi) = (true, f64::INFINITY, f64::NEG_INFINITY);
        // values per id modulo RUN_IDS: per id when the ids span fewer than RUN_IDS
        let mut counts = [0usize; RUN_IDS];
        for t in batch.chunks_exact(BATCH_STRIDE) {
            let (id, value, ts) = (t[0], t[1], t[2]);
            // an integer id below the count (`as` truncates; `fract` would be a libm call)
            ok &= (id >= 0.0) & (id < n) & ((id as u32) as f64 == id);
            ok &= value.is_finite() & ts.is_finite();
            lo = if id < lo { id } else { lo };
            hi = if id > hi { id } else { hi };
            // `as` saturates: any f64 gives an index in range
            counts[id as usize % RUN_IDS] += 1;
        }
        if !ok {
            return Err(first_error(batch, n));
        }
        if hi - lo < RUN_IDS as f64 {
            // Few metrics: each chunk is first sorted by metric (a counting sort, stable),
            // then recorded one metric at a time from contiguous values. Ids within
            // RUN_IDS of each other have distinct residues, so arrays indexed by
            // `id % RUN_IDS` hold one entry per metric.
            let base = lo as usize;
            let one_chunk = batch.len() <= SORT_CHUNK * BATCH_STRIDE;
            for chunk in batch.chunks(SORT_CHUNK * BATCH_STRIDE) {
                if !one_chunk {
                    counts = [0; RUN_IDS];
                    for t in chunk.chunks_exact(BATCH_STRIDE) {
                        counts[t[0] as usize % RUN_IDS] += 1;
                    }
                }
                // where each metric's values start, in id order
                let mut starts = [0usize; RUN_IDS];
                let mut at = 0;
                for i in 0..RUN_IDS {
                    let r = (base + i) % RUN_IDS;
                    starts[r] = at;
                    at += counts[r];
                }
                let (values, times) = (&mut self.sorted_values, &mut self.sorted_times);
                values.resize(at, 0.0);
                times.resize(at, 0.0);
                let mut next = starts;
                for t in chunk.chunks_exact(BATCH_STRIDE) {
                    let slot = &mut next[t[0] as usize % RUN_IDS];
                    values[*slot] = t[1] + 0.0; // -0 → +0 as in `push`
                    times[*slot] = t[2];
                    *slot += 1;
                }
                for i in 0..RUN_IDS {
                    let r = (base + i) % RUN_IDS;
                    let (start, k) = (starts[r], counts[r]);
                    if k != 0 {
                        let run = start..start + k;
                        let m = &mut self.metrics[base + i];
                        push_run(m, &values[run.clone()], &times[run]);
                    }
                }
            }
        } else {
            for t in batch.chunks_exact(BATCH_STRIDE) {
                push(&mut self.metrics[t[0] as usize], t[1], t[2]);
            }
        }
        Ok(())
    }

    /// Stats of one metric: over the whole retained history when the window is falsy,
    /// else over the values with `timestamp ≥ now − window`.
    pub fn stats(&mut self, id: u32, now_ms: f64, window_ms: f64) -> Option<Stats> {
        let m = self.metrics.get_mut(id as usize)?;
        if is_whole_history(window_ms) {
            m.window.stats()
        } else {
            m.window.stats_since(now_ms - window_ms)
        }
    }

    pub fn stats_by_name(&mut self, name: &str, now_ms: f64, window_ms: f64) -> Option<Stats> {
        let id = self.id_of(name)?;
        self.stats(id, now_ms, window_ms)
    }

    /// Legacy `clearOldMetrics`: keeps values with `timestamp ≥ now − olderThan`. Emptied
    /// metrics keep their place (and their id); the all-time distribution is kept.
    pub fn clear_older_than(&mut self, now_ms: f64, older_than_ms: f64) {
        let cutoff = now_ms - older_than_ms;
        for m in &mut self.metrics {
            m.window.retain_since(cutoff);
        }
    }

    /// Forgets every metric (legacy `shutdown` clears all data). Targets stay.
    pub fn reset(&mut self) {
        self.metrics.clear();
        self.by_name.clear();
    }
}

/// The error for the first bad entry of a batch that holds one.
fn first_error(batch: &[f64], metric_count: f64) -> MonitorError {
    for t in batch.chunks_exact(BATCH_STRIDE) {
        let id = t[0];
        if !(id >= 0.0 && id < metric_count && (id as u32) as f64 == id) {
            return MonitorError::UnknownMetric { id };
        }
        if let Err(e) = check_finite("value", t[1]).and(check_finite("timestamp", t[2])) {
            return e;
        }
    }
    // not reached: the caller found a bad entry
    MonitorError::BatchShape { len: batch.len() }
}

fn check_finite(field: &'static str, value: f64) -> Result<(), MonitorError> {
    if value.is_finite() {
        Ok(())
    } else {
        Err(MonitorError::NonFinite { field, value })
    }
}

fn push(m: &mut Metric, value: f64, timestamp_ms: f64) {
    let value = value + 0.0; // -0 → +0: one zero, so sorting and removal agree
    m.window.push(Sample {
        value,
        timestamp_ms,
        seq: m.next_seq,
    });
    m.next_seq += 1;
    m.all_time.record(value);
}

/// `push` for each `values[i]` at `times[i]`, all of metric `m` (values already ±0-folded).
fn push_run(m: &mut Metric, values: &[f64], times: &[f64]) {
    m.window.push_slices(values, times, m.next_seq);
    m.all_time.record_run(values.iter().copied());
    m.next_seq += values.len() as u64;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_batch_records_nothing() {
        let mut m = Monitor::default();
        let a = m.register("a").unwrap();
        m.record(a, 1.0, 10.0).unwrap();
        let err = m
            .record_batch(&[0.0, 2.0, 11.0, 0.0, f64::NAN, 12.0])
            .unwrap_err();
        assert!(matches!(
            err,
            MonitorError::NonFinite { field: "value", .. }
        ));
        assert!(m.record_batch(&[5.0, 2.0, 11.0]).is_err());
        assert!(m.record_batch(&[0.0, 2.0]).is_err());
        assert_eq!(m.stats(a, 20.0, 0.0).unwrap().count, 1);
    }

    #[test]
    fn a_batch_records_as_its_values_one_by_one() {
        // several sort chunks, ids spread over more and fewer than RUN_IDS metrics
        for metrics in [3u32, 40] {
            let (mut by_batch, mut by_one) = (Monitor::default(), Monitor::default());
            for i in 0..metrics {
                by_batch.register(&format!("m{i}")).unwrap();
                by_one.register(&format!("m{i}")).unwrap();
            }
            let mut batch = Vec::new();
            for i in 0..2500u32 {
                let id = (i * 7 + i / 3) % metrics;
                let value = if i % 11 == 0 { -0.0 } else { (i % 97) as f64 };
                let ts = 1000.0 + (i % 13) as f64;
                batch.extend([id as f64, value, ts]);
                by_one.record(id, value, ts).unwrap();
            }
            by_batch.record_batch(&batch).unwrap();
            for id in 0..metrics {
                let (a, b) = (by_batch.metric(id).unwrap(), by_one.metric(id).unwrap());
                assert!(a.window.iter().eq(b.window.iter()), "metric {id}");
                assert_eq!(a.all_time.summary(), b.all_time.summary());
                assert_eq!(a.next_seq, b.next_seq);
                assert_eq!(
                    by_batch.stats(id, 1010.0, 5.0),
                    by_one.stats(id, 1010.0, 5.0)
                );
                assert_eq!(by_batch.stats(id, 0.0, 0.0), by_one.stats(id, 0.0, 0.0));
            }
        }
    }

    #[test]
    fn ids_follow_first_record_order_and_are_bounded() {
        let mut m = Monitor::new(2);
        assert_eq!(m.register("x").unwrap(), 0);
        assert_eq!(m.register("y").unwrap(), 1);
        assert_eq!(m.register("x").unwrap(), 0);
        assert_eq!(
            m.register("z"),
            Err(MonitorError::TooManyMetrics { max: 2 })
        );
    }

    #[test]
    fn windows_and_clearing() {
        let mut m = Monitor::default();
        let a = m.register("a").unwrap();
        for t in 0..10 {
            m.record(a, t as f64, t as f64 * 1000.0).unwrap();
        }
        // now = 9000: a 3000 ms window holds ts ≥ 6000
        assert_eq!(m.stats(a, 9000.0, 3000.0).unwrap().count, 4);
        assert_eq!(m.stats(a, 9000.0, 0.0).unwrap().count, 10);
        m.clear_older_than(9000.0, 5000.0);
        let s = m.stats(a, 9000.0, 0.0).unwrap();
        assert_eq!((s.count, s.min), (6, 4.0));
        m.clear_older_than(99_000.0, 1.0);
        assert!(m.stats(a, 9000.0, 0.0).is_none());
        assert_eq!(m.metric_count(), 1, "an emptied metric keeps its place");
        assert_eq!(m.metric(a).unwrap().all_time.count(), 10);
    }
}
