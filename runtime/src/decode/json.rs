//! JSON events, by protobuf's JSON mapping, decoded straight into values with the schema driving
//! serde (no intermediate JSON tree). Field names may be proto names or lowerCamelCase; int64
//! may be a number or a string; enums a name or a number; `null` means the default; unknown
//! fields are skipped. Every failure names the field path and what was wrong.

use std::fmt;
use std::rc::Rc;

use base64::Engine as _;
use evr_compiler::interp::value::{Message, Value};
use evr_compiler::schema::{Field, Label, MessageId, Schema, WireKind};
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::DecodeError;

/// Protobuf nests messages at most this deep; so do we, which also bounds our recursion.
pub const MAX_NESTING: u32 = 100;

pub fn decode(schema: &Schema, ty: MessageId, bytes: &[u8]) -> Result<Value, DecodeError> {
    // One UTF-8 check of the whole event is cheaper than one per string.
    let text = std::str::from_utf8(bytes)
        .map_err(|e| DecodeError::new(format!("invalid JSON: the event is not UTF-8 (at byte {})", e.valid_up_to())))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let root = Path { parent: None, segment: Segment::Root };
    let value = MessageSeed { schema, ty, path: &root, depth: 0 }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| DecodeError::new(describe(&e)))?;
    match value {
        Value::Null => {
            Err(DecodeError::new(format!("expected a JSON object for {}, found null", schema.message(ty).name)))
        }
        v => Ok(v),
    }
}

/// serde_json's own errors say where; ours (custom) already say what and which field.
fn describe(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax | Category::Eof => format!("invalid JSON: {e}"),
        Category::Data | Category::Io => e.to_string(),
    }
}

/// Where in the event a value sits, for messages: `user.user_id`, `items[2].price`.
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    segment: Segment<'a>,
}

enum Segment<'a> {
    Root,
    Field(&'a str),
    Index(usize),
    Key(&'a str),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.parent {
            write!(f, "{p}")?;
        }
        match self.segment {
            Segment::Root => Ok(()),
            Segment::Field(name) if matches!(self.parent.map(|p| &p.segment), Some(Segment::Root) | None) => {
                f.write_str(name)
            }
            Segment::Field(name) => write!(f, ".{name}"),
            Segment::Index(i) => write!(f, "[{i}]"),
            Segment::Key(k) => write!(f, "[{k:?}]"),
        }
    }
}

fn at<E: de::Error>(path: &Path, what: impl fmt::Display) -> E {
    if matches!(path.segment, Segment::Root) { E::custom(what) } else { E::custom(format!("{path}: {what}")) }
}

struct MessageSeed<'a> {
    schema: &'a Schema,
    ty: MessageId,
    path: &'a Path<'a>,
    depth: u32,
}

impl<'de> DeserializeSeed<'de> for MessageSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MessageSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a JSON object for {}", self.schema.message(self.ty).name)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        if self.depth >= MAX_NESTING {
            return Err(at(self.path, format!("messages nested deeper than {MAX_NESTING}")));
        }
        let msg = self.schema.message(self.ty);
        let mut out = Message::empty(self.schema, self.ty);
        while let Some(key) = map.next_key::<KeyText>()? {
            let Some(index) = msg.fields.iter().position(|f| f.name == key.0 || f.json_name == key.0) else {
                map.next_value::<IgnoredAny>()?;
                continue;
            };
            let field = &msg.fields[index];
            let path = Path { parent: Some(self.path), segment: Segment::Field(&field.name) };
            out.fields[index] =
                map.next_value_seed(FieldSeed { schema: self.schema, field, path: &path, depth: self.depth })?;
        }
        Ok(Value::Message(Rc::new(out)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Value, A::Error> {
        Err(at(self.path, format!("expected a JSON object for {}, found an array", self.schema.message(self.ty).name)))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Err(self.wrong(format!("boolean {v}")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Err(self.wrong(format!("number {v}")))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Err(self.wrong(format!("number {v}")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Err(self.wrong(format!("number {v}")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Err(self.wrong(format!("string {v:?}")))
    }
}

impl MessageSeed<'_> {
    fn wrong<E: de::Error>(&self, found: String) -> E {
        at(self.path, format!("expected a JSON object for {}, found {found}", self.schema.message(self.ty).name))
    }
}

/// An object key, borrowed from the input when it has no escapes.
struct KeyText<'de>(std::borrow::Cow<'de, str>);

impl<'de> de::Deserialize<'de> for KeyText<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyText<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<KeyText<'de>, E> {
                Ok(KeyText(std::borrow::Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText<'de>, E> {
                Ok(KeyText(std::borrow::Cow::Owned(v.to_owned())))
            }
        }
        d.deserialize_str(V)
    }
}

struct FieldSeed<'a> {
    schema: &'a Schema,
    field: &'a Field,
    path: &'a Path<'a>,
    depth: u32,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        match self.field.label {
            Label::Singular => ScalarSeed {
                schema: self.schema,
                field: self.field,
                wire: self.field.wire,
                path: self.path,
                depth: self.depth,
            }
            .deserialize(d),
            Label::Repeated => d.deserialize_any(ListVisitor(self)),
            Label::Map => d.deserialize_any(MapVisitor(self)),
        }
    }
}

/// The `visit_*` methods of a visitor that accepts only some JSON shapes: every other scalar is
/// reported as "expected ..., found ..." at the visitor's path.
macro_rules! reject_scalars {
    ($expected:expr) => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
            Err(at(self.0.path, format!("expected {}, found boolean {v}", $expected)))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
            Err(at(self.0.path, format!("expected {}, found number {v}", $expected)))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
            Err(at(self.0.path, format!("expected {}, found number {v}", $expected)))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
            Err(at(self.0.path, format!("expected {}, found number {v}", $expected)))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
            Err(at(self.0.path, format!("expected {}, found string {v:?}", $expected)))
        }
    };
}

struct ListVisitor<'a>(FieldSeed<'a>);

impl<'de> Visitor<'de> for ListVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let FieldSeed { schema, field, path, depth } = self.0;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        loop {
            let p = Path { parent: Some(path), segment: Segment::Index(items.len()) };
            let seed = ScalarSeed { schema, field, wire: field.wire, path: &p, depth };
            match seq.next_element_seed(seed)? {
                Some(Value::Null) => return Err(at(&p, "null is not allowed in a list")),
                Some(v) => items.push(v),
                None => break,
            }
        }
        Ok(Value::List(Rc::new(items)))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Value, A::Error> {
        Err(at(self.0.path, "expected a JSON array, found an object"))
    }

    reject_scalars!("a JSON array");
}

struct MapVisitor<'a>(FieldSeed<'a>);

impl<'de> Visitor<'de> for MapVisitor<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let FieldSeed { schema, field, path, depth } = self.0;
        let (key_wire, value_wire) = field.map_wire.unwrap_or((WireKind::String, WireKind::String));
        let mut entries: Vec<(Value, Value)> = Vec::new();
        while let Some(key) = map.next_key::<KeyText>()? {
            let p = Path { parent: Some(path), segment: Segment::Key(&key.0) };
            let k = map_key(key_wire, &key.0).map_err(|why| at::<A::Error>(&p, why))?;
            let v = map.next_value_seed(ScalarSeed { schema, field, wire: value_wire, path: &p, depth })?;
            if v.is_null() {
                return Err(at(&p, "null is not allowed as a map value"));
            }
            match entries.iter_mut().find(|(ek, _)| *ek == k) {
                Some(slot) => slot.1 = v,
                None => entries.push((k, v)),
            }
        }
        Ok(Value::Map(Rc::new(entries)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Value, A::Error> {
        Err(at(self.0.path, "expected a JSON object, found an array"))
    }

    reject_scalars!("a JSON object");
}

/// Map keys are always JSON strings; int and bool keys are spelled as text.
fn map_key(wire: WireKind, text: &str) -> Result<Value, String> {
    match wire {
        WireKind::String => Ok(Value::str(text)),
        WireKind::Bool => match text {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("map key {text:?} is not a bool")),
        },
        w => {
            let v: i64 = text.parse().map_err(|_| format!("map key {text:?} is not an integer"))?;
            check_int(w, v).map(Value::Int)
        }
    }
}

/// One value of a field's element type (or of the field itself when singular).
struct ScalarSeed<'a> {
    schema: &'a Schema,
    field: &'a Field,
    wire: WireKind,
    path: &'a Path<'a>,
    depth: u32,
}

impl<'de> DeserializeSeed<'de> for ScalarSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        if self.wire == WireKind::Message {
            let ty = match self.field.ty.strip_optional() {
                evr_compiler::types::Type::Message(m) => *m,
                evr_compiler::types::Type::List(t) | evr_compiler::types::Type::Map(_, t) => match **t {
                    evr_compiler::types::Type::Message(m) => m,
                    _ => return Err(at(self.path, "unsupported field type")),
                },
                _ => return Err(at(self.path, "unsupported field type")),
            };
            return MessageSeed { schema: self.schema, ty, path: self.path, depth: self.depth + 1 }.deserialize(d);
        }
        d.deserialize_any(self)
    }
}

impl ScalarSeed<'_> {
    fn expected(&self) -> String {
        match self.wire {
            WireKind::Double | WireKind::Float => "a number".into(),
            WireKind::Bool => "a boolean".into(),
            WireKind::String => "a string".into(),
            WireKind::Bytes => "a base64 string".into(),
            WireKind::Enum => "an enum name or number".into(),
            WireKind::Duration => "a duration string such as \"1.5s\"".into(),
            WireKind::Message => "a JSON object".into(),
            _ => "an integer (number or string)".into(),
        }
    }

    fn wrong<E: de::Error>(&self, found: impl fmt::Display) -> E {
        at(self.path, format!("expected {}, found {found}", self.expected()))
    }

    fn int<E: de::Error>(&self, v: i128) -> Result<Value, E> {
        let fits = i64::try_from(v).map_err(|_| at(self.path, format!("{v} is out of range")))?;
        match self.wire {
            WireKind::Double | WireKind::Float => Ok(Value::Float(fits as f64)),
            WireKind::Enum => i32::try_from(fits)
                .map(Value::Enum)
                .map_err(|_| at(self.path, format!("enum number {v} is out of range"))),
            w if w.is_int() => check_int(w, fits).map(Value::Int).map_err(|why| at(self.path, why)),
            _ => Err(self.wrong(format!("number {v}"))),
        }
    }
}

/// Range of each integer kind; uint64 values above 2^63-1 do not fit an EVR int.
fn check_int(w: WireKind, v: i64) -> Result<i64, String> {
    let ok = match w {
        WireKind::Int32 | WireKind::Sint32 | WireKind::Sfixed32 => i32::try_from(v).is_ok(),
        WireKind::Uint32 | WireKind::Fixed32 => u32::try_from(v).is_ok(),
        WireKind::Uint64 | WireKind::Fixed64 => v >= 0,
        _ => true,
    };
    if ok { Ok(v) } else { Err(format!("{v} is out of range for {}", w.proto_name())) }
}

impl<'de> Visitor<'de> for ScalarSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.expected())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        match self.wire {
            WireKind::Bool => Ok(Value::Bool(v)),
            _ => Err(self.wrong(format!("boolean {v}"))),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.int(i128::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.int(i128::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        match self.wire {
            WireKind::Double => Ok(Value::Float(v)),
            // A float field holds an f32, whichever encoding brought it.
            WireKind::Float if v.abs() <= f64::from(f32::MAX) => Ok(Value::Float(f64::from(v as f32))),
            WireKind::Float => Err(at(self.path, format!("{v} is out of range for float"))),
            w if w.is_int() || w == WireKind::Enum => {
                // 1e3 is an integer written as a float; 1.5 is not.
                if v.fract() != 0.0 || !v.is_finite() {
                    Err(at(self.path, format!("{v} is not an integer")))
                } else if v.abs() < 9.2e18 {
                    self.int(v as i128)
                } else {
                    Err(at(self.path, format!("{v:e} is out of range for {}", self.wire.proto_name())))
                }
            }
            _ => Err(self.wrong(format!("number {v}"))),
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        match self.wire {
            WireKind::String => Ok(Value::str(v)),
            WireKind::Bytes => decode_base64(v).map(|b| Value::Bytes(Rc::from(b))).map_err(|why| at(self.path, why)),
            WireKind::Enum => {
                let evr_compiler::types::Type::Enum(id) = enum_type(&self.field.ty) else {
                    return Err(at(self.path, "unsupported field type"));
                };
                let e = self.schema.enum_(id);
                match e.value(v) {
                    Some(n) => Ok(Value::Enum(n)),
                    None => Err(at(self.path, format!("{v:?} is not a value of enum {}", e.name))),
                }
            }
            WireKind::Double | WireKind::Float => match v {
                "NaN" => Ok(Value::Float(f64::NAN)),
                "Infinity" => Ok(Value::Float(f64::INFINITY)),
                "-Infinity" => Ok(Value::Float(f64::NEG_INFINITY)),
                _ => match v.trim().parse::<f64>() {
                    Ok(f) if f.is_finite() && v.trim() == v => self.visit_f64(f),
                    _ => Err(self.wrong(format!("string {v:?}"))),
                },
            },
            WireKind::Duration => parse_duration(v).map(Value::Duration).map_err(|why| at(self.path, why)),
            w if w.is_int() => match v.parse::<i128>() {
                Ok(n) => self.int(n),
                Err(_) => match v.parse::<f64>() {
                    Ok(f) if v.contains(['e', 'E', '.']) => self.visit_f64(f),
                    _ => Err(self.wrong(format!("string {v:?}"))),
                },
            },
            _ => Err(self.wrong(format!("string {v:?}"))),
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Value, A::Error> {
        Err(self.wrong("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Value, A::Error> {
        Err(self.wrong("an object"))
    }
}

fn enum_type(t: &evr_compiler::types::Type) -> evr_compiler::types::Type {
    use evr_compiler::types::Type;
    match t {
        Type::List(e) | Type::Map(_, e) | Type::Optional(e) => (**e).clone(),
        other => other.clone(),
    }
}

fn decode_base64(s: &str) -> Result<Vec<u8>, String> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|e| e.decode(s).ok())
        .ok_or_else(|| format!("{s:?} is not base64"))
}

/// `"1.5s"`, `"-0.25s"`, `"30s"` in milliseconds (finer digits are cut off).
pub(crate) fn parse_duration(s: &str) -> Result<i64, String> {
    let bad = || format!("{s:?} is not a duration such as \"1.5s\"");
    let body = s.strip_suffix('s').ok_or_else(bad)?;
    let (negative, body) = match body.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, body),
    };
    let (secs, frac) = body.split_once('.').unwrap_or((body, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let millis: i64 = format!("{frac:0<3}")[..3].parse().map_err(|_| bad())?;
    let ms = secs.checked_mul(1000).and_then(|v| v.checked_add(millis)).ok_or_else(bad)?;
    Ok(if negative { -ms } else { ms })
}
