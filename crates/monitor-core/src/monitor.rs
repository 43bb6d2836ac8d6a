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
const RUN_IDS: usize = 4;

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
        for t in batch.chunks_exact(BATCH_STRIDE) {
            let (id, value, ts) = (t[0], t[1], t[2]);
            // an integer id below the count (`as` truncates; `fract` would be a libm call)
            ok &= (id >= 0.0) & (id < n) & ((id as u32) as f64 == id);
            ok &= value.is_finite() & ts.is_finite();
            lo = lo.min(id);
            hi = hi.max(id);
        }
        if !ok {
            return Err(first_error(batch, n));
        }
        if hi - lo < RUN_IDS as f64 {
            // few metrics: one pass per metric, so its state stays in registers for all
            // of its values
            let base = lo as usize;
            let mut counts = [0usize; RUN_IDS];
            for t in batch.chunks_exact(BATCH_STRIDE) {
                counts[t[0] as usize - base] += 1;
            }
            for (i, &k) in counts.iter().enumerate() {
                if k == 0 {
                    continue;
                }
                let id = (base + i) as f64;
                let run = batch.chunks_exact(BATCH_STRIDE).filter(move |t| t[0] == id);
                push_run(&mut self.metrics[base + i], run, k);
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

/// `push` for each of the `k` (id, value, timestamp) triples of `run`, all of metric `m`.
fn push_run<'a, I>(m: &mut Metric, run: I, k: usize)
where
    I: Iterator<Item = &'a [f64]> + Clone,
{
    // -0 → +0 as in `push`
    m.window
        .push_run(run.clone().map(|t| (t[1] + 0.0, t[2])), k, m.next_seq);
    m.all_time.record_run(run.map(|t| t[1] + 0.0));
    m.next_seq += k as u64;
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
