//! The C ABI between native rule code and Rust: the context native code receives, and the
//! `extern "C"` helpers it calls. Helpers never unwind: they catch nothing because nothing they
//! call panics on bad input, and errors travel back as status codes.

use std::sync::Arc;

use evr_stdlib::velocity::Site;
use evr_stdlib::{RuntimeError, hash, number, text, time, web};

use crate::ir::SinkId;
use crate::schema::{MessageId, Schema};
use crate::value::Action;
use crate::value::{Message, Value, store};

/// What native code of one unit sees for one event.
pub struct Ctx<'a> {
    pub schema: &'a Schema,
    /// Constant arguments by index, resolved when compiling (patterns, CIDR blocks).
    pub constants: &'a [Constant],
    pub scores: &'a [Option<i64>],
    pub sites: &'a mut [Site],
    pub time_ms: i64,
    pub actions: &'a mut Vec<Action>,
    pub scratch: &'a mut Scratch,
    /// The event, for `self` and spreads.
    pub event: &'a Value,
}

/// What a unit makes while it runs, alive until it returns. Kept between units (cleared after
/// each) so that its buffers are allocated once, not per unit.
#[derive(Default)]
pub struct Scratch {
    /// Strings made during this unit's evaluation.
    strings: Vec<Box<str>>,
    /// Records being built by `emit`, innermost last, with where each one goes.
    building: Vec<(MessageId, Message, Place)>,
    key: Option<Value>,
    /// List (and map) values being built, innermost last: a record inside a list may hold a
    /// list of its own.
    lists_building: Vec<Vec<Value>>,
    /// Lists, maps and messages made during this unit's evaluation (`split`, values built
    /// outside `emit`).
    lists: Vec<Arc<Vec<Value>>>,
    maps: Vec<Arc<Vec<(Value, Value)>>>,
    messages: Vec<Arc<Message>>,
}

impl Scratch {
    /// Drops what the last unit made, keeping the buffers. Inlined: it runs after every unit,
    /// and most units make nothing.
    #[inline]
    pub fn clear(&mut self) {
        self.strings.clear();
        self.building.clear();
        self.key = None;
        self.lists_building.clear();
        self.lists.clear();
        self.maps.clear();
        self.messages.clear();
    }
}

/// Where a record under construction goes when it ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// It is the emitted record.
    Emit,
    /// It fills this field of the enclosing record.
    Field(u32),
    /// It is the next element of the list being built.
    ListItem,
    /// It is a value of its own (a record built outside `emit`).
    Value,
}

impl Place {
    /// Native code passes -1 (emit), -2 (list element) or a field index.
    fn from_code(code: i64) -> Place {
        match code {
            -3 => Place::Value,
            -2 => Place::ListItem,
            f if f >= 0 => Place::Field(f as u32),
            _ => Place::Emit,
        }
    }
}

/// A constant argument prepared for native code.
pub enum Constant {
    Pattern(regex::Regex),
    Cidr(evr_stdlib::constant::Cidr),
    JsonPath(Vec<evr_stdlib::constant::JsonStep>),
}

/// # Safety
/// Native code passes pointers and lengths of strings it read from the frame, from literals
/// owned by the compiled module, or from `Ctx::strings`; all outlive the call.
unsafe fn str_of<'s>(ptr: *const u8, len: i64) -> &'s str {
    if len <= 0 || ptr.is_null() {
        return "";
    }
    // SAFETY: see the function's contract; every string handed to native code is valid UTF-8.
    unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr, len as usize)) }
}

fn ctx<'c>(p: *mut Ctx<'c>) -> &'c mut Ctx<'c> {
    // SAFETY: native code receives the context pointer from `Compiled::call` and passes it back
    // unchanged; it is valid and exclusive for the duration of the call.
    unsafe { &mut *p }
}

/// Stores a string made by a helper and returns it through `out` as (pointer, length).
fn give(c: &mut Ctx, s: String, out: *mut i64) {
    let boxed: Box<str> = s.into_boxed_str();
    let (ptr, len) = (boxed.as_ptr() as i64, boxed.len() as i64);
    c.scratch.strings.push(boxed);
    // SAFETY: `out` points at two i64s in the caller's stack frame.
    unsafe {
        *out = ptr;
        *out.add(1) = len;
    }
}

/// # Safety
/// As `str_of`, for bytes that need not be UTF-8.
unsafe fn bytes_of<'s>(ptr: *const u8, len: i64) -> &'s [u8] {
    if len <= 0 || ptr.is_null() {
        return &[];
    }
    // SAFETY: see the function's contract.
    unsafe { std::slice::from_raw_parts(ptr, len as usize) }
}

/// Orders strings (and bytes) by their bytes, which for UTF-8 is the order of code points.
extern "C" fn str_cmp(a: *const u8, alen: i64, b: *const u8, blen: i64) -> i32 {
    // SAFETY: see `bytes_of`.
    let (a, b) = unsafe { (bytes_of(a, alen), bytes_of(b, blen)) };
    a.cmp(b) as i32
}

extern "C" fn set_bytes(c: *mut Ctx, field: i64, p: *const u8, len: i64) -> i32 {
    // SAFETY: see `bytes_of`.
    let b = unsafe { bytes_of(p, len) };
    set(ctx(c), field, Value::Bytes(Arc::from(b)))
}

/// Map entries from a buffer where keys and values alternate; a later key wins.
fn pairs(flat: Vec<Value>) -> Vec<(Value, Value)> {
    let mut entries: Vec<(Value, Value)> = Vec::with_capacity(flat.len() / 2);
    let mut it = flat.into_iter();
    while let (Some(k), Some(v)) = (it.next(), it.next()) {
        match entries.iter_mut().find(|(ek, _)| *ek == k) {
            Some(slot) => slot.1 = v,
            None => entries.push((k, v)),
        }
    }
    entries
}

/// Ends the map being built (keys and values alternate in the list buffer) as a field.
extern "C" fn map_end(c: *mut Ctx, field: i64) -> i32 {
    let c = ctx(c);
    let Some(flat) = c.scratch.lists_building.pop() else { return RuntimeError::Internal.code() as i32 };
    let entries = pairs(flat);
    // Set even when empty: it overrides what a spread put there.
    set(c, field, Value::Map(Arc::new(entries)))
}

extern "C" fn str_len(p: *const u8, len: i64) -> i64 {
    // SAFETY: see `str_of`.
    text::len(unsafe { str_of(p, len) })
}

extern "C" fn str_starts(a: *const u8, alen: i64, b: *const u8, blen: i64) -> i8 {
    // SAFETY: see `str_of`.
    unsafe { str_of(a, alen).starts_with(str_of(b, blen)) as i8 }
}

extern "C" fn str_ends(a: *const u8, alen: i64, b: *const u8, blen: i64) -> i8 {
    // SAFETY: see `str_of`.
    unsafe { str_of(a, alen).ends_with(str_of(b, blen)) as i8 }
}

extern "C" fn str_contains(a: *const u8, alen: i64, b: *const u8, blen: i64) -> i8 {
    // SAFETY: see `str_of`.
    unsafe { str_of(a, alen).contains(str_of(b, blen)) as i8 }
}

extern "C" fn str_lower(c: *mut Ctx, p: *const u8, len: i64, out: *mut i64) {
    // SAFETY: see `str_of`.
    let s = unsafe { str_of(p, len) }.to_lowercase();
    give(ctx(c), s, out);
}

extern "C" fn str_upper(c: *mut Ctx, p: *const u8, len: i64, out: *mut i64) {
    // SAFETY: see `str_of`.
    let s = unsafe { str_of(p, len) }.to_uppercase();
    give(ctx(c), s, out);
}

extern "C" fn str_trim(p: *const u8, len: i64, out: *mut i64) {
    // SAFETY: see `str_of`; the trimmed text is a part of the input, which outlives it.
    let t = unsafe { str_of(p, len) }.trim();
    // SAFETY: `out` points at two i64s in the caller's stack frame.
    unsafe {
        *out = t.as_ptr() as i64;
        *out.add(1) = t.len() as i64;
    }
}

extern "C" fn str_concat(c: *mut Ctx, a: *const u8, alen: i64, b: *const u8, blen: i64, out: *mut i64) {
    // SAFETY: see `str_of`.
    let (a, b) = unsafe { (str_of(a, alen), str_of(b, blen)) };
    let mut s = String::with_capacity(a.len() + b.len());
    s.push_str(a);
    s.push_str(b);
    give(ctx(c), s, out);
}

extern "C" fn int_to_string(c: *mut Ctx, v: i64, out: *mut i64) {
    give(ctx(c), v.to_string(), out);
}

extern "C" fn float_to_string(c: *mut Ctx, v: f64, out: *mut i64) {
    give(ctx(c), number::float_to_string(v), out);
}

/// `to_int(string)`: 1 and the value in `*out`, or 0 for null.
extern "C" fn parse_int(p: *const u8, len: i64, out: *mut i64) -> i8 {
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

extern "C" fn parse_float(p: *const u8, len: i64, out: *mut f64) -> i8 {
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

/// `round`/`floor`/`ceil` (0/1/2): the status code, the value in `*out`.
extern "C" fn float_to_int(op: i32, v: f64, out: *mut i64) -> i32 {
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

extern "C" fn matches(c: *mut Ctx, constant: i64, p: *const u8, len: i64) -> i8 {
    let c = ctx(c);
    match c.constants.get(constant as usize) {
        // SAFETY: see `str_of`.
        Some(Constant::Pattern(re)) => re.is_match(unsafe { str_of(p, len) }) as i8,
        _ => 0,
    }
}

extern "C" fn ip_in(c: *mut Ctx, constant: i64, p: *const u8, len: i64) -> i8 {
    let c = ctx(c);
    match c.constants.get(constant as usize) {
        // SAFETY: see `str_of`.
        Some(Constant::Cidr(cidr)) => web::ip_in(unsafe { str_of(p, len) }, cidr) as i8,
        _ => 0,
    }
}

extern "C" fn is_bot(p: *const u8, len: i64) -> i8 {
    // SAFETY: see `str_of`.
    web::is_bot(unsafe { str_of(p, len) }) as i8
}

extern "C" fn hash_str(p: *const u8, len: i64) -> i64 {
    // SAFETY: see `bytes_of`.
    hash::hash_bytes(unsafe { bytes_of(p, len) })
}

extern "C" fn hash_int(v: i64) -> i64 {
    hash::hash_int(v)
}

extern "C" fn hash_float(v: f64) -> i64 {
    hash::hash_float(v)
}

extern "C" fn hash_bool(v: i8) -> i64 {
    hash::hash_bool(v != 0)
}

extern "C" fn hour_of_day(ms: i64) -> i64 {
    time::hour_of_day(ms)
}

extern "C" fn day_of_week(ms: i64) -> i64 {
    time::day_of_week(ms)
}

extern "C" fn now_ms() -> i64 {
    time::now_ms()
}

/// Velocity: `kind` 0 count, 1 seen; the result as an i64.
extern "C" fn velocity(c: *mut Ctx, site: i64, kind: i64, key: i64) -> i64 {
    let c = ctx(c);
    let t = c.time_ms;
    match c.sites.get_mut(site as usize) {
        Some(s) if kind == 0 => s.count(key as u64, t),
        Some(s) => s.seen(key as u64, t) as i64,
        None => 0,
    }
}

extern "C" fn velocity_sum(c: *mut Ctx, site: i64, key: i64, amount: f64) -> f64 {
    let c = ctx(c);
    let t = c.time_ms;
    c.sites.get_mut(site as usize).map_or(0.0, |s| s.sum(key as u64, amount, t))
}

extern "C" fn velocity_distinct(c: *mut Ctx, site: i64, key: i64, value: i64) -> i64 {
    let c = ctx(c);
    let t = c.time_ms;
    c.sites.get_mut(site as usize).map_or(0, |s| s.distinct(key as u64, value as u64, t))
}

extern "C" fn route(c: *mut Ctx, sink: i64) {
    ctx(c).actions.push(Action::Route { sink: SinkId(sink as u32) });
}

/// Starts a record of message `ty`; `place` says where it goes (see [`Place::from_code`]).
extern "C" fn record_begin(c: *mut Ctx, ty: i64, place: i64) {
    let c = ctx(c);
    let ty = MessageId(ty as u32);
    let m = Message::empty(c.schema, ty);
    c.scratch.building.push((ty, m, Place::from_code(place)));
}

fn set(c: &mut Ctx, field: i64, v: Value) -> i32 {
    let Some((ty, m, _)) = c.scratch.building.last_mut() else { return RuntimeError::Internal.code() as i32 };
    let Some(f) = c.schema.message(*ty).fields.get(field as usize) else { return RuntimeError::Internal.code() as i32 };
    match store(v, f) {
        Ok(v) => {
            m.fields[field as usize] = v;
            0
        }
        Err(e) => e.code() as i32,
    }
}

extern "C" fn set_int(c: *mut Ctx, field: i64, v: i64) -> i32 {
    set(ctx(c), field, Value::Int(v))
}

extern "C" fn set_float(c: *mut Ctx, field: i64, v: f64) -> i32 {
    set(ctx(c), field, Value::Float(v))
}

extern "C" fn set_bool(c: *mut Ctx, field: i64, v: i8) -> i32 {
    set(ctx(c), field, Value::Bool(v != 0))
}

extern "C" fn set_enum(c: *mut Ctx, field: i64, v: i64) -> i32 {
    set(ctx(c), field, Value::Enum(v as i32))
}

extern "C" fn set_duration(c: *mut Ctx, field: i64, v: i64) -> i32 {
    set(ctx(c), field, Value::Duration(v))
}

/// A null `T?` written to a field: unset, whatever a spread put there.
extern "C" fn set_null(c: *mut Ctx, field: i64) -> i32 {
    set(ctx(c), field, Value::Null)
}

extern "C" fn set_str(c: *mut Ctx, field: i64, p: *const u8, len: i64) -> i32 {
    // SAFETY: see `str_of`.
    let s = unsafe { str_of(p, len) };
    set(ctx(c), field, Value::Str(Arc::from(s)))
}

/// Ends the innermost record: it becomes a field of the enclosing one, or is emitted to `sink`.
extern "C" fn record_end(c: *mut Ctx, sink: i64) -> i32 {
    let c = ctx(c);
    let Some((_, m, place)) = c.scratch.building.pop() else { return RuntimeError::Internal.code() as i32 };
    let value = Value::Message(Arc::new(m));
    match place {
        Place::Field(f) => match c.scratch.building.last_mut() {
            Some((_, outer, _)) => outer.fields[f as usize] = value,
            None => return RuntimeError::Internal.code() as i32,
        },
        Place::ListItem => match c.scratch.lists_building.last_mut() {
            Some(list) => list.push(value),
            None => return RuntimeError::Internal.code() as i32,
        },
        Place::Emit => {
            let key = c.scratch.key.take();
            c.actions.push(Action::Emit { sink: SinkId(sink as u32), key, record: value });
        }
        // `record_value` ends these.
        Place::Value => return RuntimeError::Internal.code() as i32,
    }
    0
}

extern "C" fn key_str(c: *mut Ctx, p: *const u8, len: i64) {
    // SAFETY: see `str_of`.
    ctx(c).scratch.key = Some(Value::str(unsafe { str_of(p, len) }));
}

extern "C" fn key_bytes(c: *mut Ctx, p: *const u8, len: i64) {
    // SAFETY: see `bytes_of`.
    ctx(c).scratch.key = Some(Value::Bytes(Arc::from(unsafe { bytes_of(p, len) })));
}

extern "C" fn key_int(c: *mut Ctx, v: i64) {
    ctx(c).scratch.key = Some(Value::Int(v));
}

extern "C" fn score(c: *mut Ctx, id: i64, out: *mut i64) -> i32 {
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

extern "C" fn float_rem(a: f64, b: f64) -> f64 {
    a % b
}

extern "C" fn float_min(a: f64, b: f64) -> f64 {
    number::min_float(a, b)
}

extern "C" fn float_max(a: f64, b: f64) -> f64 {
    number::max_float(a, b)
}

/// `to_int(float)`: 1 and the value in `*out`, or 0 for null.
extern "C" fn float_trunc(v: f64, out: *mut i64) -> i8 {
    match number::float_to_int(v) {
        // SAFETY: `out` points at an i64 in the caller's stack frame.
        Some(i) => unsafe {
            *out = i;
            1
        },
        None => 0,
    }
}

extern "C" fn bucket(h: i64, n: i64, out: *mut i64) -> i32 {
    match hash::bucket(h, n) {
        // SAFETY: `out` points at an i64 in the caller's stack frame.
        Ok(b) => unsafe {
            *out = b;
            0
        },
        Err(e) => e.code() as i32,
    }
}

/// The machine types of helper parameters and results.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    I8,
    I32,
    I64,
    F64,
}

/// A helper as native code links it: its symbol, address and signature.
pub struct Helper {
    pub name: &'static str,
    pub ptr: *const u8,
    pub params: &'static [Ty],
    pub ret: Option<Ty>,
}

macro_rules! helpers {
    ($( $name:literal => $f:ident ( $($p:ident),* ) $(-> $r:ident)? ;)*) => {
        /// Every helper native code may call.
        pub fn helpers() -> Vec<Helper> {
            vec![$(Helper { name: $name, ptr: $f as *const u8, params: &[$(Ty::$p),*], ret: helpers!(@ret $($r)?) }),*]
        }
    };
    (@ret) => { None };
    (@ret $r:ident) => { Some(Ty::$r) };
}

helpers! {
    "evr_str_cmp" => str_cmp(I64, I64, I64, I64) -> I32;
    "evr_str_len" => str_len(I64, I64) -> I64;
    "evr_str_starts" => str_starts(I64, I64, I64, I64) -> I8;
    "evr_str_ends" => str_ends(I64, I64, I64, I64) -> I8;
    "evr_str_contains" => str_contains(I64, I64, I64, I64) -> I8;
    "evr_str_lower" => str_lower(I64, I64, I64, I64);
    "evr_str_upper" => str_upper(I64, I64, I64, I64);
    "evr_str_trim" => str_trim(I64, I64, I64);
    "evr_str_concat" => str_concat(I64, I64, I64, I64, I64, I64);
    "evr_int_to_string" => int_to_string(I64, I64, I64);
    "evr_float_to_string" => float_to_string(I64, F64, I64);
    "evr_parse_int" => parse_int(I64, I64, I64) -> I8;
    "evr_parse_float" => parse_float(I64, I64, I64) -> I8;
    "evr_float_to_int" => float_to_int(I32, F64, I64) -> I32;
    "evr_float_trunc" => float_trunc(F64, I64) -> I8;
    "evr_float_rem" => float_rem(F64, F64) -> F64;
    "evr_float_min" => float_min(F64, F64) -> F64;
    "evr_float_max" => float_max(F64, F64) -> F64;
    "evr_matches" => matches(I64, I64, I64, I64) -> I8;
    "evr_ip_in" => ip_in(I64, I64, I64, I64) -> I8;
    "evr_is_bot" => is_bot(I64, I64) -> I8;
    "evr_hash_str" => hash_str(I64, I64) -> I64;
    "evr_hash_int" => hash_int(I64) -> I64;
    "evr_hash_float" => hash_float(F64) -> I64;
    "evr_hash_bool" => hash_bool(I8) -> I64;
    "evr_bucket" => bucket(I64, I64, I64) -> I32;
    "evr_hour_of_day" => hour_of_day(I64) -> I64;
    "evr_day_of_week" => day_of_week(I64) -> I64;
    "evr_now_ms" => now_ms() -> I64;
    "evr_velocity" => velocity(I64, I64, I64, I64) -> I64;
    "evr_velocity_sum" => velocity_sum(I64, I64, I64, F64) -> F64;
    "evr_velocity_distinct" => velocity_distinct(I64, I64, I64, I64) -> I64;
    "evr_score" => score(I64, I64, I64) -> I32;
    "evr_route" => route(I64, I64);
    "evr_record_begin" => record_begin(I64, I64, I64);
    "evr_set_int" => set_int(I64, I64, I64) -> I32;
    "evr_set_float" => set_float(I64, I64, F64) -> I32;
    "evr_set_bool" => set_bool(I64, I64, I8) -> I32;
    "evr_set_enum" => set_enum(I64, I64, I64) -> I32;
    "evr_set_duration" => set_duration(I64, I64, I64) -> I32;
    "evr_set_str" => set_str(I64, I64, I64, I64) -> I32;
    "evr_set_null" => set_null(I64, I64) -> I32;
    "evr_record_end" => record_end(I64, I64) -> I32;
    "evr_key_str" => key_str(I64, I64, I64);
    "evr_key_bytes" => key_bytes(I64, I64, I64);
    "evr_key_int" => key_int(I64, I64);
    "evr_map_get" => map_get(I64, I64, I64, I64, I64) -> I8;
    "evr_list_get" => list_get(I64, I64, I64) -> I8;
    "evr_msg_field" => msg_field(I64, I64, I64) -> I8;
    "evr_event" => event(I64) -> I64;
    "evr_record_spread" => record_spread(I64, I64) -> I32;
    "evr_set_message" => set_message(I64, I64, I64) -> I32;
    "evr_list_begin" => list_begin(I64);
    "evr_list_push" => list_push(I64, I64, I64, I64);
    "evr_list_end" => list_end(I64, I64) -> I32;
    "evr_enum_name" => enum_name(I64, I64, I64, I64);
    "evr_duration_to_string" => duration_to_string(I64, I64, I64);
    "evr_substr" => substr(I64, I64, I64, I64, I64);
    "evr_replace" => replace(I64, I64, I64, I64, I64, I64, I64, I64);
    "evr_extract" => extract(I64, I64, I64, I64, I64, I64) -> I8;
    "evr_split" => split(I64, I64, I64, I64, I64, I64);
    "evr_url_host" => url_host(I64, I64, I64, I64) -> I8;
    "evr_url_param" => url_param(I64, I64, I64, I64, I64, I64) -> I8;
    "evr_json_string" => json_string(I64, I64, I64, I64, I64) -> I8;
    "evr_json_int" => json_int(I64, I64, I64, I64, I64) -> I8;
    "evr_set_bytes" => set_bytes(I64, I64, I64, I64) -> I32;
    "evr_map_end" => map_end(I64, I64) -> I32;
    "evr_list_contains" => list_contains(I64, I64, I64, I64, I64) -> I8;
    "evr_set_contains" => set_contains(I64, I64, I64, I64) -> I8;
    "evr_words_equal" => words_equal(I64, I64, I64, I64, I64) -> I8;
    "evr_set_collection" => set_collection(I64, I64, I64, I64) -> I32;
    "evr_bytes_to_string" => bytes_to_string(I64, I64, I64, I64);
    "evr_record_value" => record_value(I64, I64) -> I32;
    "evr_list_value" => list_value(I64, I64) -> I32;
    "evr_map_value" => map_value(I64, I64) -> I32;
}

/// # Safety
/// `p` is null or points at a `Message` of the event being evaluated (a frame slot's pointer or
/// a list element), alive for the call.
unsafe fn message<'m>(p: i64) -> Option<&'m Message> {
    // SAFETY: see the function's contract.
    (p != 0).then(|| unsafe { &*(p as *const Message) })
}

/// Writes a scalar value into two words: (i64 or f64 bits or pointer, length). 0 when null.
fn put(v: &Value, out: *mut i64) -> i8 {
    let (a, b) = match v {
        Value::Null => return 0,
        Value::Bool(x) => (i64::from(*x), 0),
        Value::Int(x) | Value::Duration(x) => (*x, 0),
        Value::Enum(x) => (i64::from(*x), 0),
        Value::Float(x) => (x.to_bits() as i64, 0),
        Value::Str(s) => (s.as_ptr() as i64, s.len() as i64),
        Value::Bytes(s) => (s.as_ptr() as i64, s.len() as i64),
        Value::Message(m) => (Arc::as_ptr(m) as i64, 0),
        Value::List(l) => (Arc::as_ptr(l) as i64, l.len() as i64),
        Value::Map(m) => (Arc::as_ptr(m) as i64, m.len() as i64),
    };
    // SAFETY: `out` points at two i64s in the caller's stack frame.
    unsafe {
        *out = a;
        *out.add(1) = b;
    }
    1
}

/// `map[key]`: 1 and the value in `out`, or 0. The key comes as words (see [`Words`]).
extern "C" fn map_get(map: i64, key_kind: i64, k0: i64, k1: i64, out: *mut i64) -> i8 {
    if map == 0 {
        return 0;
    }
    // SAFETY: a map pointer from a frame slot, a constant or a value built by this unit, alive
    // for the call.
    let entries = unsafe { &*(map as *const Vec<(Value, Value)>) };
    let key = Words { kind: key_kind, a: k0, b: k1 };
    // SAFETY: native code passes words of a live value of the key's type.
    match entries.iter().find(|(k, _)| unsafe { key.equals(k) }) {
        Some((_, v)) => put(v, out),
        None => 0,
    }
}

/// A value as native code passes it to helpers that take any type: a kind and two words.
/// Kinds: 0 int, 1 float (bits), 2 bool, 3 enum, 4 duration, 5 string and 6 bytes (pointer,
/// length), 7 list and 8 map (pointer to the elements or entries, length), 9 message (pointer).
#[derive(Clone, Copy)]
struct Words {
    kind: i64,
    a: i64,
    b: i64,
}

impl Words {
    /// # Safety
    /// Pointers among the words point at live values of the kind's type.
    unsafe fn equals(self, v: &Value) -> bool {
        let Words { kind, a, b } = self;
        // SAFETY: see the function's contract.
        unsafe {
            match (v, kind) {
                (Value::Int(x), 0) | (Value::Duration(x), 4) => *x == a,
                (Value::Float(x), 1) => *x == f64::from_bits(a as u64),
                (Value::Bool(x), 2) => i64::from(*x) == a,
                (Value::Enum(x), 3) => i64::from(*x) == a,
                (Value::Str(s), 5) => s.as_bytes() == bytes_of(a as *const u8, b),
                (Value::Bytes(s), 6) => **s == *bytes_of(a as *const u8, b),
                (Value::List(l), 7) => a != 0 && **l == *(a as *const Vec<Value>),
                (Value::Map(m), 8) => a != 0 && **m == *(a as *const Vec<(Value, Value)>),
                (Value::Message(m), 9) => message(a).is_some_and(|other| **m == *other),
                // An absent message (a null pointer) is null.
                (Value::Null, 9) => a == 0,
                _ => false,
            }
        }
    }

    /// An owned value. Collections are copied deeply: they may be constants, whose values
    /// threads share (see `Pinned`).
    ///
    /// # Safety
    /// As for [`equals`](Self::equals).
    unsafe fn value(self) -> Value {
        let Words { kind, a, b } = self;
        // SAFETY: see the function's contract.
        unsafe {
            match kind {
                0 => Value::Int(a),
                1 => Value::Float(f64::from_bits(a as u64)),
                2 => Value::Bool(a != 0),
                3 => Value::Enum(a as i32),
                4 => Value::Duration(a),
                5 => Value::str(str_of(a as *const u8, b)),
                6 => Value::Bytes(Arc::from(bytes_of(a as *const u8, b))),
                7 if a != 0 => Value::List(Arc::new((*(a as *const Vec<Value>)).to_vec())),
                8 if a != 0 => Value::Map(Arc::new((*(a as *const Vec<(Value, Value)>)).to_vec())),
                7 => Value::List(Arc::new(Vec::new())),
                8 => Value::Map(Arc::new(Vec::new())),
                _ => message(a).map_or(Value::Null, |m| Value::Message(Arc::new(m.clone()))),
            }
        }
    }
}

/// `list[i]`: 1 and the element in `out`, or 0 when out of range.
extern "C" fn list_get(list: i64, i: i64, out: *mut i64) -> i8 {
    if list == 0 || i < 0 {
        return 0;
    }
    // SAFETY: a list slot's pointer points at the elements of a decoded list, alive for the call.
    let items = unsafe { &*(list as *const Vec<Value>) };
    items.get(i as usize).map_or(0, |v| put(v, out))
}

/// Field `index` of a message (null pointer: an absent message): 1 and the value in `out`, or 0
/// when unset.
extern "C" fn msg_field(msg: i64, index: i64, out: *mut i64) -> i8 {
    // SAFETY: see `message`.
    match unsafe { message(msg) } {
        Some(m) => m.fields.get(index as usize).map_or(0, |v| put(v, out)),
        None => 0,
    }
}

/// The event's root message.
extern "C" fn event(c: *mut Ctx) -> i64 {
    match ctx(c).event {
        Value::Message(m) => Arc::as_ptr(m) as i64,
        _ => 0,
    }
}

/// `..msg` in the record being built: copies every set field.
extern "C" fn record_spread(c: *mut Ctx, msg: i64) -> i32 {
    let c = ctx(c);
    // SAFETY: see `message`.
    let Some(src) = (unsafe { message(msg) }) else { return 0 };
    let Some((_, m, _)) = c.scratch.building.last_mut() else { return RuntimeError::Internal.code() as i32 };
    for (slot, v) in m.fields.iter_mut().zip(&src.fields) {
        if !v.is_null() {
            *slot = v.clone();
        }
    }
    0
}

/// A message-typed field of the record being built, from a message of the event.
extern "C" fn set_message(c: *mut Ctx, field: i64, msg: i64) -> i32 {
    // SAFETY: see `message`.
    let value = unsafe { message(msg) }.map_or(Value::Null, |m| Value::Message(Arc::new(m.clone())));
    set(ctx(c), field, value)
}

/// Starts a list value for a field of the record being built.
extern "C" fn list_begin(c: *mut Ctx) {
    ctx(c).scratch.lists_building.push(Vec::new());
}

/// Appends a value, as words (see [`Words`]), to the innermost list being built.
extern "C" fn list_push(c: *mut Ctx, kind: i64, a: i64, b: i64) {
    // SAFETY: native code passes words of a live value.
    let v = unsafe { Words { kind, a, b }.value() };
    if let Some(list) = ctx(c).scratch.lists_building.last_mut() {
        list.push(v);
    }
}

extern "C" fn list_end(c: *mut Ctx, field: i64) -> i32 {
    let c = ctx(c);
    let Some(items) = c.scratch.lists_building.pop() else { return RuntimeError::Internal.code() as i32 };
    // Set even when empty: it overrides what a spread put there.
    set(c, field, Value::List(Arc::new(items)))
}

extern "C" fn enum_name(c: *mut Ctx, enum_id: i64, n: i64, out: *mut i64) {
    let c = ctx(c);
    let e = c.schema.enum_(crate::schema::EnumId(enum_id as u32));
    let name =
        e.values.iter().find(|(_, v)| i64::from(*v) == n).map_or_else(|| n.to_string(), |(name, _)| name.clone());
    give(c, name, out);
}

extern "C" fn duration_to_string(c: *mut Ctx, ms: i64, out: *mut i64) {
    give(ctx(c), format!("{ms}ms"), out);
}

extern "C" fn substr(p: *const u8, len: i64, start: i64, n: i64, out: *mut i64) {
    // SAFETY: see `str_of`; the result is a part of the input, which outlives it.
    let part = text::substr(unsafe { str_of(p, len) }, start, n);
    // SAFETY: `out` points at two i64s in the caller's stack frame.
    unsafe {
        *out = part.as_ptr() as i64;
        *out.add(1) = part.len() as i64;
    }
}

extern "C" fn replace(
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
extern "C" fn extract(c: *mut Ctx, constant: i64, p: *const u8, len: i64, group: i64, out: *mut i64) -> i8 {
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
extern "C" fn split(c: *mut Ctx, p: *const u8, len: i64, sep: *const u8, slen: i64, out: *mut i64) {
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
extern "C" fn url_host(c: *mut Ctx, p: *const u8, len: i64, out: *mut i64) -> i8 {
    // SAFETY: see `str_of`.
    match web::url_host(unsafe { str_of(p, len) }) {
        Some(h) => {
            give(ctx(c), h, out);
            1
        }
        None => 0,
    }
}

extern "C" fn url_param(c: *mut Ctx, p: *const u8, len: i64, n: *const u8, nlen: i64, out: *mut i64) -> i8 {
    // SAFETY: see `str_of`.
    match unsafe { web::url_param(str_of(p, len), str_of(n, nlen)) } {
        Some(v) => {
            give(ctx(c), v, out);
            1
        }
        None => 0,
    }
}

extern "C" fn json_string(c: *mut Ctx, constant: i64, p: *const u8, len: i64, out: *mut i64) -> i8 {
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

extern "C" fn json_int(c: *mut Ctx, constant: i64, p: *const u8, len: i64, out: *mut i64) -> i8 {
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

/// `x in list` over a list of the event, a constant or a built list; `x` as words (see
/// [`Words`]).
extern "C" fn list_contains(list: i64, len: i64, kind: i64, a: i64, b: i64) -> i8 {
    if list == 0 || len == 0 {
        return 0;
    }
    // SAFETY: a list pointer from a frame slot, a constant or `split`, alive for the call.
    let items = unsafe { &*(list as *const Vec<Value>) };
    let needle = Words { kind, a, b };
    // SAFETY: native code passes words of a live value.
    items.iter().any(|v| unsafe { needle.equals(v) }) as i8
}

/// `x in CONSTANTS` past a few constants; `x` as words (see [`Words`]).
extern "C" fn set_contains(set: i64, kind: i64, a: i64, b: i64) -> i8 {
    // SAFETY: a set the compiled code owns (`Pinned`), alive as long as the code.
    let set = unsafe { &*(set as *const crate::const_set::ConstSet) };
    let found = match kind {
        1 => set.contains_float(f64::from_bits(a as u64)),
        // SAFETY: native code passes words of a live string or bytes value.
        5 | 6 => set.contains_text(unsafe { bytes_of(a as *const u8, b) }),
        _ => set.contains_word(a),
    };
    found as i8
}

/// Whether two values of the same kind, as words (see [`Words`]), are equal.
extern "C" fn words_equal(kind: i64, a0: i64, a1: i64, b0: i64, b1: i64) -> i8 {
    let empty: Vec<Value> = Vec::new();
    let no_entries: Vec<(Value, Value)> = Vec::new();
    // SAFETY: native code passes words of live values; a null collection pointer is empty.
    let equal = unsafe {
        match kind {
            1 => f64::from_bits(a0 as u64) == f64::from_bits(b0 as u64),
            5 | 6 => bytes_of(a0 as *const u8, a1) == bytes_of(b0 as *const u8, b1),
            7 => {
                let list = |p: i64| if p == 0 { &empty } else { &*(p as *const Vec<Value>) };
                list(a0) == list(b0)
            }
            8 => {
                let map = |p: i64| if p == 0 { &no_entries } else { &*(p as *const Vec<(Value, Value)>) };
                map(a0) == map(b0)
            }
            9 => message(a0) == message(b0),
            _ => a0 == b0,
        }
    };
    equal as i8
}

/// A list or map of the event as a field of the record being built (`kind` 0 list, 1 map).
extern "C" fn set_collection(c: *mut Ctx, field: i64, kind: i64, coll: i64) -> i32 {
    if coll == 0 {
        // An empty collection, which overrides what a spread put there.
        let empty = if kind == 0 { Value::List(Arc::default()) } else { Value::Map(Arc::default()) };
        return set(ctx(c), field, empty);
    }
    // A list (7) or map (8) as words; copied deeply, as constants may be shared by threads.
    let words = Words { kind: if kind == 0 { 7 } else { 8 }, a: coll, b: 0 };
    // SAFETY: a list or map pointer from a frame slot, a constant or a built value, alive for
    // the call.
    let value = unsafe { words.value() };
    set(ctx(c), field, value)
}

/// `to_string(bytes)`: the bytes as UTF-8 text, invalid sequences replaced.
extern "C" fn bytes_to_string(c: *mut Ctx, p: *const u8, len: i64, out: *mut i64) {
    // SAFETY: see `bytes_of`.
    let s = String::from_utf8_lossy(unsafe { bytes_of(p, len) }).into_owned();
    give(ctx(c), s, out);
}

/// Ends a record built as a value: a pointer to it in `*out`.
extern "C" fn record_value(c: *mut Ctx, out: *mut i64) -> i32 {
    let c = ctx(c);
    let Some((_, m, Place::Value)) = c.scratch.building.pop() else { return RuntimeError::Internal.code() as i32 };
    let m = Arc::new(m);
    // SAFETY: `out` points at an i64 in the caller's stack frame.
    unsafe { *out = Arc::as_ptr(&m) as i64 };
    c.scratch.messages.push(m);
    0
}

/// Ends a list built as a value: (pointer, length) in `out`.
extern "C" fn list_value(c: *mut Ctx, out: *mut i64) -> i32 {
    let c = ctx(c);
    let Some(items) = c.scratch.lists_building.pop() else { return RuntimeError::Internal.code() as i32 };
    let list = Arc::new(items);
    // SAFETY: `out` points at two i64s in the caller's stack frame.
    unsafe {
        *out = Arc::as_ptr(&list) as i64;
        *out.add(1) = list.len() as i64;
    }
    c.scratch.lists.push(list);
    0
}

/// Ends a map built as a value (keys and values alternate in the buffer): (pointer, length).
extern "C" fn map_value(c: *mut Ctx, out: *mut i64) -> i32 {
    let c = ctx(c);
    let Some(flat) = c.scratch.lists_building.pop() else { return RuntimeError::Internal.code() as i32 };
    let entries = pairs(flat);
    let map = Arc::new(entries);
    // SAFETY: `out` points at two i64s in the caller's stack frame.
    unsafe {
        *out = Arc::as_ptr(&map) as i64;
        *out.add(1) = map.len() as i64;
    }
    c.scratch.maps.push(map);
    0
}
