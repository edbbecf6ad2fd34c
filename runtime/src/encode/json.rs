//! Protobuf's JSON mapping with proto field names: int64 kinds as strings, enums by name,
//! bytes as base64, durations as "1.5s", non-finite floats as "NaN" / "Infinity".

use std::io::Write;

use base64::Engine as _;
use evr_compiler::schema::{Field, Label, Schema, TypeRef, WireKind};
use evr_compiler::types::Type;
use evr_compiler::value::{Message, Value};

pub fn encode(schema: &Schema, record: &Value, out: &mut Vec<u8>) {
    match record {
        Value::Message(m) => message(schema, m, out),
        _ => out.extend_from_slice(b"{}"),
    }
}

fn message(schema: &Schema, m: &Message, out: &mut Vec<u8>) {
    let msg = schema.message(m.ty);
    if msg.full_name == "google.protobuf.Any"
        && let Some(packed) = any(schema, m)
    {
        return packed_any(schema, m, &packed, out);
    }
    out.push(b'{');
    let mut first = true;
    for (field, v) in msg.fields.iter().zip(&m.fields) {
        if !written(field, v) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        string(&field.name, out);
        out.push(b':');
        match field.label {
            Label::Singular => scalar(schema, field, field.wire, v, out),
            Label::Repeated => {
                out.push(b'[');
                if let Value::List(items) = v {
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        scalar(schema, field, field.wire, item, out);
                    }
                }
                out.push(b']');
            }
            Label::Map => {
                out.push(b'{');
                let (_, value_wire) = field.map_wire.unwrap_or((WireKind::String, WireKind::String));
                if let Value::Map(entries) = v {
                    for (i, (k, item)) in entries.iter().enumerate() {
                        if i > 0 {
                            out.push(b',');
                        }
                        let key = match k {
                            Value::Str(s) => s.to_string(),
                            Value::Int(n) => n.to_string(),
                            Value::Bool(b) => b.to_string(),
                            _ => String::new(),
                        };
                        string(&key, out);
                        out.push(b':');
                        scalar(schema, field, value_wire, item, out);
                    }
                }
                out.push(b'}');
            }
        }
    }
    out.push(b'}');
}

/// The message an Any packs, decoded by its type, when the bundle's schemas define it.
fn any(schema: &Schema, m: &Message) -> Option<Value> {
    let msg = schema.message(m.ty);
    let field = |name: &str| msg.field(name).map(|(i, _)| &m.fields[i as usize]);
    let (Value::Str(url), value) = (field("type_url")?, field("value")?) else { return None };
    let Some(TypeRef::Message(ty)) = schema.lookup(url.rsplit('/').next().unwrap_or(url)) else { return None };
    let bytes: &[u8] = match value {
        Value::Bytes(b) => b,
        _ => &[],
    };
    crate::decode::decode(schema, ty, evr_compiler::ir::WireFormat::Protobuf, bytes).ok()
}

/// An Any by protobuf's JSON mapping: `"@type"`, then the packed message's fields.
fn packed_any(schema: &Schema, m: &Message, packed: &Value, out: &mut Vec<u8>) {
    let msg = schema.message(m.ty);
    let url = msg.field("type_url").and_then(|(i, _)| match &m.fields[i as usize] {
        Value::Str(s) => Some(s.clone()),
        _ => None,
    });
    let mut inner = Vec::new();
    encode(schema, packed, &mut inner);
    out.extend_from_slice(b"{\"@type\":");
    string(url.as_deref().unwrap_or(""), out);
    // The packed message's own members, after its `{`.
    if inner.len() > 2 {
        out.push(b',');
    }
    out.extend_from_slice(&inner[1..]);
}

/// Whether a field appears in the output: set, and (without presence) not its default.
pub(crate) fn written(field: &Field, v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Message(_) => true,
        _ if field.ty.is_optional() => true,
        v => !v.is_default(),
    }
}

fn string(s: &str, out: &mut Vec<u8>) {
    // Writing JSON text into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn scalar(schema: &Schema, field: &Field, wire: WireKind, v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Message(m) => message(schema, m, out),
        // Kept in canonical JSON text: written as the JSON it is.
        Value::Str(text) if matches!(wire, WireKind::Json(_)) => out.extend_from_slice(text.as_bytes()),
        Value::Int(ms) if wire == WireKind::Timestamp => string(&evr_stdlib::time::format_rfc3339(*ms), out),
        Value::Int(n) => match wire {
            WireKind::Int64 | WireKind::Uint64 | WireKind::Sint64 | WireKind::Fixed64 | WireKind::Sfixed64 => {
                let _ = write!(out, "\"{n}\"");
            }
            _ => {
                let _ = write!(out, "{n}");
            }
        },
        Value::Float(f) if f.is_nan() => out.extend_from_slice(b"\"NaN\""),
        Value::Float(f) if f.is_infinite() => {
            out.extend_from_slice(if *f > 0.0 { b"\"Infinity\"" } else { b"\"-Infinity\"" })
        }
        // A float field holds an f32 (see `store_float`): its shortest form as one is exact.
        Value::Float(f) if wire == WireKind::Float => {
            let _ = serde_json::to_writer(&mut *out, &(*f as f32));
        }
        Value::Float(f) => {
            let _ = serde_json::to_writer(&mut *out, f);
        }
        Value::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::Str(s) => string(s, out),
        Value::Bytes(b) => string(&base64::engine::general_purpose::STANDARD.encode(b), out),
        Value::Duration(ms) => string(&duration_text(*ms), out),
        Value::Enum(n) => {
            let id = match field.ty.strip_optional() {
                Type::Enum(id) => Some(*id),
                Type::List(t) | Type::Map(_, t) => match **t {
                    Type::Enum(id) => Some(id),
                    _ => None,
                },
                _ => None,
            };
            match id.and_then(|id| schema.enum_(id).values.iter().find(|(_, v)| v == n).map(|(name, _)| name)) {
                Some(name) => string(name, out),
                None => {
                    let _ = write!(out, "{n}");
                }
            }
        }
        Value::Null | Value::List(_) | Value::Map(_) => out.extend_from_slice(b"null"),
    }
}

/// `1500` ms is `"1.500s"`; whole seconds print without a fraction.
pub fn duration_text(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "" };
    let abs = ms.unsigned_abs();
    let (secs, frac) = (abs / 1000, abs % 1000);
    if frac == 0 { format!("{sign}{secs}s") } else { format!("{sign}{secs}.{frac:03}s") }
}
