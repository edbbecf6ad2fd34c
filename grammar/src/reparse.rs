//! Parsing a file again after an edit. The edit is what lies between the longest common prefix
//! and suffix of the old and new text; an item of the previous parse wholly outside it, without
//! errors, whose text is again one piece of the new file, is taken as it was (moved by the
//! edit's [`Shift`] when it lies after it) instead of being parsed again. The result is what
//! [`parse`](crate::parse) gives on the new text, item for item; only the work differs.

use crate::ast::{FileId, Item, ItemKind, Span, Spans};
use crate::parse::{Parsed, parse_with};

/// How the positions of one file moved from its old text to its new one: from `from` (an old
/// offset, where the unchanged tail starts) on, everything moved by `delta` bytes. Positions
/// before `from` did not move; old positions in the edited text itself have no new place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shift {
    pub file: FileId,
    /// Where the edit started (the length of the common prefix).
    pub edit: u32,
    pub from: u32,
    pub delta: i64,
}

impl Shift {
    /// The shift that turns `old` into `new`: one edit, the smallest that covers every change.
    pub fn between(file: FileId, old: &str, new: &str) -> Shift {
        let (old, new) = (old.as_bytes(), new.as_bytes());
        let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
        let most = old.len().min(new.len()) - prefix;
        let suffix = old.iter().rev().zip(new.iter().rev()).take(most).take_while(|(a, b)| a == b).count();
        Shift {
            file,
            edit: prefix as u32,
            from: (old.len() - suffix) as u32,
            delta: new.len() as i64 - old.len() as i64,
        }
    }

    /// Whether nothing moves.
    pub fn is_identity(&self) -> bool {
        self.delta == 0
    }

    /// Where an old span is in the new text (spans of other files, and before the edit, stay).
    pub fn span(&self, s: Span) -> Span {
        if s.file != self.file || s.start < self.from {
            return s;
        }
        let moved = |at: u32| (at as i64 + self.delta) as u32;
        Span { file: s.file, start: moved(s.start), end: moved(s.end) }
    }

    /// Whether an old span lies wholly outside the edit.
    pub fn untouched(&self, s: Span) -> bool {
        s.end <= self.edit || s.start >= self.from
    }
}

/// A parse of a file's new text, and what it took from the old one.
pub struct Reparsed {
    pub parsed: Parsed,
    /// Per item of the new parse: the index of the old item it is (moved by `shift`).
    pub reused: Vec<Option<usize>>,
    pub shift: Shift,
}

/// Parses `src`, the new text of a file whose `old_src` parsed as `old`.
pub fn reparse(file: FileId, old_src: &str, old: Parsed, src: &str) -> Reparsed {
    let shift = Shift::between(file, old_src, src);
    let Parsed { module, errors } = old;
    let mut dirty = vec![false; module.items.len()];
    // Items and errors are both in order of position.
    for e in &errors {
        let mut i = module.items.partition_point(|it| it.span.end < e.span.start);
        while i < module.items.len() && module.items[i].span.start <= e.span.end {
            dirty[i] = true;
            i += 1;
        }
    }
    // Old items that may be taken again, by where they now are.
    let mut at: rustc_hash::FxHashMap<(u32, u32), usize> = rustc_hash::FxHashMap::default();
    let mut old_items: Vec<Option<Item>> = Vec::with_capacity(module.items.len());
    for (i, item) in module.items.into_iter().enumerate() {
        let usable = !dirty[i] && !matches!(item.kind, ItemKind::Error) && shift.untouched(item.span);
        if usable {
            let now = shift.span(item.span);
            at.insert((now.start, now.end), i);
        }
        old_items.push(usable.then_some(item));
    }
    let mut reused = Vec::new();
    let parsed = parse_with(file, src, |lo, hi| {
        let taken = at.get(&(lo, hi)).and_then(|&i| Some((i, old_items[i].take()?)));
        reused.push(taken.as_ref().map(|(i, _)| *i));
        let (_, mut item) = taken?;
        if !shift.is_identity() && item.span.start >= shift.from {
            item.spans_mut(&mut |s| *s = shift.span(*s));
        }
        Some(item)
    });
    Reparsed { parsed, reused, shift }
}
