//! Protobuf binary events. Unknown fields are skipped, repeated scalars may be packed or not,
//! a repeated occurrence of a message field merges into it, as every protobuf library does.

use std::borrow::Cow;
use std::sync::Arc;

use evr_compiler::schema::{Field, Label, MessageId, Schema, Shape, WireKind};
use evr_compiler::types::Type;
use evr_compiler::value::{Message, Value};
use prost::encoding::{WireType, decode_key, decode_varint};

use super::json::MAX_NESTING;
use super::plan::{FrameOut, Need, Plan};
use super::{DecodeError, Path, Scalar, Segment};
use crate::encode::protobuf::wire_type;

pub fn decode(schema: &Schema, ty: MessageId, bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut m = Message::empty(schema, ty);
    merge(schema, &mut m, bytes, &Path::ROOT, 0)?;
    Ok(Value::Message(Arc::new(m)))
}

/// Decodes into a frame what its plan names, and checks the rest as [`decode`] does.
pub fn decode_into(schema: &Schema, ty: MessageId, bytes: &[u8], out: &mut FrameOut) -> Result<(), DecodeError> {
    let plan = out.root;
    merge_into(schema, ty, plan, out, bytes, &Path::ROOT, 0)
}

fn err(path: &Path, what: impl std::fmt::Display) -> DecodeError {
    DecodeError::new(path.says(what))
}

/// The fields of a message, one occurrence at a time: its number, wire type and schema field
/// (`None` for unknown fields, which are skipped).
fn fields<'s>(
    schema: &'s Schema,
    ty: MessageId,
    mut buf: &[u8],
    path: &Path,
    depth: u32,
    mut each: impl FnMut(usize, &'s Field, WireType, &mut &[u8]) -> Result<(), DecodeError>,
) -> Result<(), DecodeError> {
    if depth >= MAX_NESTING {
        return Err(err(path, format!("messages nested deeper than {MAX_NESTING}")));
    }
    let msg = schema.message(ty);
    while !buf.is_empty() {
        let (number, wire) = decode_key(&mut buf).map_err(|e| err(path, format!("invalid protobuf: {e}")))?;
        match msg.fields.iter().position(|f| f.number == number) {
            Some(index) => each(index, &msg.fields[index], wire, &mut buf)?,
            None => skip(&mut buf, wire).map_err(|e| err(path, e))?,
        }
    }
    Ok(())
}

fn merge(schema: &Schema, m: &mut Message, buf: &[u8], path: &Path, depth: u32) -> Result<(), DecodeError> {
    let msg = schema.message(m.ty);
    fields(schema, m.ty, buf, path, depth, |index, field, wire, buf| {
        let fpath = Path { parent: Some(path), segment: Segment::Field(&field.name) };
        // The last member of a oneof on the wire is the one set.
        for sibling in msg.oneof_siblings(index) {
            m.fields[sibling] = Value::Null;
        }
        merge_field(schema, field, &mut m.fields[index], buf, wire, &fpath, depth)
    })
}

/// A message into a frame by its plan; fields the plan does not name are only checked.
fn merge_into(
    schema: &Schema,
    ty: MessageId,
    plan: &Plan,
    out: &mut FrameOut,
    buf: &[u8],
    path: &Path,
    depth: u32,
) -> Result<(), DecodeError> {
    let mut counts = Counts::default();
    let msg = schema.message(ty);
    fields(schema, ty, buf, path, depth, |index, field, wire, buf| {
        let fpath = Path { parent: Some(path), segment: Segment::Field(&field.name) };
        // The last member of a oneof on the wire is the one set: the others are unset.
        for sibling in msg.oneof_siblings(index) {
            match plan.need(sibling) {
                Need::Slot(at) => out.clear(&[*at]),
                Need::Nested(inner) => out.clear(inner.slots()),
                Need::Whole(w) => *out.whole(*w) = Value::Null,
                Need::Column(c) => out.column_unset(*c),
                // Lists and maps are in no oneof.
                Need::Skip | Need::Columns(_) | Need::Keys(_) => {}
            }
        }
        match plan.need(index) {
            Need::Skip => check_field(schema, field, buf, wire, &fpath, depth, counts.next(index, field)),
            Need::Slot(at) => {
                let s = field_scalar(field, buf, wire, &fpath)?;
                out.scalar(*at, s);
                Ok(())
            }
            // Occurrences of a message merge, so nothing is cleared here.
            Need::Nested(inner) => {
                let bytes = length_delimited(buf, wire).map_err(|e| err(&fpath, e))?;
                let Type::Message(ty) = field.ty else { return Err(err(&fpath, "unsupported field type")) };
                merge_into(schema, ty, inner, out, bytes, &fpath, depth + 1)
            }
            Need::Whole(w) => merge_field(schema, field, out.whole(*w), buf, wire, &fpath, depth),
            Need::Column(c) => {
                let s = field_scalar(field, buf, wire, &fpath)?;
                out.column_scalar(*c, s);
                Ok(())
            }
            // Each occurrence is an element, checked as `check_field` checks it.
            Need::Columns(elements) => {
                let occurrence = counts.next(index, field);
                let bytes = length_delimited(buf, wire).map_err(|e| err(&fpath, e))?;
                let ty = element_message(field).ok_or_else(|| err(&fpath, "unsupported field type"))?;
                let epath = Path { parent: Some(&fpath), segment: Segment::Index(occurrence) };
                out.element(&elements.columns);
                merge_into(schema, ty, &elements.plan, out, bytes, &epath, depth + 1)
            }
            Need::Keys(keys) => {
                let entry = length_delimited(buf, wire).map_err(|e| err(&fpath, e))?;
                keyed_entry(field, entry, keys, out, &fpath)
            }
        }
    })
}

/// One entry of a `map<string, _>` field of which values under some keys are read: checked as
/// [`map_entry`] checks it; its value (or the default, when the entry has none) into the slot
/// of its key, if that key is read. Entries merge as in a map: the last one of a key wins.
fn keyed_entry(
    field: &Field,
    mut buf: &[u8],
    keys: &[(Box<str>, u32)],
    out: &mut FrameOut,
    path: &Path,
) -> Result<(), DecodeError> {
    let Some((WireKind::String, vw)) = field.map_wire else { return Err(err(path, "unsupported field type")) };
    let (mut key, mut value) = (None, None);
    while !buf.is_empty() {
        let (number, wire) = decode_key(&mut buf).map_err(|e| err(path, format!("invalid protobuf: {e}")))?;
        match number {
            1 => key = Some(scalar(WireKind::String, &mut buf, wire, path)?),
            2 => value = Some(scalar(vw, &mut buf, wire, path)?),
            _ => skip(&mut buf, wire).map_err(|e| err(path, e))?,
        }
    }
    let key = match &key {
        Some(Scalar::Str(k)) => &**k,
        _ => "",
    };
    if let Some((_, at)) = keys.iter().find(|(k, _)| **k == *key) {
        out.scalar(*at, value.unwrap_or_else(|| default_scalar(vw)));
    }
    Ok(())
}

/// What a scalar of this kind is when it is not given.
fn default_scalar(kind: WireKind) -> Scalar<'static> {
    match kind {
        WireKind::Bool => Scalar::Bool(false),
        WireKind::Double | WireKind::Float => Scalar::Float(0.0),
        WireKind::Enum => Scalar::Enum(0),
        WireKind::Duration => Scalar::Duration(0),
        WireKind::Timestamp => Scalar::Int(0),
        WireKind::Json(Shape::Value) => Scalar::Str(std::borrow::Cow::Borrowed("null")),
        WireKind::Json(Shape::Struct) => Scalar::Str(std::borrow::Cow::Borrowed("{}")),
        WireKind::Json(Shape::List) => Scalar::Str(std::borrow::Cow::Borrowed("[]")),
        WireKind::FieldMask => Scalar::Str(std::borrow::Cow::Borrowed("")),
        WireKind::String => Scalar::Str(std::borrow::Cow::Borrowed("")),
        WireKind::Bytes => Scalar::Bytes(std::borrow::Cow::Borrowed(&[])),
        _ => Scalar::Int(0),
    }
}

/// One occurrence of a field, merged into its value: a message merges, a list grows, a map
/// entry replaces the one with its key, a scalar is replaced.
fn merge_field(
    schema: &Schema,
    field: &Field,
    slot: &mut Value,
    buf: &mut &[u8],
    wire: WireType,
    path: &Path,
    depth: u32,
) -> Result<(), DecodeError> {
    match field.label {
        Label::Singular if field.wire == WireKind::Message => {
            let bytes = length_delimited(buf, wire).map_err(|e| err(path, e))?;
            let Type::Message(ty) = field.ty else { return Err(err(path, "unsupported field type")) };
            let mut inner = match std::mem::replace(slot, Value::Null) {
                Value::Message(existing) => Arc::unwrap_or_clone(existing),
                _ => Message::empty(schema, ty),
            };
            merge(schema, &mut inner, bytes, path, depth + 1)?;
            *slot = Value::Message(Arc::new(inner));
        }
        Label::Singular => *slot = field_scalar(field, buf, wire, path)?.into_value(),
        Label::Repeated => {
            let mut items = match std::mem::replace(slot, Value::Null) {
                Value::List(l) => Arc::unwrap_or_clone(l),
                _ => Vec::new(),
            };
            if packed(field, wire) {
                let mut packed = length_delimited(buf, wire).map_err(|e| err(path, e))?;
                let element_wire = wire_type(field.wire);
                while !packed.is_empty() {
                    items.push(scalar(field.wire, &mut packed, element_wire, path)?.into_value());
                }
            } else if field.wire == WireKind::Message {
                let bytes = length_delimited(buf, wire).map_err(|e| err(path, e))?;
                let ty = element_message(field).ok_or_else(|| err(path, "unsupported field type"))?;
                let mut inner = Message::empty(schema, ty);
                merge(
                    schema,
                    &mut inner,
                    bytes,
                    &Path { parent: Some(path), segment: Segment::Index(items.len()) },
                    depth + 1,
                )?;
                items.push(Value::Message(Arc::new(inner)));
            } else {
                items.push(scalar(field.wire, buf, wire, path)?.into_value());
            }
            *slot = Value::List(Arc::new(items));
        }
        Label::Map => {
            let entry = length_delimited(buf, wire).map_err(|e| err(path, e))?;
            let Some((k, v)) = map_entry(schema, field, entry, path, depth, true)? else { return Ok(()) };
            let mut entries = match std::mem::replace(slot, Value::Null) {
                Value::Map(e) => Arc::unwrap_or_clone(e),
                _ => Vec::new(),
            };
            match entries.iter_mut().find(|(ek, _)| *ek == k) {
                Some(slot) => slot.1 = v,
                None => entries.push((k, v)),
            }
            *slot = Value::Map(Arc::new(entries));
        }
    }
    Ok(())
}

/// A message that nothing reads: checked as [`merge`] checks it, kept nowhere.
fn check_message(schema: &Schema, ty: MessageId, buf: &[u8], path: &Path, depth: u32) -> Result<(), DecodeError> {
    let mut counts = Counts::default();
    fields(schema, ty, buf, path, depth, |index, field, wire, buf| {
        let fpath = Path { parent: Some(path), segment: Segment::Field(&field.name) };
        check_field(schema, field, buf, wire, &fpath, depth, counts.next(index, field))
    })
}

/// One occurrence of a field that nothing reads: checked as [`merge_field`] checks it, kept
/// nowhere. `occurrence` numbers the elements of a repeated message field, for errors.
fn check_field(
    schema: &Schema,
    field: &Field,
    buf: &mut &[u8],
    wire: WireType,
    path: &Path,
    depth: u32,
    occurrence: usize,
) -> Result<(), DecodeError> {
    match field.label {
        Label::Singular if field.wire == WireKind::Message => {
            let bytes = length_delimited(buf, wire).map_err(|e| err(path, e))?;
            let ty = element_message(field).ok_or_else(|| err(path, "unsupported field type"))?;
            check_message(schema, ty, bytes, path, depth + 1)
        }
        Label::Repeated if packed(field, wire) => {
            let mut packed = length_delimited(buf, wire).map_err(|e| err(path, e))?;
            let element_wire = wire_type(field.wire);
            while !packed.is_empty() {
                scalar(field.wire, &mut packed, element_wire, path)?;
            }
            Ok(())
        }
        Label::Repeated if field.wire == WireKind::Message => {
            let bytes = length_delimited(buf, wire).map_err(|e| err(path, e))?;
            let ty = element_message(field).ok_or_else(|| err(path, "unsupported field type"))?;
            check_message(
                schema,
                ty,
                bytes,
                &Path { parent: Some(path), segment: Segment::Index(occurrence) },
                depth + 1,
            )
        }
        Label::Singular | Label::Repeated => field_scalar(field, buf, wire, path).map(drop),
        Label::Map => {
            let entry = length_delimited(buf, wire).map_err(|e| err(path, e))?;
            map_entry(schema, field, entry, path, depth, false).map(drop)
        }
    }
}

/// How many times each field has occurred so far in one message; the first few fields are
/// counted without allocating.
#[derive(Default)]
struct Counts {
    first: [(usize, usize); 4],
    used: usize,
    more: Vec<(usize, usize)>,
}

impl Counts {
    /// The number of this occurrence of `field` (index `index`), counted for repeated messages only.
    fn next(&mut self, index: usize, field: &Field) -> usize {
        if field.label != Label::Repeated || field.wire != WireKind::Message {
            return 0;
        }
        let slot = if let Some(p) = self.first[..self.used].iter().position(|(i, _)| *i == index) {
            &mut self.first[p]
        } else if self.used < self.first.len() {
            self.first[self.used] = (index, 0);
            self.used += 1;
            &mut self.first[self.used - 1]
        } else if let Some(p) = self.more.iter().position(|(i, _)| *i == index) {
            &mut self.more[p]
        } else {
            self.more.push((index, 0));
            let last = self.more.len() - 1;
            &mut self.more[last]
        };
        slot.1 += 1;
        slot.1 - 1
    }
}

/// Repeated scalars may come packed: all elements in one length-delimited run.
fn packed(field: &Field, wire: WireType) -> bool {
    wire == WireType::LengthDelimited && !field.wrapper && !field.wire.is_length_delimited()
}

/// The message type of a message field, or of a list's elements.
fn element_message(field: &Field) -> Option<MessageId> {
    match &field.ty {
        Type::Message(ty) => Some(*ty),
        Type::List(elem) => match **elem {
            Type::Message(ty) => Some(ty),
            _ => None,
        },
        _ => None,
    }
}

/// One map entry; a missing key or value is its default. Only checked unless `build`.
fn map_entry(
    schema: &Schema,
    field: &Field,
    mut buf: &[u8],
    path: &Path,
    depth: u32,
    build: bool,
) -> Result<Option<(Value, Value)>, DecodeError> {
    let (kw, vw) = field.map_wire.ok_or_else(|| err(path, "unsupported field type"))?;
    let Type::Map(kt, vt) = &field.ty else { return Err(err(path, "unsupported field type")) };
    let value_message = || match **vt {
        Type::Message(ty) => Ok(ty),
        _ => Err(err(path, "unsupported field type")),
    };
    let (mut key, mut value) = (None, None);
    while !buf.is_empty() {
        let (number, wire) = decode_key(&mut buf).map_err(|e| err(path, format!("invalid protobuf: {e}")))?;
        match number {
            1 => key = Some(scalar(kw, &mut buf, wire, path)?),
            2 if vw == WireKind::Message => {
                let bytes = length_delimited(&mut buf, wire).map_err(|e| err(path, e))?;
                if build {
                    let mut inner = Message::empty(schema, value_message()?);
                    merge(schema, &mut inner, bytes, path, depth + 1)?;
                    value = Some(Value::Message(Arc::new(inner)));
                } else {
                    check_message(schema, value_message()?, bytes, path, depth + 1)?;
                }
            }
            2 => {
                let v = scalar(vw, &mut buf, wire, path)?;
                value = build.then(|| v.into_value());
            }
            _ => skip(&mut buf, wire).map_err(|e| err(path, e))?,
        }
    }
    if !build {
        return Ok(None);
    }
    let key = key.map_or_else(|| Value::default_of(kt), Scalar::into_value);
    let value = match value {
        Some(v) => v,
        None if vw == WireKind::Message => Value::Message(Arc::new(Message::empty(schema, value_message()?))),
        None => Value::default_of(vt),
    };
    Ok(Some((key, value)))
}

fn scalar<'b>(kind: WireKind, buf: &mut &'b [u8], wire: WireType, path: &Path) -> Result<Scalar<'b>, DecodeError> {
    let expected = wire_type(kind);
    if wire != expected {
        return Err(err(
            path,
            format!("wire type {wire:?} does not match {} (expected {expected:?})", kind.proto_name()),
        ));
    }
    let varint = |buf: &mut &[u8]| decode_varint(buf).map_err(|e| err(path, format!("invalid varint: {e}")));
    let fixed = |buf: &mut &[u8], n: usize| -> Result<u64, DecodeError> {
        if buf.len() < n {
            return Err(err(path, "truncated fixed-width value"));
        }
        let mut bytes = [0u8; 8];
        bytes[..n].copy_from_slice(&buf[..n]);
        *buf = &buf[n..];
        Ok(u64::from_le_bytes(bytes))
    };
    Ok(match kind {
        WireKind::Int32 => Scalar::Int(i64::from(varint(buf)? as i32)),
        WireKind::Int64 => Scalar::Int(varint(buf)? as i64),
        WireKind::Uint32 => Scalar::Int(i64::from(varint(buf)? as u32)),
        WireKind::Uint64 => {
            let v = varint(buf)?;
            Scalar::Int(i64::try_from(v).map_err(|_| err(path, format!("{v} is out of range for an int")))?)
        }
        WireKind::Sint32 => {
            let v = varint(buf)? as u32;
            Scalar::Int(i64::from(((v >> 1) as i32) ^ -((v & 1) as i32)))
        }
        WireKind::Sint64 => {
            let v = varint(buf)?;
            Scalar::Int(((v >> 1) as i64) ^ -((v & 1) as i64))
        }
        WireKind::Bool => Scalar::Bool(varint(buf)? != 0),
        WireKind::Enum => Scalar::Enum(varint(buf)? as i32),
        WireKind::Fixed32 => Scalar::Int(fixed(buf, 4)? as i64),
        WireKind::Sfixed32 => Scalar::Int(i64::from(fixed(buf, 4)? as u32 as i32)),
        WireKind::Float => Scalar::Float(f64::from(f32::from_bits(fixed(buf, 4)? as u32))),
        WireKind::Fixed64 => {
            let v = fixed(buf, 8)?;
            Scalar::Int(i64::try_from(v).map_err(|_| err(path, format!("{v} is out of range for an int")))?)
        }
        WireKind::Sfixed64 => Scalar::Int(fixed(buf, 8)? as i64),
        WireKind::Double => Scalar::Float(f64::from_bits(fixed(buf, 8)?)),
        WireKind::String => {
            let bytes = length_delimited(buf, wire).map_err(|e| err(path, e))?;
            Scalar::Str(Cow::Borrowed(std::str::from_utf8(bytes).map_err(|_| err(path, "string is not valid UTF-8"))?))
        }
        WireKind::Bytes => Scalar::Bytes(Cow::Borrowed(length_delimited(buf, wire).map_err(|e| err(path, e))?)),
        WireKind::Duration => Scalar::Duration(duration(length_delimited(buf, wire).map_err(|e| err(path, e))?, path)?),
        WireKind::Json(shape) => {
            let bytes = length_delimited(buf, wire).map_err(|e| err(path, e))?;
            let v = crate::json_values::from_protobuf(shape, bytes, 0).map_err(|why| err(path, why))?;
            Scalar::Str(Cow::Owned(evr_compiler::json_text::canonical(&v)))
        }
        WireKind::FieldMask => {
            let bytes = length_delimited(buf, wire).map_err(|e| err(path, e))?;
            Scalar::Str(Cow::Owned(crate::json_values::field_mask(bytes).map_err(|why| err(path, why))?))
        }
        WireKind::Timestamp => {
            let ms = duration(length_delimited(buf, wire).map_err(|e| err(path, e))?, path)?;
            if !evr_stdlib::time::TIMESTAMP_MS.contains(&ms) {
                return Err(err(path, "timestamp is out of range (years 1 to 9999)"));
            }
            Scalar::Int(ms)
        }
        WireKind::Message => return Err(err(path, "unsupported field type")),
    })
}

/// A scalar field's value: of its kind, or inside its wrapper message (field 1; the kind's
/// default when the wrapper holds none).
fn field_scalar<'b>(field: &Field, buf: &mut &'b [u8], wire: WireType, path: &Path) -> Result<Scalar<'b>, DecodeError> {
    if !field.wrapper {
        return scalar(field.wire, buf, wire, path);
    }
    let mut inner = length_delimited(buf, wire).map_err(|e| err(path, e))?;
    let mut value = default_scalar(field.wire);
    while !inner.is_empty() {
        let (number, wire) = decode_key(&mut inner).map_err(|e| err(path, format!("invalid protobuf: {e}")))?;
        match number {
            1 => value = scalar(field.wire, &mut inner, wire, path)?,
            _ => skip(&mut inner, wire).map_err(|e| err(path, e))?,
        }
    }
    Ok(value)
}

/// google.protobuf.Duration { int64 seconds = 1; int32 nanos = 2; } in milliseconds; a
/// Timestamp has the same fields (nanos are never negative there).
fn duration(mut buf: &[u8], path: &Path) -> Result<i64, DecodeError> {
    let (mut seconds, mut nanos) = (0i64, 0i64);
    while !buf.is_empty() {
        let (number, wire) = decode_key(&mut buf).map_err(|e| err(path, format!("invalid protobuf: {e}")))?;
        match (number, wire) {
            (1, WireType::Varint) => seconds = decode_varint(&mut buf).map_err(|e| err(path, e))? as i64,
            (2, WireType::Varint) => nanos = i64::from(decode_varint(&mut buf).map_err(|e| err(path, e))? as i32),
            _ => skip(&mut buf, wire).map_err(|e| err(path, e))?,
        }
    }
    seconds
        .checked_mul(1000)
        .and_then(|ms| ms.checked_add(nanos / 1_000_000))
        .ok_or_else(|| err(path, "duration is out of range"))
}

pub(crate) fn length_delimited<'b>(buf: &mut &'b [u8], wire: WireType) -> Result<&'b [u8], String> {
    if wire != WireType::LengthDelimited {
        return Err(format!("wire type {wire:?} where a length-delimited value belongs"));
    }
    let len = decode_varint(buf).map_err(|e| format!("invalid length: {e}"))?;
    let len = usize::try_from(len).map_err(|_| "length out of range".to_owned())?;
    if buf.len() < len {
        return Err(format!("truncated: {len} bytes announced, {} left", buf.len()));
    }
    let (head, tail) = buf.split_at(len);
    *buf = tail;
    Ok(head)
}

pub(crate) fn skip(buf: &mut &[u8], wire: WireType) -> Result<(), String> {
    match wire {
        WireType::Varint => decode_varint(buf).map(drop).map_err(|e| format!("invalid varint: {e}")),
        WireType::SixtyFourBit | WireType::ThirtyTwoBit => {
            let n = if wire == WireType::SixtyFourBit { 8 } else { 4 };
            if buf.len() < n {
                return Err("truncated fixed-width value".into());
            }
            *buf = &buf[n..];
            Ok(())
        }
        WireType::LengthDelimited => length_delimited(buf, wire).map(drop),
        WireType::StartGroup | WireType::EndGroup => Err("groups are not supported".into()),
    }
}
