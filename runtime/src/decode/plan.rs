//! Decoding into frames: which fields of each message the rules read and where their slots are,
//! so that a decoder fills exactly those slots and only checks everything else.

use std::borrow::Cow;

use evr_compiler::frame::{FrameLayout, SLOT, write_slot, write_value};
use evr_compiler::types::Type;
use evr_compiler::value::Value;

use super::Scalar;

/// What the frame needs of one message: a need per field index (fields past the end are
/// [`Need::Skip`]), and every slot below the message, to clear when it is absent or replaced.
#[derive(Debug, Default)]
pub struct Plan {
    fields: Vec<Need>,
    slots: Vec<u32>,
    /// At the root: every field read whole, by [`Need::Whole`] number.
    wholes: Vec<Whole>,
    /// At the root: the frame slot of each column, by column number.
    columns: Vec<u32>,
}

/// The elements of a list of messages read through columns: the plan of one element (its
/// fields read have [`Need::Column`]) and the columns, which grow by a slot per element.
#[derive(Debug)]
pub struct Elements {
    pub plan: Plan,
    pub columns: Vec<usize>,
}

/// A message, list or map read as a value: decoded into a value tree kept for the event; its
/// slot and the slots of fields read through it are filled from that tree.
#[derive(Debug)]
pub struct Whole {
    slot: u32,
    below: Vec<(Vec<u32>, u32)>,
    /// Map values read by key through it: the map's path below the whole, the key, the slot.
    keyed: Vec<(Vec<u32>, Box<str>, u32)>,
}

/// Where a slot goes in a plan (see `Plan::place`).
enum Place<'p> {
    Field(&'p mut Need),
    InWhole(usize, &'p [u32]),
}

#[derive(Debug, Default)]
pub enum Need {
    /// Not read: checked, not kept.
    #[default]
    Skip,
    /// A scalar, string or bytes field with a slot.
    Slot(u32),
    /// A message some of whose fields are read.
    Nested(Box<Plan>),
    /// Read as a value: the root plan's whole of this number.
    Whole(usize),
    /// A `map<string, _>` some of whose values are read by key, each into its slot; the map
    /// itself is only checked.
    Keys(Vec<(Box<str>, u32)>),
    /// A list of messages whose elements' fields are read through columns.
    Columns(Box<Elements>),
    /// A field of such an element: into the slot of the current element in this column.
    Column(usize),
}

impl Plan {
    /// A plan that reads nothing: decoding by it only checks.
    pub const fn empty() -> Plan {
        Plan { fields: Vec::new(), slots: Vec::new(), wholes: Vec::new(), columns: Vec::new() }
    }

    /// The plan of a source's root message, from the slots of its frame layout.
    pub fn new(layout: &FrameLayout) -> Plan {
        let mut slots: Vec<(&[u32], &Type, u32)> = layout.slots().map(|(p, t, at)| (p.as_slice(), t, at)).collect();
        // Shorter paths first: a message read whole is placed before the fields read through it.
        slots.sort_by_key(|(p, _, _)| p.len());
        let (mut root, mut wholes) = (Plan::default(), Vec::new());
        for (path, ty, at) in slots {
            root.insert(path, ty, at, &mut wholes);
        }
        // After the fields: a map read whole, or a message holding it, serves its keys too.
        for (k, _, at) in layout.keyed() {
            root.insert_keyed(&k.map, &k.key, at, &mut wholes);
        }
        // Columns: their lists are read through nothing else (the layout sees to it).
        for (number, (c, _, at)) in layout.columns().enumerate() {
            root.insert_column(&c.list, c.field, number, at);
            root.columns.push(at);
        }
        root.wholes = wholes;
        root
    }

    /// Where a slot for `path` goes: the need of its last field (plans made for the messages
    /// on the way, and the slot noted below each of them), or a value read whole that the path
    /// goes through, with the rest of the path below it.
    fn place<'p>(&'p mut self, path: &'p [u32], at: u32) -> Option<Place<'p>> {
        let (&first, rest) = path.split_first()?;
        self.slots.push(at);
        let i = first as usize;
        if self.fields.len() <= i {
            self.fields.resize_with(i + 1, Need::default);
        }
        let need = &mut self.fields[i];
        if rest.is_empty() {
            return Some(Place::Field(need));
        }
        if !matches!(need, Need::Nested(_) | Need::Whole(_)) {
            *need = Need::Nested(Box::default());
        }
        match need {
            Need::Whole(w) => Some(Place::InWhole(*w, rest)),
            Need::Nested(plan) => plan.place(rest, at),
            _ => None,
        }
    }

    fn insert(&mut self, path: &[u32], ty: &Type, at: u32, wholes: &mut Vec<Whole>) {
        match self.place(path, at) {
            Some(Place::Field(need)) => {
                *need = match ty.strip_optional() {
                    Type::Message(_) | Type::List(_) | Type::Map(_, _) => {
                        wholes.push(Whole { slot: at, below: Vec::new(), keyed: Vec::new() });
                        Need::Whole(wholes.len() - 1)
                    }
                    _ => Need::Slot(at),
                }
            }
            Some(Place::InWhole(w, rest)) => wholes[w].below.push((rest.to_vec(), at)),
            None => {}
        }
    }

    fn insert_keyed(&mut self, path: &[u32], key: &str, at: u32, wholes: &mut [Whole]) {
        match self.place(path, at) {
            Some(Place::Field(Need::Whole(w))) => wholes[*w].keyed.push((Vec::new(), key.into(), at)),
            Some(Place::Field(Need::Keys(keys))) => keys.push((key.into(), at)),
            Some(Place::Field(need @ Need::Skip)) => *need = Need::Keys(vec![(key.into(), at)]),
            Some(Place::InWhole(w, rest)) => wholes[w].keyed.push((rest.to_vec(), key.into(), at)),
            // A map at the place of a scalar: no schema has both.
            _ => {}
        }
    }

    fn insert_column(&mut self, path: &[u32], field: u32, number: usize, at: u32) {
        // The layout gives no columns below a value read whole.
        let Some(Place::Field(need)) = self.place(path, at) else { return };
        if matches!(need, Need::Skip) {
            *need = Need::Columns(Box::new(Elements { plan: Plan::default(), columns: Vec::new() }));
        }
        let Need::Columns(elements) = need else { return };
        elements.columns.push(number);
        let f = field as usize;
        if elements.plan.fields.len() <= f {
            elements.plan.fields.resize_with(f + 1, Need::default);
        }
        elements.plan.fields[f] = Need::Column(number);
    }

    /// The whole whose value fills the slot at `offset`, if one does.
    pub fn whole_at(&self, offset: u32) -> Option<usize> {
        self.wholes.iter().position(|w| w.slot == offset)
    }

    pub fn need(&self, field: usize) -> &Need {
        self.fields.get(field).unwrap_or(&Need::Skip)
    }

    /// Every slot below this message.
    pub fn slots(&self) -> &[u32] {
        &self.slots
    }
}

/// A frame being filled by the plan `root`, and what its slots point at besides the input.
pub struct FrameOut<'f> {
    pub frame: &'f mut [u8],
    pub kept: &'f mut Kept,
    pub root: &'f Plan,
    /// Whether values read whole may be left undecoded (checked, their place noted in
    /// `kept`) until a unit that reads them runs: see [`Kept::pending`].
    pub defer: bool,
}

/// What frame slots point at besides the input: text made while decoding (unescaped,
/// base64-decoded), and the values read whole, by whole number. It lives until the next event.
#[derive(Default)]
pub struct Kept {
    strings: Vec<Box<[u8]>>,
    values: Vec<(usize, Value)>,
    pending: Vec<Pending>,
    /// The element slots of each column, by column number (buffers kept between events).
    columns: Vec<Vec<u8>>,
}

/// A value read whole that was checked but not yet decoded: where its text is in the input,
/// and what decodes it.
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    pub whole: usize,
    pub start: usize,
    pub end: usize,
    /// The message holding the field, the field's index, and how deep that message is nested.
    pub message: evr_compiler::schema::MessageId,
    pub field: usize,
    pub depth: u32,
}

impl Kept {
    pub fn clear(&mut self) {
        self.strings.clear();
        self.values.clear();
        self.pending.clear();
        self.columns.iter_mut().for_each(Vec::clear);
    }

    /// Values read whole that wait to be decoded.
    pub fn pending(&self) -> &[Pending] {
        &self.pending
    }
}

impl<'f> FrameOut<'f> {
    /// Fills `frame` by `root`, decoding every value read whole at once.
    pub fn new(frame: &'f mut [u8], kept: &'f mut Kept, root: &'f Plan) -> FrameOut<'f> {
        FrameOut { frame, kept, root, defer: false }
    }

    /// Whether whole `w` may wait: only when no slot below it is read through it.
    pub fn may_defer(&self, w: usize) -> bool {
        let whole = &self.root.wholes[w];
        self.defer && whole.below.is_empty() && whole.keyed.is_empty()
    }

    /// Notes a value read whole that waits to be decoded.
    pub fn postpone(&mut self, pending: Pending) {
        self.kept.pending.push(pending);
    }

    /// Starts an event: every slot unset.
    pub fn reset(&mut self) {
        self.frame.fill(0);
        self.kept.clear();
    }

    /// Unsets slots (a message that is absent, or given again in JSON), values read whole and
    /// columns among them.
    pub fn clear(&mut self, slots: &[u32]) {
        for &at in slots {
            write_slot(self.frame, at, false, 0, 0);
        }
        let wholes = &self.root.wholes;
        self.kept.values.retain(|(w, _)| !slots.contains(&wholes[*w].slot));
        for (c, at) in self.root.columns.iter().enumerate() {
            if slots.contains(at)
                && let Some(column) = self.kept.columns.get_mut(c)
            {
                column.clear();
            }
        }
    }

    /// Unsets one slot that no value read whole fills (a map value read by key).
    pub fn unset(&mut self, at: u32) {
        write_slot(self.frame, at, false, 0, 0);
    }

    /// Starts an element of a list read through `columns`: a slot of each, unset.
    pub fn element(&mut self, columns: &[usize]) {
        for &c in columns {
            let column = self.column(c);
            column.resize(column.len() + SLOT as usize, 0);
        }
    }

    /// Takes back the element just started (there was none after all).
    pub fn unelement(&mut self, columns: &[usize]) {
        for &c in columns {
            let column = self.column(c);
            column.truncate(column.len().saturating_sub(SLOT as usize));
        }
    }

    /// Empties columns (a list given again in JSON replaces the one before).
    pub fn clear_columns(&mut self, columns: &[usize]) {
        for &c in columns {
            self.column(c).clear();
        }
    }

    /// A scalar into the current element's slot of column `c`.
    pub fn column_scalar(&mut self, c: usize, s: Scalar<'_>) {
        let (word, len) = self.words(s);
        let column = self.column(c);
        if let Some(at) = column.len().checked_sub(SLOT as usize) {
            write_slot(column, at as u32, true, word, len);
        }
    }

    /// Unsets the current element's slot of column `c` (a field given as null after a value).
    pub fn column_unset(&mut self, c: usize) {
        let column = self.column(c);
        if let Some(at) = column.len().checked_sub(SLOT as usize) {
            write_slot(column, at as u32, false, 0, 0);
        }
    }

    fn column(&mut self, c: usize) -> &mut Vec<u8> {
        if self.kept.columns.len() <= c {
            self.kept.columns.resize_with(c + 1, Vec::new);
        }
        &mut self.kept.columns[c]
    }

    /// A scalar into its slot. Text borrowed from the input is pointed at, so the input must
    /// outlive every use of the frame.
    pub fn scalar(&mut self, at: u32, s: Scalar<'_>) {
        let (word, len) = self.words(s);
        write_slot(self.frame, at, true, word, len);
    }

    /// A scalar as a slot's words; text made while decoding is kept.
    fn words(&mut self, s: Scalar<'_>) -> (u64, u64) {
        match s {
            Scalar::Bool(b) => (u64::from(b), 0),
            Scalar::Int(i) | Scalar::Duration(i) => (i as u64, 0),
            Scalar::Enum(e) => (i64::from(e) as u64, 0),
            Scalar::Float(f) => (f.to_bits(), 0),
            Scalar::Str(Cow::Borrowed(s)) => (s.as_ptr() as u64, s.len() as u64),
            Scalar::Bytes(Cow::Borrowed(b)) => (b.as_ptr() as u64, b.len() as u64),
            Scalar::Str(Cow::Owned(s)) => self.keep(s.into_bytes()),
            Scalar::Bytes(Cow::Owned(b)) => self.keep(b),
        }
    }

    /// Text made while decoding (unescaped, base64-decoded) lives in `kept`.
    fn keep(&mut self, bytes: Vec<u8>) -> (u64, u64) {
        let kept = bytes.into_boxed_slice();
        let (word, len) = (kept.as_ptr() as u64, kept.len() as u64);
        self.kept.strings.push(kept);
        (word, len)
    }

    /// The value of whole `w` decoded so far (`Null` at first), to set or merge into.
    pub fn whole(&mut self, w: usize) -> &mut Value {
        let i = match self.kept.values.iter().position(|(k, _)| *k == w) {
            Some(i) => i,
            None => {
                self.kept.values.push((w, Value::Null));
                self.kept.values.len() - 1
            }
        };
        &mut self.kept.values[i].1
    }

    /// Ends an event: the slots of values read whole point into their trees, which stay put
    /// in `kept` until the next event.
    pub fn finish(&mut self) {
        for (w, v) in &self.kept.values {
            write_whole(self.frame, &self.root.wholes[*w], v);
        }
        // Columns no longer grow: their slots can point at them.
        for (c, &at) in self.root.columns.iter().enumerate() {
            let column = self.kept.columns.get(c).map_or(&[][..], Vec::as_slice);
            let n = column.len() / SLOT as usize;
            write_slot(self.frame, at, n > 0, column.as_ptr() as u64, n as u64);
        }
    }

    /// A value that waited, decoded at last: kept, and its slot written.
    pub fn settle(&mut self, w: usize, v: Value) {
        write_whole(self.frame, &self.root.wholes[w], &v);
        // Moving the value keeps the heap data its slot points at where it is.
        self.kept.values.push((w, v));
        self.kept.pending.retain(|p| p.whole != w);
    }
}

/// The slot of a value read whole, and the slots of fields read through it.
fn write_whole(frame: &mut [u8], whole: &Whole, v: &Value) {
    write_value(frame, whole.slot, v);
    for (path, at) in &whole.below {
        write_value(frame, *at, v.field_at(path));
    }
    for (path, key, at) in &whole.keyed {
        write_value(frame, *at, v.field_at(path).at_key(key));
    }
}
