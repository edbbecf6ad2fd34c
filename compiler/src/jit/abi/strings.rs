//! Helpers for strings and text builtins: comparisons, case, trimming, concatenation,
//! conversions to and from text, patterns, URLs and JSON paths.

#[allow(unused_imports)]
use super::*;

/// Orders strings (and bytes) by their bytes, which for UTF-8 is the order of code points.
pub(super) extern "C" fn str_cmp(a: *const u8, alen: i64, b: *const u8, blen: i64) -> i32 {
    // SAFETY: see `bytes_of`.
    let (a, b) = unsafe { (bytes_of(a, alen), bytes_of(b, blen)) };
    a.cmp(b) as i32
}

pub(super) extern "C" fn str_len(p: *const u8, len: i64) -> i64 {
    // SAFETY: see `str_of`.
    text::len(unsafe { str_of(p, len) })
}

pub(super) extern "C" fn str_starts(a: *const u8, alen: i64, b: *const u8, blen: i64) -> i8 {
    // SAFETY: see `str_of`.
    unsafe { str_of(a, alen).starts_with(str_of(b, blen)) as i8 }
}

pub(super) extern "C" fn str_ends(a: *const u8, alen: i64, b: *const u8, blen: i64) -> i8 {
    // SAFETY: see `str_of`.
    unsafe { str_of(a, alen).ends_with(str_of(b, blen)) as i8 }
}

pub(super) extern "C" fn str_contains(a: *const u8, alen: i64, b: *const u8, blen: i64) -> i8 {
    // SAFETY: see `str_of`.
    unsafe { str_of(a, alen).contains(str_of(b, blen)) as i8 }
}

pub(super) extern "C" fn str_lower(c: *mut Ctx, p: *const u8, len: i64, out: *mut i64) {
    // SAFETY: see `str_of`.
    let s = unsafe { str_of(p, len) }.to_lowercase();
    give(ctx(c), s, out);
}

pub(super) extern "C" fn str_upper(c: *mut Ctx, p: *const u8, len: i64, out: *mut i64) {
    // SAFETY: see `str_of`.
    let s = unsafe { str_of(p, len) }.to_uppercase();
    give(ctx(c), s, out);
}

pub(super) extern "C" fn str_trim(p: *const u8, len: i64, out: *mut i64) {
    // SAFETY: see `str_of`; the trimmed text is a part of the input, which outlives it.
    let t = unsafe { str_of(p, len) }.trim();
    // SAFETY: `out` points at two i64s in the caller's stack frame.
    unsafe {
        *out = t.as_ptr() as i64;
        *out.add(1) = t.len() as i64;
    }
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

/// `to_int(string)`: 1 and the value in `*out`, or 0 for null.
pub(super) extern "C" fn parse_int(p: *const u8, len: i64, out: *mut i64) -> i8 {
    // SAFETY: see `str_of`.
    match number::parse_int(unsafe { str_of(p, len) }) {
        // SAFETY: `out` points at an i64 in the caller's stack frame.
        Some(v) => unsafe {
            *out = v;
            1
        },
        None => 0,
    }
}

pub(super) extern "C" fn parse_float(p: *const u8, len: i64, out: *mut f64) -> i8 {
    // SAFETY: see `str_of`.
    match number::parse_float(unsafe { str_of(p, len) }) {
        // SAFETY: `out` points at an f64 in the caller's stack frame.
        Some(v) => unsafe {
            *out = v;
            1
        },
        None => 0,
    }
}

pub(super) extern "C" fn matches(c: *mut Ctx, constant: i64, p: *const u8, len: i64) -> i8 {
    let c = ctx(c);
    match c.constants.get(constant as usize) {
        // SAFETY: see `str_of`.
        Some(Constant::Pattern(re)) => re.is_match(unsafe { str_of(p, len) }) as i8,
        _ => 0,
    }
}

pub(super) extern "C" fn ip_in(c: *mut Ctx, constant: i64, p: *const u8, len: i64) -> i8 {
    let c = ctx(c);
    match c.constants.get(constant as usize) {
        // SAFETY: see `str_of`.
        Some(Constant::Cidr(cidr)) => web::ip_in(unsafe { str_of(p, len) }, cidr) as i8,
        _ => 0,
    }
}

pub(super) extern "C" fn is_bot(p: *const u8, len: i64) -> i8 {
    // SAFETY: see `str_of`.
    web::is_bot(unsafe { str_of(p, len) }) as i8
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

pub(super) extern "C" fn substr(p: *const u8, len: i64, start: i64, n: i64, out: *mut i64) {
    // SAFETY: see `str_of`; the result is a part of the input, which outlives it.
    let part = text::substr(unsafe { str_of(p, len) }, start, n);
    // SAFETY: `out` points at two i64s in the caller's stack frame.
    unsafe {
        *out = part.as_ptr() as i64;
        *out.add(1) = part.len() as i64;
    }
}

pub(super) extern "C" fn replace(
    c: *mut Ctx,
    p: *const u8,
    len: i64,
    f: *const u8,
    flen: i64,
    t: *const u8,
    tlen: i64,
    out: *mut i64,
) {
    // SAFETY: see `str_of`.
    let s = unsafe { text::replace(str_of(p, len), str_of(f, flen), str_of(t, tlen)) };
    give(ctx(c), s, out);
}

/// `extract(s, PATTERN, group)`: 1 and the text in `out` (a part of `s`), or 0.
pub(super) extern "C" fn extract(c: *mut Ctx, constant: i64, p: *const u8, len: i64, group: i64, out: *mut i64) -> i8 {
    let c = ctx(c);
    let Some(Constant::Pattern(re)) = c.constants.get(constant as usize) else { return 0 };
    // SAFETY: see `str_of`.
    match text::extract(re, unsafe { str_of(p, len) }, group) {
        // SAFETY: `out` points at two i64s in the caller's stack frame.
        Some(part) => unsafe {
            *out = part.as_ptr() as i64;
            *out.add(1) = part.len() as i64;
            1
        },
        None => 0,
    }
}

/// `split(s, sep)` as a list value the native code can index and measure.
pub(super) extern "C" fn split(c: *mut Ctx, p: *const u8, len: i64, sep: *const u8, slen: i64, out: *mut i64) {
    let c = ctx(c);
    // SAFETY: see `str_of`.
    let pieces: Vec<Value> =
        unsafe { text::split(str_of(p, len), str_of(sep, slen)) }.into_iter().map(Value::str).collect();
    let list = Arc::new(pieces);
    // SAFETY: `out` points at two i64s in the caller's stack frame.
    unsafe {
        *out = Arc::as_ptr(&list) as i64;
        *out.add(1) = list.len() as i64;
    }
    c.scratch.lists.push(list);
}

/// `url_host` / `url_param`, `json_string`: 1 and the text in `out`, or 0.
pub(super) extern "C" fn url_host(c: *mut Ctx, p: *const u8, len: i64, out: *mut i64) -> i8 {
    // SAFETY: see `str_of`.
    match web::url_host(unsafe { str_of(p, len) }) {
        Some(h) => {
            give(ctx(c), h, out);
            1
        }
        None => 0,
    }
}

pub(super) extern "C" fn url_param(c: *mut Ctx, p: *const u8, len: i64, n: *const u8, nlen: i64, out: *mut i64) -> i8 {
    // SAFETY: see `str_of`.
    match unsafe { web::url_param(str_of(p, len), str_of(n, nlen)) } {
        Some(v) => {
            give(ctx(c), v, out);
            1
        }
        None => 0,
    }
}

pub(super) extern "C" fn json_string(c: *mut Ctx, constant: i64, p: *const u8, len: i64, out: *mut i64) -> i8 {
    let c = ctx(c);
    let Some(Constant::JsonPath(path)) = c.constants.get(constant as usize) else { return 0 };
    // SAFETY: see `str_of`.
    match evr_stdlib::json::json_string(unsafe { str_of(p, len) }, path) {
        Some(v) => {
            give(c, v, out);
            1
        }
        None => 0,
    }
}

pub(super) extern "C" fn json_int(c: *mut Ctx, constant: i64, p: *const u8, len: i64, out: *mut i64) -> i8 {
    let c = ctx(c);
    let Some(Constant::JsonPath(path)) = c.constants.get(constant as usize) else { return 0 };
    // SAFETY: see `str_of`.
    match evr_stdlib::json::json_int(unsafe { str_of(p, len) }, path) {
        // SAFETY: `out` points at an i64 in the caller's stack frame.
        Some(v) => unsafe {
            *out = v;
            1
        },
        None => 0,
    }
}

/// `to_string(bytes)`: the bytes as UTF-8 text, invalid sequences replaced.
pub(super) extern "C" fn bytes_to_string(c: *mut Ctx, p: *const u8, len: i64, out: *mut i64) {
    // SAFETY: see `bytes_of`.
    let s = String::from_utf8_lossy(unsafe { bytes_of(p, len) }).into_owned();
    give(ctx(c), s, out);
}
