//! Membership in a constant list (`id in BLOCKED`, `x in ["a", "b"]`): a hash set built once,
//! when the program is checked, so that `in` costs one lookup however long the list is, and
//! both engines compile it in time linear in the list.

use std::fmt;

use rustc_hash::FxHashSet;

use crate::ir::Literal;
use crate::types::Type;
use crate::value::Value;

/// The elements of a constant list, as written, and a set of them for lookups. Elements of one
/// type: scalars are kept as one word (ints, durations, enum numbers, bools, float bits with
/// `-0.0` as `0.0`), strings and bytes as their bytes.
pub struct ConstSet {
    items: Vec<Literal>,
    words: FxHashSet<i64>,
    texts: FxHashSet<Box<[u8]>>,
}

impl ConstSet {
    /// The set of a constant list whose elements have type `elem` (an int literal in a list of
    /// floats stands for its float).
    pub fn new(items: Vec<Literal>, elem: &Type) -> ConstSet {
        let mut set = ConstSet { words: FxHashSet::default(), texts: FxHashSet::default(), items: Vec::new() };
        for item in &items {
            match (item, elem) {
                (Literal::Int(i), Type::Float) => set.words.insert(float_word(*i as f64)),
                (Literal::Int(i) | Literal::Duration(i), _) => set.words.insert(*i),
                (Literal::Float(f), _) => set.words.insert(float_word(*f)),
                (Literal::Bool(b), _) => set.words.insert(i64::from(*b)),
                (Literal::Enum(_, n), _) => set.words.insert(i64::from(*n)),
                (Literal::String(s), _) => set.texts.insert(s.as_bytes().into()),
                // The checker admits no null and no nested list as an element of `in`'s list.
                (Literal::Null | Literal::List(_), _) => false,
            };
        }
        set.items = items;
        set
    }

    /// The elements as written, in order.
    pub fn items(&self) -> &[Literal] {
        &self.items
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Whether a value is in the set; null is in none.
    pub fn contains(&self, v: &Value) -> bool {
        match v {
            Value::Int(x) | Value::Duration(x) => self.words.contains(x),
            Value::Enum(x) => self.words.contains(&i64::from(*x)),
            Value::Bool(x) => self.words.contains(&i64::from(*x)),
            Value::Float(x) => self.contains_float(*x),
            Value::Str(s) => self.texts.contains(s.as_bytes()),
            Value::Bytes(b) => self.texts.contains(&**b),
            Value::Null | Value::List(_) | Value::Map(_) | Value::Message(_) => false,
        }
    }

    /// Whether a scalar given as one word (see [`ConstSet`]) is in the set.
    pub fn contains_word(&self, w: i64) -> bool {
        self.words.contains(&w)
    }

    pub fn contains_float(&self, f: f64) -> bool {
        // NaN equals nothing, and no literal is NaN.
        !f.is_nan() && self.words.contains(&float_word(f))
    }

    pub fn contains_text(&self, bytes: &[u8]) -> bool {
        self.texts.contains(bytes)
    }
}

/// A float as a word of the set: its bits, with `-0.0` as `0.0` (they compare equal).
fn float_word(f: f64) -> i64 {
    if f == 0.0 { 0 } else { f.to_bits() as i64 }
}

impl PartialEq for ConstSet {
    fn eq(&self, other: &ConstSet) -> bool {
        self.items == other.items
    }
}

impl fmt::Debug for ConstSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ConstSet").field(&self.items).finish()
    }
}
