//! Helpers for numbers, hashes and time builtins.

#[allow(unused_imports)]
use super::*;

/// `round`/`floor`/`ceil` (0/1/2): the status code, the value in `*out`.
pub(super) extern "C" fn float_to_int(op: i32, v: f64, out: *mut i64) -> i32 {
    let r = match op {
        0 => number::round(v),
        1 => number::floor(v),
        _ => number::ceil(v),
    };
    match r {
        // SAFETY: `out` points at an i64 in the caller's stack frame.
        Ok(v) => unsafe {
            *out = v;
            0
        },
        Err(e) => e.code() as i32,
    }
}

pub(super) extern "C" fn hash_str(p: *const u8, len: i64) -> i64 {
    // SAFETY: see `bytes_of`.
    hash::hash_bytes(unsafe { bytes_of(p, len) })
}

pub(super) extern "C" fn hash_int(v: i64) -> i64 {
    hash::hash_int(v)
}

pub(super) extern "C" fn hash_float(v: f64) -> i64 {
    hash::hash_float(v)
}

pub(super) extern "C" fn hash_bool(v: i8) -> i64 {
    hash::hash_bool(v != 0)
}

pub(super) extern "C" fn hour_of_day(ms: i64) -> i64 {
    time::hour_of_day(ms)
}

pub(super) extern "C" fn day_of_week(ms: i64) -> i64 {
    time::day_of_week(ms)
}

pub(super) extern "C" fn now_ms() -> i64 {
    time::now_ms()
}

pub(super) extern "C" fn float_rem(a: f64, b: f64) -> f64 {
    a % b
}

pub(super) extern "C" fn float_min(a: f64, b: f64) -> f64 {
    number::min_float(a, b)
}

pub(super) extern "C" fn float_max(a: f64, b: f64) -> f64 {
    number::max_float(a, b)
}

/// `to_int(float)`: 1 and the value in `*out`, or 0 for null.
pub(super) extern "C" fn float_trunc(v: f64, out: *mut i64) -> i8 {
    match number::float_to_int(v) {
        // SAFETY: `out` points at an i64 in the caller's stack frame.
        Some(i) => unsafe {
            *out = i;
            1
        },
        None => 0,
    }
}

pub(super) extern "C" fn bucket(h: i64, n: i64, out: *mut i64) -> i32 {
    match hash::bucket(h, n) {
        // SAFETY: `out` points at an i64 in the caller's stack frame.
        Ok(b) => unsafe {
            *out = b;
            0
        },
        Err(e) => e.code() as i32,
    }
}
