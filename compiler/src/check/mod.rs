//! The type checker: from parsed modules and schemas to the typed IR, with every diagnostic.
//! It never stops at the first error; whatever it cannot type becomes `Type::Error`, which is
//! accepted everywhere so that one mistake is reported once.

mod call;
mod cx;
mod env;
mod expr;
mod unit;

use std::collections::HashMap;
use std::sync::Arc;

use evr_grammar::ast::{self, ItemKind, Module, Span};

use crate::diag::{Code, Diagnostic, did_you_mean};
use crate::ir::{self, Program};
use crate::schema::Schema;
use crate::symbols::Ref;
use crate::types::Type;
use cx::Cx;
pub use env::Env;
use env::{ConstInfo, FnBody, FnInfo, ScoreInfo};

/// Checks a bundle's modules (in evaluation order: files sorted by path) against its schemas.
pub fn check(modules: &[Module], schema: &Schema) -> (Program, Vec<Diagnostic>) {
    let (mut units, reuse) = (Units::default(), HashMap::new());
    let decls = units.declarations(modules, &reuse);
    let (program, diags, _) = check_reusing(modules, &decls, schema, &mut units, &reuse);
    (program, diags)
}

/// The checked units of one analysis, kept for the next: a unit whose item has not changed is
/// what it was (moved, when an edit before it in its file moved it), as long as nothing it may
/// refer to changed either (the declarations of the bundle — streams, consts, fns, type
/// aliases, scores — and the schemas).
#[derive(Default)]
pub struct Units {
    /// What the units were checked against.
    context: u64,
    /// Per file, what its drops, scores and rules gave.
    by_file: HashMap<ast::FileId, CheckedFile>,
    /// Per file, where its declarations are (see [`Units::declarations`]).
    decls: HashMap<ast::FileId, Arc<[u32]>>,
    names: Names,
}

impl Units {
    /// Per module, the places of its declarations — every item but drops, rules and tests:
    /// what any unit may refer to, and all that the bundle-wide passes read. A file whose text
    /// did not change has the declarations it had, so those passes cost the declarations, not
    /// the bundle.
    pub fn declarations(&mut self, modules: &[Module], reuse: &HashMap<ast::FileId, Reuse>) -> Vec<Arc<[u32]>> {
        let mut before = std::mem::take(&mut self.decls);
        let all: Vec<Arc<[u32]>> = modules
            .iter()
            .map(|m| match (reuse.get(&m.file), before.remove(&m.file)) {
                (Some(Reuse::Whole), Some(decls)) => decls,
                _ => m
                    .items
                    .iter()
                    .enumerate()
                    .filter(|(_, item)| {
                        !matches!(item.kind, ItemKind::Drop { .. } | ItemKind::Rule { .. } | ItemKind::Test { .. })
                    })
                    .map(|(at, _)| at as u32)
                    .collect(),
            })
            .collect();
        self.decls = modules.iter().zip(&all).map(|(m, d)| (m.file, Arc::clone(d))).collect();
        all
    }
}

/// The declarations `decls` (from [`Units::declarations`]) places in `modules`, in order.
fn declaration_items<'m>(modules: &'m [Module], decls: &[Arc<[u32]>]) -> Vec<&'m ast::Item> {
    modules.iter().zip(decls).flat_map(|(m, d)| d.iter().map(|&at| &m.items[at as usize])).collect()
}

/// The names each file's items declare, and whether they clashed: while no file's names
/// change, a bundle whose names did not clash still has none that clash, and the pass over
/// every name of the bundle is not made again.
#[derive(Default)]
struct Names {
    by_file: HashMap<ast::FileId, Vec<(&'static str, String)>>,
    clash_free: bool,
}

impl Names {
    /// Whether the items of `modules` declare the names of the last analysis, which found no
    /// clash; keeps this analysis's names for the next. Only files that changed are read.
    fn same_as_last(&mut self, modules: &[Module], reuse: &HashMap<ast::FileId, Reuse>) -> bool {
        let mut same = self.clash_free && self.by_file.len() == modules.len();
        let mut by_file = HashMap::with_capacity(modules.len());
        for m in modules {
            let old = self.by_file.remove(&m.file);
            let names = match (reuse.get(&m.file), old) {
                (Some(Reuse::Whole), Some(old)) => old,
                (reused, old) => {
                    let now: Vec<(&'static str, String)> = m
                        .items
                        .iter()
                        .filter_map(|item| Some((item.kind.keyword()?, item.kind.name()?.text.clone())))
                        .collect();
                    same &= reused.is_some() && old.as_ref() == Some(&now);
                    now
                }
            };
            by_file.insert(m.file, names);
        }
        self.by_file = by_file;
        same
    }
}

/// What an analysis takes from the last one for a file.
pub enum Reuse {
    /// The text did not change: every item is the one of the last analysis.
    Whole,
    /// Per item, the index of the last analysis's item it is, moved by `shift`.
    Items { old: Vec<Option<usize>>, shift: evr_grammar::Shift },
}

/// What checking the drops, scores and rules of one file gave.
#[derive(Default)]
struct CheckedFile {
    /// Per item (`None` for other items).
    items: Vec<Option<CheckedItem>>,
    /// Its units as the program holds them, and the names they resolved, one slice per unit:
    /// an unchanged file hands the next analysis these blocks, not each unit.
    units: Blocks,
    refs: crate::symbols::Names,
    /// Its units' diagnostics, and where its other items are (checked again every time).
    diags: Vec<Diagnostic>,
    others: Vec<u32>,
}

/// A file's drops, scores and rules, as [`ir::UnitList`] blocks.
#[derive(Default)]
struct Blocks {
    drops: Arc<[ir::Placed<ir::Drop>]>,
    scores: Arc<[ir::Placed<ir::Score>]>,
    rules: Arc<[ir::Placed<ir::Rule>]>,
}

impl Blocks {
    fn add_to(&self, program: &mut Program) {
        program.drops.push_block(Arc::clone(&self.drops));
        program.scores.push_block(Arc::clone(&self.scores));
        program.rules.push_block(Arc::clone(&self.rules));
    }
}

/// A file's units as they are checked or taken, in order.
#[derive(Default)]
struct FileUnits {
    drops: Vec<ir::Placed<ir::Drop>>,
    scores: Vec<ir::Placed<ir::Score>>,
    rules: Vec<ir::Placed<ir::Rule>>,
}

impl FileUnits {
    fn add(&mut self, unit: &Checked) {
        match unit {
            Checked::Drop(d) => self.drops.push(d.clone()),
            Checked::Score(s) => self.scores.push(s.clone()),
            Checked::Rule(r) => self.rules.push(r.clone()),
            Checked::Nothing => {}
        }
    }

    fn into_blocks(self) -> Blocks {
        Blocks { drops: self.drops.into(), scores: self.scores.into(), rules: self.rules.into() }
    }
}

/// What checking one item gave: its unit, its diagnostics and the names it resolved.
struct CheckedItem {
    unit: Checked,
    /// The item's doc comment, which an edit may change around an item it leaves alone (kept
    /// here so that comparing it reads nothing of the unit).
    doc: Option<String>,
    diags: Vec<Diagnostic>,
    /// Where its names are in its file's `refs`.
    refs: u32,
}

#[derive(Clone)]
enum Checked {
    Drop(ir::Placed<ir::Drop>),
    Score(ir::Placed<ir::Score>),
    Rule(ir::Placed<ir::Rule>),
    /// The item gave no unit (its source is unknown).
    Nothing,
}

impl Checked {
    /// The same unit, moved by `shift` (an edit before it): the unit itself is not touched.
    fn moved(self, shift: &evr_grammar::Shift) -> Checked {
        match self {
            Checked::Drop(d) => Checked::Drop(d.moved_by(shift.delta)),
            Checked::Score(s) => Checked::Score(s.moved_by(shift.delta)),
            Checked::Rule(r) => Checked::Rule(r.moved_by(shift.delta)),
            Checked::Nothing => Checked::Nothing,
        }
    }
}

/// A file's names from the last analysis, per unit, which its units that are kept take again:
/// taken out when nothing else holds them (the editor's case, and a reload's), so that moving
/// them moves them in place, else shared.
enum OldNames<'a> {
    Own(&'a mut [Arc<[Ref]>]),
    Shared(&'a [Arc<[Ref]>]),
}

impl<'a> OldNames<'a> {
    fn new(refs: &'a mut crate::symbols::Names) -> OldNames<'a> {
        if Arc::get_mut(refs).is_some() {
            // Checked just above: the group is not shared.
            return OldNames::Own(Arc::get_mut(refs).unwrap_or_default());
        }
        OldNames::Shared(refs)
    }

    /// The names of unit `at` (each is taken once).
    fn take(&mut self, at: u32) -> Arc<[Ref]> {
        match self {
            OldNames::Own(all) => all.get_mut(at as usize).map(std::mem::take).unwrap_or_default(),
            OldNames::Shared(all) => all.get(at as usize).cloned().unwrap_or_default(),
        }
    }
}

/// Names resolved in an item, moved by `shift` (in place when nothing else holds them).
fn move_refs(mut refs: Arc<[Ref]>, shift: &evr_grammar::Shift) -> Arc<[Ref]> {
    match Arc::get_mut(&mut refs) {
        Some(all) => {
            all.iter_mut().for_each(|r| r.shift(shift));
            refs
        }
        None => refs.iter().map(|r| r.moved(shift)).collect(),
    }
}

/// Checks an item that is not a drop, score or rule — a test, or a declaration, whose
/// annotations are reported (declarations themselves are checked by the bundle-wide passes).
/// Checked again by every analysis: tests are not kept between analyses.
fn check_other<'i>(
    item: &'i ast::Item,
    env: &Env,
    program: &mut Program,
    diags: &mut Vec<Diagnostic>,
    test_names: &mut HashMap<&'i str, Span>,
    refs: &mut Vec<Ref>,
) {
    annotations(item, diags);
    if let ItemKind::Test { name, name_span, body } = &item.kind {
        if let Some(first) = test_names.insert(name, *name_span) {
            diags.push(
                Diagnostic::new(Code::E0010, *name_span, format!("a test named {name:?} already exists"))
                    .label("second test with this name")
                    .secondary(first, "first defined here"),
            );
        }
        let mut cx = Cx::new(env, diags, "a test");
        let steps = cx.test_steps(body);
        *refs = std::mem::take(&mut cx.refs);
        program.tests.push(ir::Test { name: name.clone(), steps, unit: cx.unit, span: item.span });
    }
}

/// A diagnostic with every span moved by `shift`.
fn move_diagnostic(d: &mut Diagnostic, shift: &evr_grammar::Shift) {
    d.primary.span = shift.span(d.primary.span);
    d.secondary.iter_mut().for_each(|l| l.span = shift.span(l.span));
}

/// A hash of everything a unit may refer to besides its own item: every declaration, at its
/// place (inlined fns carry their spans), and the schemas.
fn context(items: &[&ast::Item], schema: &Schema) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    crate::meaning::schema_hash(schema).hash(&mut h);
    for item in items {
        match &item.kind {
            ItemKind::Drop { .. } | ItemKind::Rule { .. } | ItemKind::Test { .. } => {}
            // A score is a unit, and also an id and a source that rules read.
            ItemKind::Score { name, source, .. } => (&name.text, &source.text).hash(&mut h),
            _ => format!("{item:?}").hash(&mut h),
        }
    }
    h.finish()
}

/// [`check`], taking from `units` what `reuse` says each file kept of the last analysis, when
/// the declarations are the same; `units` then holds this analysis's units. `decls` are the
/// modules' [`declarations`](Units::declarations).
pub fn check_reusing(
    modules: &[Module],
    decls: &[Arc<[u32]>],
    schema: &Schema,
    units: &mut Units,
    reuse: &HashMap<ast::FileId, Reuse>,
) -> (Program, Vec<Diagnostic>, Vec<crate::symbols::Names>) {
    let mut env = Env::new(schema);
    let mut diags = Vec::new();
    let mut refs: Vec<crate::symbols::Names> = Vec::new();
    // Every pass over the whole bundle reads its declarations only.
    let items = declaration_items(modules, decls);

    declare_type_aliases(&mut env, &items, &mut diags);
    if !units.names.same_as_last(modules, reuse) {
        let before = diags.len();
        let all: Vec<&ast::Item> = modules.iter().flat_map(|m| &m.items).collect();
        check_unique_names(&all, &mut diags);
        units.names.clash_free = diags.len() == before;
    }
    declare_streams(&mut env, &items, &mut diags);
    let mut decl_refs = Vec::new();
    declare_consts(&mut env, &items, &mut diags, &mut decl_refs);
    declare_fns(&mut env, &items, &mut diags, &mut decl_refs);
    type_refs(&env, &items, &mut decl_refs);
    refs.push(crate::symbols::group(decl_refs));
    for item in &items {
        if let ItemKind::Score { name, source, .. } = &item.kind {
            let id = ir::ScoreId(env.scores.len() as u32);
            let source = env.sources.get(&source.text).copied();
            env.scores.entry(name.text.clone()).or_insert(ScoreInfo { id, source });
        }
    }

    let context = context(&items, schema);
    let mut before = std::mem::take(&mut units.by_file);
    let same_context = units.context == context;
    units.context = context;
    let mut program = Program::default();
    let mut test_names: HashMap<&str, Span> = HashMap::new();
    let is_unit =
        |item: &ast::Item| matches!(item.kind, ItemKind::Drop { .. } | ItemKind::Score { .. } | ItemKind::Rule { .. });
    for module in modules {
        let file = before.remove(&module.file).unwrap_or_default();
        let reuse = reuse.get(&module.file).filter(|_| same_context);
        // An unchanged file's units are what they were: its blocks are taken whole, without
        // reading its items (only its other items — declarations, tests — are checked again).
        if matches!(reuse, Some(Reuse::Whole)) && file.items.len() == module.items.len() {
            file.units.add_to(&mut program);
            refs.push(Arc::clone(&file.refs));
            diags.extend(file.diags.iter().cloned());
            for &at in &file.others {
                let mut item_refs = Vec::new();
                check_other(
                    &module.items[at as usize],
                    &env,
                    &mut program,
                    &mut diags,
                    &mut test_names,
                    &mut item_refs,
                );
                if !item_refs.is_empty() {
                    refs.push(crate::symbols::group(item_refs));
                }
            }
            units.by_file.insert(module.file, file);
            continue;
        }
        let CheckedFile { items: mut kept, refs: mut kept_refs, .. } = file;
        let (mut here, mut file_diags, mut others) = (FileUnits::default(), Vec::new(), Vec::new());
        let mut checked_here = Vec::with_capacity(module.items.len());
        let mut file_refs: Vec<Arc<[Ref]>> = Vec::new();
        // The last analysis's names of this file: moved out when nothing else holds them (the
        // editor's case, and a reload's), else copied.
        let mut old_names = OldNames::new(&mut kept_refs);
        for (at, item) in module.items.iter().enumerate() {
            let is_unit = is_unit(item);
            // The last analysis's item this one is, and whether an edit before it moved it.
            let (old, shift) = match reuse {
                Some(Reuse::Items { old, shift }) => {
                    let tail =
                        !shift.is_identity() && i64::from(item.span.start) >= i64::from(shift.from) + shift.delta;
                    (old.get(at).copied().flatten(), tail.then_some(shift))
                }
                _ => (None, None),
            };
            let taken = old.and_then(|i| kept.get_mut(i)?.take()).filter(|kept| is_unit && kept.doc == item.doc);
            if let Some(kept) = taken {
                let names = old_names.take(kept.refs);
                let at = file_refs.len() as u32;
                let kept = match shift {
                    Some(shift) => {
                        let mut diags = kept.diags;
                        diags.iter_mut().for_each(|d| move_diagnostic(d, shift));
                        CheckedItem { unit: kept.unit.moved(shift), doc: kept.doc, diags, refs: at }
                    }
                    None => CheckedItem { refs: at, ..kept },
                };
                file_refs.push(match shift {
                    Some(shift) => move_refs(names, shift),
                    None => names,
                });
                here.add(&kept.unit);
                diags.extend(kept.diags.iter().cloned());
                file_diags.extend(kept.diags.iter().cloned());
                checked_here.push(Some(kept));
                continue;
            }
            if !is_unit {
                let mut item_refs = Vec::new();
                check_other(item, &env, &mut program, &mut diags, &mut test_names, &mut item_refs);
                if !item_refs.is_empty() {
                    refs.push(crate::symbols::group(item_refs));
                }
                others.push(at as u32);
                checked_here.push(None);
                continue;
            }
            let first_diag = diags.len();
            let annotations = annotations(item, &mut diags);
            let doc = item.doc.clone();
            let mut item_refs = Vec::new();
            let mut checked = Checked::Nothing;
            match &item.kind {
                ItemKind::Drop { name, source, cond } => {
                    let mut cx = Cx::new(&env, &mut diags, "a drop");
                    let source = cx.enter_source(source);
                    let cond = cx.condition(cond, "the condition of a drop");
                    item_refs = std::mem::take(&mut cx.refs);
                    if let Some(source) = source {
                        checked = Checked::Drop(ir::Placed::new(Arc::new(ir::Drop {
                            origin: ir::UnitOrigin::fresh(),
                            name: name.text.clone(),
                            source,
                            cond,
                            unit: cx.unit,
                            annotations,
                            doc,
                            span: item.span,
                        })));
                    }
                }
                ItemKind::Score { name, source, weights } => {
                    let mut cx = Cx::new(&env, &mut diags, "a score");
                    let source = cx.enter_source(source);
                    let weights = weights
                        .iter()
                        .map(|w| (cx.weight(&w.weight), cx.condition(&w.cond, "the condition of a weight")))
                        .collect();
                    item_refs = std::mem::take(&mut cx.refs);
                    if let Some(source) = source {
                        checked = Checked::Score(ir::Placed::new(Arc::new(ir::Score {
                            origin: ir::UnitOrigin::fresh(),
                            name: name.text.clone(),
                            source,
                            weights,
                            unit: cx.unit,
                            annotations,
                            doc,
                            span: item.span,
                        })));
                    }
                }
                ItemKind::Rule { name, source, cond, body } => {
                    let mut cx = Cx::new(&env, &mut diags, "a rule");
                    cx.scores_visible = true;
                    let source = cx.enter_source(source);
                    let cond = cond.as_ref().map(|c| cx.condition(c, "the condition of a rule"));
                    if let Some(c) = &cond {
                        cx.assume(c);
                    }
                    let body = cx.block(body);
                    item_refs = std::mem::take(&mut cx.refs);
                    if let Some(source) = source {
                        checked = Checked::Rule(ir::Placed::new(Arc::new(ir::Rule {
                            origin: ir::UnitOrigin::fresh(),
                            name: name.text.clone(),
                            source,
                            cond,
                            body,
                            unit: cx.unit,
                            annotations,
                            doc,
                            span: item.span,
                        })));
                    }
                }
                _ => {}
            }
            here.add(&checked);
            let item_diags = diags[first_diag..].to_vec();
            file_diags.extend(item_diags.iter().cloned());
            checked_here.push(Some(CheckedItem {
                unit: checked,
                doc: item.doc.clone(),
                diags: item_diags,
                refs: file_refs.len() as u32,
            }));
            file_refs.push(item_refs.into());
        }
        let (blocks, file_refs): (Blocks, crate::symbols::Names) = (here.into_blocks(), file_refs.into());
        blocks.add_to(&mut program);
        refs.push(Arc::clone(&file_refs));
        units.by_file.insert(
            module.file,
            CheckedFile { items: checked_here, units: blocks, refs: file_refs, diags: file_diags, others },
        );
    }
    program.sources = std::mem::take(&mut env.program.sources);
    program.sinks = std::mem::take(&mut env.program.sinks);
    (program, diags, refs)
}

/// The schema types named in declarations: `use` items, stream types, fn signatures.
fn type_refs(env: &Env, items: &[&ast::Item], refs: &mut Vec<Ref>) {
    fn walk(env: &Env, t: &ast::TypeExpr, refs: &mut Vec<Ref>) {
        match &t.kind {
            ast::TypeExprKind::Named(path) if !path.is_empty() => {
                let segments: Vec<&str> = path.iter().map(|n| n.text.as_str()).collect();
                if let Some(r) = env.type_ref(&segments) {
                    refs.push(Ref::new(t.span, crate::symbols::Def::Type(r), type_of(r)));
                }
            }
            ast::TypeExprKind::Named(_) => {}
            ast::TypeExprKind::Generic(_, args) => args.iter().for_each(|a| walk(env, a, refs)),
            ast::TypeExprKind::Optional(inner) => walk(env, inner, refs),
        }
    }
    fn type_of(r: crate::schema::TypeRef) -> Type {
        match r {
            crate::schema::TypeRef::Message(m) => Type::Message(m),
            crate::schema::TypeRef::Enum(e) => Type::Enum(e),
        }
    }
    for item in items {
        match &item.kind {
            ItemKind::UseTypes { prefix, names } => {
                let prefix: Vec<&str> = prefix.iter().map(|n| n.text.as_str()).collect();
                for u in names {
                    let full = format!("{}.{}", prefix.join("."), u.name.text);
                    if let Some(r) = env.schema.lookup(&full) {
                        for n in std::iter::once(&u.name).chain(&u.alias) {
                            refs.push(Ref::new(n.span, crate::symbols::Def::Type(r), type_of(r)));
                        }
                    }
                }
            }
            ItemKind::Source { ty, .. } | ItemKind::Sink { ty, .. } => walk(env, ty, refs),
            ItemKind::Fn { params, ret, .. } => {
                params.iter().for_each(|p| walk(env, &p.ty, refs));
                if let Some(t) = ret {
                    walk(env, t, refs);
                }
            }
            _ => {}
        }
    }
}

fn declare_type_aliases(env: &mut Env, items: &[&ast::Item], diags: &mut Vec<Diagnostic>) {
    for item in items {
        let ItemKind::UseTypes { prefix, names } = &item.kind else { continue };
        let prefix: Vec<&str> = prefix.iter().map(|n| n.text.as_str()).collect();
        for u in names {
            let full = format!("{}.{}", prefix.join("."), u.name.text);
            let span = prefix_span(item, u);
            let Some(t) = env.schema.lookup(&full) else {
                if env.schema.incomplete {
                    // It may be defined by the schema that did not compile (reported).
                    continue;
                }
                let hint = did_you_mean(&full, env.schema.full_names()).or_else(|| {
                    let known: Vec<&str> = env.schema.with_short_name(&u.name.text).collect();
                    match known.as_slice() {
                        [] => Some("types come from the schemas brought in with `use \"file.proto\";`".to_owned()),
                        some => Some(format!("did you mean `{}`?", some.join("` or `"))),
                    }
                });
                diags.push(
                    Diagnostic::new(Code::E0005, span, format!("unknown type `{full}`"))
                        .label("no schema in use defines it")
                        .maybe_hint(hint),
                );
                continue;
            };
            let alias = u.alias.as_ref().unwrap_or(&u.name);
            match env.aliases.get(&alias.text) {
                Some((other, first)) if *other != t => {
                    let other_name = env.schema.type_ref_name(*other).to_owned();
                    diags.push(
                        Diagnostic::new(
                            Code::E0010,
                            alias.span,
                            format!("`{}` already names {other_name}", alias.text),
                        )
                        .label(format!("here it would name {full}"))
                        .secondary(*first, "first brought in here")
                        .hint(format!("give one of them another name: `use {full} as Other;`")),
                    );
                }
                Some(_) => {}
                None => {
                    env.aliases.insert(alias.text.clone(), (t, alias.span));
                }
            }
        }
    }
}

fn prefix_span(item: &ast::Item, u: &ast::UseName) -> Span {
    match &item.kind {
        ItemKind::UseTypes { prefix, .. } if !prefix.is_empty() => prefix[0].span.to(u.name.span),
        _ => u.name.span,
    }
}

/// Rules, scores, drops, sinks, sources, consts and fns share one namespace.
fn check_unique_names(items: &[&ast::Item], diags: &mut Vec<Diagnostic>) {
    let mut seen: rustc_hash::FxHashMap<&str, (&'static str, Span)> = Default::default();
    seen.reserve(items.len());
    for item in items {
        let Some(name) = item.kind.name() else { continue };
        let kind = item.kind.keyword().unwrap_or("item");
        if let Some((first_kind, first)) = seen.get(name.text.as_str()) {
            diags.push(
                Diagnostic::new(
                    Code::E0010,
                    name.span,
                    format!("duplicate name `{}`: a {first_kind} already has it", name.text),
                )
                .label(format!("this {kind} reuses the name"))
                .secondary(*first, format!("the {first_kind} `{}` is defined here", name.text))
                .hint("rules, scores, drops, sinks, sources, consts and fns share one namespace across the bundle"),
            );
        } else {
            seen.insert(&name.text, (kind, name.span));
        }
        if matches!(item.kind, ItemKind::Fn { .. }) && evr_stdlib::Builtin::from_name(&name.text).is_some() {
            diags.push(
                Diagnostic::new(Code::E0010, name.span, format!("fn `{}` has the name of a builtin", name.text))
                    .label("shadows a builtin")
                    .hint("choose another name"),
            );
        }
    }
}

fn declare_streams(env: &mut Env, items: &[&ast::Item], diags: &mut Vec<Diagnostic>) {
    for item in items {
        let (name, ty, format, time) = match &item.kind {
            ItemKind::Source { name, ty, format, time } => (name, ty, format, time.as_ref()),
            ItemKind::Sink { name, ty, format } => (name, ty, format, None),
            _ => continue,
        };
        let is_source = matches!(item.kind, ItemKind::Source { .. });
        let resolved = env.resolve_type(ty, diags);
        let message = match resolved {
            Type::Message(m) => Some(m),
            Type::Error => None,
            other => {
                let t = env.type_name(&other);
                diags.push(
                    Diagnostic::new(
                        Code::E0026,
                        ty.span,
                        format!("a stream carries messages, but {t} is not a message"),
                    )
                    .label("not a message type"),
                );
                None
            }
        };
        let wire = match format.text.as_str() {
            "json" => Some(ir::WireFormat::Json),
            "protobuf" => Some(ir::WireFormat::Protobuf),
            other => {
                diags.push(
                    Diagnostic::new(Code::E0026, format.span, format!("unknown wire format `{other}`"))
                        .label("not a wire format")
                        .maybe_hint(
                            did_you_mean(other, ["json", "protobuf"])
                                .or(Some("write `as json` or `as protobuf`".into())),
                        ),
                );
                None
            }
        };
        let mut time_field = None;
        if let (Some(t), Some(m)) = (time, message) {
            let msg = env.schema.message(m);
            match msg.field(&t.text) {
                Some((index, f)) if f.ty.strip_optional() == &Type::Int => time_field = Some(index),
                Some((_, f)) => {
                    let ft = env.type_name(&f.ty);
                    diags.push(
                        Diagnostic::new(
                            Code::E0026,
                            t.span,
                            format!("the time field must be an int (milliseconds), but `{}` is {ft}", t.text),
                        )
                        .label("not an int field"),
                    );
                }
                None => diags.push(
                    Diagnostic::new(Code::E0007, t.span, format!("{} has no field `{}`", msg.name, t.text))
                        .label("unknown field")
                        .maybe_hint(did_you_mean(&t.text, msg.fields.iter().map(|f| f.name.as_str()))),
                ),
            }
        }
        let (Some(message), Some(format)) = (message, wire) else {
            env.broken_streams.insert(name.text.clone());
            continue;
        };
        if is_source {
            if !env.sources.contains_key(&name.text) {
                env.sources.insert(name.text.clone(), ir::SourceId(env.program.sources.len() as u32));
                env.program.sources.push(ir::Source {
                    name: name.text.clone(),
                    message,
                    format,
                    time_field,
                    span: name.span,
                });
            }
        } else if !env.sinks.contains_key(&name.text) {
            env.sinks.insert(name.text.clone(), ir::SinkId(env.program.sinks.len() as u32));
            env.program.sinks.push(ir::Sink { name: name.text.clone(), message, format, span: name.span });
        }
    }
}

fn declare_consts(env: &mut Env, items: &[&ast::Item], diags: &mut Vec<Diagnostic>, refs: &mut Vec<Ref>) {
    for item in items {
        let ItemKind::Const { name, value } = &item.kind else { continue };
        if env.consts.contains_key(&name.text) {
            continue;
        }
        let checked = {
            let mut cx = Cx::new(env, diags, "a const");
            let e = cx.expr(value, None);
            refs.append(&mut cx.refs);
            e
        };
        let value = match checked.kind {
            ir::ExprKind::Lit(ir::Literal::Null) if checked.ty.is_error() => None,
            ir::ExprKind::Lit(ir::Literal::Null) => {
                diags.push(
                    Diagnostic::new(Code::E0022, checked.span, "a const cannot be null")
                        .label("null")
                        .hint("a const names a value; use `?? default` where a value may be absent"),
                );
                None
            }
            ir::ExprKind::Lit(lit) => Some((lit, checked.ty)),
            _ => {
                diags.push(
                    Diagnostic::new(Code::E0022, checked.span, format!("const `{}` must be a literal", name.text))
                        .label("computed, not a literal")
                        .hint("consts are numbers, strings, bools, durations, enum values, or lists of those"),
                );
                None
            }
        };
        env.consts.insert(name.text.clone(), ConstInfo { value, span: name.span });
    }
}

fn declare_fns(env: &mut Env, items: &[&ast::Item], diags: &mut Vec<Diagnostic>, refs: &mut Vec<Ref>) {
    let mut defs: Vec<(&ast::Name, &[ast::Param], &ast::Expr, Option<&ast::TypeExpr>)> = Vec::new();
    for item in items {
        let ItemKind::Fn { name, params, ret, body } = &item.kind else { continue };
        if env.fns.contains_key(&name.text) {
            continue;
        }
        let params_t: Vec<(String, Type)> =
            params.iter().map(|p| (p.name.text.clone(), env.resolve_type(&p.ty, diags))).collect();
        let ret_t = ret.as_ref().map(|t| env.resolve_type(t, diags));
        env.fns.insert(name.text.clone(), FnInfo { name_span: name.span, params: params_t, ret: ret_t, body: None });
        defs.push((name, params, body, ret.as_ref()));
    }
    // Call graph over fns, to reject recursion and to check callees before callers.
    let calls: HashMap<&str, Vec<(&str, Span)>> = defs
        .iter()
        .map(|(name, _, body, _)| {
            let mut out = Vec::new();
            called_fns(body, env, &mut out);
            (name.text.as_str(), out)
        })
        .collect();
    let mut order: Vec<&str> = Vec::new();
    let mut state: HashMap<&str, u8> = HashMap::new(); // 1 = on the path, 2 = done
    let mut recursive: Vec<&str> = Vec::new();
    for (name, ..) in &defs {
        visit(&name.text, &calls, &mut state, &mut Vec::new(), &mut order, &mut recursive, env, diags);
    }
    for name in order {
        if recursive.contains(&name) {
            continue;
        }
        let Some((fname, params, body, _)) = defs.iter().find(|d| d.0.text == name) else { continue };
        let depth = body.depth
            + calls[name].iter().filter_map(|(c, _)| env.fns[*c].body.as_ref().map(|b| b.depth)).max().unwrap_or(0);
        if depth > env::MAX_INLINED_DEPTH {
            diags.push(
                Diagnostic::new(
                    Code::E0019,
                    fname.span,
                    format!("fn `{name}` nests too deeply once its calls are inlined"),
                )
                .label(format!("{depth} levels deep"))
                .hint("fns are inlined where they are called; flatten the chain of fns calling fns"),
            );
            continue;
        }
        let inlined: usize = calls[name].iter().filter_map(|(c, _)| env.fns[*c].body.as_ref().map(|b| b.nodes)).sum();
        if inlined > env::MAX_INLINED_NODES {
            diags.push(
                Diagnostic::new(Code::E0019, fname.span, format!("fn `{name}` grows too large once its calls are inlined"))
                    .label(format!("{inlined} expression nodes from the fns it calls"))
                    .hint(format!(
                        "fns are copied where they are called, at most {} nodes a unit; bind a repeated call with `let` in the rule, or call fewer fns from fns",
                        env::MAX_INLINED_NODES
                    )),
            );
            continue;
        }
        let info = &env.fns[name];
        let (param_types, ret) = (info.params.clone(), info.ret.clone());
        let checked = {
            let mut cx = Cx::new(env, diags, "a fn");
            for (p, (_, t)) in params.iter().zip(&param_types) {
                cx.bind(&p.name, t.clone());
            }
            let e = cx.expr(body, ret.as_ref());
            refs.append(&mut cx.refs);
            let fname_text = fname.text.clone();
            let e = match &ret {
                Some(t) => cx.coerce(e, t, &|| format!("the result of `{fname_text}`")),
                None => e,
            };
            FnBody {
                params: param_types.iter().map(|(_, t)| t.clone()).collect(),
                ret: ret.clone().unwrap_or_else(|| e.ty.clone()),
                locals: cx.unit.locals,
                velocity_sites: cx.unit.velocity_sites,
                nodes: e.nodes(),
                body: e,
                depth,
            }
        };
        if let Some(info) = env.fns.get_mut(name) {
            info.body = Some(checked);
        }
    }
}

/// Depth-first over the call graph; reports each cycle once, at the call that closes it.
#[allow(clippy::too_many_arguments)]
fn visit<'a>(
    name: &'a str,
    calls: &HashMap<&'a str, Vec<(&'a str, Span)>>,
    state: &mut HashMap<&'a str, u8>,
    path: &mut Vec<&'a str>,
    order: &mut Vec<&'a str>,
    recursive: &mut Vec<&'a str>,
    env: &Env,
    diags: &mut Vec<Diagnostic>,
) {
    if state.get(name).is_some() {
        return;
    }
    state.insert(name, 1);
    path.push(name);
    for &(callee, span) in calls.get(name).map(Vec::as_slice).unwrap_or_default() {
        match state.get(callee) {
            Some(1) => {
                let start = path.iter().position(|n| *n == callee).unwrap_or(0);
                let mut cycle: Vec<&str> = path[start..].to_vec();
                cycle.push(callee);
                recursive.extend(&path[start..]);
                let callee_span = env.fns.get(callee).map(|f| f.name_span).unwrap_or(span);
                diags.push(
                    Diagnostic::new(Code::E0019, span, format!("fn `{callee}` is recursive: {}", cycle.join(" -> ")))
                        .label("this call closes the cycle")
                        .secondary(callee_span, format!("`{callee}` is defined here"))
                        .hint("EVR has no recursion so that every rule terminates; list functions (any, all, count_if) replace most loops"),
                );
            }
            Some(_) => {}
            None => visit(callee, calls, state, path, order, recursive, env, diags),
        }
    }
    path.pop();
    state.insert(name, 2);
    order.push(name);
}

fn called_fns<'a>(e: &'a ast::Expr, env: &Env, out: &mut Vec<(&'a str, Span)>) {
    use ast::ExprKind as K;
    match &e.kind {
        K::Call { callee, args } => {
            if let K::Name(n) = &callee.kind
                && env.fns.contains_key(&n.text)
            {
                out.push((&n.text, n.span));
            }
            called_fns(callee, env, out);
            args.iter().for_each(|a| called_fns(a, env, out));
        }
        K::List(items) => items.iter().for_each(|a| called_fns(a, env, out)),
        K::Record(r) => {
            if let Some(s) = &r.spread {
                called_fns(s, env, out);
            }
            r.fields.iter().for_each(|f| called_fns(&f.value, env, out));
        }
        K::Unary(_, a) | K::Field(a, _) | K::Lambda { body: a, .. } => called_fns(a, env, out),
        K::Binary(_, a, b) | K::Index(a, b) | K::In { needle: a, haystack: b, .. } => {
            called_fns(a, env, out);
            called_fns(b, env, out);
        }
        K::If { cond, then, otherwise } => {
            called_fns(cond, env, out);
            called_fns(then, env, out);
            called_fns(otherwise, env, out);
        }
        K::Int(_)
        | K::Float(_)
        | K::Str(_)
        | K::Duration(_)
        | K::Bool(_)
        | K::Null
        | K::Name(_)
        | K::SelfRef
        | K::Error => {}
    }
}

pub const ANNOTATIONS: &[&str] = &["priority", "shadow", "owner"];

fn annotations(item: &ast::Item, diags: &mut Vec<Diagnostic>) -> Vec<ir::Annotation> {
    let applies = matches!(item.kind, ItemKind::Rule { .. } | ItemKind::Drop { .. } | ItemKind::Score { .. });
    let mut out = Vec::new();
    for a in &item.annotations {
        if !applies {
            diags.push(
                Diagnostic::new(Code::E0020, a.span, format!("`@{}` cannot stand here", a.name.text))
                    .label("annotation on this item")
                    .hint("annotations apply to rules, drops and scores"),
            );
            continue;
        }
        let bad = |msg: String, hint: &str| {
            Diagnostic::new(Code::E0020, a.span, msg).label("this annotation").hint(hint.to_owned())
        };
        match (a.name.text.as_str(), a.args.as_slice()) {
            ("priority", [arg]) => {
                let level = match &arg.kind {
                    ast::ExprKind::Name(n) => match n.text.as_str() {
                        "low" => Some(ir::Priority::Low),
                        "normal" => Some(ir::Priority::Normal),
                        "high" => Some(ir::Priority::High),
                        _ => None,
                    },
                    _ => None,
                };
                match level {
                    Some(p) => out.push(ir::Annotation::Priority(p)),
                    None => diags.push(bad("`@priority` takes low, normal or high".into(), "e.g. @priority(low)")),
                }
            }
            ("shadow", []) => out.push(ir::Annotation::Shadow),
            ("owner", [arg]) => match &arg.kind {
                ast::ExprKind::Str(s) => out.push(ir::Annotation::Owner(s.clone())),
                _ => diags.push(bad("`@owner` takes a string".into(), "e.g. @owner(\"ads-team\")")),
            },
            (name @ ("priority" | "shadow" | "owner"), _) => {
                let form = match name {
                    "priority" => "@priority(low | normal | high)",
                    "shadow" => "@shadow (no arguments)",
                    _ => "@owner(\"team\")",
                };
                diags.push(bad(format!("wrong arguments for `@{name}`"), &format!("write {form}")));
            }
            (other, _) => diags.push(
                Diagnostic::new(Code::E0020, a.name.span, format!("unknown annotation `@{other}`"))
                    .label("not an annotation EVR knows")
                    .maybe_hint(
                        did_you_mean(other, ANNOTATIONS.iter().copied())
                            .or_else(|| Some("the annotations are @priority(...), @shadow and @owner(...)".into())),
                    ),
            ),
        }
    }
    out
}
