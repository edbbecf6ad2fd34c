//! A loaded bundle: everything about a checked program that does not change from event to
//! event — the program and its schema, prepared constants, the rule index, decode plans and
//! native code — made once and shared, behind an `Arc`, by every executor that runs it. A new
//! version of the bundle is made from the running one ([`Loaded::reload`]): units whose meaning
//! did not change keep their native code, only added and changed units are compiled.

use std::cell::OnceCell;
use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use evr_compiler::frame::FrameLayout;
use evr_compiler::interp::Prepared;
use evr_compiler::ir::{
    Expr, ExprKind, Placed, PlacedUnit, Program, SourceId, UnitList, UnitOrigin, UnitRef, is_shadow,
};
use evr_compiler::jit::{self, Missing, OptLevel};
use evr_compiler::meaning::{self, ContentHash, Meaning};
use evr_compiler::schema::Schema;
use evr_stdlib::velocity::Kind;

use crate::decode::plan::Plan;
use crate::engine::Code;
use crate::index::RuleIndex;

/// Which evaluator runs the units.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Engine {
    /// The reference interpreter.
    #[default]
    Interpreter,
    /// Native code from Cranelift, at an optimisation level.
    Jit(OptLevel),
}

#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub engine: Engine,
    /// Keys kept per velocity call site before the least recently seen is evicted.
    pub max_keys_per_site: usize,
    /// Find candidate rules through the rule index (off: try every rule; same outputs).
    pub rule_index: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config { engine: Engine::Interpreter, max_keys_per_site: 1_000_000, rule_index: true }
    }
}

/// Why a bundle could not be loaded.
#[derive(Debug)]
pub enum SetupError {
    /// The JIT cannot compile these constructs (units and places).
    Unsupported(Vec<Missing>),
    Other(String),
}

impl std::fmt::Display for SetupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SetupError::Unsupported(missing) => {
                write!(f, "the JIT cannot compile {} unit(s) yet:", missing.len())?;
                for m in missing {
                    write!(f, "\n  {}: {}", m.unit, m.unsupported.what)?;
                }
                Ok(())
            }
            SetupError::Other(why) => f.write_str(why),
        }
    }
}

impl From<String> for SetupError {
    fn from(s: String) -> SetupError {
        SetupError::Other(s)
    }
}

/// A velocity call site's identity across versions: its unit's name and a hash of the call
/// (builtin, key expression, window), with the call's rank among equal calls of the unit. A
/// site whose identity survives a reload keeps its state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SiteId(pub u64);

/// A velocity call site of a unit: what an executor makes state for.
#[derive(Clone, Debug)]
pub struct SiteSpec {
    pub id: SiteId,
    pub kind: Kind,
    pub window_ms: i64,
}

/// One drop, score or rule, as executors run it.
pub struct LoadedUnit {
    pub unit: UnitRef,
    pub name: Arc<str>,
    pub source: SourceId,
    pub shadow: bool,
    /// The content hash of what the unit means.
    pub hash: ContentHash,
    /// Its velocity call sites, by site number (shared with the versions that keep the unit).
    pub sites: Arc<[SiteSpec]>,
    /// Where its sites' state starts among all sites' (an executor keeps them in one vector).
    pub(crate) first_site: u32,
    /// How it is evaluated: interpreted, or native code under the JIT.
    pub(crate) code: Code,
    /// The values read whole (by whole number) that the unit reads: under the JIT it runs only
    /// once they are decoded, and an event no such unit meets never decodes them.
    pub(crate) wholes: Arc<[usize]>,
}

/// How events of one source are read into frames, under the JIT.
pub(crate) struct SourceFrames {
    pub layout: FrameLayout,
    pub plan: Plan,
    /// Slots of the event time and of the field the rule index looks up.
    pub time_slot: Option<u32>,
    pub index_slot: Option<u32>,
}

/// The units of one source, as indexes into the unit table.
#[derive(Default)]
pub(crate) struct SourceUnits {
    pub drops: Vec<u32>,
    pub scores: Vec<u32>,
}

/// A program ready to run, shared by executors on any number of threads.
pub struct Loaded {
    program: Program,
    schema: Schema,
    config: Config,
    /// Which version of the bundle this is: 1 when first loaded, one more with each reload.
    version: u64,
    schema_hash: ContentHash,
    pub(crate) prepared: Prepared,
    pub(crate) index: Option<RuleIndex>,
    /// Drops, then scores, then rules (the order of [`Program::units`]).
    pub(crate) units: Vec<LoadedUnit>,
    pub(crate) by_source: Vec<SourceUnits>,
    /// Per source, under the JIT.
    pub(crate) frames: Option<Vec<SourceFrames>>,
}

/// One loaded bundle serves executors on every thread.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Loaded>();
};

/// What a reload did.
#[derive(Clone, Debug, Default)]
pub struct Reloaded {
    pub version: u64,
    pub added: Vec<String>,
    pub changed: Vec<String>,
    pub removed: Vec<String>,
    /// Units compiled anew though their meaning did not change (the frame layout or the ids
    /// they use moved, or the schema changed).
    pub recompiled: Vec<String>,
    pub unchanged: usize,
    pub took: Duration,
}

impl Reloaded {
    /// One line for a log: which version is live and what was compiled.
    pub fn summary(&self) -> String {
        let list = |what: &str, names: &[String]| match names {
            [] => None,
            names if names.len() <= 5 => Some(format!("{what} {}", names.join(", "))),
            names => Some(format!("{what} {} units", names.len())),
        };
        let parts: Vec<String> = [
            list("added", &self.added),
            list("changed", &self.changed),
            list("removed", &self.removed),
            list("recompiled", &self.recompiled),
        ]
        .into_iter()
        .flatten()
        .collect();
        let what = if parts.is_empty() { "no unit changed".to_owned() } else { parts.join("; ") };
        format!(
            "version {} live: {what} ({} unchanged), in {:.1} ms",
            self.version,
            self.unchanged,
            self.took.as_secs_f64() * 1e3
        )
    }
}

impl Loaded {
    /// Prepares a checked program (one without errors) for running; under the JIT, compiles it.
    pub fn new(program: Program, schema: Schema, config: Config) -> Result<Loaded, SetupError> {
        let schema_hash = meaning::schema_hash(&schema);
        Loaded::build(program, schema, schema_hash, config, 1, None).map(|(loaded, _)| loaded)
    }

    /// A loaded copy of an analysis's program (one without errors), for callers that keep the
    /// analysis (tests, benchmarks).
    pub fn from_analysis(
        analysis: &evr_compiler::Analysis,
        config: Config,
    ) -> Result<std::sync::Arc<Loaded>, SetupError> {
        Loaded::new(analysis.program.clone(), analysis.schema.clone(), config).map(std::sync::Arc::new)
    }

    /// The next version: `program` and `schema` run with this version's configuration. Units
    /// whose meaning is unchanged keep what was made for them — native code, when nothing it
    /// depends on moved; site identities; the values read whole they wait for — and only the
    /// others are compiled. Fails, leaving this version as it was, when a unit does not compile.
    pub fn reload(&self, program: Program, schema: Schema) -> Result<(Loaded, Reloaded), SetupError> {
        let start = Instant::now();
        let schema_hash = meaning::schema_hash(&schema);
        let same_schema = schema_hash == self.schema_hash;
        let ids_kept = same_names(&self.program, &program);
        let previous = Previous { loaded: self, by_name: OnceCell::new(), same_schema, ids_kept };
        let (loaded, as_it_was) =
            Loaded::build(program, schema, schema_hash, self.config, self.version + 1, Some(&previous))?;
        let mut report = Reloaded { version: loaded.version, ..Reloaded::default() };
        let mut found = 0;
        for (i, u) in loaded.units.iter().enumerate() {
            // The very unit of the running version, at its place, with its code: unchanged,
            // which needs no lookup (most units of most reloads).
            if as_it_was[i] {
                found += 1;
                report.unchanged += 1;
                continue;
            }
            let name = || u.name.to_string();
            let before = previous.unit_named(i, &u.name);
            found += usize::from(before.is_some());
            match before {
                None => report.added.push(name()),
                Some(before) if before.hash != u.hash => report.changed.push(name()),
                Some(before) => match (before.code.native(), u.code.native()) {
                    (Some(a), Some(b)) if !a.same_chunk(b) => report.recompiled.push(name()),
                    _ => report.unchanged += 1,
                },
            }
        }
        // Names are unique, so when every old unit was found again none was removed.
        if found < self.units.len() {
            let now: rustc_hash::FxHashSet<&str> = loaded.units.iter().map(|u| &*u.name).collect();
            report.removed =
                self.units.iter().filter(|u| !now.contains(&*u.name)).map(|u| u.name.to_string()).collect();
        }
        report.took = start.elapsed();
        Ok((loaded, report))
    }

    /// Builds the unit table, carrying over from `previous` what its unchanged units had; says
    /// which units are the very units of `previous` at the same place, with the same code.
    fn build(
        program: Program,
        schema: Schema,
        schema_hash: ContentHash,
        config: Config,
        version: u64,
        previous: Option<&Previous>,
    ) -> Result<(Loaded, Vec<bool>), SetupError> {
        // Where the previous version holds the very unit at the same place of the table.
        let same_place = previous.and_then(|p| same_places(&p.loaded.program, &program));
        let index = config.rule_index.then(|| rule_index(&program, previous, same_place.as_deref()));
        let mut meaning = Meaning::new(&program, &schema);
        // Per unit: what it was in the previous version, when its meaning is the same.
        let mut kept: Vec<Option<&LoadedUnit>> = Vec::new();
        let mut as_it_was: Vec<bool> = Vec::new();
        let mut units: Vec<LoadedUnit> = program
            .units()
            .enumerate()
            .map(|(i, r)| {
                // The very unit of the previous version (an unchanged file's) is what it was:
                // neither hashed nor read again.
                let very = previous.and_then(|p| match same_place.as_ref().map(|s| s[i]) {
                    Some(true) => p.loaded.units.get(i),
                    _ => p.very_unit(i, &program, r),
                });
                as_it_was.push(very.is_some());
                if let Some(b) = very {
                    kept.push(Some(b));
                    return b.carried(r);
                }
                let u = program.unit(r);
                let named = previous.and_then(|p| Some((p, p.unit_named(i, u.name)?)));
                // Found elsewhere (units were added or removed before it), it may still be the
                // very unit, which needs no hashing.
                let hash = match named {
                    Some((p, b)) if same_unit(&p.loaded.program, b.unit, &program, r) => b.hash,
                    _ => meaning.unit(r),
                };
                let before = named.map(|(_, b)| b).filter(|b| b.hash == hash);
                kept.push(before);
                match before {
                    Some(b) => b.carried(r),
                    None => LoadedUnit {
                        unit: r,
                        name: u.name.into(),
                        source: u.source,
                        shadow: is_shadow(u.annotations),
                        hash,
                        sites: shared(site_specs(&program, &mut meaning, r), &NO_SITES),
                        code: Code::Interpreted,
                        wholes: Arc::clone(&NO_WHOLES),
                        first_site: 0,
                    },
                }
            })
            .collect();
        let mut first_site = 0u32;
        for u in &mut units {
            u.first_site = first_site;
            first_site += u.sites.len() as u32;
        }
        let fresh: Vec<UnitRef> = units.iter().zip(&kept).filter(|(_, k)| k.is_none()).map(|(u, _)| u.unit).collect();
        let prepared = match previous {
            Some(p) => p.loaded.prepared.clone().extended(&program, &fresh)?,
            None => Prepared::new(&program)?,
        };
        let frames = match config.engine {
            Engine::Jit(opt) => {
                let (layouts, sources) = layouts(&program, previous, &fresh);
                let mut compile = Vec::new();
                for (i, u) in units.iter_mut().enumerate() {
                    let stays =
                        sources[u.source.0 as usize].layout && previous.is_some_and(|p| p.code_stays(&program, u));
                    match kept[i].filter(|_| stays).and_then(|before| before.code.native().cloned()) {
                        Some(code) => u.code = Code::Native(code),
                        None => {
                            as_it_was[i] = false;
                            compile.push(i);
                        }
                    }
                }
                let selected: Vec<UnitRef> = compile.iter().map(|&i| units[i].unit).collect();
                let code = jit::compile_units(&program, &schema, &layouts, &selected, opt).map_err(|e| match e {
                    Ok(missing) => SetupError::Unsupported(missing),
                    Err(why) => SetupError::Other(why),
                })?;
                for (i, c) in compile.into_iter().zip(code) {
                    units[i].code = Code::Native(c);
                }
                let frames: Vec<SourceFrames> = layouts
                    .into_iter()
                    .enumerate()
                    .map(|(s, layout)| {
                        let plan = Plan::new(&layout);
                        let time_slot = program.sources[s].time_field.and_then(|f| layout.offset(&[f]));
                        let index_slot = index
                            .as_ref()
                            .and_then(|index| index.field(SourceId(s as u32)))
                            .and_then(|(path, _)| layout.offset(path));
                        SourceFrames { layout, plan, time_slot, index_slot }
                    })
                    .collect();
                for (u, before) in units.iter_mut().zip(&kept) {
                    let s = u.source.0 as usize;
                    // A layout that did not grow decodes as before: the same values read whole
                    // (carried over with the unit).
                    if let (Some(_), SourceKept { layout: true, grown: false }) = (before, sources[s]) {
                        continue;
                    }
                    let f = &frames[s];
                    let view = program.unit(u.unit);
                    let wholes = f
                        .layout
                        .slots_read(|each| view.for_each_expr(&mut |e| each(e)))
                        .into_iter()
                        .filter_map(|at| f.plan.whole_at(at))
                        .collect();
                    u.wholes = shared(wholes, &NO_WHOLES);
                }
                Some(frames)
            }
            Engine::Interpreter => None,
        };
        drop(kept);
        let mut by_source: Vec<SourceUnits> = (0..program.sources.len()).map(|_| SourceUnits::default()).collect();
        for (i, u) in units.iter().enumerate() {
            match u.unit {
                UnitRef::Drop(_) => by_source[u.source.0 as usize].drops.push(i as u32),
                UnitRef::Score(_) => by_source[u.source.0 as usize].scores.push(i as u32),
                UnitRef::Rule(_) => {}
            }
        }
        let loaded =
            Loaded { program, schema, config, version, schema_hash, prepared, index, units, by_source, frames };
        Ok((loaded, as_it_was))
    }

    pub fn program(&self) -> &Program {
        &self.program
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    pub fn config(&self) -> Config {
        self.config
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// Every unit, in the order of [`Program::units`].
    pub fn units(&self) -> &[LoadedUnit] {
        &self.units
    }

    /// The unit-table index of rule `i`.
    pub(crate) fn rule_unit(&self, i: u32) -> usize {
        self.program.drops.len() + self.program.scores.len() + i as usize
    }

    /// Whether events of `source` are decoded into frames: under the JIT, unless a unit reads
    /// the event whole.
    pub(crate) fn frames_events(&self, source: SourceId) -> Option<&SourceFrames> {
        self.frames.as_ref().map(|f| &f[source.0 as usize]).filter(|f| !f.layout.needs_event())
    }
}

/// The running version, as a reload builds the next one from it.
struct Previous<'a> {
    loaded: &'a Loaded,
    /// Its units by name, made only when a unit is not found at its own place (units were
    /// added or removed before it): most reloads never need it.
    by_name: OnceCell<rustc_hash::FxHashMap<&'a str, &'a LoadedUnit>>,
    same_schema: bool,
    /// Every source, sink and score has the id it had (the common case: rules changed).
    ids_kept: bool,
}

/// What became of a source's frame layout in the new version.
#[derive(Clone, Copy)]
struct SourceKept {
    /// It extends the old one: every old slot kept its offset.
    layout: bool,
    /// It has slots the old one did not.
    grown: bool,
}

impl LoadedUnit {
    /// What a unit whose meaning did not change keeps of this one, in a version that has it as
    /// `unit` (its code is set once the version knows what must be compiled).
    fn carried(&self, unit: UnitRef) -> LoadedUnit {
        LoadedUnit {
            unit,
            name: self.name.clone(),
            source: self.source,
            shadow: self.shadow,
            hash: self.hash,
            sites: self.sites.clone(),
            first_site: 0,
            code: Code::Interpreted,
            wholes: self.wholes.clone(),
        }
    }
}

impl<'a> Previous<'a> {
    /// The previous version's unit at place `at` of its table, when it is the very unit `r`
    /// of `program` (an unchanged file's, checked once for both versions).
    fn very_unit(&self, at: usize, program: &Program, r: UnitRef) -> Option<&'a LoadedUnit> {
        let b = self.loaded.units.get(at)?;
        same_unit(&self.loaded.program, b.unit, program, r).then_some(b)
    }

    /// The previous version's unit named `name`, looked for first at place `at` of its table.
    fn unit_named(&self, at: usize, name: &str) -> Option<&'a LoadedUnit> {
        let units = &self.loaded.units;
        match units.get(at) {
            Some(u) if &*u.name == name => Some(u),
            _ => self.by_name.get_or_init(|| units.iter().map(|u| (&*u.name, u)).collect()).get(name).copied(),
        }
    }

    /// Whether a unit whose meaning did not change can keep its native code: nothing the code
    /// holds as a number or an offset moved.
    fn code_stays(&self, program: &Program, u: &LoadedUnit) -> bool {
        self.same_schema && (self.ids_kept || ids_unmoved(&self.loaded.program, program, u.unit))
    }
}

/// The rule index of `program`: the previous version's, updated for the rules that are not its
/// very rules, when it can be; built afresh otherwise.
fn rule_index(program: &Program, previous: Option<&Previous>, same_place: Option<&[bool]>) -> RuleIndex {
    let updated = previous.and_then(|p| {
        let (old, index) = (&p.loaded.program, p.loaded.index.as_ref()?);
        if old.rules.len() != program.rules.len() {
            return None;
        }
        let first_rule = program.drops.len() + program.scores.len();
        let changed: Vec<u32> = (0..program.rules.len() as u32)
            .filter(|&i| {
                let here = same_place.and_then(|s| s.get(first_rule + i as usize)).copied().unwrap_or(false);
                !here && !same_unit(old, UnitRef::Rule(i), program, UnitRef::Rule(i))
            })
            .collect();
        // Past a few changed rules, building afresh is as quick (and simpler to trust).
        (changed.len() * 8 <= program.rules.len()).then(|| index.updated(old, program, &changed)).flatten()
    });
    updated.unwrap_or_else(|| RuleIndex::new(program))
}

/// Per place of the unit table of `new`, whether `old` holds the very unit there — read off
/// the units' pointers in order, not by looking each one up. `None` when the drops or scores
/// are not as many (the places do not match).
fn same_places(old: &Program, new: &Program) -> Option<Vec<bool>> {
    fn kind<T: PlacedUnit>(old: &UnitList<T>, new: &UnitList<T>, out: &mut Vec<bool>) {
        let mut old = old.iter();
        out.extend(new.iter().map(|n| old.next().is_some_and(|o| o.shares(n))));
    }
    if old.drops.len() != new.drops.len() || old.scores.len() != new.scores.len() {
        return None;
    }
    let mut out = Vec::with_capacity(new.drops.len() + new.scores.len() + new.rules.len());
    kind(&old.drops, &new.drops, &mut out);
    kind(&old.scores, &new.scores, &mut out);
    kind(&old.rules, &new.rules, &mut out);
    Some(out)
}

/// Whether a unit of one version is the very unit of another: the same checking made it (it
/// may have been moved since, which changes spans and nothing it means). Most often both
/// hold it, which the pointers tell without reading the units.
fn same_unit(old: &Program, a: UnitRef, new: &Program, b: UnitRef) -> bool {
    fn same<T: PlacedUnit>(a: &Placed<T>, b: &Placed<T>, origin: fn(&T) -> UnitOrigin) -> bool {
        a.shares(b) || origin(a) == origin(b)
    }
    match (a, b) {
        (UnitRef::Drop(i), UnitRef::Drop(j)) => same(&old.drops[i as usize], &new.drops[j as usize], |d| d.origin),
        (UnitRef::Score(i), UnitRef::Score(j)) => same(&old.scores[i as usize], &new.scores[j as usize], |s| s.origin),
        (UnitRef::Rule(i), UnitRef::Rule(j)) => same(&old.rules[i as usize], &new.rules[j as usize], |r| r.origin),
        _ => false,
    }
}

/// Whether two versions name the same sources, sinks and scores in the same order.
fn same_names(old: &Program, new: &Program) -> bool {
    fn names<'a, T: 'a>(
        items: impl IntoIterator<Item = &'a T>,
        name: impl Fn(&'a T) -> &'a str,
    ) -> impl Iterator<Item = &'a str> {
        items.into_iter().map(name)
    }
    names(&old.sources, |s| &s.name).eq(names(&new.sources, |s| &s.name))
        && names(&old.sinks, |s| &s.name).eq(names(&new.sinks, |s| &s.name))
        && names(old.scores.iter(), |s| &s.name).eq(names(new.scores.iter(), |s| &s.name))
}

/// The frame layout of every source, and what became of each against the previous version's:
/// a source whose schema and name are unchanged grows its old layout by what the new units
/// (`fresh`) read, so that unchanged units' code stays valid; any other gets a new layout.
fn layouts(program: &Program, previous: Option<&Previous>, fresh: &[UnitRef]) -> (Vec<FrameLayout>, Vec<SourceKept>) {
    (0..program.sources.len())
        .map(|s| {
            let id = SourceId(s as u32);
            let old = previous.filter(|p| p.same_schema).and_then(|p| {
                let frames = p.loaded.frames.as_ref()?;
                let o = p.loaded.program.sources.iter().position(|o| o.name == program.sources[s].name)?;
                Some(&frames[o].layout)
            });
            let grown = old.and_then(|old| {
                let mine: Vec<UnitRef> = fresh.iter().copied().filter(|&r| program.unit(r).source == id).collect();
                FrameLayout::extending(old, program, &mine).map(|l| (l, old.size()))
            });
            match grown {
                Some((layout, before)) => {
                    let grown = layout.size() != before;
                    (layout, SourceKept { layout: true, grown })
                }
                None => (FrameLayout::new(program, id), SourceKept { layout: false, grown: true }),
            }
        })
        .unzip()
}

/// Whether the sinks and scores rule `r` refers to have the ids in `new` they had in `old`:
/// native code holds them as numbers.
fn ids_unmoved(old: &Program, new: &Program, r: UnitRef) -> bool {
    let (mut sinks, mut scores) = (Vec::new(), Vec::new());
    let view = new.unit(r);
    if let evr_compiler::ir::UnitBody::Rule(rule) = view.body {
        sinks = rule.writes();
    }
    view.for_each_expr(&mut |e| {
        walk(e, &mut |x| {
            if let ExprKind::Score(id) = x.kind {
                scores.push(id);
            }
        })
    });
    let same_source =
        old.sources.get(view.source.0 as usize).is_some_and(|s| s.name == new.sources[view.source.0 as usize].name);
    same_source
        && sinks.iter().all(|s| old.sinks.get(s.0 as usize).is_some_and(|o| o.name == new.sinks[s.0 as usize].name))
        && scores.iter().all(|s| old.scores.get(s.0 as usize).is_some_and(|o| o.name == new.scores[s.0 as usize].name))
}

fn walk(e: &Expr, f: &mut impl FnMut(&Expr)) {
    f(e);
    e.for_each_child(|c| walk(c, f));
}

/// A list as units hold it. Most units' lists are empty, and those share one allocation: a
/// reload touches what every unit holds, and one empty list stays in cache where thousands
/// would not.
fn shared<T>(list: Vec<T>, empty: &LazyLock<Arc<[T]>>) -> Arc<[T]> {
    if list.is_empty() { Arc::clone(empty) } else { list.into() }
}

static NO_SITES: LazyLock<Arc<[SiteSpec]>> = LazyLock::new(|| Arc::from([]));
static NO_WHOLES: LazyLock<Arc<[usize]>> = LazyLock::new(|| Arc::from([]));

/// The velocity sites of a unit with their identities.
fn site_specs(program: &Program, meaning: &mut Meaning, r: UnitRef) -> Vec<SiteSpec> {
    let view = program.unit(r);
    let kinds = evr_compiler::interp::velocity_sites(view.unit.velocity_sites, |f| view.for_each_expr(&mut |e| f(e)));
    let mut calls: Vec<Option<ContentHash>> = vec![None; kinds.len()];
    view.for_each_expr(&mut |e| {
        walk(e, &mut |x| {
            if let ExprKind::Call { site: Some(s), .. } = &x.kind
                && let Some(slot) = calls.get_mut(*s as usize)
            {
                *slot = Some(meaning.expr_hash(x));
            }
        })
    });
    let mut seen: HashMap<ContentHash, u32> = HashMap::new();
    kinds
        .into_iter()
        .zip(calls)
        .map(|((kind, window_ms), call)| {
            let call = call.unwrap_or_default();
            let rank = seen.entry(call).or_default();
            let mut h = xxhash_rust::xxh3::Xxh3::new();
            h.write(view.name.as_bytes());
            h.write_u8(0xff);
            h.write_u64(call);
            h.write_u32(*rank);
            *rank += 1;
            SiteSpec { id: SiteId(h.finish()), kind, window_ms }
        })
        .collect()
}
