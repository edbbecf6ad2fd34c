//! EVR's compiler: schemas, name resolution, type checking, diagnostics and the typed IR.
//!
//! Architecture Invariant: analysis never fails as a whole and never panics on bad input. It
//! returns the program it could build together with every diagnostic; a program is only run
//! when the diagnostics hold no error.
//! API Boundary: [`analyze`] takes source files (from disk or from an editor's buffers) and
//! returns an [`Analysis`]. Nothing here knows Kafka, event files or LSP protocol types.

pub mod bundle;
pub mod check;
pub mod const_set;
pub mod diag;
pub mod evrb;
pub mod files;
pub mod frame;
pub mod ide;
pub mod interp;
pub mod ir;
#[cfg(feature = "jit")]
pub mod jit;
pub mod json_text;
pub mod meaning;
pub mod schema;
pub mod symbols;
pub mod types;
pub mod value;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use evr_grammar::ast::Module;
use evr_grammar::{SyntaxError, SyntaxErrorKind};

use crate::diag::{Code, Diagnostic};
use crate::files::Files;
use crate::schema::{ProtoUse, Schema};

pub use evr_grammar::ast::{FileId, Span};

/// Everything known about a bundle after checking it.
pub struct Analysis {
    pub files: Files,
    pub modules: Vec<Module>,
    pub schema: Schema,
    pub program: ir::Program,
    /// Sorted by file and position.
    pub diagnostics: Vec<Diagnostic>,
    /// The names the checker resolved, in groups (one per checked item, shared with the
    /// analysis before when the item did not change).
    pub refs: Vec<symbols::Names>,
}

impl Analysis {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Parses and checks the given files as one bundle. Files are evaluated in the order given
/// (callers sort them by path).
pub fn analyze(files: Files) -> Analysis {
    analyze_with(files, None)
}

/// [`analyze`], with the schemas the files use already compiled (a built bundle holds them):
/// `use` items then read nothing from disk.
pub fn analyze_with(files: Files, pool: Option<prost_reflect::DescriptorPool>) -> Analysis {
    analyze_reusing(files, pool, &mut Parses::default())
}

/// What one analysis keeps for the next: a file whose text has not changed is not parsed
/// again, and its units are not checked again while the bundle's declarations and schemas are
/// the same — the next analysis holds the very same units (`Arc`s). In a file that changed,
/// the items the edit did not touch are neither parsed nor checked again: they are moved to
/// their new place. So analysing a bundle after one rule changed costs that rule (and reading
/// its file), not the bundle. Give an analysis's modules back with [`keep`](Self::keep) once
/// done with them.
#[derive(Default)]
pub struct Parses {
    by_path: HashMap<PathBuf, Kept>,
    /// What the current analysis took from the last one, per file.
    reuse: HashMap<FileId, check::Reuse>,
    /// The checked units of the last analysis, for those files.
    units: check::Units,
    /// The schemas of the last analysis, and the editor buffers of `.proto` files.
    schemas: schema::SchemaCache,
}

struct Kept {
    id: FileId,
    text: std::sync::Arc<str>,
    module: Option<Module>,
    errors: Vec<SyntaxError>,
    lexed: evr_grammar::lexer::Lexed,
}

impl Parses {
    /// Reads `path` (a `.proto` file) as `text` rather than from disk, as long as it is open in
    /// an editor; `None` when it is closed.
    pub fn set_open_schema(&mut self, path: PathBuf, text: Option<String>) {
        // Schemas are read by their canonical paths.
        let path = path.canonicalize().unwrap_or(path);
        match text {
            Some(t) => self.schemas.open.insert(path, t),
            None => self.schemas.open.remove(&path),
        };
    }

    /// The text of the file at `path` as the last analysis that read it had it: a reload takes
    /// it instead of reading a file no event said changed.
    pub fn text(&self, path: &Path) -> Option<std::sync::Arc<str>> {
        self.by_path.get(path).map(|k| k.text.clone())
    }

    /// Takes back the modules of an analysis of `files` (as [`analyze_reusing`] returned them).
    pub fn keep(&mut self, files: &Files, modules: Vec<Module>) {
        for m in modules {
            let path = &files.get(m.file).path;
            if let Some(k) = self.by_path.get_mut(path) {
                k.module = Some(m);
            }
        }
    }

    fn parse(&mut self, id: FileId, file: &files::SourceFile) -> (Module, Vec<SyntaxError>) {
        let before = self.by_path.get_mut(&file.path).filter(|k| k.id == id).and_then(|k| {
            let module = k.module.take()?;
            Some((k.text.clone(), module, std::mem::take(&mut k.errors), std::mem::take(&mut k.lexed)))
        });
        let (mut parsed, text) = match before {
            // A text taken from the last analysis is the same `Arc`, which compares at once.
            Some((text, module, errors, lexed)) if text == file.text => {
                self.reuse.insert(id, check::Reuse::Whole);
                (evr_grammar::Parsed { module, errors, lexed }, text)
            }
            Some((text, module, errors, lexed)) => {
                let old = evr_grammar::Parsed { module, errors, lexed };
                let again = evr_grammar::reparse(id, &text, old, &file.text);
                self.reuse.insert(id, check::Reuse::Items { old: again.reused, shift: again.shift });
                (again.parsed, file.text.clone())
            }
            None => (evr_grammar::parse(id, &file.text), file.text.clone()),
        };
        let lexed = std::mem::take(&mut parsed.lexed);
        let kept = Kept { id, text, module: None, errors: parsed.errors.clone(), lexed };
        match self.by_path.get_mut(&file.path) {
            Some(k) => *k = kept,
            None => {
                self.by_path.insert(file.path.clone(), kept);
            }
        }
        (parsed.module, parsed.errors)
    }
}

/// [`analyze_with`], parsing only the files whose text changed since the analysis whose
/// modules `parses` kept.
pub fn analyze_reusing(mut files: Files, pool: Option<prost_reflect::DescriptorPool>, parses: &mut Parses) -> Analysis {
    let mut diagnostics = Vec::new();
    let mut modules = Vec::with_capacity(files.len());
    parses.reuse.clear();
    for (id, file) in files.iter() {
        let (module, errors) = parses.parse(id, file);
        diagnostics.extend(errors.iter().map(syntax_diagnostic));
        modules.push(module);
    }
    let decls = parses.units.declarations(&modules, &parses.reuse);
    let schema = match pool {
        Some(pool) => Schema::from_pool(pool),
        None => {
            let uses = proto_uses(&files, &modules, &decls);
            let (schema, schema_diags) = schema::load_cached(&uses, &mut files, &mut parses.schemas);
            diagnostics.extend(schema_diags);
            schema
        }
    };
    let (program, check_diags, refs) =
        check::check_reusing(&modules, &decls, &schema, &mut parses.units, &parses.reuse);
    diagnostics.extend(check_diags);
    diagnostics.sort_by_key(|d| (d.primary.span.file, d.primary.span.start, d.primary.span.end));
    Analysis { files, modules, schema, program, diagnostics, refs }
}

fn proto_uses(files: &Files, modules: &[Module], decls: &[std::sync::Arc<[u32]>]) -> Vec<ProtoUse> {
    let mut uses = Vec::new();
    for (m, decls) in modules.iter().zip(decls) {
        let file = files.get(m.file);
        let dir = file.path.parent().map(|p| p.to_path_buf()).unwrap_or_default();
        // Diagnostics name the schema the way the user named the rule file, not by absolute path.
        let shown_dir = Path::new(&file.name).parent().map(|p| p.to_path_buf()).unwrap_or_default();
        for item in decls.iter().map(|&at| &m.items[at as usize]) {
            if let evr_grammar::ast::ItemKind::UseFile { path, path_span } = &item.kind {
                uses.push(ProtoUse {
                    path: dir.join(path),
                    shown: shown_dir.join(path).display().to_string(),
                    written: path.clone(),
                    span: *path_span,
                });
            }
        }
    }
    uses
}

fn syntax_diagnostic(e: &SyntaxError) -> Diagnostic {
    use evr_grammar::lexer::LexErrorKind as L;
    let expected = |list: &[String]| match list {
        [] => None,
        [one] => Some(format!("expected {one}")),
        many => {
            let shown: Vec<&str> = many.iter().take(8).map(String::as_str).collect();
            let more = if many.len() > 8 { ", ..." } else { "" };
            Some(format!("expected one of {}{more}", shown.join(", ")))
        }
    };
    match &e.kind {
        SyntaxErrorKind::Unexpected { found, expected: list, reserved } => {
            let msg = match expected(list) {
                Some(exp) => format!("unexpected {found}: {exp}"),
                None => format!("unexpected {found}"),
            };
            let wants_name = list.iter().any(|x| x == "an expression" || x == "a name");
            let hint = reserved.as_ref().filter(|_| wants_name).map(|w| {
                format!("`{w}` is a reserved word: choose another name (a field with this name is read as `self.{w}`)")
            });
            Diagnostic::new(Code::E0001, e.span, msg).label("unexpected here").maybe_hint(hint)
        }
        SyntaxErrorKind::UnexpectedEnd { expected: list } => {
            let msg = match expected(list) {
                Some(exp) => format!("this item ends too early: {exp}"),
                None => "this item ends too early".to_owned(),
            };
            let hint = list.iter().any(|x| x == "`;`").then(|| "items and statements end with `;`".to_owned());
            Diagnostic::new(Code::E0001, e.span, msg).label("the item stops here").maybe_hint(hint)
        }
        SyntaxErrorKind::AfterItem { found } => {
            Diagnostic::new(Code::E0001, e.span, format!("unexpected {found} after the end of an item"))
                .label("not part of any item")
                .hint("remove it, or start an item here; note that block comments `/* */` do not nest")
        }
        SyntaxErrorKind::TooDeep => Diagnostic::new(Code::E0001, e.span, "this is nested too deeply")
            .label(format!("more than {} levels deep", evr_grammar::ast::MAX_DEPTH))
            .hint("split the expression with `let`, or move parts into a fn"),
        SyntaxErrorKind::TypeTooDeep => Diagnostic::new(Code::E0001, e.span, "this type is nested too deeply")
            .label(format!("more than {} levels deep", evr_grammar::ast::MAX_DEPTH))
            .hint("no event schema nests this deep; name the message the values are instead"),
        SyntaxErrorKind::Lex(kind) => match kind {
            L::UnterminatedString => {
                Diagnostic::new(Code::E0003, e.span, "unterminated string: no closing quote on this line")
                    .label("this string never ends")
                    .hint("add the closing `\"`; strings cannot span lines (write \\n for a line break)")
            }
            L::InvalidCharacter(c) => Diagnostic::new(Code::E0002, e.span, format!("unexpected character {c:?}"))
                .label("not part of any token"),
            L::UnterminatedComment => Diagnostic::new(Code::E0002, e.span, "unterminated block comment")
                .label("this comment never ends")
                .hint("close it with `*/`"),
            L::BadEscape(esc) => Diagnostic::new(Code::E0002, e.span, format!("unknown escape `{esc}` in a string"))
                .label("unknown escape")
                .hint("escapes are \\n \\t \\r \\0 \\\\ \\\" and \\u{1F600}"),
            L::BadNumber(text) => Diagnostic::new(Code::E0002, e.span, format!("invalid number `{text}`"))
                .label("not a number or a duration")
                .hint("durations are written 250ms, 30s, 5m, 2h, 7d"),
            L::NumberTooLarge(text) => {
                Diagnostic::new(Code::E0024, e.span, format!("`{text}` does not fit in 64 bits"))
                    .label("too large")
                    .hint("ints are 64-bit signed: at most 9223372036854775807")
            }
        },
    }
}
