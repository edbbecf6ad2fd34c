//! JSON events, by protobuf's JSON mapping, decoded straight into values with the schema driving
//! serde (no intermediate JSON tree). Field names may be proto names or lowerCamelCase; int64
//! may be a number or a string; enums a name or a number; `null` means the default; unknown
//! fields are skipped. Every failure names the field path and what was wrong.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use evr_compiler::schema::{Field, Label, MessageId, Schema, Shape, TypeRef, WireKind};
use evr_compiler::types::Type;
use evr_compiler::value::{Message, Value, store_float};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use super::plan::{Elements, FrameOut, Need, Plan};
use super::{DecodeError, Path, Scalar, Segment, field_index};

/// Protobuf nests messages at most this deep; so do we, which also bounds our recursion.
pub const MAX_NESTING: u32 = 100;

pub fn decode(schema: &Schema, ty: MessageId, bytes: &[u8]) -> Result<Value, DecodeError> {
    let root = Path { parent: None, segment: Segment::Root };
    let value = parse(bytes, MessageSeed { schema, ty, path: &root, depth: 0, build: true })?;
    value.ok_or_else(|| null_event(schema, ty))
}

/// Decodes into a frame what `plan` names, and checks the rest as [`decode`] does.
pub fn decode_into(schema: &Schema, ty: MessageId, bytes: &[u8], out: &mut FrameOut) -> Result<(), DecodeError> {
    let root = Path { parent: None, segment: Segment::Root };
    let plan = out.root;
    let was_object = parse(bytes, FrameSeed { schema, ty, plan, out, path: &root, depth: 0 })?;
    if was_object { Ok(()) } else { Err(null_event(schema, ty)) }
}

fn null_event(schema: &Schema, ty: MessageId) -> DecodeError {
    DecodeError::new(format!("expected a JSON object for {}, found null", schema.message(ty).name))
}

/// Runs a seed over a whole event, which must be UTF-8 and nothing but one JSON value.
fn parse<'de, S: DeserializeSeed<'de>>(bytes: &'de [u8], seed: S) -> Result<S::Value, DecodeError> {
    // One UTF-8 check of the whole event is cheaper than one per string.
    let text = std::str::from_utf8(bytes)
        .map_err(|e| DecodeError::new(format!("invalid JSON: the event is not UTF-8 (at byte {})", e.valid_up_to())))?;
    if text.trim_ascii().is_empty() {
        return Err(DecodeError::new("an empty line holds no event"));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    seed.deserialize(&mut de).and_then(|v| de.end().map(|()| v)).map_err(|e| DecodeError::new(describe(&e)))
}

/// What went wrong and where in the event: an event is one line, so the place is a column
/// (serde_json's "at line 1 column C" would read as the input's line).
fn describe(e: &serde_json::Error) -> String {
    use serde_json::error::Category;
    let text = e.to_string();
    let what = text.strip_suffix(&format!(" at line {} column {}", e.line(), e.column())).unwrap_or(&text);
    match e.classify() {
        Category::Syntax | Category::Eof => format!("invalid JSON: {what} (column {})", e.column()),
        Category::Data | Category::Io => format!("{what} (column {})", e.column()),
    }
}

fn at<E: de::Error>(path: &Path, what: impl fmt::Display) -> E {
    E::custom(path.says(what))
}

/// The scalar `visit_*` methods of a visitor that takes none of them: each is reported by the
/// visitor's own `wrong(found)`, as "expected ..., found ..." at its path.
macro_rules! reject_scalars {
    () => {
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Err(self.wrong(format!("boolean {v}")))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
            Err(self.wrong(format!("number {v}")))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Err(self.wrong(format!("number {v}")))
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
            Err(self.wrong(format!("number {v}")))
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
            Err(self.wrong(format!("string {v:?}")))
        }
    };
}

/// A message, as a value tree (`build`) or only checked. `None` is JSON `null`; a message
/// only checked is `Some(Value::Null)`.
struct MessageSeed<'a> {
    schema: &'a Schema,
    ty: MessageId,
    path: &'a Path<'a>,
    depth: u32,
    build: bool,
}

impl<'de> DeserializeSeed<'de> for MessageSeed<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MessageSeed<'_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a JSON object for {}", self.schema.message(self.ty).name)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let msg = enter(self.schema, self.ty, self.path, self.depth)?;
        let mut out = if self.build { Some(Message::empty(self.schema, self.ty)) } else { None };
        let mut oneofs = OneofsSet::default();
        while let Some(index) = next_field(&mut map, msg)? {
            let field = &msg.fields[index];
            let path = Path { parent: Some(self.path), segment: Segment::Field(&field.name) };
            let seed = FieldSeed { schema: self.schema, field, path: &path, depth: self.depth, build: self.build };
            let v = map.next_value_seed(seed)?;
            if v.is_some() {
                oneofs.set(msg, index, self.path)?;
            }
            if let Some(out) = &mut out {
                out.fields[index] = v.unwrap_or(Value::Null);
            }
        }
        Ok(Some(out.map_or(Value::Null, |m| Value::Message(Arc::new(m)))))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Option<Value>, A::Error> {
        Err(self.wrong("an array"))
    }

    reject_scalars!();
}

/// A message decoded into a frame by its plan. Gives whether it was an object (not `null`).
struct FrameSeed<'a, 'f> {
    schema: &'a Schema,
    ty: MessageId,
    plan: &'a Plan,
    out: &'a mut FrameOut<'f>,
    path: &'a Path<'a>,
    depth: u32,
}

impl<'de> DeserializeSeed<'de> for FrameSeed<'_, '_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        if is_any(self.schema, self.ty) {
            let Some((url, bytes)) = any_value(self.schema, self.path, self.depth, d)? else { return Ok(false) };
            let msg = self.schema.message(self.ty);
            for (i, f) in msg.fields.iter().enumerate() {
                let scalar = match f.name.as_str() {
                    "type_url" => Scalar::Str(Cow::Owned(url.clone())),
                    "value" => Scalar::Bytes(Cow::Owned(bytes.clone())),
                    _ => continue,
                };
                match self.plan.need(i) {
                    Need::Slot(at) => self.out.scalar(*at, scalar),
                    Need::Whole(w) => *self.out.whole(*w) = scalar.into_value(),
                    _ => {}
                }
            }
            return Ok(true);
        }
        d.deserialize_any(self)
    }
}

fn is_any(schema: &Schema, ty: MessageId) -> bool {
    schema.message(ty).full_name == evr_compiler::schema::ANY
}

/// `google.protobuf.Any` in JSON: `"@type"` names the packed message (its last `/`-separated
/// part), the other members are that message's fields. It is read as the message it is: its
/// `type_url`, and its `value`, the packed message in protobuf binary. The packed type must be
/// in the bundle's schemas. `None` for `null`.
fn any_value<'de, D: Deserializer<'de>>(
    schema: &Schema,
    path: &Path,
    depth: u32,
    d: D,
) -> Result<Option<(String, Vec<u8>)>, D::Error> {
    let mut members = match <serde_json::Value as de::Deserialize>::deserialize(d)? {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::Object(m) => m,
        other => {
            return Err(at(
                path,
                format!("expected a JSON object for google.protobuf.Any, found {}", describe_json(&other)),
            ));
        }
    };
    let Some(serde_json::Value::String(url)) = members.remove("@type") else {
        return Err(at(path, "a google.protobuf.Any needs \"@type\", naming the message it packs"));
    };
    let name = url.rsplit('/').next().unwrap_or(&url);
    let Some(TypeRef::Message(packed)) = schema.lookup(name) else {
        return Err(at(path, format!("google.protobuf.Any of type `{name}`: no schema of the bundle defines it")));
    };
    let seed = MessageSeed { schema, ty: packed, path, depth: depth + 1, build: true };
    let value = seed.deserialize(serde_json::Value::Object(members)).map_err(|e| de::Error::custom(e.to_string()))?;
    let mut bytes = Vec::new();
    crate::encode::protobuf::encode(schema, &value.unwrap_or(Value::Null), &mut bytes);
    Ok(Some((url, bytes)))
}

impl<'de> Visitor<'de> for FrameSeed<'_, '_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a JSON object for {}", self.schema.message(self.ty).name)
    }

    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        let FrameSeed { schema, plan, out, depth, .. } = self;
        let msg = enter(schema, self.ty, self.path, depth)?;
        let mut oneofs = OneofsSet::default();
        while let Some(index) = next_field(&mut map, msg)? {
            let field = &msg.fields[index];
            let path = Path { parent: Some(self.path), segment: Segment::Field(&field.name) };
            // Whether the value was given (not `null`), for the oneof check below.
            let given = match plan.need(index) {
                Need::Skip => {
                    map.next_value_seed(FieldSeed { schema, field, path: &path, depth, build: false })?.is_some()
                }
                Need::Slot(at) => {
                    let seed = ScalarSeed { schema, field, wire: field.wire, path: &path, keep: true };
                    match map.next_value_seed(seed)? {
                        Some(s) => {
                            out.scalar(*at, s);
                            true
                        }
                        None => {
                            out.clear(&[*at]);
                            false
                        }
                    }
                }
                Need::Nested(inner) => {
                    // A message given twice is the last one given, as in a value tree.
                    out.clear(inner.slots());
                    let Type::Message(ty) = field.ty.strip_optional() else {
                        return Err(at(&path, "unsupported field type"));
                    };
                    let seed =
                        FrameSeed { schema, ty: *ty, plan: inner, out: &mut *out, path: &path, depth: depth + 1 };
                    map.next_value_seed(seed)?
                }
                Need::Whole(w) => {
                    let v = map.next_value_seed(FieldSeed { schema, field, path: &path, depth, build: true })?;
                    let given = v.is_some();
                    *out.whole(*w) = v.unwrap_or(Value::Null);
                    given
                }
                Need::Column(c) => {
                    let seed = ScalarSeed { schema, field, wire: field.wire, path: &path, keep: true };
                    match map.next_value_seed(seed)? {
                        Some(s) => {
                            out.column_scalar(*c, s);
                            true
                        }
                        None => {
                            out.column_unset(*c);
                            false
                        }
                    }
                }
                Need::Columns(elements) => {
                    // A list given twice is the last one given, as in a value tree.
                    out.clear_columns(&elements.columns);
                    let Some(ty) = list_message(field) else { return Err(at(&path, "unsupported field type")) };
                    let field = FieldSeed { schema, field, path: &path, depth, build: false };
                    let columns = Some(Columns { ty, elements, out: &mut *out });
                    map.next_value_seed(AnySeed(ListVisitor { field, columns }))?;
                    false
                }
                Need::Keys(keys) => {
                    // A map given twice is the last one given, as in a value tree.
                    for (_, at) in keys {
                        out.unset(*at);
                    }
                    let field = FieldSeed { schema, field, path: &path, depth, build: false };
                    map.next_value_seed(AnySeed(MapVisitor { field, keyed: Some(Keyed { keys, out: &mut *out }) }))?;
                    false
                }
            };
            if given {
                oneofs.set(msg, index, self.path)?;
            }
        }
        Ok(true)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<bool, A::Error> {
        Err(self.wrong("an array"))
    }

    reject_scalars!();
}

/// The members of oneofs given so far in one object: protobuf's JSON mapping rejects a second
/// member of the same oneof (`null` is no member given; the same one twice is the last one).
#[derive(Default)]
struct OneofsSet(Vec<(u32, usize)>);

impl OneofsSet {
    fn set<E: de::Error>(&mut self, msg: &evr_compiler::schema::Message, index: usize, path: &Path) -> Result<(), E> {
        let Some(oneof) = msg.fields[index].oneof else { return Ok(()) };
        match self.0.iter().find(|(o, _)| *o == oneof) {
            Some(&(_, other)) if other != index => Err(at(
                path,
                format!(
                    "`{}` and `{}` are both given, but oneof `{}` holds one of them",
                    msg.fields[other].name, msg.fields[index].name, msg.oneofs[oneof as usize]
                ),
            )),
            Some(_) => Ok(()),
            None => {
                self.0.push((oneof, index));
                Ok(())
            }
        }
    }
}

/// The index of the next known field of an object; unknown fields are checked and skipped.
fn next_field<'de, A: MapAccess<'de>>(
    map: &mut A,
    msg: &evr_compiler::schema::Message,
) -> Result<Option<usize>, A::Error> {
    while let Some(key) = map.next_key::<KeyText>()? {
        match field_index(msg, &key.0) {
            Some(index) => return Ok(Some(index)),
            None => map.next_value::<Skip>().map(drop)?,
        }
    }
    Ok(None)
}

/// Entering a message: nesting is bounded.
fn enter<'s, E: de::Error>(
    schema: &'s Schema,
    ty: MessageId,
    path: &Path,
    depth: u32,
) -> Result<&'s evr_compiler::schema::Message, E> {
    if depth >= MAX_NESTING {
        return Err(at(path, format!("messages nested deeper than {MAX_NESTING}")));
    }
    let msg = schema.message(ty);
    if let Some(why) = any_event(msg) {
        return Err(at(path, why));
    }
    Ok(msg)
}

fn not_object<E: de::Error>(schema: &Schema, ty: MessageId, path: &Path, found: impl fmt::Display) -> E {
    let msg = schema.message(ty);
    match any_event(msg) {
        Some(why) => at(path, why),
        None => at(path, format!("expected a JSON object for {}, found {found}", msg.name)),
    }
}

/// An Any reaches a message visitor only as a whole event (fields of type Any are decoded by
/// `any_value`): not supported, with this reason, rather than read as its fields.
fn any_event(msg: &evr_compiler::schema::Message) -> Option<String> {
    (msg.full_name == evr_compiler::schema::ANY)
        .then(|| "an event that is a google.protobuf.Any is not supported in JSON (fields of type Any are)".to_owned())
}

impl MessageSeed<'_> {
    fn wrong<E: de::Error>(&self, found: impl fmt::Display) -> E {
        not_object(self.schema, self.ty, self.path, found)
    }
}

impl FrameSeed<'_, '_> {
    fn wrong<E: de::Error>(&self, found: impl fmt::Display) -> E {
        not_object(self.schema, self.ty, self.path, found)
    }
}

impl ListVisitor<'_, '_> {
    fn wrong<E: de::Error>(&self, found: impl fmt::Display) -> E {
        at(self.field.path, format!("expected a JSON array, found {found}"))
    }
}

impl MapVisitor<'_, '_> {
    fn wrong<E: de::Error>(&self, found: impl fmt::Display) -> E {
        at(self.field.path, format!("expected a JSON object, found {found}"))
    }
}

/// An unknown field's value, skipped. Unlike serde's `IgnoredAny`, whose skipping in serde_json
/// keeps a heap stack of open brackets, this recursion allocates nothing (nesting is bounded by
/// serde_json's recursion limit).
struct Skip;

impl<'de> de::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Skip, D::Error> {
        d.deserialize_any(Skip)
    }
}

impl<'de> Visitor<'de> for Skip {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Skip, E> {
        Ok(Skip)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
        while seq.next_element::<Skip>()?.is_some() {}
        Ok(Skip)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
        while map.next_key::<Skip>()?.is_some() {
            map.next_value::<Skip>()?;
        }
        Ok(Skip)
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

/// A field's value: a value tree when `build`, else only checked (`Some(Value::Null)`).
/// `None` is JSON `null`.
#[derive(Clone, Copy)]
struct FieldSeed<'a> {
    schema: &'a Schema,
    field: &'a Field,
    path: &'a Path<'a>,
    depth: u32,
    build: bool,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        match self.field.label {
            Label::Singular => ElemSeed { field: self, wire: self.field.wire, path: self.path }.deserialize(d),
            Label::Repeated => d.deserialize_any(ListVisitor { field: self, columns: None }),
            Label::Map => d.deserialize_any(MapVisitor { field: self, keyed: None }),
        }
    }
}

/// A list, built or only checked; with `columns`, a list of messages whose elements' fields
/// read go to their columns.
struct ListVisitor<'a, 'f> {
    field: FieldSeed<'a>,
    columns: Option<Columns<'a, 'f>>,
}

/// The elements of a list read through columns, and the frame they go to.
struct Columns<'a, 'f> {
    ty: MessageId,
    elements: &'a Elements,
    out: &'a mut FrameOut<'f>,
}

impl<'de> Visitor<'de> for ListVisitor<'_, '_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Option<Value>, A::Error> {
        let ListVisitor { field, columns } = self;
        if let Some(Columns { ty, elements, out }) = columns {
            for n in 0.. {
                let p = Path { parent: Some(field.path), segment: Segment::Index(n) };
                out.element(&elements.columns);
                // What `ElemSeed` reads for a message, its fields read into the columns.
                let (schema, plan, depth) = (field.schema, &elements.plan, field.depth + 1);
                match seq.next_element_seed(FrameSeed { schema, ty, plan, out: &mut *out, path: &p, depth })? {
                    Some(true) => {}
                    Some(false) => return Err(at(&p, "null is not allowed in a list")),
                    None => {
                        out.unelement(&elements.columns);
                        break;
                    }
                }
            }
            return Ok(Some(Value::Null));
        }
        let mut items = Vec::with_capacity(if field.build { seq.size_hint().unwrap_or(0).min(1024) } else { 0 });
        for n in 0.. {
            let p = Path { parent: Some(field.path), segment: Segment::Index(n) };
            match seq.next_element_seed(ElemSeed { field, wire: field.field.wire, path: &p })? {
                Some(None) => return Err(at(&p, "null is not allowed in a list")),
                Some(Some(v)) if field.build => items.push(v),
                Some(Some(_)) => {}
                None => break,
            }
        }
        Ok(Some(if field.build { Value::List(Arc::new(items)) } else { Value::Null }))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Option<Value>, A::Error> {
        Err(self.wrong("an object"))
    }

    reject_scalars!();
}

/// A map, built or only checked; with `keyed`, the values of some keys go to their frame slots.
struct MapVisitor<'a, 'f> {
    field: FieldSeed<'a>,
    keyed: Option<Keyed<'a, 'f>>,
}

/// The keys of a map whose values are read, each with its slot, and the frame they go to.
struct Keyed<'a, 'f> {
    keys: &'a [(Box<str>, u32)],
    out: &'a mut FrameOut<'f>,
}

/// A visitor as a seed: what `FieldSeed` does for a list or map, for the visitors that also
/// fill frame slots ([`Need::Columns`], [`Need::Keys`]).
struct AnySeed<V>(V);

impl<'de, V: Visitor<'de>> DeserializeSeed<'de> for AnySeed<V> {
    type Value = V::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<V::Value, D::Error> {
        d.deserialize_any(self.0)
    }
}

impl<'de> Visitor<'de> for MapVisitor<'_, '_> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Option<Value>, E> {
        Ok(None)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let MapVisitor { field, mut keyed } = self;
        let (key_wire, value_wire) = field.field.map_wire.unwrap_or((WireKind::String, WireKind::String));
        let mut entries: Vec<(Value, Value)> = Vec::new();
        while let Some(key) = map.next_key::<KeyText>()? {
            let p = Path { parent: Some(field.path), segment: Segment::Key(&key.0) };
            let k = map_key(key_wire, &key.0).map_err(|why| at::<A::Error>(&p, why))?;
            if let Some(Keyed { keys, out }) = &mut keyed
                && let Some((_, slot)) = keys.iter().find(|(wanted, _)| **wanted == *key.0)
            {
                // What `ElemSeed` reads for a scalar, kept for the slot.
                let seed =
                    ScalarSeed { schema: field.schema, field: field.field, wire: value_wire, path: &p, keep: true };
                match map.next_value_seed(seed)? {
                    Some(v) => out.scalar(*slot, v),
                    None => return Err(at(&p, "null is not allowed as a map value")),
                }
                continue;
            }
            let Some(v) = map.next_value_seed(ElemSeed { field, wire: value_wire, path: &p })? else {
                return Err(at(&p, "null is not allowed as a map value"));
            };
            if !field.build {
                continue;
            }
            let k = k.into_value();
            match entries.iter_mut().find(|(ek, _)| *ek == k) {
                Some(slot) => slot.1 = v,
                None => entries.push((k, v)),
            }
        }
        Ok(Some(if field.build { Value::Map(Arc::new(entries)) } else { Value::Null }))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Option<Value>, A::Error> {
        Err(self.wrong("an array"))
    }

    reject_scalars!();
}

/// The message type of a list of messages.
pub(super) fn list_message(field: &Field) -> Option<MessageId> {
    match field.ty.strip_optional() {
        Type::List(t) => match **t {
            Type::Message(m) => Some(m),
            _ => None,
        },
        _ => None,
    }
}

/// Map keys are always JSON strings; int and bool keys are spelled as text.
pub(super) fn map_key(wire: WireKind, text: &str) -> Result<Scalar<'_>, String> {
    match wire {
        WireKind::String => Ok(Scalar::Str(Cow::Borrowed(text))),
        WireKind::Bool => match text {
            "true" => Ok(Scalar::Bool(true)),
            "false" => Ok(Scalar::Bool(false)),
            _ => Err(format!("map key {text:?} is not a bool")),
        },
        w => {
            let v: i64 = text.parse().map_err(|_| format!("map key {text:?} is not an integer"))?;
            check_int(w, v).map(Scalar::Int)
        }
    }
}

/// One value of a field's element type (or of the field itself when singular), built or only
/// checked as the field says.
struct ElemSeed<'a> {
    field: FieldSeed<'a>,
    wire: WireKind,
    path: &'a Path<'a>,
}

impl<'de> DeserializeSeed<'de> for ElemSeed<'_> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        let FieldSeed { schema, field, depth, build, .. } = self.field;
        if self.wire == WireKind::Message {
            let ty = match field.ty.strip_optional() {
                Type::Message(m) => *m,
                Type::List(t) | Type::Map(_, t) => match **t {
                    Type::Message(m) => m,
                    _ => return Err(at(self.path, "unsupported field type")),
                },
                _ => return Err(at(self.path, "unsupported field type")),
            };
            if is_any(schema, ty) {
                let Some((url, bytes)) = any_value(schema, self.path, depth + 1, d)? else { return Ok(None) };
                if !build {
                    return Ok(Some(Value::Null));
                }
                let mut m = Message::empty(schema, ty);
                for (slot, f) in m.fields.iter_mut().zip(&schema.message(ty).fields) {
                    match f.name.as_str() {
                        "type_url" => *slot = Value::str(&url),
                        "value" => *slot = Value::Bytes(Arc::from(&bytes[..])),
                        _ => {}
                    }
                }
                return Ok(Some(Value::Message(Arc::new(m))));
            }
            return MessageSeed { schema, ty, path: self.path, depth: depth + 1, build }.deserialize(d);
        }
        let scalar = ScalarSeed { schema, field, wire: self.wire, path: self.path, keep: build }.deserialize(d)?;
        Ok(scalar.map(|s| if build { s.into_value() } else { Value::Null }))
    }
}

/// One scalar of a field; `None` is JSON `null`. Unless `keep`, text is only checked (a string
/// with escapes is not copied out).
struct ScalarSeed<'a> {
    schema: &'a Schema,
    field: &'a Field,
    wire: WireKind,
    path: &'a Path<'a>,
    keep: bool,
}

impl<'de> DeserializeSeed<'de> for ScalarSeed<'_> {
    type Value = Option<Scalar<'de>>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Scalar<'de>>, D::Error> {
        if let WireKind::Json(shape) = self.wire {
            // Any JSON of its shape, kept as canonical text; for a Value, `null` is a value.
            let v = <serde_json::Value as de::Deserialize>::deserialize(d)?;
            if v.is_null() && shape != Shape::Value {
                return Ok(None);
            }
            let found = describe_json(&v);
            return match evr_compiler::json_text::accept(shape, v) {
                Some(v) => Ok(Some(Scalar::Str(Cow::Owned(evr_compiler::json_text::canonical(&v))))),
                None => Err(self.wrong(found)),
            };
        }
        d.deserialize_any(self)
    }
}

/// What a JSON value is, for messages.
fn describe_json(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
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
            WireKind::Timestamp => "an RFC 3339 timestamp such as \"2023-11-14T22:13:20Z\"".into(),
            WireKind::Json(shape) => shape.describe().into(),
            WireKind::FieldMask => "a string of field paths".into(),
            WireKind::Message => "a JSON object".into(),
            _ => "an integer (number or string)".into(),
        }
    }

    fn wrong<E: de::Error>(&self, found: impl fmt::Display) -> E {
        at(self.path, format!("expected {}, found {found}", self.expected()))
    }

    fn int<'de, E: de::Error>(&self, v: i128) -> Result<Option<Scalar<'de>>, E> {
        let fits = i64::try_from(v).map_err(|_| at(self.path, format!("{v} is out of range")))?;
        match self.wire {
            WireKind::Double | WireKind::Float => Ok(store_float(self.wire, fits as f64).map(Scalar::Float)),
            WireKind::Enum => i32::try_from(fits)
                .map(|e| Some(Scalar::Enum(e)))
                .map_err(|_| at(self.path, format!("enum number {v} is out of range"))),
            w if w.is_int() => check_int(w, fits).map(|i| Some(Scalar::Int(i))).map_err(|why| at(self.path, why)),
            _ => Err(self.wrong(format!("number {v}"))),
        }
    }

    /// A JSON string, borrowed from the input when it had no escapes.
    fn text<'de, E: de::Error>(self, v: Cow<'de, str>) -> Result<Option<Scalar<'de>>, E> {
        let scalar = match self.wire {
            WireKind::String if self.keep => Scalar::Str(v),
            WireKind::String => Scalar::Str(Cow::Borrowed("")),
            WireKind::Bytes => {
                decode_base64(&v).map(|b| Scalar::Bytes(Cow::Owned(b))).map_err(|why| at(self.path, why))?
            }
            WireKind::Enum => {
                let Type::Enum(id) = enum_type(&self.field.ty) else {
                    return Err(at(self.path, "unsupported field type"));
                };
                let e = self.schema.enum_(id);
                match e.value(&v) {
                    Some(n) => Scalar::Enum(n),
                    None => return Err(at(self.path, format!("{v:?} is not a value of enum {}", e.name))),
                }
            }
            WireKind::Double | WireKind::Float => match &*v {
                "NaN" => Scalar::Float(f64::NAN),
                "Infinity" => Scalar::Float(f64::INFINITY),
                "-Infinity" => Scalar::Float(f64::NEG_INFINITY),
                _ => match v.trim().parse::<f64>() {
                    Ok(f) if f.is_finite() && v.trim() == v => return self.visit_f64(f),
                    _ => return Err(self.wrong(format!("string {v:?}"))),
                },
            },
            WireKind::Duration => parse_duration(&v).map(Scalar::Duration).map_err(|why| at(self.path, why))?,
            WireKind::FieldMask if self.keep => Scalar::Str(v),
            WireKind::FieldMask => Scalar::Str(Cow::Borrowed("")),
            WireKind::Timestamp => evr_stdlib::time::parse_rfc3339(&v).map(Scalar::Int).ok_or_else(|| {
                at(
                    self.path,
                    format!("{v:?} is not an RFC 3339 timestamp such as \"2023-11-14T22:13:20Z\" (years 1 to 9999)"),
                )
            })?,
            w if w.is_int() => match v.parse::<i128>() {
                Ok(n) => return self.int(n),
                Err(_) => match v.parse::<f64>() {
                    Ok(f) if v.contains(['e', 'E', '.']) => return self.visit_f64(f),
                    _ => return Err(self.wrong(format!("string {v:?}"))),
                },
            },
            _ => return Err(self.wrong(format!("string {v:?}"))),
        };
        Ok(Some(scalar))
    }
}

/// Range of each integer kind; uint64 values above 2^63-1 do not fit an EVR int.
pub(super) fn check_int(w: WireKind, v: i64) -> Result<i64, String> {
    let ok = match w {
        WireKind::Int32 | WireKind::Sint32 | WireKind::Sfixed32 => i32::try_from(v).is_ok(),
        WireKind::Uint32 | WireKind::Fixed32 => u32::try_from(v).is_ok(),
        WireKind::Uint64 | WireKind::Fixed64 => v >= 0,
        _ => true,
    };
    if ok { Ok(v) } else { Err(format!("{v} is out of range for {}", w.proto_name())) }
}

impl<'de> Visitor<'de> for ScalarSeed<'_> {
    type Value = Option<Scalar<'de>>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(&self.expected())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        match self.wire {
            WireKind::Bool => Ok(Some(Scalar::Bool(v))),
            _ => Err(self.wrong(format!("boolean {v}"))),
        }
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        self.int(i128::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        self.int(i128::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        match self.wire {
            // A float field holds an f32, whichever encoding brought it.
            WireKind::Double | WireKind::Float => match store_float(self.wire, v) {
                Some(f) => Ok(Some(Scalar::Float(f))),
                None => Err(at(self.path, format!("{v:e} is out of range for float"))),
            },
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

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        self.text(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        // Escaped text is copied only when it is kept.
        if self.keep || self.wire != WireKind::String {
            self.text(Cow::Owned(v.to_owned()))
        } else {
            Ok(Some(Scalar::Str(Cow::Borrowed(""))))
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.wrong("an array"))
    }

    fn visit_map<A: MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        Err(self.wrong("an object"))
    }
}

pub(super) fn enum_type(t: &Type) -> Type {
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
