//! Helpers for velocity windows and score reads.

#[allow(unused_imports)]
use super::*;

/// Velocity: `kind` 0 count, 1 seen; the result as an i64.
pub(super) extern "C" fn velocity(c: *mut Ctx, site: i64, kind: i64, key: i64) -> i64 {
    let c = ctx(c);
    let t = c.time_ms;
    match c.sites.get_mut(site as usize) {
        Some(s) if kind == 0 => s.count(key as u64, t),
        Some(s) => s.seen(key as u64, t) as i64,
        None => 0,
    }
}

pub(super) extern "C" fn velocity_sum(c: *mut Ctx, site: i64, key: i64, amount: f64) -> f64 {
    let c = ctx(c);
    let t = c.time_ms;
    c.sites.get_mut(site as usize).map_or(0.0, |s| s.sum(key as u64, amount, t))
}

pub(super) extern "C" fn velocity_distinct(c: *mut Ctx, site: i64, key: i64, value: i64) -> i64 {
    let c = ctx(c);
    let t = c.time_ms;
    c.sites.get_mut(site as usize).map_or(0, |s| s.distinct(key as u64, value as u64, t))
}

pub(super) extern "C" fn score(c: *mut Ctx, id: i64, out: *mut i64) -> i32 {
    match ctx(c).scores.get(id as usize) {
        // SAFETY: `out` points at an i64 in the caller's stack frame.
        Some(Some(v)) => unsafe {
            *out = *v;
            0
        },
        Some(None) => RuntimeError::ScoreFailed.code() as i32,
        None => RuntimeError::Internal.code() as i32,
    }
}
