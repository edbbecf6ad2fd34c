//! Protobuf binary. Repeated scalars are packed; maps are repeated entry messages.

use evr_compiler::schema::{Label, Schema, WireKind};
use evr_compiler::value::{Message, Value};
use prost::encoding::{WireType, encode_key, encode_varint};

use super::json::written;

pub fn encode(schema: &Schema, record: &Value, out: &mut Vec<u8>) {
    if let Value::Message(m) = record {
        message(schema, m, out);
    }
}

fn message(schema: &Schema, m: &Message, out: &mut Vec<u8>) {
    let msg = schema.message(m.ty);
    for (field, v) in msg.fields.iter().zip(&m.fields) {
        if !written(field, v) {
            continue;
        }
        match (field.label, v) {
            (Label::Singular, v) if field.wrapper => {
                // The wrapper message, holding the value in field 1 unless it is the default.
                let mut inner = Vec::new();
                if !v.is_default() {
                    value(schema, 1, field.wire, v, &mut inner);
                }
                encode_key(field.number, WireType::LengthDelimited, out);
                encode_varint(inner.len() as u64, out);
                out.extend_from_slice(&inner);
            }
            (Label::Singular, v) => value(schema, field.number, field.wire, v, out),
            (Label::Repeated, Value::List(items)) => {
                if is_packable(field.wire) {
                    let mut packed = Vec::new();
                    for item in items.iter() {
                        bare(field.wire, item, &mut packed);
                    }
                    encode_key(field.number, WireType::LengthDelimited, out);
                    encode_varint(packed.len() as u64, out);
                    out.extend_from_slice(&packed);
                } else {
                    for item in items.iter() {
                        value(schema, field.number, field.wire, item, out);
                    }
                }
            }
            (Label::Map, Value::Map(entries)) => {
                let (kw, vw) = field.map_wire.unwrap_or((WireKind::String, WireKind::String));
                for (k, item) in entries.iter() {
                    let mut entry = Vec::new();
                    value(schema, 1, kw, k, &mut entry);
                    value(schema, 2, vw, item, &mut entry);
                    encode_key(field.number, WireType::LengthDelimited, out);
                    encode_varint(entry.len() as u64, out);
                    out.extend_from_slice(&entry);
                }
            }
            _ => {}
        }
    }
}

fn is_packable(w: WireKind) -> bool {
    !w.is_length_delimited()
}

/// The wire type each kind is written with.
pub(crate) fn wire_type(w: WireKind) -> WireType {
    match w {
        WireKind::Double | WireKind::Fixed64 | WireKind::Sfixed64 => WireType::SixtyFourBit,
        WireKind::Float | WireKind::Fixed32 | WireKind::Sfixed32 => WireType::ThirtyTwoBit,
        w if w.is_length_delimited() => WireType::LengthDelimited,
        _ => WireType::Varint,
    }
}

/// A tagged value.
fn value(schema: &Schema, number: u32, w: WireKind, v: &Value, out: &mut Vec<u8>) {
    encode_key(number, wire_type(w), out);
    match (w, v) {
        (WireKind::Message, Value::Message(m)) => {
            let mut inner = Vec::new();
            message(schema, m, &mut inner);
            encode_varint(inner.len() as u64, out);
            out.extend_from_slice(&inner);
        }
        (WireKind::Message, _) => encode_varint(0, out),
        _ => bare(w, v, out),
    }
}

/// A value without its tag (what packed fields hold).
fn bare(w: WireKind, v: &Value, out: &mut Vec<u8>) {
    let int = match v {
        Value::Int(n) | Value::Duration(n) => *n,
        Value::Enum(n) => i64::from(*n),
        Value::Bool(b) => i64::from(*b),
        _ => 0,
    };
    match (w, v) {
        (WireKind::Double, Value::Float(f)) => out.extend_from_slice(&f.to_bits().to_le_bytes()),
        (WireKind::Float, Value::Float(f)) => out.extend_from_slice(&(*f as f32).to_bits().to_le_bytes()),
        (WireKind::String, Value::Str(s)) => {
            encode_varint(s.len() as u64, out);
            out.extend_from_slice(s.as_bytes());
        }
        (WireKind::Json(shape), Value::Str(text)) => {
            let mut m = Vec::new();
            crate::json_values::to_protobuf(shape, text, &mut m);
            encode_varint(m.len() as u64, out);
            out.extend_from_slice(&m);
        }
        (WireKind::FieldMask, Value::Str(paths)) => {
            let mut m = Vec::new();
            for p in paths.split(',').filter(|p| !p.is_empty()) {
                encode_key(1, WireType::LengthDelimited, &mut m);
                encode_varint(p.len() as u64, &mut m);
                m.extend_from_slice(p.as_bytes());
            }
            encode_varint(m.len() as u64, out);
            out.extend_from_slice(&m);
        }
        (WireKind::Bytes, Value::Bytes(b)) => {
            encode_varint(b.len() as u64, out);
            out.extend_from_slice(b);
        }
        (WireKind::Duration | WireKind::Timestamp, Value::Duration(ms) | Value::Int(ms)) => {
            let mut d = Vec::new();
            // A Duration's nanos take the sign of its seconds; a Timestamp's are never negative.
            let (secs, nanos) = if w == WireKind::Timestamp {
                (ms.div_euclid(1000), ms.rem_euclid(1000) * 1_000_000)
            } else {
                (ms / 1000, (ms % 1000) * 1_000_000)
            };
            if secs != 0 {
                encode_key(1, WireType::Varint, &mut d);
                encode_varint(secs as u64, &mut d);
            }
            if nanos != 0 {
                encode_key(2, WireType::Varint, &mut d);
                encode_varint(i64::from(nanos as i32) as u64, &mut d);
            }
            encode_varint(d.len() as u64, out);
            out.extend_from_slice(&d);
        }
        (WireKind::Sint32 | WireKind::Sint64, _) => encode_varint(((int << 1) ^ (int >> 63)) as u64, out),
        (WireKind::Fixed32 | WireKind::Sfixed32, _) => out.extend_from_slice(&(int as u32).to_le_bytes()),
        (WireKind::Fixed64 | WireKind::Sfixed64, _) => out.extend_from_slice(&(int as u64).to_le_bytes()),
        (WireKind::Int32 | WireKind::Enum, _) => encode_varint(i64::from(int as i32) as u64, out),
        _ => encode_varint(int as u64, out),
    }
}
