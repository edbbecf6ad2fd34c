//! Frames: the fields a bundle reads from its source's events, each at a fixed offset, so that
//! native code reads an event field with one load.
//!
//! A value of a string-keyed map read by a constant key (`params["item"]`, the most common read
//! of a tracking event's property map) has a slot of its own: the map is checked while decoding,
//! never built. So has each field of the elements of a list of messages that list predicates
//! read (`any(products, p => p.price > 100.0)`): its slot points at a column of element slots,
//! and the list is never built either.
//!
//! A slot is 24 bytes: a presence byte at +0, then the value at +8 (an i64, the bits of an f64,
//! a bool as 0/1, a string's pointer, or a pointer to a decoded message, list or map) and a
//! string's, list's or map's length at +16. An unset field holds its
//! default with presence 0, so code that does not care about presence just loads the value.

use std::collections::HashMap;

pub use crate::ir::event_path;
use crate::ir::{Expr, ExprKind, FieldPath, Literal, Program, SourceId};
use crate::types::Type;
use crate::value::Value;

pub const SLOT: u32 = 24;

/// The value under a constant key of a `map<string, _>` field of the event: `params["item"]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KeyedPath {
    /// The map field.
    pub map: FieldPath,
    pub key: Box<str>,
}

/// A field of the elements of a repeated message field of the event, read by list predicates:
/// `price` of `products` in `any(products, p => p.price > 100.0)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ColumnPath {
    pub list: FieldPath,
    /// The field's index in the element message.
    pub field: u32,
}

/// A list that a list predicate reads through element fields: its path, its type (when known),
/// and the element fields with their types.
type ListReads = (FieldPath, Option<Type>, Vec<(u32, Type)>);

#[derive(Clone, Debug, Default)]
pub struct FrameLayout {
    /// Where each path's slot is, for the compiler.
    offsets: HashMap<FieldPath, u32>,
    /// Every field slot with its path, type and offset, for filling (no lookups per event).
    slots: Vec<(FieldPath, Type, u32)>,
    /// The same for map values read by key.
    keyed_offsets: HashMap<KeyedPath, u32>,
    keyed: Vec<(KeyedPath, Type, u32)>,
    /// The same for columns; each slot holds a pointer to the column's element slots and their
    /// number.
    column_offsets: HashMap<ColumnPath, u32>,
    columns: Vec<(ColumnPath, Type, u32)>,
    /// Lists that list predicates read through columns (path and type), with the element
    /// fields they read; settled when the layout is complete (a list also read whole keeps no
    /// columns).
    column_candidates: Vec<ListReads>,
    /// Whether some unit reads the event as a whole (`self`, a spread of it, a field through
    /// it that has no slot), so that the event must be decoded into a value tree too.
    needs_event: bool,
}

/// The map and key of `e` when it is `field[key]` with a slot of its own: a `map<string, V>`
/// field of the event (V a scalar, string or bytes) indexed by a string literal.
pub fn keyed_path(e: &Expr) -> Option<KeyedPath> {
    let ExprKind::Index { base, index } = &e.kind else { return None };
    let Type::Map(key_ty, value_ty) = &base.ty else { return None };
    let ExprKind::Lit(Literal::String(key)) = &index.kind else { return None };
    if **key_ty != Type::String || !scalar(value_ty) || !matches!(base.kind, ExprKind::Field { .. }) {
        return None;
    }
    Some(KeyedPath { map: event_path(base)?, key: key.as_str().into() })
}

/// A scalar, string or bytes type: what a slot holds by value.
fn scalar(t: &Type) -> bool {
    matches!(t, Type::Bool | Type::Int | Type::Float | Type::String | Type::Bytes | Type::Duration | Type::Enum(_))
}

/// The list and the element fields that a list predicate reads, when it reads a list of
/// messages of the event and its lambda uses the element only through scalar fields:
/// `any(products, p => p.price > 100.0)` reads `price` of `products`.
pub fn column_reads(e: &Expr) -> Option<(FieldPath, Vec<(u32, Type)>)> {
    list_reads(e).map(|(path, _, fields)| (path, fields))
}

/// [`column_reads`], with the list's type.
fn list_reads(e: &Expr) -> Option<ListReads> {
    let ExprKind::ListPred { list, param, body, .. } = &e.kind else { return None };
    let Type::List(elem) = &list.ty else { return None };
    if !matches!(**elem, Type::Message(_)) || !matches!(list.kind, ExprKind::Field { .. }) {
        return None;
    }
    let path = event_path(list)?;
    let (mut fields, mut only_fields) = (Vec::<(u32, Type)>::new(), true);
    walk(body, &mut |x| match &x.kind {
        ExprKind::Field { base, index, .. } if matches!(base.kind, ExprKind::Local(id) if id == *param) => {
            if !scalar(x.ty.strip_optional()) {
                only_fields = false;
            } else if !fields.iter().any(|(f, _)| f == index) {
                fields.push((*index, x.ty.clone()));
            }
            true
        }
        ExprKind::Local(id) if id == param => {
            only_fields = false;
            true
        }
        _ => false,
    });
    (only_fields && !fields.is_empty()).then(|| (path, Some(list.ty.clone()), fields))
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
        layout.settle_columns();
        layout
    }

    /// `old` grown by what the units `fresh` (of one source of `program`) read: every slot of
    /// `old` keeps its offset, so that code compiled against `old` still reads what it read
    /// (slots no unit reads any more stay, unread). `None` when that cannot be: a list read
    /// through columns in one is read whole in the other.
    pub fn extending(old: &FrameLayout, program: &Program, fresh: &[crate::ir::UnitRef]) -> Option<FrameLayout> {
        let mut merged = old.clone();
        let mut visit = |e: &Expr| merged.collect(e);
        for &u in fresh {
            program.unit(u).for_each_expr(&mut |e| walk(e, &mut visit));
        }
        merged.settle_columns();
        let whole = |list: &FieldPath| (1..=list.len()).any(|n| merged.offsets.contains_key(&list[..n]));
        (!merged.columns.iter().any(|(c, ..)| whole(&c.list))).then_some(merged)
    }

    /// Columns for the lists that list predicates read, unless the list (or a message holding
    /// it) is also read whole: then the predicates read the list, through a slot of its own.
    fn settle_columns(&mut self) {
        let candidates = std::mem::take(&mut self.column_candidates);
        let whole = |layout: &Self, list: &FieldPath| (1..=list.len()).any(|n| layout.offsets.contains_key(&list[..n]));
        let (read_whole, by_columns): (Vec<_>, Vec<_>) =
            candidates.into_iter().partition(|(list, ..)| whole(self, list));
        for (list, ty, _) in read_whole {
            if let Some(ty) = ty {
                self.add(list, ty);
            }
        }
        for (list, _, fields) in by_columns {
            // A list made whole by the first loop keeps no columns either.
            if whole(self, &list) {
                continue;
            }
            for (field, ty) in fields {
                self.add_column(ColumnPath { list: list.clone(), field }, ty);
            }
        }
    }

    fn add_keyed(&mut self, k: KeyedPath, ty: Type) {
        if !self.keyed_offsets.contains_key(&k) {
            let at = self.next_offset();
            self.keyed_offsets.insert(k.clone(), at);
            self.keyed.push((k, ty, at));
        }
    }

    fn add_column(&mut self, c: ColumnPath, ty: Type) {
        if !self.column_offsets.contains_key(&c) {
            let at = self.next_offset();
            self.column_offsets.insert(c.clone(), at);
            self.columns.push((c, ty, at));
        }
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
                    self.add_keyed(k, e.ty.clone());
                    true
                }
                None => false,
            },
            ExprKind::ListPred { body, .. } => match list_reads(e) {
                Some(reads) => {
                    self.column_candidates.push(reads);
                    walk(body, &mut |x| self.collect(x));
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
        (self.slots.len() + self.keyed.len() + self.columns.len()) as u32 * SLOT
    }

    /// A layout of the given slots (for tests of decoders; programs use [`new`](Self::new)).
    /// Columns whose list is among `slots` are left out, as [`new`](Self::new) leaves them.
    pub fn with_slots(
        slots: impl IntoIterator<Item = (FieldPath, Type)>,
        keyed: impl IntoIterator<Item = (KeyedPath, Type)>,
        columns: impl IntoIterator<Item = (ColumnPath, Type)>,
    ) -> FrameLayout {
        let mut layout = FrameLayout::default();
        for (path, ty) in slots {
            layout.add(path, ty);
        }
        for (k, ty) in keyed {
            layout.add_keyed(k, ty);
        }
        for (c, ty) in columns {
            // Tests choose the lists read whole themselves.
            layout.column_candidates.push((c.list, None, vec![(c.field, ty)]));
        }
        layout.settle_columns();
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

    pub fn column_offset(&self, c: &ColumnPath) -> Option<u32> {
        self.column_offsets.get(c).copied()
    }

    /// The column slots a list predicate reads, by element field, when its list has columns.
    pub fn columns_of(&self, e: &Expr) -> Option<Vec<(u32, u32)>> {
        let (list, fields) = column_reads(e)?;
        fields
            .iter()
            .map(|(f, _)| Some((*f, self.column_offset(&ColumnPath { list: list.clone(), field: *f })?)))
            .collect()
    }

    pub fn size(&self) -> usize {
        (self.slots.len() + self.keyed.len() + self.columns.len()) * SLOT as usize
    }

    /// The offsets of the slots that the expressions given to `exprs` read, as native code
    /// reads them (a field served by a slot is read whole, not through its base).
    pub fn slots_read(&self, exprs: impl FnOnce(&mut dyn FnMut(&Expr))) -> Vec<u32> {
        let mut read = Vec::new();
        exprs(&mut |e| walk(e, &mut |x| self.read_by(x, &mut read)));
        read.sort_unstable();
        read.dedup();
        read
    }

    /// Notes the slots `e` reads into `read`; true when they serve `e` whole.
    fn read_by(&self, e: &Expr, read: &mut Vec<u32>) -> bool {
        let at = match &e.kind {
            ExprKind::Field { .. } if slot_type(&e.ty) => event_path(e).and_then(|p| self.offset(&p)),
            ExprKind::Index { .. } => keyed_path(e).and_then(|k| self.keyed_offset(&k)),
            ExprKind::ListPred { body, .. } => {
                let Some(columns) = self.columns_of(e) else { return false };
                read.extend(columns.iter().map(|(_, at)| *at));
                walk(body, &mut |x| self.read_by(x, read));
                return true;
            }
            _ => None,
        };
        at.inspect(|&at| read.push(at)).is_some()
    }

    /// Every field slot: its path from the event root, its type and its offset.
    pub fn slots(&self) -> impl Iterator<Item = (&FieldPath, &Type, u32)> {
        self.slots.iter().map(|(p, t, at)| (p, t, *at))
    }

    /// Every slot of a map value read by key: the map and key, the value's type, the offset.
    pub fn keyed(&self) -> impl Iterator<Item = (&KeyedPath, &Type, u32)> {
        self.keyed.iter().map(|(k, t, at)| (k, t, *at))
    }

    /// Every column slot: the list and element field, the field's type, the offset. Columns are
    /// numbered in this order.
    pub fn columns(&self) -> impl Iterator<Item = (&ColumnPath, &Type, u32)> {
        self.columns.iter().map(|(c, t, at)| (c, t, *at))
    }

    pub fn needs_event(&self) -> bool {
        self.needs_event
    }

    /// Fills `frame` (of [`size`](Self::size) bytes) from a decoded event, its columns into
    /// `columns` (one buffer per column, reused). String slots point into `event`, which must
    /// outlive every use of the frame, as must `columns`.
    pub fn fill(&self, event: &Value, frame: &mut [u8], columns: &mut Vec<Vec<u8>>) {
        for (path, _, at) in &self.slots {
            write_value(frame, *at, event.field_at(path));
        }
        for (k, _, at) in &self.keyed {
            write_value(frame, *at, event.field_at(&k.map).at_key(&k.key));
        }
        columns.resize_with(self.columns.len(), Vec::new);
        for ((c, _, at), column) in self.columns.iter().zip(columns.iter_mut()) {
            column.clear();
            let list = event.field_at(&c.list);
            let elements: &[Value] = match list {
                Value::List(items) => items,
                _ => &[],
            };
            column.resize(elements.len() * SLOT as usize, 0);
            for (i, element) in elements.iter().enumerate() {
                write_value(column, i as u32 * SLOT, element.field_at(&[c.field]));
            }
            write_slot(frame, *at, !list.is_null(), column.as_ptr() as u64, elements.len() as u64);
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
        Value::Message(m) => (std::sync::Arc::as_ptr(m) as u64, 0),
        Value::List(l) => (std::sync::Arc::as_ptr(l) as u64, l.len() as u64),
        Value::Map(m) => (std::sync::Arc::as_ptr(m) as u64, m.len() as u64),
    };
    write_slot(frame, at, !v.is_null(), word, len);
}

/// Visits `e` and what it is made of, except below expressions that `f` says are done.
fn walk(e: &Expr, f: &mut impl FnMut(&Expr) -> bool) {
    if !f(e) {
        e.for_each_child(|c| walk(c, f));
    }
}
