//! Frames: the fields a bundle reads from its source's events, each at a fixed offset, so that
//! native code reads an event field with one load.
//!
//! A value of a string-keyed map read by a constant key (`params["item"]`, the most common read
//! of a tracking event's property map) has a slot of its own: the map is checked while decoding,
//! never built.
//!
//! A slot is 24 bytes: a presence byte at +0, then the value at +8 (an i64, the bits of an f64,
//! a bool as 0/1, a string's pointer, or a pointer to a decoded message, list or map) and a
//! string's, list's or map's length at +16. An unset field holds its
//! default with presence 0, so code that does not care about presence just loads the value.

use std::collections::HashMap;

use crate::interp::value::Value;
pub use crate::ir::event_path;
use crate::ir::{Expr, ExprKind, FieldPath, Literal, Program, SourceId};
use crate::types::Type;

pub const SLOT: u32 = 24;

/// The value under a constant key of a `map<string, _>` field of the event: `params["item"]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyedPath {
    /// The map field.
    pub map: FieldPath,
    pub key: Box<str>,
}

#[derive(Debug, Default)]
pub struct FrameLayout {
    /// Where each path's slot is, for the compiler.
    offsets: HashMap<FieldPath, u32>,
    /// Every field slot with its path, type and offset, for filling (no lookups per event).
    slots: Vec<(FieldPath, Type, u32)>,
    /// The same for map values read by key.
    keyed_offsets: HashMap<KeyedPath, u32>,
    keyed: Vec<(KeyedPath, Type, u32)>,
    /// Whether some unit reads the event as a whole (`self`, a spread of it, a field through
    /// it that has no slot), so that the event must be decoded into a value tree too.
    needs_event: bool,
}

/// The map and key of `e` when it is `field[key]` with a slot of its own: a `map<string, V>`
/// field of the event (V a scalar, string or bytes) indexed by a string literal.
pub fn keyed_path(e: &Expr) -> Option<KeyedPath> {
    let ExprKind::Index { base, index } = &e.kind else { return None };
    let Type::Map(key_ty, value_ty) = &base.ty else { return None };
    let scalar = matches!(
        **value_ty,
        Type::Bool | Type::Int | Type::Float | Type::String | Type::Bytes | Type::Duration | Type::Enum(_)
    );
    let ExprKind::Lit(Literal::String(key)) = &index.kind else { return None };
    if **key_ty != Type::String || !scalar || !matches!(base.kind, ExprKind::Field { .. }) {
        return None;
    }
    Some(KeyedPath { map: event_path(base)?, key: key.as_str().into() })
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

    /// Notes what `e` reads of the event. True when a slot serves `e` whole: native code then
    /// loads the slot and never evaluates the chain of fields below it.
    fn collect(&mut self, e: &Expr) -> bool {
        match &e.kind {
            ExprKind::Field { .. } if slot_type(&e.ty) => match event_path(e) {
                Some(p) => {
                    self.add(p, e.ty.clone());
                    true
                }
                None => false,
            },
            ExprKind::Index { .. } => match keyed_path(e) {
                Some(k) => {
                    if !self.keyed_offsets.contains_key(&k) {
                        let at = self.next_offset();
                        self.keyed_offsets.insert(k.clone(), at);
                        self.keyed.push((k, e.ty.clone(), at));
                    }
                    true
                }
                None => false,
            },
            ExprKind::Event => {
                self.needs_event = true;
                true
            }
            _ => false,
        }
    }

    fn next_offset(&self) -> u32 {
        (self.slots.len() + self.keyed.len()) as u32 * SLOT
    }

    /// A layout of the given slots (for tests of decoders; programs use [`new`](Self::new)).
    pub fn with_slots(
        slots: impl IntoIterator<Item = (FieldPath, Type)>,
        keyed: impl IntoIterator<Item = (KeyedPath, Type)>,
    ) -> FrameLayout {
        let mut layout = FrameLayout::default();
        for (path, ty) in slots {
            layout.add(path, ty);
        }
        for (k, ty) in keyed {
            if !layout.keyed_offsets.contains_key(&k) {
                let at = layout.next_offset();
                layout.keyed_offsets.insert(k.clone(), at);
                layout.keyed.push((k, ty, at));
            }
        }
        layout
    }

    fn add(&mut self, path: FieldPath, ty: Type) {
        if !self.offsets.contains_key(&path) {
            let at = self.next_offset();
            self.offsets.insert(path.clone(), at);
            self.slots.push((path, ty, at));
        }
    }

    pub fn offset(&self, path: &[u32]) -> Option<u32> {
        self.offsets.get(path).copied()
    }

    pub fn keyed_offset(&self, k: &KeyedPath) -> Option<u32> {
        self.keyed_offsets.get(k).copied()
    }

    pub fn size(&self) -> usize {
        (self.slots.len() + self.keyed.len()) * SLOT as usize
    }

    /// The offsets of the slots that the expressions given to `exprs` read, as native code
    /// reads them (a field served by a slot is read whole, not through its base).
    pub fn slots_read(&self, exprs: impl FnOnce(&mut dyn FnMut(&Expr))) -> Vec<u32> {
        let mut read = Vec::new();
        let mut visit = |e: &Expr| {
            let at = match &e.kind {
                ExprKind::Field { .. } if slot_type(&e.ty) => event_path(e).and_then(|p| self.offset(&p)),
                ExprKind::Index { .. } => keyed_path(e).and_then(|k| self.keyed_offset(&k)),
                _ => None,
            };
            at.inspect(|&at| read.push(at)).is_some()
        };
        exprs(&mut |e| walk(e, &mut visit));
        read.sort_unstable();
        read.dedup();
        read
    }

    /// Every field slot: its path from the event root, its type and its offset.
    pub fn slots(&self) -> impl Iterator<Item = (&FieldPath, &Type, u32)> {
        self.slots.iter().map(|(p, t, at)| (p, t, *at))
    }

    /// Every slot of a map value read by key: the map and key, the value's type, the offset.
    pub fn keyed(&self) -> impl Iterator<Item = (&KeyedPath, &Type, u32)> {
        self.keyed.iter().map(|(k, t, at)| (k, t, *at))
    }

    pub fn needs_event(&self) -> bool {
        self.needs_event
    }

    /// Fills `frame` (of [`size`](Self::size) bytes) from a decoded event. String slots point
    /// into `event`, which must outlive every use of the frame.
    pub fn fill(&self, event: &Value, frame: &mut [u8]) {
        for (path, _, at) in &self.slots {
            write_value(frame, *at, event.field_at(path));
        }
        for (k, _, at) in &self.keyed {
            write_value(frame, *at, event.field_at(&k.map).at_key(&k.key));
        }
    }
}

/// Writes one slot: presence, the value word and the length word. (Inlined: decoders in other
/// crates write a slot per field.)
#[inline]
pub fn write_slot(frame: &mut [u8], at: u32, present: bool, word: u64, len: u64) {
    let at = at as usize;
    frame[at] = u8::from(present);
    frame[at + 8..at + 16].copy_from_slice(&word.to_le_bytes());
    frame[at + 16..at + 24].copy_from_slice(&len.to_le_bytes());
}

/// Reads one slot: presence, the value word and the length word.
#[inline]
pub fn read_slot(frame: &[u8], at: u32) -> (bool, u64, u64) {
    let at = at as usize;
    let word = |i: usize| u64::from_le_bytes(frame[i..i + 8].try_into().expect("a slot holds 8-byte words"));
    (frame[at] != 0, word(at + 8), word(at + 16))
}

/// Writes a value into the slot at `at`; `Null` is an unset field, which holds its default
/// (all zero bits, for floats too) with presence 0. Strings, lists, maps and messages are
/// pointers into `v`, which must outlive every use of the frame.
pub fn write_value(frame: &mut [u8], at: u32, v: &Value) {
    let (word, len): (u64, u64) = match v {
        Value::Null => (0, 0),
        Value::Bool(b) => (u64::from(*b), 0),
        Value::Int(i) | Value::Duration(i) => (*i as u64, 0),
        Value::Enum(e) => (i64::from(*e) as u64, 0),
        Value::Float(f) => (f.to_bits(), 0),
        Value::Str(s) => (s.as_ptr() as u64, s.len() as u64),
        Value::Bytes(b) => (b.as_ptr() as u64, b.len() as u64),
        Value::Message(m) => (std::rc::Rc::as_ptr(m) as u64, 0),
        Value::List(l) => (std::rc::Rc::as_ptr(l) as u64, l.len() as u64),
        Value::Map(m) => (std::rc::Rc::as_ptr(m) as u64, m.len() as u64),
    };
    write_slot(frame, at, !v.is_null(), word, len);
}

/// Visits `e` and what it is made of, except below expressions that `f` says are done.
fn walk(e: &Expr, f: &mut impl FnMut(&Expr) -> bool) {
    if !f(e) {
        e.for_each_child(|c| walk(c, f));
    }
}
