//! Protobuf binary events. Unknown fields are skipped, repeated scalars may be packed or not,
//! a repeated occurrence of a message field merges into it, as every protobuf library does.

use std::rc::Rc;

use evr_compiler::interp::value::{Message, Value};
use evr_compiler::schema::{Field, Label, MessageId, Schema, WireKind};
use evr_compiler::types::Type;
use prost::encoding::{WireType, decode_key, decode_varint};

use super::DecodeError;
use super::json::MAX_NESTING;
use crate::encode::protobuf::wire_type;

pub fn decode(schema: &Schema, ty: MessageId, bytes: &[u8]) -> Result<Value, DecodeError> {
    let mut m = Message::empty(schema, ty);
    merge(schema, &mut m, bytes, "", 0)?;
    Ok(Value::Message(Rc::new(m)))
}

fn err(path: &str, what: impl std::fmt::Display) -> DecodeError {
    if path.is_empty() { DecodeError::new(what.to_string()) } else { DecodeError::new(format!("{path}: {what}")) }
}

fn join(path: &str, name: &str) -> String {
    if path.is_empty() { name.to_owned() } else { format!("{path}.{name}") }
}

fn merge(schema: &Schema, m: &mut Message, mut buf: &[u8], path: &str, depth: u32) -> Result<(), DecodeError> {
    if depth >= MAX_NESTING {
        return Err(err(path, format!("messages nested deeper than {MAX_NESTING}")));
    }
    let msg = schema.message(m.ty);
    while !buf.is_empty() {
        let (number, wire) = decode_key(&mut buf).map_err(|e| err(path, format!("invalid protobuf: {e}")))?;
        let Some(index) = msg.fields.iter().position(|f| f.number == number) else {
            skip(&mut buf, wire).map_err(|e| err(path, e))?;
            continue;
        };
        let field = &msg.fields[index];
        let fpath = join(path, &field.name);
        match field.label {
            Label::Singular => {
                let slot = &mut m.fields[index];
                if field.wire == WireKind::Message {
                    let bytes = length_delimited(&mut buf, wire).map_err(|e| err(&fpath, e))?;
                    let Type::Message(ty) = field.ty else { return Err(err(&fpath, "unsupported field type")) };
                    let mut inner = match std::mem::replace(slot, Value::Null) {
                        Value::Message(existing) => Rc::unwrap_or_clone(existing),
                        _ => Message::empty(schema, ty),
                    };
                    merge(schema, &mut inner, bytes, &fpath, depth + 1)?;
                    *slot = Value::Message(Rc::new(inner));
                } else {
                    *slot = scalar(field.wire, &mut buf, wire, &fpath)?;
                }
            }
            Label::Repeated => {
                let mut items = match std::mem::replace(&mut m.fields[index], Value::Null) {
                    Value::List(l) => Rc::unwrap_or_clone(l),
                    _ => Vec::new(),
                };
                let packable =
                    !matches!(field.wire, WireKind::String | WireKind::Bytes | WireKind::Message | WireKind::Duration);
                if packable && wire == WireType::LengthDelimited {
                    let mut packed = length_delimited(&mut buf, wire).map_err(|e| err(&fpath, e))?;
                    let element_wire = wire_type(field.wire);
                    while !packed.is_empty() {
                        items.push(scalar(field.wire, &mut packed, element_wire, &fpath)?);
                    }
                } else if field.wire == WireKind::Message {
                    let bytes = length_delimited(&mut buf, wire).map_err(|e| err(&fpath, e))?;
                    let Type::List(elem) = &field.ty else { return Err(err(&fpath, "unsupported field type")) };
                    let Type::Message(ty) = **elem else { return Err(err(&fpath, "unsupported field type")) };
                    let mut inner = Message::empty(schema, ty);
                    merge(schema, &mut inner, bytes, &format!("{fpath}[{}]", items.len()), depth + 1)?;
                    items.push(Value::Message(Rc::new(inner)));
                } else {
                    items.push(scalar(field.wire, &mut buf, wire, &fpath)?);
                }
                m.fields[index] = Value::List(Rc::new(items));
            }
            Label::Map => {
                let entry = length_delimited(&mut buf, wire).map_err(|e| err(&fpath, e))?;
                let (k, v) = map_entry(schema, field, entry, &fpath, depth)?;
                let mut entries = match std::mem::replace(&mut m.fields[index], Value::Null) {
                    Value::Map(e) => Rc::unwrap_or_clone(e),
                    _ => Vec::new(),
                };
                match entries.iter_mut().find(|(ek, _)| *ek == k) {
                    Some(slot) => slot.1 = v,
                    None => entries.push((k, v)),
                }
                m.fields[index] = Value::Map(Rc::new(entries));
            }
        }
    }
    Ok(())
}

fn map_entry(
    schema: &Schema,
    field: &Field,
    mut buf: &[u8],
    path: &str,
    depth: u32,
) -> Result<(Value, Value), DecodeError> {
    let (kw, vw) = field.map_wire.ok_or_else(|| err(path, "unsupported field type"))?;
    let Type::Map(kt, vt) = &field.ty else { return Err(err(path, "unsupported field type")) };
    let (mut key, mut value) = (Value::default_of(kt), Value::default_of(vt));
    while !buf.is_empty() {
        let (number, wire) = decode_key(&mut buf).map_err(|e| err(path, format!("invalid protobuf: {e}")))?;
        match number {
            1 => key = scalar(kw, &mut buf, wire, path)?,
            2 if vw == WireKind::Message => {
                let bytes = length_delimited(&mut buf, wire).map_err(|e| err(path, e))?;
                let Type::Message(ty) = **vt else { return Err(err(path, "unsupported field type")) };
                let mut inner = Message::empty(schema, ty);
                merge(schema, &mut inner, bytes, path, depth + 1)?;
                value = Value::Message(Rc::new(inner));
            }
            2 => value = scalar(vw, &mut buf, wire, path)?,
            _ => skip(&mut buf, wire).map_err(|e| err(path, e))?,
        }
    }
    if value.is_null() && vw == WireKind::Message {
        let Type::Message(ty) = **vt else { return Err(err(path, "unsupported field type")) };
        value = Value::Message(Rc::new(Message::empty(schema, ty)));
    }
    Ok((key, value))
}

fn scalar(kind: WireKind, buf: &mut &[u8], wire: WireType, path: &str) -> Result<Value, DecodeError> {
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
        WireKind::Int32 => Value::Int(i64::from(varint(buf)? as i32)),
        WireKind::Int64 => Value::Int(varint(buf)? as i64),
        WireKind::Uint32 => Value::Int(i64::from(varint(buf)? as u32)),
        WireKind::Uint64 => {
            let v = varint(buf)?;
            Value::Int(i64::try_from(v).map_err(|_| err(path, format!("{v} is out of range for an int")))?)
        }
        WireKind::Sint32 => {
            let v = varint(buf)? as u32;
            Value::Int(i64::from(((v >> 1) as i32) ^ -((v & 1) as i32)))
        }
        WireKind::Sint64 => {
            let v = varint(buf)?;
            Value::Int(((v >> 1) as i64) ^ -((v & 1) as i64))
        }
        WireKind::Bool => Value::Bool(varint(buf)? != 0),
        WireKind::Enum => Value::Enum(varint(buf)? as i32),
        WireKind::Fixed32 => Value::Int(fixed(buf, 4)? as i64),
        WireKind::Sfixed32 => Value::Int(i64::from(fixed(buf, 4)? as u32 as i32)),
        WireKind::Float => Value::Float(f64::from(f32::from_bits(fixed(buf, 4)? as u32))),
        WireKind::Fixed64 => {
            let v = fixed(buf, 8)?;
            Value::Int(i64::try_from(v).map_err(|_| err(path, format!("{v} is out of range for an int")))?)
        }
        WireKind::Sfixed64 => Value::Int(fixed(buf, 8)? as i64),
        WireKind::Double => Value::Float(f64::from_bits(fixed(buf, 8)?)),
        WireKind::String => {
            let bytes = length_delimited(buf, wire).map_err(|e| err(path, e))?;
            Value::str(std::str::from_utf8(bytes).map_err(|_| err(path, "string is not valid UTF-8"))?)
        }
        WireKind::Bytes => Value::Bytes(Rc::from(length_delimited(buf, wire).map_err(|e| err(path, e))?)),
        WireKind::Duration => Value::Duration(duration(length_delimited(buf, wire).map_err(|e| err(path, e))?, path)?),
        WireKind::Message => return Err(err(path, "unsupported field type")),
    })
}

/// google.protobuf.Duration { int64 seconds = 1; int32 nanos = 2; } in milliseconds.
fn duration(mut buf: &[u8], path: &str) -> Result<i64, DecodeError> {
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

fn length_delimited<'b>(buf: &mut &'b [u8], wire: WireType) -> Result<&'b [u8], String> {
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

fn skip(buf: &mut &[u8], wire: WireType) -> Result<(), String> {
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
