//! The rule index: rules whose condition starts with an equality or set membership on a field
//! of the event (`event == "x" && ...`, `event in ["a", "b"]`, `app_id == 1128`) are found by a
//! lookup on that field's value, so an event's cost grows with the rules that can match it, not
//! with the size of the bundle.
//!
//! Only the *first* conjunct of a condition is used: everything evaluated before it would
//! otherwise be skipped too, and that could hide a velocity update or a runtime error. A rule the
//! index skips is exactly a rule whose first conjunct is false, so skipping it changes nothing.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use evr_compiler::ir::{CmpOp, Expr, ExprKind, FieldPath, Literal, Program, SourceId};
use evr_compiler::types::Type;
use evr_compiler::value::Value;
use rustc_hash::FxHashMap;

/// The value of an event's indexed field, borrowed from wherever the event is.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Probe<'a> {
    Str(&'a str),
    Int(i64),
    Enum(i32),
    Bool(bool),
    /// No indexed field, or a value no rule is indexed by.
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Str(Box<str>),
    Int(i64),
    Enum(i32),
    Bool(bool),
}

impl Key {
    fn of_literal(l: &Literal) -> Option<Key> {
        Some(match l {
            Literal::String(s) => Key::Str(s.as_str().into()),
            Literal::Int(i) => Key::Int(*i),
            Literal::Enum(_, n) => Key::Enum(*n),
            Literal::Bool(b) => Key::Bool(*b),
            _ => return None,
        })
    }
}

/// Rule lists by key, shared between versions: a reload that changes a few rules copies the
/// lists of the keys they leave or join, not the map. Lists of keys changed since the shared
/// map was made are held apart (an empty list: no rule has the key any more) until they are
/// many, when the two are made one map again.
#[derive(Clone, Debug)]
struct Layered<K> {
    base: Arc<FxHashMap<K, Vec<u32>>>,
    changed: FxHashMap<K, Vec<u32>>,
}

impl<K> Default for Layered<K> {
    fn default() -> Layered<K> {
        Layered { base: Arc::default(), changed: FxHashMap::default() }
    }
}

impl<K: Clone + Eq + Hash> Layered<K> {
    fn get<Q: Hash + Eq + ?Sized>(&self, key: &Q) -> Option<&Vec<u32>>
    where
        K: Borrow<Q>,
    {
        if !self.changed.is_empty()
            && let Some(list) = self.changed.get(key)
        {
            return Some(list);
        }
        self.base.get(key)
    }

    /// The list of `key`, to change (an empty one when no rule has it).
    fn list_mut(&mut self, key: K) -> &mut Vec<u32> {
        let base = &self.base;
        self.changed.entry(key).or_insert_with_key(|k| base.get(k).cloned().unwrap_or_default())
    }

    /// Built afresh: every list in the shared map.
    fn insert(&mut self, key: K, rule: u32) {
        let list = Arc::make_mut(&mut self.base).entry(key).or_default();
        if list.last() != Some(&rule) {
            list.push(rule);
        }
    }

    /// Folds the lists held apart into a new shared map once they are many (a reload then
    /// costs the map's size, once every so many changed keys).
    fn settle(&mut self) {
        if self.changed.len() * 8 <= self.base.len() + 64 {
            return;
        }
        let mut all = (*self.base).clone();
        for (k, list) in self.changed.drain() {
            if list.is_empty() {
                all.remove(&k);
            } else {
                all.insert(k, list);
            }
        }
        self.base = Arc::new(all);
    }

    fn lists(&self) -> impl Iterator<Item = &Vec<u32>> {
        let changed = &self.changed;
        self.base.iter().filter(move |(k, _)| !changed.contains_key(*k)).map(|(_, l)| l).chain(changed.values())
    }
}

/// The index of one source's rules.
#[derive(Clone, Debug, Default)]
struct SourceIndex {
    /// The field the index looks at, as a path from the event root; `None` when no rule of the
    /// source can be indexed.
    path: Option<FieldPath>,
    /// The type of the field at `path`: an unset field reads as this type's default.
    leaf: Option<Type>,
    /// String values apart, so that a lookup borrows the event's text. Looked up once per
    /// event, with keys the bundle's author wrote: a fast hash, no need for a keyed one.
    by_str: Layered<Box<str>>,
    by_value: Layered<Key>,
    /// Rules that must be tried on every event, in declaration order.
    always: Vec<u32>,
    /// How many rules pin each field: the indexed one is the most pinned.
    pinned: HashMap<FieldPath, usize>,
}

#[derive(Clone, Debug, Default)]
pub struct RuleIndex {
    sources: Vec<SourceIndex>,
}

/// A field pinned to literal values: its path from the event root, its type, the values.
type Pin = (FieldPath, Type, Vec<Key>);

/// The pin of a condition's first conjunct, if it has one.
fn discriminant(cond: &Expr) -> Option<Pin> {
    let mut first = cond;
    while let ExprKind::And(a, _) = &first.kind {
        first = a;
    }
    match &first.kind {
        ExprKind::Compare { op: CmpOp::Eq, lhs, rhs } => {
            let (field, lit) = match (&lhs.kind, &rhs.kind) {
                (_, ExprKind::Lit(l)) => (lhs, l),
                (ExprKind::Lit(l), _) => (rhs, l),
                _ => return None,
            };
            Some((event_path(field)?, field.ty.clone(), vec![Key::of_literal(lit)?]))
        }
        ExprKind::InSet { needle, set, negated: false } => {
            let keys: Option<Vec<Key>> = set.items().iter().map(Key::of_literal).collect();
            Some((event_path(needle)?, needle.ty.clone(), keys?))
        }
        _ => None,
    }
}

/// The field that discriminates the most rules (ties: the smallest path, so the choice does
/// not depend on the order rules are counted in).
fn most_pinned<'a>(counts: impl Iterator<Item = (&'a FieldPath, usize)>) -> Option<FieldPath> {
    counts.filter(|(_, n)| *n > 0).max_by_key(|(p, n)| (*n, std::cmp::Reverse(*p))).map(|(p, _)| p.clone())
}

impl SourceIndex {
    /// Takes rule `i`, pinned as `pin`, off the index.
    fn leave(&mut self, i: u32, pin: Option<Pin>) {
        if let Some((path, _, _)) = &pin
            && let Some(n) = self.pinned.get_mut(path)
        {
            *n -= 1;
        }
        let remove = |list: &mut Vec<u32>| {
            if let Ok(at) = list.binary_search(&i) {
                list.remove(at);
            }
        };
        match pin {
            Some((path, _, keys)) if self.path.as_ref() == Some(&path) => {
                for k in keys {
                    match k {
                        Key::Str(s) => remove(self.by_str.list_mut(s)),
                        k => remove(self.by_value.list_mut(k)),
                    }
                }
            }
            _ => remove(&mut self.always),
        }
    }

    /// Puts rule `i`, pinned as `pin`, on the index, in declaration order.
    fn join(&mut self, i: u32, pin: Option<Pin>) {
        if let Some((path, _, _)) = &pin {
            *self.pinned.entry(path.clone()).or_default() += 1;
        }
        let insert = |list: &mut Vec<u32>| {
            if let Err(at) = list.binary_search(&i) {
                list.insert(at, i);
            }
        };
        match pin {
            Some((path, ty, keys)) if self.path.as_ref() == Some(&path) => {
                self.leaf = Some(ty);
                for k in keys {
                    let list = match k {
                        Key::Str(s) => self.by_str.list_mut(s),
                        k => self.by_value.list_mut(k),
                    };
                    insert(list);
                }
            }
            _ => insert(&mut self.always),
        }
    }
}

/// A chain of field reads from the event root whose value is never null.
fn event_path(e: &Expr) -> Option<FieldPath> {
    if e.ty.is_optional() { None } else { evr_compiler::ir::event_path(e) }
}

impl RuleIndex {
    pub fn new(program: &Program) -> RuleIndex {
        let mut sources: Vec<SourceIndex> = (0..program.sources.len()).map(|_| SourceIndex::default()).collect();
        for (s, index) in sources.iter_mut().enumerate() {
            let rules: Vec<(u32, Option<Pin>)> = program
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.source == SourceId(s as u32))
                .map(|(i, r)| (i as u32, r.cond.as_ref().and_then(discriminant)))
                .collect();
            // Index the field that discriminates the most rules.
            let mut counts: HashMap<&FieldPath, usize> = HashMap::new();
            for (_, d) in &rules {
                if let Some((p, _, _)) = d {
                    *counts.entry(p).or_default() += 1;
                }
            }
            let best = most_pinned(counts.iter().map(|(p, n)| (*p, *n)));
            index.pinned = counts.into_iter().map(|(p, n)| (p.clone(), n)).collect();
            for (i, d) in rules {
                match (&best, d) {
                    (Some(best), Some((path, ty, keys))) if *best == path => {
                        index.leaf = Some(ty);
                        for k in keys {
                            match k {
                                Key::Str(s) => index.by_str.insert(s, i),
                                k => index.by_value.insert(k, i),
                            }
                        }
                    }
                    _ => index.always.push(i),
                }
            }
            index.path = best;
        }
        RuleIndex { sources }
    }

    /// The index of `new`, made from this index of `old` when the two have the same rules at
    /// the same places but for those in `changed` (by rule number): each of those leaves the
    /// lists it was on and joins those of its new condition. `None` when that cannot give what
    /// [`new`](Self::new) gives — rules added or removed, a source changed, or another field
    /// becoming the most pinned.
    pub fn updated(&self, old: &Program, new: &Program, changed: &[u32]) -> Option<RuleIndex> {
        if old.rules.len() != new.rules.len() || old.sources.len() != new.sources.len() {
            return None;
        }
        let mut index = self.clone();
        for &i in changed {
            let (before, after) = (old.rules.get(i as usize)?, new.rules.get(i as usize)?);
            if before.source != after.source {
                return None;
            }
            let source = &mut index.sources[before.source.0 as usize];
            let (was, is) = (before.cond.as_ref().and_then(discriminant), after.cond.as_ref().and_then(discriminant));
            source.leave(i, was);
            source.join(i, is);
            let best = most_pinned(source.pinned.iter().map(|(p, n)| (p, *n)));
            if best != source.path {
                return None;
            }
        }
        for source in &mut index.sources {
            source.by_str.settle();
            source.by_value.settle();
        }
        Some(index)
    }

    /// The field the index of `source` looks up, and its type, if it has one.
    pub fn field(&self, source: SourceId) -> Option<(&FieldPath, &Type)> {
        let index = self.sources.get(source.0 as usize)?;
        index.path.as_ref().zip(index.leaf.as_ref())
    }

    /// The value of the indexed field of a decoded event.
    pub fn probe<'v>(&self, source: SourceId, event: &'v Value) -> Probe<'v> {
        let Some((path, leaf)) = self.field(source) else { return Probe::Other };
        match event.field_at(path) {
            // An unset field reads as its default.
            Value::Null => match leaf {
                Type::String => Probe::Str(""),
                Type::Int => Probe::Int(0),
                Type::Enum(_) => Probe::Enum(0),
                Type::Bool => Probe::Bool(false),
                _ => Probe::Other,
            },
            Value::Str(s) => Probe::Str(s),
            Value::Int(i) => Probe::Int(*i),
            Value::Enum(n) => Probe::Enum(*n),
            Value::Bool(b) => Probe::Bool(*b),
            _ => Probe::Other,
        }
    }

    /// Fills `out` with the rules of `source` that can match an event whose indexed field
    /// holds `probe`, in declaration order.
    pub fn candidates(&self, source: SourceId, probe: Probe, out: &mut Vec<u32>) {
        out.clear();
        let Some(index) = self.sources.get(source.0 as usize) else { return };
        // Looked up by reference: no key is built per event.
        let found = match probe {
            Probe::Str(s) => index.by_str.get(s),
            Probe::Int(i) => index.by_value.get(&Key::Int(i)),
            Probe::Enum(n) => index.by_value.get(&Key::Enum(n)),
            Probe::Bool(b) => index.by_value.get(&Key::Bool(b)),
            Probe::Other => None,
        };
        let hits: &[u32] = found.map_or(&[], Vec::as_slice);
        if hits.is_empty() || index.always.is_empty() {
            out.extend_from_slice(if hits.is_empty() { &index.always } else { hits });
            return;
        }
        // Merge two sorted lists.
        let (mut a, mut b) = (hits.iter().peekable(), index.always.iter().peekable());
        loop {
            match (a.peek(), b.peek()) {
                (Some(&&x), Some(&&y)) => {
                    if x < y {
                        out.push(x);
                        a.next();
                    } else {
                        out.push(y);
                        b.next();
                    }
                }
                (Some(&&x), None) => {
                    out.push(x);
                    a.next();
                }
                (None, Some(&&y)) => {
                    out.push(y);
                    b.next();
                }
                (None, None) => break,
            }
        }
    }

    /// How many rules of `source` the index places by value (for tests and reports).
    pub fn indexed(&self, source: SourceId) -> usize {
        let Some(index) = self.sources.get(source.0 as usize) else { return 0 };
        let mut all: Vec<u32> = index.by_value.lists().chain(index.by_str.lists()).flatten().copied().collect();
        all.sort_unstable();
        all.dedup();
        all.len()
    }
}
