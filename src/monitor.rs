//! N-API binding of `monitor-core`: free functions over a handle (cheaper to call than
//! class methods), numbers in and flat number arrays out. Only converts and maps errors;
//! the drop-in layer (`ts/performance-monitor.ts`) buffers records and builds objects.

use std::cell::RefCell;

use monitor_core::analysis::{analyze_bottlenecks, health_score};
use monitor_core::{prometheus, Direction, Monitor, MonitorError, Stats, Target};
use napi::bindgen_prelude::{External, Float64ArraySlice};
use napi::Result;
use napi_derive::napi;

use crate::errors;

/// One monitor per JS instance (instances are per JS thread, so no lock).
pub type MonitorHandle = External<RefCell<Monitor>>;

fn map_err(e: MonitorError) -> napi::Error {
    match e {
        MonitorError::TooManyMetrics { .. } | MonitorError::NonFinite { .. } => {
            errors::out_of_range(e)
        }
        MonitorError::UnknownMetric { .. } | MonitorError::BatchShape { .. } => {
            errors::invalid_arg(e)
        }
    }
}

fn push_stats(out: &mut Vec<f64>, s: &Stats) {
    out.extend_from_slice(&[
        s.mean,
        s.median,
        s.p95,
        s.p99,
        s.min,
        s.max,
        s.count as f64,
        s.stddev,
    ]);
}

/// A new monitor bounded to `maxMetrics` distinct names.
#[napi(catch_unwind)]
pub fn monitor_create(max_metrics: u32) -> MonitorHandle {
    External::new(RefCell::new(Monitor::new(max_metrics as usize)))
}

/// The id of a metric name (registered on first use, in first-recorded order).
#[napi(catch_unwind)]
pub fn monitor_register(handle: &MonitorHandle, name: String) -> Result<u32> {
    handle.borrow_mut().register(&name).map_err(map_err)
}

/// Records the first `count` (id, value, timestamp ms) triples of `batch`, all or none.
#[napi(catch_unwind)]
pub fn monitor_record_batch(
    handle: &MonitorHandle,
    batch: Float64ArraySlice,
    count: u32,
) -> Result<()> {
    let all: &[f64] = batch.as_ref();
    let len = count as usize * monitor_core::monitor::BATCH_STRIDE;
    let Some(triples) = all.get(..len) else {
        return Err(errors::out_of_range(format!(
            "count must be at most {}, got {count}",
            all.len() / monitor_core::monitor::BATCH_STRIDE
        )));
    };
    handle.borrow_mut().record_batch(triples).map_err(map_err)
}

/// Writes `[mean, median, p95, p99, min, max, count, stddev]` into `out` (length ≥ 8) and
/// returns true, or returns false when nothing is in the window (a window of 0 means the
/// whole history). An out-parameter: building a JS array costs more than the statistics.
#[napi(catch_unwind)]
pub fn monitor_stats(
    handle: &MonitorHandle,
    id: u32,
    now_ms: f64,
    window_ms: f64,
    mut out: Float64ArraySlice,
) -> Result<bool> {
    let Some(s) = handle.borrow_mut().stats(id, now_ms, window_ms) else {
        return Ok(false);
    };
    let mut v = Vec::with_capacity(8);
    push_stats(&mut v, &s);
    write_out(&mut out, &v)?;
    Ok(true)
}

/// Copies `values` into the caller's typed array. Safe in practice: the call is synchronous
/// on the JS thread, so no JS code touches the array meanwhile.
fn write_out(out: &mut Float64ArraySlice, values: &[f64]) -> Result<()> {
    // SAFETY: a synchronous call on the JS thread: no JS code runs, so nothing else reads or
    // writes the array while this slice lives.
    let dst = unsafe { out.as_mut() };
    let Some(dst) = dst.get_mut(..values.len()) else {
        return Err(errors::out_of_range(format!(
            "out must hold at least {} numbers, got {}",
            values.len(),
            dst.len()
        )));
    };
    dst.copy_from_slice(values);
    Ok(())
}

/// Copies a variable-length result into the caller's scratch array: returns how many
/// numbers were written, or minus the length needed when `out` is too short (the caller
/// grows it and asks again). A returned typed array would be an external ArrayBuffer,
/// which costs microseconds of GC work each.
fn write_flat(out: &mut Float64ArraySlice, values: &[f64]) -> f64 {
    // SAFETY: as in `write_out`: a synchronous call on the JS thread.
    let dst = unsafe { out.as_mut() };
    match dst.get_mut(..values.len()) {
        Some(dst) => {
            dst.copy_from_slice(values);
            values.len() as f64
        }
        None => -(values.len() as f64),
    }
}

/// For every metric with retained values, in first-recorded order: `[id, …8 stats]`
/// (written into `out`, see `write_flat`).
#[napi(catch_unwind)]
pub fn monitor_all_stats(handle: &MonitorHandle, mut out: Float64ArraySlice) -> f64 {
    let mut m = handle.borrow_mut();
    let mut v = Vec::with_capacity(m.metric_count() * 9);
    for id in 0..m.metric_count() as u32 {
        if let Some(s) = m.stats(id, 0.0, 0.0) {
            v.push(id as f64);
            push_stats(&mut v, &s);
        }
    }
    write_flat(&mut out, &v)
}

/// Bottlenecks, highest impact first: `[id, finding, severity, impact, observed, target]`
/// per bottleneck (finding: 0 p95 above, 1 p5 below, 2 high variance; severity 0 low …
/// 3 critical), written into `out` (see `write_flat`).
#[napi(catch_unwind)]
pub fn monitor_bottlenecks(
    handle: &MonitorHandle,
    now_ms: f64,
    window_ms: f64,
    mut out: Float64ArraySlice,
) -> f64 {
    let found = analyze_bottlenecks(&mut handle.borrow_mut(), now_ms, window_ms);
    let mut v = Vec::with_capacity(found.len() * 6);
    for b in found {
        v.extend_from_slice(&[
            b.metric as f64,
            b.finding as u8 as f64,
            b.severity as u8 as f64,
            b.impact,
            b.observed,
            b.target,
        ]);
    }
    write_flat(&mut out, &v)
}

#[napi(catch_unwind)]
pub fn monitor_health_score(handle: &MonitorHandle, now_ms: f64) -> f64 {
    health_score(&mut handle.borrow_mut(), now_ms)
}

/// Sets the target of a metric and which side of it is good.
#[napi(catch_unwind)]
pub fn monitor_set_target(
    handle: &MonitorHandle,
    name: String,
    value: f64,
    higher_is_better: bool,
) -> Result<()> {
    if !value.is_finite() {
        return Err(errors::out_of_range(format!(
            "target must be a finite number, got {value}"
        )));
    }
    let direction = if higher_is_better {
        Direction::HigherIsBetter
    } else {
        Direction::LowerIsBetter
    };
    if handle
        .borrow_mut()
        .targets
        .set(&name, Target { value, direction })
    {
        Ok(())
    } else {
        Err(errors::out_of_range(format!(
            "too many targets (at most {})",
            monitor_core::targets::MAX_TARGETS
        )))
    }
}

/// Every metric in first-recorded order: `[id, k, then k × (seq, value, timestamp)]`, the
/// last `limit` retained values (k may be 0 for an emptied metric); into `out` (see
/// `write_flat`).
#[napi(catch_unwind)]
pub fn monitor_history(handle: &MonitorHandle, limit: u32, mut dst: Float64ArraySlice) -> f64 {
    let m = handle.borrow();
    let mut out = Vec::new();
    for (id, metric) in m.metrics().iter().enumerate() {
        let start = out.len();
        out.push(id as f64);
        out.push(0.0);
        let mut k = 0usize;
        for s in metric.window.last(limit as usize) {
            out.extend_from_slice(&[s.seq as f64, s.value, s.timestamp_ms]);
            k += 1;
        }
        out[start + 1] = k as f64;
    }
    write_flat(&mut dst, &out)
}

/// Writes `[count, sum, min, max, p50, p90, p99, p999]` of every value ever recorded into
/// `out`; false when there is none.
#[napi(catch_unwind)]
pub fn monitor_all_time(
    handle: &MonitorHandle,
    id: u32,
    mut out: Float64ArraySlice,
) -> Result<bool> {
    let m = handle.borrow();
    let Some(s) = m.metric(id).and_then(|x| x.all_time.summary()) else {
        return Ok(false);
    };
    write_out(
        &mut out,
        &[
            s.count as f64,
            s.sum,
            s.min,
            s.max,
            s.p50,
            s.p90,
            s.p99,
            s.p999,
        ],
    )?;
    Ok(true)
}

/// Keeps the values with `timestamp ≥ now − olderThan`.
#[napi(catch_unwind)]
pub fn monitor_clear_older(handle: &MonitorHandle, now_ms: f64, older_than_ms: f64) {
    handle.borrow_mut().clear_older_than(now_ms, older_than_ms);
}

/// Forgets every metric (targets stay).
#[napi(catch_unwind)]
pub fn monitor_reset(handle: &MonitorHandle) {
    handle.borrow_mut().reset();
}

/// The Prometheus text exposition of the monitor.
#[napi(catch_unwind)]
pub fn monitor_prometheus(handle: &MonitorHandle, now_ms: f64) -> String {
    prometheus::exposition(&mut handle.borrow_mut(), now_ms)
}
