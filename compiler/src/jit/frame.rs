//! Frames: the fields a bundle reads from its source's events, each at a fixed offset, so that
//! native code reads an event field with one load.
//!
//! A slot is 24 bytes: a presence byte at +0, then the value at +8 (an i64, the bits of an f64,
//! a bool as 0/1, a string's pointer, or a pointer to a decoded message, list or map) and a
//! string's, list's or map's length at +16. An unset field holds its
//! default with presence 0, so code that does not care about presence just loads the value.

use std::collections::HashMap;

use crate::interp::value::Value;
pub use crate::ir::event_path;
use crate::ir::{Expr, ExprKind, FieldPath, Program, SourceId};
use crate::types::Type;

pub const SLOT: u32 = 24;

#[derive(Debug, Default)]
pub struct FrameLayout {
    /// Where each path's slot is, for the compiler.
    offsets: HashMap<FieldPath, u32>,
    /// Every slot in frame order with its path and type, for filling (no lookups per event).
    slots: Vec<(FieldPath, Type)>,
}

/// Whether a read of this type fits a slot.
pub fn slot_type(t: &Type) -> bool {
    match t {
        Type::Optional(inner) => slot_type(inner) && !matches!(**inner, Type::Message(_)),
        Type::Bool | Type::Int | Type::Float | Type::String | Type::Bytes | Type::Duration | Type::Enum(_) => true,
        // Messages, lists and maps: presence, a pointer to the decoded value, and a length.
        Type::Message(_) | Type::List(_) | Type::Map(_, _) => true,
        _ => false,
    }
}

impl FrameLayout {
    /// The slots every unit of `source` needs.
    pub fn new(program: &Program, source: SourceId) -> FrameLayout {
        let mut layout = FrameLayout::default();
        let mut visit = |e: &Expr| layout.collect(e);
        for d in program.drops.iter().filter(|d| d.source == source) {
            d.for_each_expr(&mut |e| walk(e, &mut visit));
        }
        for s in program.scores.iter().filter(|s| s.source == source) {
            s.for_each_expr(&mut |e| walk(e, &mut visit));
        }
        for r in program.rules.iter().filter(|r| r.source == source) {
            r.for_each_expr(&mut |e| walk(e, &mut visit));
        }
        if let Some(t) = program.sources.get(source.0 as usize).and_then(|s| s.time_field) {
            layout.add(vec![t], Type::Int);
        }
        layout
    }

    fn collect(&mut self, e: &Expr) {
        if matches!(e.kind, ExprKind::Field { .. })
            && slot_type(&e.ty)
            && let Some(p) = event_path(e)
        {
            self.add(p, e.ty.clone());
        }
    }

    fn add(&mut self, path: FieldPath, ty: Type) {
        if !self.offsets.contains_key(&path) {
            self.offsets.insert(path.clone(), self.slots.len() as u32 * SLOT);
            self.slots.push((path, ty));
        }
    }

    pub fn offset(&self, path: &FieldPath) -> Option<u32> {
        self.offsets.get(path).copied()
    }

    pub fn size(&self) -> usize {
        self.slots.len() * SLOT as usize
    }

    /// Fills `frame` (of [`size`](Self::size) bytes) from a decoded event. String slots point
    /// into `event`, which must outlive every use of the frame.
    pub fn fill(&self, event: &Value, frame: &mut [u8]) {
        for (slot, (path, ty)) in self.slots.iter().enumerate() {
            let at = slot * SLOT as usize;
            let mut v = event;
            for &i in path {
                v = match v {
                    Value::Message(m) => m.fields.get(i as usize).unwrap_or(&Value::Null),
                    _ => &Value::Null,
                };
            }
            let (present, word, len): (u8, u64, u64) = match v {
                Value::Null => {
                    let default = match ty.strip_optional() {
                        Type::Float => 0f64.to_bits(),
                        _ => 0,
                    };
                    (0, default, 0)
                }
                Value::Bool(b) => (1, u64::from(*b), 0),
                Value::Int(i) | Value::Duration(i) => (1, *i as u64, 0),
                Value::Enum(e) => (1, i64::from(*e) as u64, 0),
                Value::Float(f) => (1, f.to_bits(), 0),
                Value::Str(s) => (1, s.as_ptr() as u64, s.len() as u64),
                Value::Bytes(b) => (1, b.as_ptr() as u64, b.len() as u64),
                Value::Message(m) => (1, std::rc::Rc::as_ptr(m) as u64, 0),
                Value::List(l) => (1, std::rc::Rc::as_ptr(l) as u64, l.len() as u64),
                Value::Map(m) => (1, std::rc::Rc::as_ptr(m) as u64, m.len() as u64),
            };
            frame[at] = present;
            frame[at + 8..at + 16].copy_from_slice(&word.to_le_bytes());
            frame[at + 16..at + 24].copy_from_slice(&len.to_le_bytes());
        }
    }
}

fn walk(e: &Expr, f: &mut impl FnMut(&Expr)) {
    f(e);
    e.for_each_child(|c| walk(c, f));
}
