//! The fast path of decoding JSON into a frame: a scanner, driven by the frame's plan, for events
//! of the plain shape nearly all events have. It takes an event only when it can decide it
//! exactly as the serde path would (`json::decode_into`) and give the same slots; at anything
//! else — an escape in a string, a key given twice, a number it would have to round twice, an
//! error of any kind — it gives up, and the serde path decodes the event from the start and
//! says why it fails if it does. So this path never rejects: it accepts or hands over.
//!
//! What it accepts is checked against the serde path by the property tests of
//! `runtime/tests/runtime/frames.rs`.

use std::sync::Arc;

use evr_compiler::schema::{Field, Label, MessageId, Schema, WireKind};
use evr_compiler::types::Type;
use evr_compiler::value::{Message, Value, store_float};

use super::json::{MAX_NESTING, check_int, enum_type, list_message, map_key, parse_duration};
use super::plan::{Elements, FrameOut, Need, Pending, Plan};
use super::{Scalar, field_index};

/// Fills the frame from `bytes` and says `true`, or says `false` when the serde path must
/// decide the event (the frame is then left in any state; the caller resets it).
pub fn decode_into(schema: &Schema, ty: MessageId, bytes: &[u8], out: &mut FrameOut) -> bool {
    // No UTF-8 check of the whole event: outside strings only ASCII is taken, and a string
    // with other bytes is checked on its own (`Scan::string`).
    let mut s = Scan { b: bytes, at: 0 };
    s.ws();
    if s.peek() != Some(b'{') {
        return false;
    }
    let plan = out.root;
    if s.message(schema, ty, plan, out, 0).is_none() {
        return false;
    }
    s.ws();
    s.at == bytes.len()
}

/// Decodes a value whose decoding was deferred (see [`Pending`]); `None` if its text does not
/// decode as it did when it was checked, which cannot happen for the same input.
pub fn settle(schema: &Schema, bytes: &[u8], p: &Pending) -> Option<Value> {
    let field = schema.message(p.message).fields.get(p.field)?;
    let mut s = Scan { b: bytes, at: p.start };
    let v = s.value(schema, field, p.depth)?;
    (s.at == p.end).then_some(v)
}

/// `None` everywhere below means "not decided here".
type Fast<T> = Option<T>;

/// The plan of a message nothing reads.
static CHECK: Plan = Plan::empty();

struct Scan<'i> {
    b: &'i [u8],
    at: usize,
}

/// A JSON number: an integer that fits an `i64` (and is not `-0`, which serde_json reads as a
/// float), or the text of any other number.
enum Number<'i> {
    Int(i64),
    Other(&'i str),
}

impl<'i> Scan<'i> {
    fn bytes(&self) -> &'i [u8] {
        self.b
    }

    /// The text of a number the scanner has checked: digits, signs, a point, an exponent.
    fn ascii(&self, from: usize, to: usize) -> &'i str {
        let text = &self.b[from..to];
        debug_assert!(text.is_ascii());
        // SAFETY: `number` passes only spans of the bytes it matched, all ASCII.
        unsafe { std::str::from_utf8_unchecked(text) }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.at).copied()
    }

    fn ws(&mut self) {
        let b = self.bytes();
        while self.at < b.len() && matches!(b[self.at], b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Fast<()> {
        (self.peek() == Some(c)).then(|| self.at += 1)
    }

    fn literal(&mut self, word: &str) -> Fast<()> {
        self.b[self.at..].starts_with(word.as_bytes()).then(|| self.at += word.len())
    }

    /// A string without escapes or control characters, at its opening quote. Eight bytes at a
    /// time while they are plain ASCII; text with other bytes must be UTF-8.
    fn string(&mut self) -> Fast<&'i str> {
        const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
        const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
        let has_byte = |x: u64, c: u8| {
            let y = x ^ (ONES * u64::from(c));
            y.wrapping_sub(ONES) & !y & HIGH
        };
        self.eat(b'"')?;
        let b = self.b;
        let start = self.at;
        let mut i = start;
        let mut ascii = true;
        // Whole words with no quote, backslash, control character or high byte are skipped.
        while let Some(chunk) = b.get(i..i + 8) {
            let x = u64::from_le_bytes(chunk.try_into().expect("eight bytes"));
            let special =
                has_byte(x, b'"') | has_byte(x, b'\\') | (x.wrapping_sub(ONES * 0x20) & !x & HIGH) | (x & HIGH);
            if special != 0 {
                break;
            }
            i += 8;
        }
        while i < b.len() {
            match b[i] {
                b'"' => {
                    self.at = i + 1;
                    let text = &b[start..i];
                    return if ascii {
                        // SAFETY: every byte of `text` is ASCII (checked above), hence UTF-8.
                        Some(unsafe { std::str::from_utf8_unchecked(text) })
                    } else {
                        std::str::from_utf8(text).ok()
                    };
                }
                b'\\' | 0..=0x1f => return None,
                0x80.. => {
                    ascii = false;
                    i += 1;
                }
                _ => i += 1,
            }
        }
        None
    }

    /// A number by JSON's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Fast<Number<'i>> {
        let b = self.bytes();
        let start = self.at;
        let mut i = start;
        let negative = b.get(i) == Some(&b'-');
        if negative {
            i += 1;
        }
        // The digits from `i` on: how many.
        let run = |i: usize| b[i.min(b.len())..].iter().take_while(|c| c.is_ascii_digit()).count();
        // The integer part's value is summed as it is scanned; 19 digits always fit a `u64`.
        let digits = i;
        let mut magnitude: u64 = 0;
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while let Some(d) = b.get(i).filter(|c| c.is_ascii_digit()) {
                    magnitude = magnitude.wrapping_mul(10).wrapping_add(u64::from(d - b'0'));
                    i += 1;
                }
            }
            _ => return None,
        }
        let integer_end = i;
        let mut plain = true;
        if b.get(i) == Some(&b'.') {
            plain = false;
            let n = run(i + 1);
            if n == 0 {
                return None;
            }
            i += 1 + n;
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            plain = false;
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let n = run(i);
            if n == 0 {
                return None;
            }
            i += n;
        }
        // A digit right after `0` is an error (leading zeros); let serde say so.
        if b.get(i).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        self.at = i;
        let text = self.ascii(start, i);
        if !plain {
            return Some(Number::Other(text));
        }
        if integer_end - digits > 19 {
            // Perhaps beyond `u64` (wrapped above): parse it again, checked.
            magnitude = self.ascii(digits, integer_end).parse().ok()?;
        }
        let value = if negative {
            if magnitude == 0 || magnitude > 1 << 63 {
                return None;
            }
            (magnitude as i64).wrapping_neg()
        } else {
            i64::try_from(magnitude).ok()?
        };
        Some(Number::Int(value))
    }

    /// Any JSON value, checked and passed over.
    fn skip(&mut self, depth: u32) -> Fast<()> {
        // serde_json's recursion limit is 128; staying well below it keeps the two paths alike.
        if depth > 64 {
            return None;
        }
        match self.peek()? {
            b'"' => self.string().map(drop),
            b'{' => self.members(|s, _| s.skip(depth + 1)),
            b'[' => self.elements(|s| s.skip(depth + 1)),
            b't' => self.literal("true"),
            b'f' => self.literal("false"),
            b'n' => self.literal("null"),
            // serde_json reads every number, and fails on one beyond `f64`'s range.
            _ => match self.number()? {
                Number::Int(_) => Some(()),
                Number::Other(text) => finite(text).map(drop),
            },
        }
    }

    /// The members of an object, at its `{`: `member` is called at each value, after its key.
    fn members(&mut self, member: impl FnMut(&mut Self, &'i str) -> Fast<()>) -> Fast<()> {
        self.members_by(Self::string, member)
    }

    /// The members of an object, at its `{`, with keys read by `key`.
    fn members_by<K>(
        &mut self,
        mut key: impl FnMut(&mut Self) -> Fast<K>,
        mut member: impl FnMut(&mut Self, K) -> Fast<()>,
    ) -> Fast<()> {
        self.eat(b'{')?;
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            let k = key(self)?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            member(self, k)?;
            self.ws();
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => return self.eat(b'}'),
                _ => return None,
            }
        }
    }

    /// The elements of an array, at its `[`: `each` is called at every element.
    fn elements(&mut self, mut each: impl FnMut(&mut Self) -> Fast<()>) -> Fast<()> {
        self.eat(b'[')?;
        self.ws();
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            each(self)?;
            self.ws();
            match self.peek()? {
                b',' => self.at += 1,
                b']' => return self.eat(b']'),
                _ => return None,
            }
        }
    }

    /// The members of a message's object, at its `{`: `each` is called at the value of every
    /// known field with the field's index; unknown fields are checked and passed over. A field
    /// given twice is left to the serde path, which knows what the last one undoes.
    fn fields_of(
        &mut self,
        msg: &evr_compiler::schema::Message,
        depth: u32,
        mut each: impl FnMut(&mut Self, usize) -> Fast<()>,
    ) -> Fast<()> {
        let mut seen: u128 = 0;
        // Events of a stream spell their fields alike and mostly in schema order: the field
        // after the last one is tried first, straight against the input.
        let mut guess = 0;
        let key = |s: &mut Self| {
            let index = match s.known_key(msg, guess) {
                Some(index) => Some(index),
                None => field_index(msg, s.string()?),
            };
            if let Some(index) = index {
                guess = index + 1;
            }
            Some(index)
        };
        self.members_by(key, |s, index| match index {
            None => s.skip(depth + 1),
            Some(index) => {
                let bit = 1u128.checked_shl(index as u32)?;
                // So are a member of a oneof (serde checks that no other one is set) and an Any
                // (its JSON form is not its fields).
                if seen & bit != 0 || msg.fields[index].oneof.is_some() || msg.fields[index].holds_any {
                    return None;
                }
                seen |= bit;
                each(s, index)
            }
        })
    }

    /// The key at hand, when it is exactly the JSON or proto name of field `guess` (names hold
    /// no quote or backslash, so such a key has no escape).
    fn known_key(&mut self, msg: &evr_compiler::schema::Message, guess: usize) -> Option<usize> {
        let f = msg.fields.get(guess)?;
        let rest = self.b.get(self.at..)?;
        for name in [&f.json_name, &f.name] {
            let n = name.len();
            if rest.len() > n + 1 && rest[0] == b'"' && rest[n + 1] == b'"' && same_short(&rest[1..=n], name.as_bytes())
            {
                self.at += n + 2;
                return Some(guess);
            }
        }
        None
    }

    /// A message by its plan.
    fn message(&mut self, schema: &Schema, ty: MessageId, plan: &Plan, out: &mut FrameOut, depth: u32) -> Fast<()> {
        if depth >= MAX_NESTING {
            return None;
        }
        let msg = schema.message(ty);
        self.fields_of(msg, depth, |s, index| {
            let field = &msg.fields[index];
            match plan.need(index) {
                Need::Skip => s.field(schema, field, &CHECK, out, depth),
                Need::Slot(at) => {
                    if let Some(v) = s.scalar(schema, field, field.wire)? {
                        out.scalar(*at, v);
                    }
                    Some(())
                }
                Need::Nested(inner) => s.field(schema, field, inner, out, depth),
                Need::Keys(keys) => s.keyed(schema, field, keys, out),
                Need::Column(c) => {
                    if let Some(v) = s.scalar(schema, field, field.wire)? {
                        out.column_scalar(*c, v);
                    }
                    Some(())
                }
                Need::Columns(elements) => s.columns(schema, field, elements, out, depth),
                Need::Whole(w) if out.may_defer(*w) => {
                    // Checked now, decoded when a unit that reads it runs (if one does).
                    let start = s.at;
                    s.field(schema, field, &CHECK, out, depth)?;
                    out.postpone(Pending { whole: *w, start, end: s.at, message: ty, field: index, depth });
                    Some(())
                }
                Need::Whole(w) => {
                    *out.whole(*w) = s.value(schema, field, depth)?;
                    Some(())
                }
            }
        })
    }

    /// A field that has no slot of its own: a singular message read through `plan`, or any
    /// field only checked.
    fn field(&mut self, schema: &Schema, field: &Field, plan: &Plan, out: &mut FrameOut, depth: u32) -> Fast<()> {
        if self.literal("null").is_some() {
            return Some(());
        }
        match field.label {
            Label::Singular if field.wire == WireKind::Message => {
                let Type::Message(ty) = field.ty.strip_optional() else { return None };
                self.message(schema, *ty, plan, out, depth + 1)
            }
            Label::Singular => self.scalar(schema, field, field.wire).map(drop),
            Label::Repeated => self.elements(|s| s.element(schema, field, field.wire, out, depth)),
            Label::Map => {
                let (key_wire, value_wire) = field.map_wire?;
                self.members(|s, key| {
                    map_key(key_wire, key).ok()?;
                    s.element(schema, field, value_wire, out, depth)
                })
            }
        }
    }

    /// A `map<string, _>` field some of whose values are read by key: every entry checked, the
    /// values of those keys into their slots (a later entry with the same key wins, as when
    /// the map is built).
    fn keyed(&mut self, schema: &Schema, field: &Field, keys: &[(Box<str>, u32)], out: &mut FrameOut) -> Fast<()> {
        if self.literal("null").is_some() {
            return Some(());
        }
        let (WireKind::String, value_wire) = field.map_wire? else { return None };
        self.members(|s, key| {
            // A null value is an error: the serde path says so.
            let v = s.scalar(schema, field, value_wire)??;
            if let Some((_, at)) = keys.iter().find(|(k, _)| **k == *key) {
                out.scalar(*at, v);
            }
            Some(())
        })
    }

    /// A list of messages whose elements' fields are read through columns: each element is
    /// checked as `field` checks it, and the fields read go to the element's column slots.
    fn columns(
        &mut self,
        schema: &Schema,
        field: &Field,
        elements: &Elements,
        out: &mut FrameOut,
        depth: u32,
    ) -> Fast<()> {
        if self.literal("null").is_some() {
            return Some(());
        }
        let ty = list_message(field)?;
        self.elements(|s| {
            out.element(&elements.columns);
            s.message(schema, ty, &elements.plan, out, depth + 1)
        })
    }

    /// A field's value as a value tree, as the serde path builds it (`FieldSeed`).
    fn value(&mut self, schema: &Schema, field: &Field, depth: u32) -> Fast<Value> {
        if self.literal("null").is_some() {
            return Some(Value::Null);
        }
        match field.label {
            Label::Singular => self.element_value(schema, field, field.wire, depth),
            Label::Repeated => {
                let mut items = Vec::new();
                self.elements(|s| {
                    items.push(s.element_value(schema, field, field.wire, depth)?);
                    Some(())
                })?;
                Some(Value::List(Arc::new(items)))
            }
            Label::Map => {
                let (key_wire, value_wire) = field.map_wire?;
                let mut entries: Vec<(Value, Value)> = Vec::new();
                self.members(|s, key| {
                    let k = map_key(key_wire, key).ok()?.into_value();
                    let v = s.element_value(schema, field, value_wire, depth)?;
                    match entries.iter_mut().find(|(ek, _)| *ek == k) {
                        Some(slot) => slot.1 = v,
                        None => entries.push((k, v)),
                    }
                    Some(())
                })?;
                Some(Value::Map(Arc::new(entries)))
            }
        }
    }

    /// One element, map value or singular value of a field, built; null is not one.
    fn element_value(&mut self, schema: &Schema, field: &Field, wire: WireKind, depth: u32) -> Fast<Value> {
        if wire != WireKind::Message {
            return self.scalar(schema, field, wire)?.map(Scalar::into_value);
        }
        let ty = match field.ty.strip_optional() {
            Type::Message(m) => *m,
            Type::List(t) | Type::Map(_, t) => match **t {
                Type::Message(m) => m,
                _ => return None,
            },
            _ => return None,
        };
        let depth = depth + 1;
        if depth >= MAX_NESTING {
            return None;
        }
        let msg = schema.message(ty);
        let mut m = Message::empty(schema, ty);
        self.fields_of(msg, depth, |s, index| {
            m.fields[index] = s.value(schema, &msg.fields[index], depth)?;
            Some(())
        })?;
        Some(Value::Message(Arc::new(m)))
    }

    /// A list element or map value, only checked; null is not one.
    fn element(&mut self, schema: &Schema, field: &Field, wire: WireKind, out: &mut FrameOut, depth: u32) -> Fast<()> {
        if wire == WireKind::Message {
            let ty = match field.ty.strip_optional() {
                Type::List(t) | Type::Map(_, t) => match **t {
                    Type::Message(m) => m,
                    _ => return None,
                },
                _ => return None,
            };
            return self.message(schema, ty, &CHECK, out, depth + 1);
        }
        self.scalar(schema, field, wire)?.map(drop)
    }

    /// A scalar of a field: `Some(None)` for null. Exactly the conversions of the serde
    /// path's `ScalarSeed`, for the inputs taken here.
    #[inline(always)]
    fn scalar(&mut self, schema: &Schema, field: &Field, wire: WireKind) -> Fast<Option<Scalar<'i>>> {
        // JSON values kept as text (and their `null`, which is a value) are the serde path's.
        if matches!(wire, WireKind::Json(_)) {
            return None;
        }
        let v = match self.peek()? {
            b'n' => return self.literal("null").map(|()| None),
            b't' if wire == WireKind::Bool => self.literal("true").map(|()| Scalar::Bool(true))?,
            b'f' if wire == WireKind::Bool => self.literal("false").map(|()| Scalar::Bool(false))?,
            b'"' => {
                let text = self.string()?;
                match wire {
                    WireKind::String => Scalar::Str(text.into()),
                    WireKind::Enum => {
                        let Type::Enum(id) = enum_type(&field.ty) else { return None };
                        Scalar::Enum(schema.enum_(id).value(text)?)
                    }
                    WireKind::Duration => Scalar::Duration(parse_duration(text).ok()?),
                    WireKind::Timestamp => Scalar::Int(evr_stdlib::time::parse_rfc3339(text)?),
                    WireKind::FieldMask => Scalar::Str(text.into()),
                    // Integers as text: plain digits only; anything else is the serde path's.
                    w if w.is_int() => {
                        let digits = text.strip_prefix('-').unwrap_or(text);
                        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                            return None;
                        }
                        Scalar::Int(check_int(w, text.parse().ok()?).ok()?)
                    }
                    _ => return None,
                }
            }
            b'-' | b'0'..=b'9' => match (self.number()?, wire) {
                (Number::Int(i), WireKind::Double | WireKind::Float) => Scalar::Float(store_float(wire, i as f64)?),
                (Number::Int(i), WireKind::Enum) => Scalar::Enum(i32::try_from(i).ok()?),
                (Number::Int(i), w) if w.is_int() => Scalar::Int(check_int(w, i).ok()?),
                (Number::Other(t), WireKind::Double) => Scalar::Float(finite(t)?),
                (Number::Other(t), WireKind::Float) => Scalar::Float(store_float(wire, finite(t)?)?),
                _ => return None,
            },
            _ => return None,
        };
        Some(Some(v))
    }
}

/// Whether two byte strings of the same length are equal, without calling `memcmp`: keys are a
/// few bytes long, and the call costs more than the comparison (two loads per side, overlapping
/// when the length is not a power of two).
#[inline(always)]
fn same_short(a: &[u8], b: &[u8]) -> bool {
    debug_assert_eq!(a.len(), b.len());
    let n = a.len();
    let w4 = |s: &[u8], i: usize| u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
    let w8 = |s: &[u8], i: usize| u64::from_le_bytes(s[i..i + 8].try_into().expect("eight bytes"));
    match n {
        0 => true,
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => w4(a, 0) == w4(b, 0) && w4(a, n - 4) == w4(b, n - 4),
        8..=16 => w8(a, 0) == w8(b, 0) && w8(a, n - 8) == w8(b, n - 8),
        _ => a == b,
    }
}

/// A number's value, as serde_json reads it: correctly rounded, as Rust's parser does, because
/// the workspace enables serde_json's `float_roundtrip` (without it the two could differ in the
/// last bit). `None` beyond `f64`'s range, where serde_json fails.
fn finite(text: &str) -> Fast<f64> {
    text.parse::<f64>().ok().filter(|v| v.is_finite())
}

#[cfg(test)]
mod unit {
    #[test]
    fn short_comparisons() {
        let text = b"abcdefghijklmnopqrstuvwxyz";
        for n in 0..=text.len() {
            let a = &text[..n];
            assert!(super::same_short(a, &text[..n]));
            for i in 0..n {
                let mut b = a.to_vec();
                b[i] ^= 0x20;
                assert!(!super::same_short(a, &b), "{n} bytes, byte {i} differs");
            }
        }
    }

    #[test]
    fn numbers_follow_json() {
        use super::{Number, Scan};
        let num = |t: &str| {
            let mut s = Scan { b: t.as_bytes(), at: 0 };
            match s.number() {
                Some(Number::Int(i)) if s.at == t.len() => format!("int {i}"),
                Some(Number::Other(o)) if s.at == t.len() => format!("other {o}"),
                _ => "none".to_owned(),
            }
        };
        assert_eq!(num("0"), "int 0");
        assert_eq!(num("-12"), "int -12");
        assert_eq!(num("-9223372036854775808"), "int -9223372036854775808");
        assert_eq!(num("9223372036854775808"), "none");
        assert_eq!(num("1234567890123456789"), "int 1234567890123456789");
        assert_eq!(num("-1234567890123456789"), "int -1234567890123456789");
        assert_eq!(num("18446744073709551616"), "none");
        assert_eq!(num("00"), "none");
        assert_eq!(num("-0"), "none");
        assert_eq!(num("01"), "none");
        assert_eq!(num("1.5e3"), "other 1.5e3");
        assert_eq!(num("1."), "none");
        assert_eq!(num("1e"), "none");
        assert_eq!(num("-"), "none");
    }
}
