//! Parsing a file again after an edit. The edit is what lies between the longest common prefix
//! and suffix of the old and new text; an item of the previous parse wholly outside it, without
//! errors, whose text is again one piece of the new file, is taken as it was (moved by the
//! edit's [`Shift`] when it lies after it) instead of being parsed again. The result is what
//! [`parse`](crate::parse) gives on the new text, item for item; only the work differs.

use crate::ast::{FileId, Item, ItemKind, Span, Spans};
use crate::lexer::{self, Lexed};
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
        let prefix = common_prefix(old, new);
        let most = old.len().min(new.len()) - prefix;
        let suffix = common_suffix(&old[prefix..], &new[prefix..]).min(most);
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

/// How many bytes `a` and `b` start with alike. Whole chunks are compared first (a slice
/// comparison is a `memcmp`), so a file of megabytes is compared in microseconds.
fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 256;
    let n = a.len().min(b.len());
    let mut at = 0;
    while at + CHUNK <= n && a[at..at + CHUNK] == b[at..at + CHUNK] {
        at += CHUNK;
    }
    at + a[at..n].iter().zip(&b[at..n]).take_while(|(x, y)| x == y).count()
}

/// How many bytes `a` and `b` end with alike.
fn common_suffix(a: &[u8], b: &[u8]) -> usize {
    const CHUNK: usize = 256;
    let n = a.len().min(b.len());
    let (a, b) = (&a[a.len() - n..], &b[b.len() - n..]);
    let mut same = 0;
    while same + CHUNK <= n && a[n - same - CHUNK..n - same] == b[n - same - CHUNK..n - same] {
        same += CHUNK;
    }
    same + a[..n - same].iter().rev().zip(b[..n - same].iter().rev()).take_while(|(x, y)| x == y).count()
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
    let Parsed { module, errors, lexed } = old;
    let lexed = relex(file, src, lexed, &module.items, &shift);
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
    let parsed = parse_with(file, src, lexed, |lo, hi| {
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

/// The tokens of the new text, lexing only around the edit: from the start of the item before
/// the first one it touches (the tokens before are the old ones) until the new tokens meet an
/// old item's start in the unchanged tail (the tokens from there are the old ones, moved).
/// Lexing from a token start depends on nothing before it, so both joins are exact.
fn relex(file: FileId, src: &str, old: Lexed, items: &[Item], shift: &Shift) -> Lexed {
    if old.tokens.is_empty() || items.is_empty() {
        return lexer::lex(file, src);
    }
    let touched = items.partition_point(|it| it.span.end < shift.edit);
    let from = match touched.checked_sub(1) {
        Some(before) => items[before].span.start,
        None => 0,
    };
    // Old item starts in the unchanged tail, where the new tokens may join the old ones.
    let tail_starts: Vec<u32> = items.iter().map(|it| it.span.start).filter(|&s| s >= shift.from).collect();
    let (fresh, joined) = lexer::lex_from(file, src, from, |at| {
        let old_at = i64::from(at) - shift.delta;
        old_at >= i64::from(shift.from) && tail_starts.binary_search(&(old_at as u32)).is_ok()
    });
    let Lexed { mut tokens, mut comments, mut errors } = old;
    // Old positions: the relexed stretch is [from, to); what follows it moves by the shift.
    let to = joined.map_or(u32::MAX, |at| (i64::from(at) - shift.delta) as u32);
    let moved = |at: u32| (i64::from(at) + shift.delta) as u32;
    // In place: the tail is moved where it is, and the stretch replaced by the new tokens.
    let (lo, hi) = (tokens.partition_point(|t| t.0 < from), tokens.partition_point(|t| t.0 < to));
    tokens[hi..].iter_mut().for_each(|t| (t.0, t.2) = (moved(t.0), moved(t.2)));
    tokens.splice(lo..hi, fresh.tokens);
    let (lo, hi) = (comments.partition_point(|c| c.span.start < from), comments.partition_point(|c| c.span.start < to));
    comments[hi..].iter_mut().for_each(|c| c.span = shift.span(c.span));
    comments.splice(lo..hi, fresh.comments);
    // Lexing errors are few: kept before the stretch, moved after it, found again inside.
    errors.retain(|e| e.span.start < from || e.span.start >= to);
    errors.iter_mut().filter(|e| e.span.start >= to).for_each(|e| e.span = shift.span(e.span));
    let at = errors.partition_point(|e| e.span.start < from);
    errors.splice(at..at, fresh.errors);
    Lexed { tokens, comments, errors }
}
