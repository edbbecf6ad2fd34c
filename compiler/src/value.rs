//! The value model both engines and the codecs share: runtime values (what decoders produce
//! and `emit` builds), how a field stores one, and what a rule asks of its host.

use std::sync::Arc;

use evr_stdlib::RuntimeError;

use crate::ir::{Literal, SinkId};
use crate::schema::{Field, MessageId, Schema, WireKind};
use crate::types::Type;

/// A runtime value. `Null` is the absent value of a `T?`, and also stands for an absent
/// sub-message (a message-typed field that was not set), whose fields read as their defaults.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Arc<str>),
    Bytes(Arc<[u8]>),
    /// Milliseconds.
    Duration(i64),
    /// An enum value by number.
    Enum(i32),
    List(Arc<Vec<Value>>),
    /// Entries in the order they were given; keys are unique.
    Map(Arc<Vec<(Value, Value)>>),
    Message(Arc<Message>),
}

/// A message: one slot per field of its type, `Null` where the field is unset.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub ty: MessageId,
    pub fields: Vec<Value>,
}

impl Message {
    pub fn empty(schema: &Schema, ty: MessageId) -> Message {
        Message { ty, fields: vec![Value::Null; schema.message(ty).fields.len()] }
    }
}

impl Value {
    pub fn str(s: &str) -> Value {
        Value::Str(Arc::from(s))
    }

    /// The value at a path of field indices from this message; `Null` where a message on the
    /// way is unset (its fields read as unset too).
    pub fn field_at(&self, path: &[u32]) -> &Value {
        let mut v = self;
        for &i in path {
            v = match v {
                Value::Message(m) => m.fields.get(i as usize).unwrap_or(&Value::Null),
                _ => &Value::Null,
            };
        }
        v
    }

    /// The value under a string key of a map (`Null` when absent, or when this is no map).
    pub fn at_key(&self, key: &str) -> &Value {
        match self {
            Value::Map(entries) => {
                entries.iter().find(|(k, _)| matches!(k, Value::Str(s) if &**s == key)).map_or(&Value::Null, |(_, v)| v)
            }
            _ => &Value::Null,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// What an unset field of type `ty` reads as.
    pub fn default_of(ty: &Type) -> Value {
        match ty {
            Type::Bool => Value::Bool(false),
            Type::Int => Value::Int(0),
            Type::Float => Value::Float(0.0),
            Type::String => Value::str(""),
            Type::Bytes => Value::Bytes(Arc::from(&[][..])),
            Type::Duration => Value::Duration(0),
            Type::Enum(_) => Value::Enum(0),
            Type::List(_) => Value::List(Arc::new(Vec::new())),
            Type::Map(_, _) => Value::Map(Arc::new(Vec::new())),
            Type::Message(_) | Type::Optional(_) | Type::Null | Type::Error => Value::Null,
        }
    }

    /// Whether this is the default of a field without presence (what encoders leave out).
    pub fn is_default(&self) -> bool {
        match self {
            Value::Null => true,
            Value::Bool(b) => !b,
            Value::Int(i) | Value::Duration(i) => *i == 0,
            Value::Float(f) => *f == 0.0 && f.is_sign_positive(),
            Value::Str(s) => s.is_empty(),
            Value::Bytes(b) => b.is_empty(),
            Value::Enum(e) => *e == 0,
            Value::List(l) => l.is_empty(),
            Value::Map(m) => m.is_empty(),
            Value::Message(_) => false,
        }
    }
}

/// A float as a field of protobuf kind `wire` holds it: a `float` field holds an f32, so the
/// value is rounded to the nearest one, and a finite value past f32's range does not fit
/// (`None`). Decoders and `emit` both store floats through this, so they agree.
pub fn store_float(wire: WireKind, v: f64) -> Option<f64> {
    match wire {
        WireKind::Float if v.is_finite() && v.abs() > f64::from(f32::MAX) => None,
        WireKind::Float => Some(f64::from(v as f32)),
        _ => Some(v),
    }
}

/// A value as a field holds it once emitted: ints must fit the field's kind (map keys too),
/// floats are stored as the field holds them (see [`store_float`]). Both engines store
/// emitted fields through this.
pub fn store(v: Value, field: &Field) -> Result<Value, RuntimeError> {
    let (key_wire, wire) = match field.map_wire {
        Some((k, v)) => (Some(k), v),
        None => (None, field.wire),
    };
    let fits_kind = |v: &Value, wire| !matches!(v, Value::Int(i) if !fits(wire, *i));
    let narrow = |v: &Value| match v {
        Value::Float(f) => store_float(wire, *f).map(Value::Float).ok_or(RuntimeError::FieldRange),
        v => Ok(v.clone()),
    };
    match v {
        Value::Int(i) if !fits(wire, i) => Err(RuntimeError::FieldRange),
        Value::Float(f) => store_float(wire, f).map(Value::Float).ok_or(RuntimeError::FieldRange),
        // JSON text of a Value, Struct or ListValue: of its shape, kept in canonical form; the
        // empty text such a field reads as when unset leaves it unset.
        Value::Str(text) if matches!(wire, WireKind::Json(_)) && text.is_empty() => Ok(Value::Null),
        Value::Str(text) if let WireKind::Json(shape) = wire => crate::json_text::parse(shape, &text)
            .map(|v| Value::str(&crate::json_text::canonical(&v)))
            .ok_or(RuntimeError::FieldRange),
        Value::List(items) if !items.iter().all(|i| fits_kind(i, wire)) => Err(RuntimeError::FieldRange),
        Value::List(items) if wire == WireKind::Float => {
            Ok(Value::List(Arc::new(items.iter().map(narrow).collect::<Result<_, _>>()?)))
        }
        Value::Map(entries)
            if !entries.iter().all(|(k, v)| fits_kind(v, wire) && key_wire.is_none_or(|kw| fits_kind(k, kw))) =>
        {
            Err(RuntimeError::FieldRange)
        }
        Value::Map(entries) if wire == WireKind::Float => Ok(Value::Map(Arc::new(
            entries.iter().map(|(k, v)| Ok((k.clone(), narrow(v)?))).collect::<Result<_, _>>()?,
        ))),
        v => Ok(v),
    }
}

/// Checks that an int fits the field it is stored in (protobuf's 32-bit and unsigned kinds).
pub fn fits(wire: WireKind, v: i64) -> bool {
    match wire {
        WireKind::Int32 | WireKind::Sint32 | WireKind::Sfixed32 | WireKind::Enum => i32::try_from(v).is_ok(),
        WireKind::Uint32 | WireKind::Fixed32 => u32::try_from(v).is_ok(),
        WireKind::Uint64 | WireKind::Fixed64 => v >= 0,
        WireKind::Timestamp => evr_stdlib::time::TIMESTAMP_MS.contains(&v),
        _ => true,
    }
}

/// What a rule asks for, in statement order; the host turns these into outputs.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Emit { sink: SinkId, key: Option<Value>, record: Value },
    Route { sink: SinkId },
}

/// The value of a constant.
pub fn literal(lit: &Literal) -> Value {
    match lit {
        Literal::Null => Value::Null,
        Literal::Bool(b) => Value::Bool(*b),
        Literal::Int(i) => Value::Int(*i),
        Literal::Float(f) => Value::Float(*f),
        Literal::String(s) => Value::str(s),
        Literal::Duration(d) => Value::Duration(*d),
        Literal::Enum(_, n) => Value::Enum(*n),
        Literal::List(items) => Value::List(Arc::new(items.iter().map(literal).collect())),
    }
}
