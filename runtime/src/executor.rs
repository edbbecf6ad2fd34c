//! The executor: one input event at a time, decode, drops, scores, rules, in the order the
//! language defines; runtime errors become dirty records that name the failing unit and cost
//! nothing but that unit's outputs. One executor holds the velocity state of one stream (a
//! file, a partition); the program it runs is shared.

use std::collections::HashMap;
use std::sync::Arc;

use evr_compiler::ir::{Program, SinkId, SourceId, UnitRef};
use evr_compiler::jit::abi::Scratch;
use evr_compiler::schema::Schema;
use evr_compiler::value::{Action, Value};
use evr_stdlib::RuntimeError;
use evr_stdlib::velocity::Site;

use crate::decode::plan::{FrameOut, Kept};
use crate::decode::{self, DecodeError};
use crate::encode;
use crate::engine::{Code, EventView, FrameView, UnitState};
use crate::index::{Probe, RuleIndex};
use crate::live::Live;
pub use crate::loaded::{Config, Engine, Loaded, SetupError};
use crate::loaded::{LoadedUnit, SiteId, SourceFrames};
use crate::sink::{Envelope, Key, Outputs, SinkRef};
use crate::stats::UnitCounts;

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
    /// The version of the bundle that evaluated the event, wholly.
    pub version: u64,
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

/// Runs a loaded bundle over one stream of events (a file, a partition). It owns only what
/// belongs to the stream — velocity state, frame buffers, scratch space — so it is cheap to
/// make, and `Send`: a host moves it to whichever thread serves its stream.
pub struct Executor {
    loaded: Arc<Loaded>,
    /// Where new versions are published, when the executor follows reloads.
    live: Option<Arc<Live>>,
    stream: Stream,
}

/// An executor's per-stream state.
struct Stream {
    max_keys_per_site: usize,
    /// Velocity state of every site of every unit, unit after unit (`LoadedUnit::first_site`).
    sites: Vec<Site>,
    scores: Vec<Option<i64>>,
    actions: Vec<Action>,
    candidates: Vec<u32>,
    shadow: ShadowCounts,
    /// Under the JIT: one frame per source, what its slots point at, and what native code makes
    /// while a unit runs.
    frames: Vec<Vec<u8>>,
    kept: Kept,
    scratch: Scratch,
    /// Columns of a frame filled from a value tree (`run`).
    tree_columns: Vec<Vec<u8>>,
    /// Buffers [`Executor::process_into`] reuses: outputs, and an output's bytes.
    outputs: Vec<Output>,
    encoded: Vec<u8>,
    /// What units did, when a host lent counts ([`Executor::counting`]); whether this event's
    /// units are timed.
    counts: UnitCounts,
    timing: bool,
}

/// Executors move between threads.
const _: () = {
    const fn send<T: Send>() {}
    send::<Executor>();
};

impl Executor {
    /// An executor of one version of a bundle, with empty velocity state.
    pub fn new(loaded: Arc<Loaded>) -> Executor {
        let max_keys_per_site = loaded.config().max_keys_per_site;
        let mut exec = Executor {
            stream: Stream {
                sites: Vec::new(),
                scores: Vec::new(),
                actions: Vec::new(),
                candidates: Vec::new(),
                shadow: ShadowCounts::default(),
                frames: Vec::new(),
                kept: Kept::default(),
                scratch: Scratch::default(),
                tree_columns: Vec::new(),
                outputs: Vec::new(),
                encoded: Vec::new(),
                counts: UnitCounts::default(),
                timing: false,
                max_keys_per_site,
            },
            live: None,
            loaded: loaded.clone(),
        };
        exec.switch(loaded);
        exec
    }

    /// An executor that runs whichever version `live` holds: a new version takes over at the
    /// next event, with the velocity state of the sites it keeps.
    pub fn following(live: Arc<Live>) -> Executor {
        let mut exec = Executor::new(live.current());
        exec.live = Some(live);
        exec
    }

    /// Makes `next` the version this executor runs. Velocity state moves by site identity:
    /// sites that `next` keeps keep their state, new sites start empty, the rest is freed.
    fn switch(&mut self, next: Arc<Loaded>) {
        let old_ids = self.loaded.units().iter().flat_map(|u| u.sites.iter().map(|s| s.id));
        let mut state: HashMap<SiteId, Site> = old_ids.zip(std::mem::take(&mut self.stream.sites)).collect();
        let max_keys = self.stream.max_keys_per_site;
        self.stream.sites = next
            .units()
            .iter()
            .flat_map(|u| u.sites.iter())
            .map(|s| state.remove(&s.id).unwrap_or_else(|| Site::new(s.kind, s.window_ms, max_keys)))
            .collect();
        let (old, new) = (self.loaded.program(), next.program());
        let by_name = |counts: &[u64], names: &dyn Fn(usize) -> Option<String>, new_names: Vec<String>| {
            let old: HashMap<String, u64> =
                counts.iter().enumerate().filter_map(|(i, c)| Some((names(i)?, *c))).collect();
            new_names.iter().map(|n| old.get(n).copied().unwrap_or(0)).collect::<Vec<u64>>()
        };
        self.stream.shadow = ShadowCounts {
            outputs: by_name(
                &self.stream.shadow.outputs,
                &|i| old.sinks.get(i).map(|s| s.name.clone()),
                new.sinks.iter().map(|s| s.name.clone()).collect(),
            ),
            drops: by_name(
                &self.stream.shadow.drops,
                &|i| old.drops.get(i).map(|d| d.name.clone()),
                new.drops.iter().map(|d| d.name.clone()).collect(),
            ),
        };
        self.stream.scores = vec![None; new.scores.len()];
        self.stream.frames = match &next.frames {
            Some(frames) => frames.iter().map(|f| vec![0u8; f.layout.size()]).collect(),
            None => Vec::new(),
        };
        self.stream.kept = Kept::default();
        self.loaded = next;
    }

    /// Takes the newest version, if the executor follows reloads and one was published since
    /// the last call; true when it did. Hosts call it between events: sources and sinks are
    /// found by name in the version it returns.
    pub fn refresh(&mut self) -> bool {
        let Some(live) = &self.live else { return false };
        let current = live.current_ref();
        if Arc::ptr_eq(&current, &self.loaded) {
            return false;
        }
        let next = Arc::clone(&current);
        drop(current);
        self.switch(next);
        true
    }

    /// Whether the executor follows reloads.
    pub fn follows(&self) -> bool {
        self.live.is_some()
    }

    /// The version that evaluated the last event.
    pub fn loaded(&self) -> &Arc<Loaded> {
        &self.loaded
    }

    /// Runs `f` with this executor counting what its units do (evaluations, hits, errors,
    /// times) into `counts`, which a host keeps per thread.
    pub fn counting<R>(&mut self, counts: &mut UnitCounts, f: impl FnOnce(&mut Executor) -> R) -> R {
        std::mem::swap(&mut self.stream.counts, counts);
        let result = f(self);
        std::mem::swap(&mut self.stream.counts, counts);
        result
    }

    /// What `@shadow` units would have done so far.
    pub fn shadow(&self) -> &ShadowCounts {
        &self.stream.shadow
    }

    pub fn program(&self) -> &Program {
        self.loaded.program()
    }

    pub fn schema(&self) -> &Schema {
        self.loaded.schema()
    }

    /// Decodes and processes one event of `source`, appending its outputs to `out`.
    /// `host_time_ms` is the host's timestamp for the event (a Kafka record's timestamp, the
    /// time a line was read): its event time when the source names no time field. Under the
    /// JIT, the event is decoded straight into its frame unless a unit reads it as a whole.
    pub fn process(&mut self, source: SourceId, bytes: &[u8], host_time_ms: i64, out: &mut Vec<Output>) -> Processed {
        self.stream.process(&self.loaded, source, bytes, host_time_ms, out)
    }

    /// Processes one event of `source` and hands its outputs, as bytes, to `to`: what hosts
    /// call. The event time is `event.time_ms` when the source names no time field.
    pub fn process_into(
        &mut self,
        source: SourceId,
        bytes: &[u8],
        event: &Envelope,
        to: &mut impl Outputs,
    ) -> std::io::Result<Processed> {
        self.stream.process_into(&self.loaded, source, bytes, event, to)
    }

    /// Decodes an event into a frame of its own, to evaluate apart from decoding (benchmarks
    /// measure the two stages apart). `None` when events of `source` are not decoded into frames:
    /// under the interpreter, or when a unit reads the event whole.
    pub fn decode_frame<'b>(&self, source: SourceId, bytes: &'b [u8]) -> Option<Result<DecodedFrame<'b>, DecodeError>> {
        self.stream.decode_frame(&self.loaded, source, bytes)
    }

    /// Runs drops, scores and rules over an event decoded by [`decode_frame`](Self::decode_frame)
    /// of this executor's version.
    pub fn run_frame(&mut self, decoded: &DecodedFrame, host_time_ms: i64, out: &mut Vec<Output>) -> Option<usize> {
        self.stream.run_frame(&self.loaded, decoded, host_time_ms, out)
    }

    /// Decodes an event of `source` into a value tree.
    pub fn decode(&self, source: SourceId, bytes: &[u8]) -> Result<Value, DecodeError> {
        self.stream.decode(&self.loaded, source, bytes)
    }

    /// Runs drops, scores and rules of `source` over a decoded event. Returns the index of the
    /// drop that discarded it, if any.
    pub fn run(&mut self, source: SourceId, event: &Value, host_time_ms: i64, out: &mut Vec<Output>) -> Option<usize> {
        self.stream.run(&self.loaded, source, event, host_time_ms, out)
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
        self.stream.payload(&self.loaded, source, input, output)
    }
}

/// The per-stream half of evaluation, run against the version its executor holds (passed in,
/// so that no reference count is touched per event).
impl Stream {
    /// Decodes and processes one event of `source`, appending its outputs to `out`.
    /// `host_time_ms` is the host's timestamp for the event (a Kafka record's timestamp, the
    /// time a line was read): its event time when the source names no time field. Under the
    /// JIT, the event is decoded straight into its frame unless a unit reads it as a whole.
    fn process(
        &mut self,
        loaded: &Loaded,
        source: SourceId,
        bytes: &[u8],
        host_time_ms: i64,
        out: &mut Vec<Output>,
    ) -> Processed {
        let dropped_by = match loaded.frames_events(source) {
            Some(frames) => {
                let (s, src) = (source.0 as usize, &loaded.program().sources[source.0 as usize]);
                let mut frame = FrameOut::new(&mut self.frames[s], &mut self.kept, &frames.plan);
                frame.defer = true;
                decode::decode_into(loaded.schema(), src.message, src.format, bytes, &mut frame).map(|()| {
                    let time_ms = self.frame_time(loaded, source, host_time_ms);
                    // The frame points into `bytes`, which outlive this call.
                    self.evaluate(loaded, source, Event::Frame(bytes), time_ms, out)
                })
            }
            None => self.decode(loaded, source, bytes).map(|event| self.run(loaded, source, &event, host_time_ms, out)),
        };
        let version = loaded.version();
        match dropped_by {
            Ok(dropped_by) => Processed { decoded: true, dropped_by, version },
            Err(DecodeError { reason }) => {
                out.push(Output::Dirty { error: reason, unit: None });
                Processed { decoded: false, dropped_by: None, version }
            }
        }
    }

    /// Processes one event of `source` and hands its outputs, as bytes, to `to`: what hosts
    /// call. The event time is `event.time_ms` when the source names no time field.
    fn process_into(
        &mut self,
        loaded: &Loaded,
        source: SourceId,
        bytes: &[u8],
        event: &Envelope,
        to: &mut impl Outputs,
    ) -> std::io::Result<Processed> {
        let mut outputs = std::mem::take(&mut self.outputs);
        outputs.clear();
        let processed = self.process(loaded, source, bytes, event.time_ms, &mut outputs);
        let result = self.hand_over(loaded, source, bytes, event, &outputs, to);
        self.outputs = outputs;
        result.map(|()| processed)
    }

    fn hand_over(
        &mut self,
        loaded: &Loaded,
        source: SourceId,
        bytes: &[u8],
        event: &Envelope,
        outputs: &[Output],
        to: &mut impl Outputs,
    ) -> std::io::Result<()> {
        let (program, schema) = (loaded.program(), loaded.schema());
        let source_format = program.sources[source.0 as usize].format;
        for o in outputs {
            match o {
                Output::Record { sink, key, record } => {
                    let sink = SinkRef { id: *sink, sink: &program.sinks[sink.0 as usize] };
                    self.encoded.clear();
                    encode::encode(schema, to.format(sink), record, &mut self.encoded);
                    let text: String;
                    let key = match key {
                        Some(Value::Str(s)) => Some(Key::Text(s)),
                        Some(Value::Bytes(b)) => Some(Key::Bytes(b)),
                        Some(Value::Int(i)) => {
                            text = i.to_string();
                            Some(Key::Text(&text))
                        }
                        _ => None,
                    };
                    to.record(sink, key, &self.encoded, event)?;
                }
                Output::Forward { sink } => {
                    let sink = SinkRef { id: *sink, sink: &program.sinks[sink.0 as usize] };
                    let format = to.format(sink);
                    if format == source_format {
                        to.route(sink, bytes, event)?;
                    } else {
                        // The event decoded before, so it decodes again, to be transcoded.
                        self.encoded.clear();
                        if let Ok(tree) = self.decode(loaded, source, bytes) {
                            encode::encode(schema, format, &tree, &mut self.encoded);
                        }
                        to.route(sink, &self.encoded, event)?;
                    }
                }
                Output::Dirty { error, unit } => to.dirty(error, unit.as_deref(), bytes, event)?,
            }
        }
        Ok(())
    }

    /// Decodes an event into a frame of its own, to evaluate apart from decoding (benchmarks
    /// measure the two stages apart). `None` when events of `source` are not decoded into frames:
    /// under the interpreter, or when a unit reads the event whole.
    fn decode_frame<'b>(
        &self,
        loaded: &Loaded,
        source: SourceId,
        bytes: &'b [u8],
    ) -> Option<Result<DecodedFrame<'b>, DecodeError>> {
        let frames = loaded.frames_events(source)?;
        let src = &loaded.program().sources[source.0 as usize];
        let mut decoded =
            DecodedFrame { source, frame: vec![0; frames.layout.size()], kept: Kept::default(), input: bytes };
        let mut out = FrameOut::new(&mut decoded.frame, &mut decoded.kept, &frames.plan);
        Some(decode::decode_into(loaded.schema(), src.message, src.format, bytes, &mut out).map(|()| decoded))
    }

    /// Runs drops, scores and rules over an event decoded by [`decode_frame`](Self::decode_frame)
    /// of this executor's version.
    fn run_frame(
        &mut self,
        loaded: &Loaded,
        decoded: &DecodedFrame,
        host_time_ms: i64,
        out: &mut Vec<Output>,
    ) -> Option<usize> {
        let (source, s) = (decoded.source, decoded.source.0 as usize);
        let frame = self.frames.get_mut(s).filter(|f| f.len() == decoded.frame.len())?;
        frame.copy_from_slice(&decoded.frame);
        let time_ms = self.frame_time(loaded, source, host_time_ms);
        // The frame points into `decoded.input` and `decoded.kept`, both alive for this call.
        self.evaluate(loaded, source, Event::Frame(decoded.input), time_ms, out)
    }

    /// Decodes an event of `source` into a value tree.
    fn decode(&self, loaded: &Loaded, source: SourceId, bytes: &[u8]) -> Result<Value, DecodeError> {
        let src = &loaded.program().sources[source.0 as usize];
        decode::decode(loaded.schema(), src.message, src.format, bytes)
    }

    /// Runs drops, scores and rules of `source` over a decoded event. Returns the index of the
    /// drop that discarded it, if any.
    fn run(
        &mut self,
        loaded: &Loaded,
        source: SourceId,
        event: &Value,
        host_time_ms: i64,
        out: &mut Vec<Output>,
    ) -> Option<usize> {
        if let Some(frames) = &loaded.frames {
            let s = source.0 as usize;
            frames[s].layout.fill(event, &mut self.frames[s], &mut self.tree_columns);
        }
        let time_ms = self.event_time(loaded, source, event, host_time_ms);
        self.evaluate(loaded, source, Event::Tree(event), time_ms, out)
    }

    fn evaluate(
        &mut self,
        loaded: &Loaded,
        source: SourceId,
        event: Event,
        time_ms: i64,
        out: &mut Vec<Output>,
    ) -> Option<usize> {
        let program = loaded.program();
        let units = loaded.units();
        let mine = &loaded.by_source[source.0 as usize];
        self.timing = self.counts.on && self.counts.event(loaded);
        for &u in &mine.drops {
            let (u, unit) = (u as usize, &units[u as usize]);
            match self.eval(loaded, u, event, time_ms) {
                Ok(v) if v != 0 && unit.shadow => self.shadow.drops[drop_index(unit)] += 1,
                Ok(v) if v != 0 => return Some(drop_index(unit)),
                Ok(_) => {}
                Err(e) => out.push(Output::Dirty {
                    error: format!("drop {}: {e}", unit.name),
                    unit: Some(unit.name.to_string()),
                }),
            }
        }
        self.scores.iter_mut().for_each(|s| *s = None);
        for &u in &mine.scores {
            let (u, unit) = (u as usize, &units[u as usize]);
            let UnitRef::Score(i) = unit.unit else { continue };
            match self.eval(loaded, u, event, time_ms) {
                Ok(v) => self.scores[i as usize] = Some(v),
                Err(e) => out.push(Output::Dirty {
                    error: format!("score {}: {e}", unit.name),
                    unit: Some(unit.name.to_string()),
                }),
            }
        }
        let mut candidates = std::mem::take(&mut self.candidates);
        match &loaded.index {
            Some(index) => {
                let probe = match event {
                    Event::Tree(v) => index.probe(source, v),
                    Event::Frame(_) => self.frame_probe(loaded, index, source),
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
            let u = loaded.rule_unit(i);
            let unit = &units[u];
            // A failed unit's actions are gone (`eval` drops them), so `actions` is empty here.
            debug_assert!(self.actions.is_empty());
            match self.eval(loaded, u, event, time_ms) {
                Ok(_) if self.actions.is_empty() => {}
                Ok(_) if unit.shadow => {
                    for a in self.actions.drain(..) {
                        let (Action::Emit { sink, .. } | Action::Route { sink }) = a;
                        self.shadow.outputs[sink.0 as usize] += 1;
                    }
                }
                Ok(_) => out.extend(self.actions.drain(..).map(|a| match a {
                    Action::Emit { sink, key, record } => Output::Record { sink, key, record },
                    Action::Route { sink } => Output::Forward { sink },
                })),
                Err(e) => out.push(Output::Dirty {
                    error: format!("rule {}: {e}", unit.name),
                    unit: Some(unit.name.to_string()),
                }),
            }
        }
        self.candidates = candidates;
        None
    }

    /// The indexed field's value, read from the frame of `source`.
    /// The frame of `source` as the executor asks about it, under the JIT.
    fn frame_view<'s>(&'s self, loaded: &'s Loaded, source: SourceId) -> Option<FrameView<'s>> {
        let s = source.0 as usize;
        let frames = loaded.frames.as_ref()?;
        Some(FrameView { frames: &frames[s], frame: &self.frames[s] })
    }

    /// The indexed field's value, read from the frame of `source`.
    fn frame_probe<'s>(&'s self, loaded: &'s Loaded, index: &RuleIndex, source: SourceId) -> Probe<'s> {
        let (Some(view), Some((_, leaf))) = (self.frame_view(loaded, source), index.field(source)) else {
            return Probe::Other;
        };
        view.probe(leaf)
    }

    /// Event time from the frame's slot for the source's time field, or the host's time.
    fn frame_time(&self, loaded: &Loaded, source: SourceId, host_time_ms: i64) -> i64 {
        match (self.frame_view(loaded, source), loaded.program().sources[source.0 as usize].time_field) {
            (Some(view), Some(_)) => view.time().unwrap_or(0),
            _ => host_time_ms,
        }
    }

    /// Evaluates unit `u` of the unit table with its engine: a drop gives 0/1, a score its
    /// total, a rule 0 (its actions go to `self.actions`, only when it succeeds).
    #[inline]
    fn eval(&mut self, loaded: &Loaded, u: usize, event: Event, time_ms: i64) -> Result<i64, RuntimeError> {
        match self.counts.on {
            true => self.eval_counted(loaded, u, event, time_ms),
            false => self.eval_unit(loaded, u, event, time_ms),
        }
    }

    /// [`eval`](Self::eval), counting what the unit did. Apart, so that an executor lent no
    /// counts runs the same code as before counting existed.
    #[inline(never)]
    fn eval_counted(&mut self, loaded: &Loaded, u: usize, event: Event, time_ms: i64) -> Result<i64, RuntimeError> {
        let start = self.timing.then(std::time::Instant::now);
        let result = self.eval_unit(loaded, u, event, time_ms);
        let hit = match (&result, loaded.units()[u].unit) {
            (Ok(_), UnitRef::Rule(_)) => !self.actions.is_empty(),
            (Ok(v), _) => *v != 0,
            (Err(_), _) => false,
        };
        if let Some(stats) = self.counts.unit(u) {
            stats.evaluations += 1;
            stats.hits += u64::from(hit);
            if let Err(e) = &result {
                stats.error(*e);
            }
            if let Some(start) = start {
                stats.time(start.elapsed().as_nanos() as u64);
            }
        }
        result
    }

    #[inline]
    fn eval_unit(&mut self, loaded: &Loaded, u: usize, event: Event, time_ms: i64) -> Result<i64, RuntimeError> {
        let unit = &loaded.units()[u];
        let s = unit.source.0 as usize;
        if let (Some(frames), Event::Frame(bytes), Code::Native(_)) = (&loaded.frames, event, &unit.code) {
            settle(&frames[s], &mut self.frames[s], &mut self.kept, loaded.schema(), &unit.wholes, bytes)?;
        }
        let scores: &[Option<i64>] = if matches!(unit.unit, UnitRef::Rule(_)) { &self.scores } else { &[] };
        let view = EventView {
            frame: self.frames.get(s).map_or(&[][..], Vec::as_slice),
            tree: match event {
                Event::Tree(v) => Some(v),
                Event::Frame(_) => None,
            },
        };
        let state = UnitState {
            sites: &mut self.sites[unit.first_site as usize..][..unit.sites.len()],
            scores,
            time_ms,
            actions: &mut self.actions,
            scratch: &mut self.scratch,
        };
        unit.code.evaluate(loaded, unit.unit, view, state)
    }

    /// The bytes an output sends to its sink: an emitted record encoded in the sink's format; a
    /// routed event as the original bytes when the source and sink formats match, decoded again
    /// and transcoded otherwise. `None` for dirty records.
    fn payload<'b>(
        &self,
        loaded: &Loaded,
        source: SourceId,
        input: &'b [u8],
        output: &Output,
    ) -> Option<std::borrow::Cow<'b, [u8]>> {
        let program = loaded.program();
        let sink_format = |sink: SinkId| program.sinks[sink.0 as usize].format;
        match output {
            Output::Record { sink, record, .. } => {
                let mut bytes = Vec::new();
                encode::encode(loaded.schema(), sink_format(*sink), record, &mut bytes);
                Some(bytes.into())
            }
            Output::Forward { sink } if sink_format(*sink) == program.sources[source.0 as usize].format => {
                Some(input.into())
            }
            Output::Forward { sink } => {
                // A routed event decoded before, so it decodes again.
                let event = self.decode(loaded, source, input).ok()?;
                let mut bytes = Vec::new();
                encode::encode(loaded.schema(), sink_format(*sink), &event, &mut bytes);
                Some(bytes.into())
            }
            Output::Dirty { .. } => None,
        }
    }

    /// Event time from the source's time field, or the host's time.
    fn event_time(&self, loaded: &Loaded, source: SourceId, event: &Value, host_time_ms: i64) -> i64 {
        let src = &loaded.program().sources[source.0 as usize];
        match (src.time_field, event) {
            (Some(index), Value::Message(m)) => match m.fields.get(index as usize) {
                Some(Value::Int(t)) => *t,
                _ => 0,
            },
            _ => host_time_ms,
        }
    }
}

fn drop_index(unit: &LoadedUnit) -> usize {
    match unit.unit {
        UnitRef::Drop(i) => i as usize,
        _ => 0,
    }
}

/// Decodes the values read whole that a unit reads (`wholes`) and that still wait (see
/// `Kept::pending`).
fn settle(
    frames: &SourceFrames,
    frame: &mut [u8],
    kept: &mut Kept,
    schema: &Schema,
    wholes: &[usize],
    bytes: &[u8],
) -> Result<(), RuntimeError> {
    for &w in wholes {
        let Some(p) = kept.pending().iter().find(|p| p.whole == w).copied() else { continue };
        // The text was checked when the event was decoded, so it decodes now; were it not to,
        // the unit fails visibly rather than reading an unset field.
        let v = decode::fast::settle(schema, bytes, &p).ok_or(RuntimeError::Internal)?;
        FrameOut::new(frame, kept, &frames.plan).settle(w, v);
    }
    Ok(())
}
