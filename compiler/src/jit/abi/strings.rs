//! Helpers for text the translator builds itself: comparisons, concatenation and `to_string`
//! by type. (The text builtins of the catalog go through `builtins`.)

#[allow(unused_imports)]
use super::*;

/// Orders strings (and bytes) by their bytes, which for UTF-8 is the order of code points.
pub(super) extern "C" fn str_cmp(a: *const u8, alen: i64, b: *const u8, blen: i64) -> i32 {
    // SAFETY: see `bytes_of`.
    let (a, b) = unsafe { (bytes_of(a, alen), bytes_of(b, blen)) };
    a.cmp(b) as i32
}

pub(super) extern "C" fn str_concat(c: *mut Ctx, a: *const u8, alen: i64, b: *const u8, blen: i64, out: *mut i64) {
    // SAFETY: see `str_of`.
    let (a, b) = unsafe { (str_of(a, alen), str_of(b, blen)) };
    let mut s = String::with_capacity(a.len() + b.len());
    s.push_str(a);
    s.push_str(b);
    give(ctx(c), s, out);
}

pub(super) extern "C" fn int_to_string(c: *mut Ctx, v: i64, out: *mut i64) {
    give(ctx(c), v.to_string(), out);
}

pub(super) extern "C" fn float_to_string(c: *mut Ctx, v: f64, out: *mut i64) {
    give(ctx(c), number::float_to_string(v), out);
}

pub(super) extern "C" fn enum_name(c: *mut Ctx, enum_id: i64, n: i64, out: *mut i64) {
    let c = ctx(c);
    let e = c.schema.enum_(crate::schema::EnumId(enum_id as u32));
    let name =
        e.values.iter().find(|(_, v)| i64::from(*v) == n).map_or_else(|| n.to_string(), |(name, _)| name.clone());
    give(c, name, out);
}

pub(super) extern "C" fn duration_to_string(c: *mut Ctx, ms: i64, out: *mut i64) {
    give(ctx(c), format!("{ms}ms"), out);
}

/// `to_string(bytes)`: the bytes as UTF-8 text, invalid sequences replaced.
pub(super) extern "C" fn bytes_to_string(c: *mut Ctx, p: *const u8, len: i64, out: *mut i64) {
    // SAFETY: see `bytes_of`.
    let s = String::from_utf8_lossy(unsafe { bytes_of(p, len) }).into_owned();
    give(ctx(c), s, out);
}
