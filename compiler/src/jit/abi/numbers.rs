//! Helpers for numbers: the stable hashes of scalars (for `hash64`, `bucket` and velocity keys)
//! and the float remainder.

#[allow(unused_imports)]
use super::*;

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

pub(super) extern "C" fn float_rem(a: f64, b: f64) -> f64 {
    a % b
}
