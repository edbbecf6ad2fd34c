//! The executor: one input event at a time, decode, drops, scores, rules, in the order the
//! language defines; runtime errors become dirty records that name the failing unit and cost
//! nothing but that unit's outputs. One executor holds the velocity state of one stream (a
//! file, a partition); the program it runs is shared.

use std::sync::Arc;

use evr_compiler::interp::value::Value;
use evr_compiler::interp::{self, Action, Env, Prepared, velocity_sites};
use evr_compiler::ir::{Expr, Program, SinkId, SourceId, is_shadow};
use evr_compiler::jit::abi::{Ctx, Scratch};
use evr_compiler::jit::frame::{FrameLayout, read_slot};
use evr_compiler::jit::{self, Compiled, Missing, OptLevel};
use evr_compiler::schema::Schema;
use evr_compiler::types::Type;
use evr_stdlib::RuntimeError;
use evr_stdlib::velocity::Site;

use crate::decode::plan::{FrameOut, Kept, Plan};
use crate::decode::{self, DecodeError};
use crate::encode;
use crate::index::{Probe, RuleIndex};

/// What one input event produced, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// A record built by `emit`.
    Record { sink: SinkId, key: Option<Value>, record: Value },
    /// `route`: the input event, unchanged.
    Forward { sink: SinkId },
    /// The event could not be decoded (`unit` is `None`), or a drop, score or rule failed on it.
    Dirty { error: String, unit: Option<String> },
}

/// What `@shadow` units would have done, counted since the executor was made: a shadow rule
/// runs but its outputs are not written, a shadow drop holds but discards nothing.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ShadowCounts {
    /// Outputs shadow rules would have written, by sink id.
    pub outputs: Vec<u64>,
    /// Events each shadow drop would have discarded, by drop index.
    pub drops: Vec<u64>,
}

/// How an event went, besides its outputs.
#[derive(Debug)]
pub struct Processed {
    /// Whether the event decoded.
    pub decoded: bool,
    /// The drop that discarded the event, if one did.
    pub dropped_by: Option<usize>,
}

/// An event decoded into a frame of its own (see [`Executor::decode_frame`]). Its slots point
/// into the input, which it borrows, and into what it keeps.
pub struct DecodedFrame<'b> {
    source: SourceId,
    frame: Vec<u8>,
    kept: Kept,
    input: &'b [u8],
}

impl DecodedFrame<'_> {
    /// The event's bytes.
    pub fn input(&self) -> &[u8] {
        self.input
    }
}

/// The event the units of one call read: a value tree, or the frame of its source alone
/// (with the event's bytes, where values read whole may still wait to be decoded).
#[derive(Clone, Copy)]
enum Event<'e> {
    Tree(&'e Value),
    Frame(&'e [u8]),
}

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

pub struct Executor<'p> {
    program: &'p Program,
    schema: &'p Schema,
    prepared: Prepared,
    drop_sites: Vec<Vec<Site>>,
    score_sites: Vec<Vec<Site>>,
    rule_sites: Vec<Vec<Site>>,
    scores: Vec<Option<i64>>,
    actions: Vec<Action>,
    index: Option<RuleIndex>,
    candidates: Vec<u32>,
    shadow: ShadowCounts,
    native: Option<Native>,
}

/// Native code (shared by executors of the same program) and this executor's frames: one per
/// source, with the plan that decodes events into it and what its slots point at.
struct Native {
    code: Arc<Compiled>,
    frames: Vec<Vec<u8>>,
    plans: Vec<Plan>,
    kept: Kept,
    /// What native code makes while a unit runs.
    scratch: Scratch,
    /// Columns of a frame filled from a value tree (`run`).
    tree_columns: Vec<Vec<u8>>,
    /// The values read whole (by whole number) that each drop, score and rule reads: a unit
    /// runs only once they are decoded, and an event no such unit meets never decodes them.
    wholes: [Vec<Vec<usize>>; 3],
    /// Per source, the slots of the event time and of the field the rule index looks up.
    time_slots: Vec<Option<u32>>,
    index_slots: Vec<Option<u32>>,
}

impl Native {
    /// Whether events of `source` are decoded into frames: unless a unit reads the event whole.
    fn frames_events(&self, source: SourceId) -> bool {
        !self.code.layouts[source.0 as usize].needs_event()
    }

    /// Decodes an event of `src` into its frame; values read whole wait until a unit that reads
    /// them runs (see `settle`).
    fn decode(
        &mut self,
        schema: &Schema,
        program: &Program,
        source: SourceId,
        bytes: &[u8],
    ) -> Result<(), DecodeError> {
        let (s, src) = (source.0 as usize, &program.sources[source.0 as usize]);
        let mut frame = FrameOut::new(&mut self.frames[s], &mut self.kept, &self.plans[s]);
        frame.defer = true;
        decode::decode_into(schema, src.message, src.format, bytes, &mut frame)
    }
}

/// Compiles a program to native code, or says which constructs the JIT cannot compile.
pub fn compile(program: &Program, schema: &Schema, opt: OptLevel) -> Result<Compiled, SetupError> {
    jit::compile(program, schema, opt).map_err(|e| match e {
        Ok(missing) => SetupError::Unsupported(missing),
        Err(why) => SetupError::Other(why),
    })
}

/// Why an executor could not be made.
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

#[derive(Clone, Copy)]
enum Unit {
    Drop(usize),
    Score(usize),
    Rule(usize),
}

fn sites(kinds: Vec<(evr_stdlib::velocity::Kind, i64)>, config: Config) -> Vec<Site> {
    kinds.into_iter().map(|(kind, window)| Site::new(kind, window, config.max_keys_per_site)).collect()
}

impl<'p> Executor<'p> {
    /// Prepares a checked program (one without errors) for running.
    pub fn new(program: &'p Program, schema: &'p Schema, config: Config) -> Result<Executor<'p>, SetupError> {
        let prepared = Prepared::new(program)?;
        let native = match config.engine {
            Engine::Interpreter => None,
            Engine::Jit(opt) => Some(Arc::new(compile(program, schema, opt)?)),
        };
        Executor::with_code(program, schema, config, prepared, native)
    }

    /// An executor that runs code compiled before (by [`compile`]) for this program: many
    /// executors, one per stream, share one compilation.
    pub fn with_native(
        program: &'p Program,
        schema: &'p Schema,
        config: Config,
        code: Arc<Compiled>,
    ) -> Result<Executor<'p>, SetupError> {
        let prepared = Prepared::new(program)?;
        Executor::with_code(program, schema, config, prepared, Some(code))
    }

    fn with_code(
        program: &'p Program,
        schema: &'p Schema,
        config: Config,
        prepared: Prepared,
        code: Option<Arc<Compiled>>,
    ) -> Result<Executor<'p>, SetupError> {
        let index = config.rule_index.then(|| RuleIndex::new(program));
        let native = code.map(|code| {
            let frames = code.layouts.iter().map(|l| vec![0u8; l.size()]).collect();
            let plans: Vec<Plan> = code.layouts.iter().map(Plan::new).collect();
            let read = |source: SourceId, exprs: UnitExprs| {
                let s = source.0 as usize;
                wholes_read(&code.layouts[s], &plans[s], |f| exprs(f))
            };
            let wholes = [
                program.drops.iter().map(|d| read(d.source, &|f| d.for_each_expr(&mut |e| f(e)))).collect(),
                program.scores.iter().map(|u| read(u.source, &|f| u.for_each_expr(&mut |e| f(e)))).collect(),
                program.rules.iter().map(|r| read(r.source, &|f| r.for_each_expr(&mut |e| f(e)))).collect(),
            ];
            let sources = 0..program.sources.len();
            let time_slots = sources
                .clone()
                .map(|s| program.sources[s].time_field.and_then(|f| code.layouts[s].offset(&[f])))
                .collect();
            let index_slots = sources
                .map(|s| {
                    let (path, _) = index.as_ref()?.field(SourceId(s as u32))?;
                    code.layouts[s].offset(path)
                })
                .collect();
            Native {
                code,
                frames,
                plans,
                kept: Kept::default(),
                scratch: Scratch::default(),
                tree_columns: Vec::new(),
                wholes,
                time_slots,
                index_slots,
            }
        });
        let drop_sites = program
            .drops
            .iter()
            .map(|d| sites(velocity_sites(d.unit.velocity_sites, |f| d.for_each_expr(&mut |e| f(e))), config))
            .collect();
        let score_sites = program
            .scores
            .iter()
            .map(|s| sites(velocity_sites(s.unit.velocity_sites, |f| s.for_each_expr(&mut |e| f(e))), config))
            .collect();
        let rule_sites = program
            .rules
            .iter()
            .map(|r| sites(velocity_sites(r.unit.velocity_sites, |f| r.for_each_expr(&mut |e| f(e))), config))
            .collect();
        Ok(Executor {
            program,
            schema,
            prepared,
            drop_sites,
            score_sites,
            rule_sites,
            scores: vec![None; program.scores.len()],
            actions: Vec::new(),
            index,
            candidates: Vec::new(),
            shadow: ShadowCounts { outputs: vec![0; program.sinks.len()], drops: vec![0; program.drops.len()] },
            native,
        })
    }

    /// What `@shadow` units would have done so far.
    pub fn shadow(&self) -> &ShadowCounts {
        &self.shadow
    }

    pub fn program(&self) -> &'p Program {
        self.program
    }

    pub fn schema(&self) -> &'p Schema {
        self.schema
    }

    pub fn prepared(&self) -> &Prepared {
        &self.prepared
    }

    /// Decodes and processes one event of `source`, appending its outputs to `out`. Under the
    /// JIT, the event is decoded straight into its frame unless a unit reads it as a whole.
    pub fn process(&mut self, source: SourceId, bytes: &[u8], out: &mut Vec<Output>) -> Processed {
        let (schema, program) = (self.schema, self.program);
        let framed =
            self.native.as_mut().filter(|n| n.frames_events(source)).map(|n| n.decode(schema, program, source, bytes));
        let dropped_by = match framed {
            Some(decoded) => decoded.map(|()| {
                let time_ms = self.frame_time(source);
                // The frame points into `bytes`, which outlive this call.
                self.evaluate(source, Event::Frame(bytes), time_ms, out)
            }),
            None => self.decode(source, bytes).map(|event| self.run(source, &event, out)),
        };
        match dropped_by {
            Ok(dropped_by) => Processed { decoded: true, dropped_by },
            Err(DecodeError { reason }) => {
                out.push(Output::Dirty { error: reason, unit: None });
                Processed { decoded: false, dropped_by: None }
            }
        }
    }

    /// Decodes an event into a frame of its own, to evaluate apart from decoding (benchmarks
    /// measure the two stages apart). `None` when events of `source` are not decoded into frames:
    /// under the interpreter, or when a unit reads the event whole.
    pub fn decode_frame<'b>(&self, source: SourceId, bytes: &'b [u8]) -> Option<Result<DecodedFrame<'b>, DecodeError>> {
        let s = source.0 as usize;
        let native = self.native.as_ref().filter(|n| n.frames_events(source))?;
        let src = &self.program.sources[s];
        let mut decoded =
            DecodedFrame { source, frame: vec![0; native.frames[s].len()], kept: Kept::default(), input: bytes };
        let mut out = FrameOut::new(&mut decoded.frame, &mut decoded.kept, &native.plans[s]);
        Some(decode::decode_into(self.schema, src.message, src.format, bytes, &mut out).map(|()| decoded))
    }

    /// Runs drops, scores and rules over an event decoded by [`decode_frame`](Self::decode_frame).
    pub fn run_frame(&mut self, decoded: &DecodedFrame, out: &mut Vec<Output>) -> Option<usize> {
        let (source, s) = (decoded.source, decoded.source.0 as usize);
        let native = self.native.as_mut()?;
        native.frames[s].copy_from_slice(&decoded.frame);
        let time_ms = self.frame_time(source);
        // The frame points into `decoded.input` and `decoded.kept`, both alive for this call.
        self.evaluate(source, Event::Frame(decoded.input), time_ms, out)
    }

    /// Decodes an event of `source` into a value tree.
    pub fn decode(&self, source: SourceId, bytes: &[u8]) -> Result<Value, DecodeError> {
        let src = &self.program.sources[source.0 as usize];
        decode::decode(self.schema, src.message, src.format, bytes)
    }

    /// Runs drops, scores and rules of `source` over a decoded event. Returns the index of the
    /// drop that discarded it, if any.
    pub fn run(&mut self, source: SourceId, event: &Value, out: &mut Vec<Output>) -> Option<usize> {
        if let Some(native) = &mut self.native {
            let s = source.0 as usize;
            native.code.layouts[s].fill(event, &mut native.frames[s], &mut native.tree_columns);
        }
        let time_ms = self.event_time(source, event);
        self.evaluate(source, Event::Tree(event), time_ms, out)
    }

    fn evaluate(&mut self, source: SourceId, event: Event, time_ms: i64, out: &mut Vec<Output>) -> Option<usize> {
        let program = self.program;
        for (i, d) in program.drops.iter().enumerate().filter(|(_, d)| d.source == source) {
            match self.eval(Unit::Drop(i), source, event, time_ms) {
                Ok(v) if v != 0 && is_shadow(&d.annotations) => self.shadow.drops[i] += 1,
                Ok(v) if v != 0 => return Some(i),
                Ok(_) => {}
                Err(e) => {
                    out.push(Output::Dirty { error: format!("drop {}: {e}", d.name), unit: Some(d.name.clone()) })
                }
            }
        }
        for (i, s) in program.scores.iter().enumerate() {
            self.scores[i] = None;
            if s.source != source {
                continue;
            }
            match self.eval(Unit::Score(i), source, event, time_ms) {
                Ok(v) => self.scores[i] = Some(v),
                Err(e) => {
                    out.push(Output::Dirty { error: format!("score {}: {e}", s.name), unit: Some(s.name.clone()) })
                }
            }
        }
        let mut candidates = std::mem::take(&mut self.candidates);
        match &self.index {
            Some(index) => {
                let probe = match event {
                    Event::Tree(v) => index.probe(source, v),
                    Event::Frame(_) => self.frame_probe(index, source),
                };
                index.candidates(source, probe, &mut candidates);
            }
            None => {
                candidates.clear();
                candidates
                    .extend((0..program.rules.len() as u32).filter(|&i| program.rules[i as usize].source == source));
            }
        }
        for &i in &candidates {
            let (i, r) = (i as usize, &program.rules[i as usize]);
            // A failed unit's actions are gone (`eval` drops them), so `actions` is empty here.
            debug_assert!(self.actions.is_empty());
            match self.eval(Unit::Rule(i), source, event, time_ms) {
                Ok(_) if self.actions.is_empty() => {}
                Ok(_) if is_shadow(&r.annotations) => {
                    for a in self.actions.drain(..) {
                        let (Action::Emit { sink, .. } | Action::Route { sink }) = a;
                        self.shadow.outputs[sink.0 as usize] += 1;
                    }
                }
                Ok(_) => out.extend(self.actions.drain(..).map(|a| match a {
                    Action::Emit { sink, key, record } => Output::Record { sink, key, record },
                    Action::Route { sink } => Output::Forward { sink },
                })),
                Err(e) => {
                    out.push(Output::Dirty { error: format!("rule {}: {e}", r.name), unit: Some(r.name.clone()) })
                }
            }
        }
        self.candidates = candidates;
        None
    }

    /// The indexed field's value, read from the frame of `source`.
    fn frame_probe<'s>(&'s self, index: &RuleIndex, source: SourceId) -> Probe<'s> {
        let (Some(native), Some((path, leaf))) = (&self.native, index.field(source)) else { return Probe::Other };
        let s = source.0 as usize;
        let Some(at) = native.index_slots[s] else { return Probe::Other };
        debug_assert_eq!(native.code.layouts[s].offset(path), Some(at));
        let (_, word, len) = read_slot(&native.frames[s], at);
        match leaf {
            // SAFETY: a string slot holds a pointer and length of UTF-8 text in the event's
            // bytes or in `kept`, both alive while the event is processed.
            Type::String => Probe::Str(unsafe { frame_str(word, len) }),
            Type::Int => Probe::Int(word as i64),
            Type::Enum(_) => Probe::Enum(word as i64 as i32),
            Type::Bool => Probe::Bool(word != 0),
            _ => Probe::Other,
        }
    }

    /// Event time from the frame's slot for the source's time field, or processing time.
    fn frame_time(&self, source: SourceId) -> i64 {
        let s = source.0 as usize;
        match (&self.native, self.program.sources[s].time_field) {
            (Some(native), Some(_)) => native.time_slots[s].map_or(0, |at| read_slot(&native.frames[s], at).1 as i64),
            _ => evr_stdlib::time::now_ms(),
        }
    }

    /// Evaluates one unit with the configured engine: a drop gives 0/1, a score its total, a
    /// rule 0 (its actions go to `self.actions`, only when it succeeds).
    fn eval(&mut self, unit: Unit, source: SourceId, event: Event, time_ms: i64) -> Result<i64, RuntimeError> {
        let program = self.program;
        let sites = match unit {
            Unit::Drop(i) => &mut self.drop_sites[i],
            Unit::Score(i) => &mut self.score_sites[i],
            Unit::Rule(i) => &mut self.rule_sites[i],
        };
        let scores: &[Option<i64>] = if matches!(unit, Unit::Rule(_)) { &self.scores } else { &[] };
        if let (Some(native), Event::Frame(bytes)) = (&mut self.native, event) {
            settle(native, self.schema, source, unit, bytes)?;
        }
        let Some(native) = &mut self.native else {
            let Event::Tree(event) = event else { return Err(RuntimeError::Internal) };
            let mut env = Env::new(self.schema, &self.prepared, event, scores, sites, time_ms);
            return match unit {
                Unit::Drop(i) => {
                    interp::eval_drop(&program.drops[i].cond, &program.drops[i].unit, &mut env).map(i64::from)
                }
                Unit::Score(i) => interp::eval_score(&program.scores[i].weights, &program.scores[i].unit, &mut env),
                Unit::Rule(i) => interp::eval_rule(&program.rules[i], &mut env, &mut self.actions).map(|()| 0),
            };
        };
        let f = match unit {
            Unit::Drop(i) => native.code.drops[i],
            Unit::Score(i) => native.code.scores[i],
            Unit::Rule(i) => native.code.rules[i],
        };
        let start = self.actions.len();
        let mut ctx = Ctx {
            schema: self.schema,
            constants: &native.code.constants,
            scores,
            sites,
            time_ms,
            actions: &mut self.actions,
            scratch: &mut native.scratch,
            event: match event {
                Event::Tree(v) => v,
                // No unit of this source reads the event whole (its layout says so).
                Event::Frame(_) => &Value::Null,
            },
        };
        let mut result = 0i64;
        let status = Compiled::call(f, &native.frames[source.0 as usize], &mut ctx, &mut result);
        native.scratch.clear();
        if status == 0 {
            return Ok(result);
        }
        self.actions.truncate(start);
        Err(RuntimeError::from_code(status as u32).unwrap_or(RuntimeError::Internal))
    }

    /// The bytes an output sends to its sink: an emitted record encoded in the sink's format; a
    /// routed event as the original bytes when the source and sink formats match, decoded again
    /// and transcoded otherwise. `None` for dirty records.
    pub fn payload<'b>(
        &self,
        source: SourceId,
        input: &'b [u8],
        output: &Output,
    ) -> Option<std::borrow::Cow<'b, [u8]>> {
        let sink_format = |sink: SinkId| self.program.sinks[sink.0 as usize].format;
        match output {
            Output::Record { sink, record, .. } => {
                let mut bytes = Vec::new();
                encode::encode(self.schema, sink_format(*sink), record, &mut bytes);
                Some(bytes.into())
            }
            Output::Forward { sink } if sink_format(*sink) == self.program.sources[source.0 as usize].format => {
                Some(input.into())
            }
            Output::Forward { sink } => {
                // A routed event decoded before, so it decodes again.
                let event = self.decode(source, input).ok()?;
                let mut bytes = Vec::new();
                encode::encode(self.schema, sink_format(*sink), &event, &mut bytes);
                Some(bytes.into())
            }
            Output::Dirty { .. } => None,
        }
    }

    /// Event time from the source's time field, or processing time.
    fn event_time(&self, source: SourceId, event: &Value) -> i64 {
        let src = &self.program.sources[source.0 as usize];
        match (src.time_field, event) {
            (Some(index), Value::Message(m)) => match m.fields.get(index as usize) {
                Some(Value::Int(t)) => *t,
                _ => 0,
            },
            _ => evr_stdlib::time::now_ms(),
        }
    }
}

/// Hands each top-level expression of a unit to its argument.
type UnitExprs<'a> = &'a dyn Fn(&mut dyn FnMut(&Expr));

/// The values read whole (by whole number) that the expressions given to `exprs` read.
fn wholes_read(layout: &FrameLayout, plan: &Plan, exprs: impl FnOnce(&mut dyn FnMut(&Expr))) -> Vec<usize> {
    layout.slots_read(exprs).into_iter().filter_map(|at| plan.whole_at(at)).collect()
}

/// Decodes the values read whole that `unit` reads and that still wait (see `Kept::pending`).
fn settle(
    native: &mut Native,
    schema: &Schema,
    source: SourceId,
    unit: Unit,
    bytes: &[u8],
) -> Result<(), RuntimeError> {
    let (kind, i) = match unit {
        Unit::Drop(i) => (0, i),
        Unit::Score(i) => (1, i),
        Unit::Rule(i) => (2, i),
    };
    let s = source.0 as usize;
    for &w in &native.wholes[kind][i] {
        let Some(p) = native.kept.pending().iter().find(|p| p.whole == w).copied() else { continue };
        // The text was checked when the event was decoded, so it decodes now; were it not to,
        // the unit fails visibly rather than reading an unset field.
        let v = decode::fast::settle(schema, bytes, &p).ok_or(RuntimeError::Internal)?;
        FrameOut::new(&mut native.frames[s], &mut native.kept, &native.plans[s]).settle(w, v);
    }
    Ok(())
}

/// # Safety
/// `word` and `len` must be a string slot's pointer and length, alive for `'a`.
unsafe fn frame_str<'a>(word: u64, len: u64) -> &'a str {
    if len == 0 {
        return "";
    }
    // SAFETY: see the function's contract; decoders store only UTF-8 text in string slots.
    unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(word as *const u8, len as usize)) }
}
