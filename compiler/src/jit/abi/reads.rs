//! Helpers that read values native code holds by pointer: map entries, list elements,
//! message fields, the event, membership.

#[allow(unused_imports)]
use super::*;

/// `map[key]`: 1 and the value in `out`, or 0. The key comes as words (see [`Words`]).
pub(super) extern "C" fn map_get(map: i64, key_kind: i64, k0: i64, k1: i64, out: *mut i64) -> i8 {
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

/// `list[i]`: 1 and the element in `out`, or 0 when out of range.
pub(super) extern "C" fn list_get(list: i64, i: i64, out: *mut i64) -> i8 {
    if list == 0 || i < 0 {
        return 0;
    }
    // SAFETY: a list slot's pointer points at the elements of a decoded list, alive for the call.
    let items = unsafe { &*(list as *const Vec<Value>) };
    items.get(i as usize).map_or(0, |v| put(v, out))
}

/// Field `index` of a message (null pointer: an absent message): 1 and the value in `out`, or 0
/// when unset.
pub(super) extern "C" fn msg_field(msg: i64, index: i64, out: *mut i64) -> i8 {
    // SAFETY: see `message`.
    match unsafe { message(msg) } {
        Some(m) => m.fields.get(index as usize).map_or(0, |v| put(v, out)),
        None => 0,
    }
}

/// The event's root message.
pub(super) extern "C" fn event(c: *mut Ctx) -> i64 {
    match ctx(c).event {
        Value::Message(m) => Arc::as_ptr(m) as i64,
        _ => 0,
    }
}

/// `x in list` over a list of the event, a constant or a built list; `x` as words (see
/// [`Words`]).
pub(super) extern "C" fn list_contains(list: i64, len: i64, kind: i64, a: i64, b: i64) -> i8 {
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
pub(super) extern "C" fn set_contains(set: i64, kind: i64, a: i64, b: i64) -> i8 {
    // SAFETY: a set the compiled code owns (`Pinned`), alive as long as the code.
    let set = unsafe { &*(set as *const crate::const_set::ConstSet) };
    let found = match kind {
        kind::FLOAT => set.contains_float(f64::from_bits(a as u64)),
        // SAFETY: native code passes words of a live string or bytes value.
        kind::STRING | kind::BYTES => set.contains_text(unsafe { bytes_of(a as *const u8, b) }),
        _ => set.contains_word(a),
    };
    found as i8
}

/// Whether two values of the same kind, as words (see [`Words`]), are equal.
pub(super) extern "C" fn words_equal(kind: i64, a0: i64, a1: i64, b0: i64, b1: i64) -> i8 {
    let empty: Vec<Value> = Vec::new();
    let no_entries: Vec<(Value, Value)> = Vec::new();
    // SAFETY: native code passes words of live values; a null collection pointer is empty.
    let equal = unsafe {
        match kind {
            kind::FLOAT => f64::from_bits(a0 as u64) == f64::from_bits(b0 as u64),
            kind::STRING | kind::BYTES => bytes_of(a0 as *const u8, a1) == bytes_of(b0 as *const u8, b1),
            kind::LIST => {
                let list = |p: i64| if p == 0 { &empty } else { &*(p as *const Vec<Value>) };
                list(a0) == list(b0)
            }
            kind::MAP => {
                let map = |p: i64| if p == 0 { &no_entries } else { &*(p as *const Vec<(Value, Value)>) };
                map(a0) == map(b0)
            }
            kind::MESSAGE => message(a0) == message(b0),
            _ => a0 == b0,
        }
    };
    equal as i8
}
