//! The protobuf binary forms of `google.protobuf.Value`, `Struct`, `ListValue` and `FieldMask`,
//! to and from what EVR reads them as: JSON text (see `evr_compiler::json_text`), and a
//! FieldMask's paths joined by `,`.

use evr_compiler::json_text::{self, Shape};
use prost::encoding::{WireType, decode_key, decode_varint, encode_key, encode_varint};
use serde_json::{Map, Number, Value as Json};

use crate::decode::protobuf::{length_delimited, skip};

/// Values nest at most this deep, as messages do.
const MAX_NESTING: u32 = crate::decode::json::MAX_NESTING;

/// A message of the given shape as a JSON value.
pub(crate) fn from_protobuf(shape: Shape, mut buf: &[u8], depth: u32) -> Result<Json, String> {
    if depth >= MAX_NESTING {
        return Err(format!("values nested deeper than {MAX_NESTING}"));
    }
    let mut out = match shape {
        // A Value whose kind is not set reads as null.
        Shape::Value => Json::Null,
        Shape::Struct => Json::Object(Map::new()),
        Shape::List => Json::Array(Vec::new()),
    };
    while !buf.is_empty() {
        let (number, wire) = decode_key(&mut buf).map_err(|e| format!("invalid protobuf: {e}"))?;
        match (shape, number, wire) {
            (Shape::Value, 1, WireType::Varint) => {
                decode_varint(&mut buf).map_err(|e| e.to_string())?;
                out = Json::Null;
            }
            (Shape::Value, 2, WireType::SixtyFourBit) => {
                let bytes: [u8; 8] =
                    buf.get(..8).and_then(|b| b.try_into().ok()).ok_or("input ends inside a double")?;
                buf = &buf[8..];
                let f = f64::from_le_bytes(bytes);
                out = Json::Number(Number::from_f64(f).ok_or_else(|| format!("{f} has no JSON form"))?);
            }
            (Shape::Value, 3, _) => {
                let bytes = length_delimited(&mut buf, wire)?;
                out = Json::String(std::str::from_utf8(bytes).map_err(|_| "string is not valid UTF-8")?.to_owned());
            }
            (Shape::Value, 4, WireType::Varint) => {
                out = Json::Bool(decode_varint(&mut buf).map_err(|e| e.to_string())? != 0)
            }
            (Shape::Value, 5, _) => out = from_protobuf(Shape::Struct, length_delimited(&mut buf, wire)?, depth + 1)?,
            (Shape::Value, 6, _) => out = from_protobuf(Shape::List, length_delimited(&mut buf, wire)?, depth + 1)?,
            (Shape::Struct, 1, _) => {
                let mut entry = length_delimited(&mut buf, wire)?;
                let (mut key, mut value) = (String::new(), Json::Null);
                while !entry.is_empty() {
                    let (n, w) = decode_key(&mut entry).map_err(|e| format!("invalid protobuf: {e}"))?;
                    match n {
                        1 => {
                            let bytes = length_delimited(&mut entry, w)?;
                            key = std::str::from_utf8(bytes).map_err(|_| "string is not valid UTF-8")?.to_owned();
                        }
                        2 => value = from_protobuf(Shape::Value, length_delimited(&mut entry, w)?, depth + 1)?,
                        _ => skip(&mut entry, w)?,
                    }
                }
                if let Json::Object(m) = &mut out {
                    m.insert(key, value);
                }
            }
            (Shape::List, 1, _) => {
                let item = from_protobuf(Shape::Value, length_delimited(&mut buf, wire)?, depth + 1)?;
                if let Json::Array(items) = &mut out {
                    items.push(item);
                }
            }
            _ => skip(&mut buf, wire)?,
        }
    }
    Ok(out)
}

/// JSON text of the given shape (canonical, as `store` keeps it) as the message's bytes.
pub(crate) fn to_protobuf(shape: Shape, text: &str, out: &mut Vec<u8>) {
    if let Some(v) = json_text::parse(shape, text) {
        write(shape, &v, out);
    }
}

fn write(shape: Shape, v: &Json, out: &mut Vec<u8>) {
    let nested = |number: u32, shape: Shape, v: &Json, out: &mut Vec<u8>| {
        let mut inner = Vec::new();
        write(shape, v, &mut inner);
        encode_key(number, WireType::LengthDelimited, out);
        encode_varint(inner.len() as u64, out);
        out.extend_from_slice(&inner);
    };
    match (shape, v) {
        (Shape::Struct, Json::Object(m)) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                let mut entry = Vec::new();
                encode_key(1, WireType::LengthDelimited, &mut entry);
                encode_varint(k.len() as u64, &mut entry);
                entry.extend_from_slice(k.as_bytes());
                nested(2, Shape::Value, &m[k], &mut entry);
                encode_key(1, WireType::LengthDelimited, out);
                encode_varint(entry.len() as u64, out);
                out.extend_from_slice(&entry);
            }
        }
        (Shape::List, Json::Array(items)) => items.iter().for_each(|i| nested(1, Shape::Value, i, out)),
        (Shape::Value, Json::Null) => {
            encode_key(1, WireType::Varint, out);
            encode_varint(0, out);
        }
        (Shape::Value, Json::Number(n)) => {
            encode_key(2, WireType::SixtyFourBit, out);
            out.extend_from_slice(&n.as_f64().unwrap_or(0.0).to_le_bytes());
        }
        (Shape::Value, Json::String(s)) => {
            encode_key(3, WireType::LengthDelimited, out);
            encode_varint(s.len() as u64, out);
            out.extend_from_slice(s.as_bytes());
        }
        (Shape::Value, Json::Bool(b)) => {
            encode_key(4, WireType::Varint, out);
            encode_varint(u64::from(*b), out);
        }
        (Shape::Value, Json::Object(_)) => nested(5, Shape::Struct, v, out),
        (Shape::Value, Json::Array(_)) => nested(6, Shape::List, v, out),
        // `parse` admitted only values of their shape.
        _ => {}
    }
}

/// A FieldMask's paths (field 1), joined by `,` as its JSON form writes them.
pub(crate) fn field_mask(mut buf: &[u8]) -> Result<String, String> {
    let mut paths: Vec<&str> = Vec::new();
    while !buf.is_empty() {
        let (number, wire) = decode_key(&mut buf).map_err(|e| format!("invalid protobuf: {e}"))?;
        match number {
            1 => paths
                .push(std::str::from_utf8(length_delimited(&mut buf, wire)?).map_err(|_| "path is not valid UTF-8")?),
            _ => skip(&mut buf, wire)?,
        }
    }
    Ok(paths.join(","))
}
