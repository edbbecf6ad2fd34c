//! Helpers that build what `emit` sends and `route` asks: records, their fields, lists and
//! maps, keys.

#[allow(unused_imports)]
use super::*;

pub(super) extern "C" fn set_bytes(c: *mut Ctx, field: i64, p: *const u8, len: i64) -> i32 {
    // SAFETY: see `bytes_of`.
    let b = unsafe { bytes_of(p, len) };
    set(ctx(c), field, Value::Bytes(Arc::from(b)))
}

/// Map entries from a buffer where keys and values alternate; a later key wins.
pub(super) fn pairs(flat: Vec<Value>) -> Vec<(Value, Value)> {
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
pub(super) extern "C" fn map_end(c: *mut Ctx, field: i64) -> i32 {
    let c = ctx(c);
    let Some(flat) = c.scratch.lists_building.pop() else { return RuntimeError::Internal.code() as i32 };
    let entries = pairs(flat);
    // Set even when empty: it overrides what a spread put there.
    set(c, field, Value::Map(Arc::new(entries)))
}

pub(super) extern "C" fn route(c: *mut Ctx, sink: i64) {
    ctx(c).actions.push(Action::Route { sink: SinkId(sink as u32) });
}

/// Starts a record of message `ty`; `place` says where it goes (see [`Place::from_code`]).
pub(super) extern "C" fn record_begin(c: *mut Ctx, ty: i64, place: i64) {
    let c = ctx(c);
    let ty = MessageId(ty as u32);
    let m = Message::empty(c.schema, ty);
    c.scratch.building.push((ty, m, Place::from_code(place)));
}

pub(super) fn set(c: &mut Ctx, field: i64, v: Value) -> i32 {
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

pub(super) extern "C" fn set_int(c: *mut Ctx, field: i64, v: i64) -> i32 {
    set(ctx(c), field, Value::Int(v))
}

pub(super) extern "C" fn set_float(c: *mut Ctx, field: i64, v: f64) -> i32 {
    set(ctx(c), field, Value::Float(v))
}

pub(super) extern "C" fn set_bool(c: *mut Ctx, field: i64, v: i8) -> i32 {
    set(ctx(c), field, Value::Bool(v != 0))
}

pub(super) extern "C" fn set_enum(c: *mut Ctx, field: i64, v: i64) -> i32 {
    set(ctx(c), field, Value::Enum(v as i32))
}

pub(super) extern "C" fn set_duration(c: *mut Ctx, field: i64, v: i64) -> i32 {
    set(ctx(c), field, Value::Duration(v))
}

/// A null `T?` written to a field: unset, whatever a spread put there.
pub(super) extern "C" fn set_null(c: *mut Ctx, field: i64) -> i32 {
    set(ctx(c), field, Value::Null)
}

pub(super) extern "C" fn set_str(c: *mut Ctx, field: i64, p: *const u8, len: i64) -> i32 {
    // SAFETY: see `str_of`.
    let s = unsafe { str_of(p, len) };
    set(ctx(c), field, Value::Str(Arc::from(s)))
}

/// Ends the innermost record: it becomes a field of the enclosing one, or is emitted to `sink`.
pub(super) extern "C" fn record_end(c: *mut Ctx, sink: i64) -> i32 {
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

pub(super) extern "C" fn key_str(c: *mut Ctx, p: *const u8, len: i64) {
    // SAFETY: see `str_of`.
    ctx(c).scratch.key = Some(Value::str(unsafe { str_of(p, len) }));
}

pub(super) extern "C" fn key_bytes(c: *mut Ctx, p: *const u8, len: i64) {
    // SAFETY: see `bytes_of`.
    ctx(c).scratch.key = Some(Value::Bytes(Arc::from(unsafe { bytes_of(p, len) })));
}

pub(super) extern "C" fn key_int(c: *mut Ctx, v: i64) {
    ctx(c).scratch.key = Some(Value::Int(v));
}

/// `..msg` in the record being built: copies every set field.
pub(super) extern "C" fn record_spread(c: *mut Ctx, msg: i64) -> i32 {
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
pub(super) extern "C" fn set_message(c: *mut Ctx, field: i64, msg: i64) -> i32 {
    // SAFETY: see `message`.
    let value = unsafe { message(msg) }.map_or(Value::Null, |m| Value::Message(Arc::new(m.clone())));
    set(ctx(c), field, value)
}

/// Starts a list value for a field of the record being built.
pub(super) extern "C" fn list_begin(c: *mut Ctx) {
    ctx(c).scratch.lists_building.push(Vec::new());
}

/// Appends a value, as words (see [`Words`]), to the innermost list being built.
pub(super) extern "C" fn list_push(c: *mut Ctx, kind: i64, a: i64, b: i64) {
    // SAFETY: native code passes words of a live value.
    let v = unsafe { Words { kind, a, b }.value() };
    if let Some(list) = ctx(c).scratch.lists_building.last_mut() {
        list.push(v);
    }
}

pub(super) extern "C" fn list_end(c: *mut Ctx, field: i64) -> i32 {
    let c = ctx(c);
    let Some(items) = c.scratch.lists_building.pop() else { return RuntimeError::Internal.code() as i32 };
    // Set even when empty: it overrides what a spread put there.
    set(c, field, Value::List(Arc::new(items)))
}

/// A list or map of the event as a field of the record being built (`kind` 0 list, 1 map).
pub(super) extern "C" fn set_collection(c: *mut Ctx, field: i64, kind: i64, coll: i64) -> i32 {
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

/// Ends a record built as a value: a pointer to it in `*out`.
pub(super) extern "C" fn record_value(c: *mut Ctx, out: *mut i64) -> i32 {
    let c = ctx(c);
    let Some((_, m, Place::Value)) = c.scratch.building.pop() else { return RuntimeError::Internal.code() as i32 };
    let m = Arc::new(m);
    // SAFETY: `out` points at an i64 in the caller's stack frame.
    unsafe { *out = Arc::as_ptr(&m) as i64 };
    c.scratch.messages.push(m);
    0
}

/// Ends a list built as a value: (pointer, length) in `out`.
pub(super) extern "C" fn list_value(c: *mut Ctx, out: *mut i64) -> i32 {
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
pub(super) extern "C" fn map_value(c: *mut Ctx, out: *mut i64) -> i32 {
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
