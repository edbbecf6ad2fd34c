//! The one interface both engines implement: evaluate a unit on an event with its state. The
//! executor sequences units and owns the state; how a unit is evaluated — by the reference
//! interpreter over a value tree, or by native code over a frame — is the unit's [`Code`]'s
//! business. A [`FrameView`] answers what the executor asks of a frame (the event time, the
//! rule index's key), so the executor reads no slot itself.

use evr_compiler::frame::read_slot;
use evr_compiler::interp::{self, Env};
use evr_compiler::ir::{Program, UnitRef};
use evr_compiler::jit::UnitCode;
use evr_compiler::jit::abi::{Ctx, Scratch};
use evr_compiler::types::Type;
use evr_compiler::value::{Action, Value};
use evr_stdlib::RuntimeError;
use evr_stdlib::velocity::Site;

use crate::index::Probe;
use crate::loaded::{Loaded, SourceFrames};

/// How a unit is evaluated.
#[derive(Clone)]
pub(crate) enum Code {
    /// By the reference interpreter, over the event's value tree.
    Interpreted,
    /// By native code, over the event's frame.
    Native(UnitCode),
}

/// The event a unit reads: its source's frame (under the JIT), and its value tree when the
/// event was decoded into one (always under the interpreter; under the JIT when a unit of the
/// source reads the event whole, and the frame was filled from it).
#[derive(Clone, Copy)]
pub(crate) struct EventView<'e> {
    pub frame: &'e [u8],
    pub tree: Option<&'e Value>,
}

/// What one evaluation of a unit reads and updates besides the event.
pub(crate) struct UnitState<'s> {
    /// The unit's velocity sites, by site number.
    pub sites: &'s mut [Site],
    /// Scores of this event (for rules; empty for drops and scores).
    pub scores: &'s [Option<i64>],
    pub time_ms: i64,
    /// Where a rule's actions go; a unit that fails leaves none.
    pub actions: &'s mut Vec<Action>,
    /// What native code makes while a unit runs (reused across units).
    pub scratch: &'s mut Scratch,
}

impl Code {
    /// Evaluates `unit` of `loaded`: a drop gives 0/1, a score its total, a rule 0 (its
    /// actions appended to `state.actions` only when it succeeds).
    pub(crate) fn evaluate(
        &self,
        loaded: &Loaded,
        unit: UnitRef,
        event: EventView,
        state: UnitState,
    ) -> Result<i64, RuntimeError> {
        match self {
            Code::Interpreted => interpret(loaded, unit, event.tree.ok_or(RuntimeError::Internal)?, state),
            // No unit of a source read into frames alone reads the event whole.
            Code::Native(code) => run_native(loaded, code, event.frame, event.tree.unwrap_or(&Value::Null), state),
        }
    }

    pub(crate) fn native(&self) -> Option<&UnitCode> {
        match self {
            Code::Native(code) => Some(code),
            Code::Interpreted => None,
        }
    }
}

fn interpret(loaded: &Loaded, unit: UnitRef, event: &Value, state: UnitState) -> Result<i64, RuntimeError> {
    let program: &Program = loaded.program();
    let mut env = Env::new(loaded.schema(), &loaded.prepared, event, state.scores, state.sites, state.time_ms);
    match unit {
        UnitRef::Drop(i) => {
            let d = &program.drops[i as usize];
            interp::eval_drop(&d.cond, &d.unit, &mut env).map(i64::from)
        }
        UnitRef::Score(i) => {
            let s = &program.scores[i as usize];
            interp::eval_score(&s.weights, &s.unit, &mut env)
        }
        UnitRef::Rule(i) => interp::eval_rule(&program.rules[i as usize], &mut env, state.actions).map(|()| 0),
    }
}

fn run_native(
    loaded: &Loaded,
    code: &UnitCode,
    frame: &[u8],
    event: &Value,
    state: UnitState,
) -> Result<i64, RuntimeError> {
    let start = state.actions.len();
    let mut ctx = Ctx {
        schema: loaded.schema(),
        constants: code.constants(),
        scores: state.scores,
        sites: state.sites,
        time_ms: state.time_ms,
        actions: &mut *state.actions,
        scratch: &mut *state.scratch,
        event,
    };
    let mut result = 0i64;
    let status = code.call(frame, &mut ctx, &mut result);
    state.scratch.clear();
    if status == 0 {
        return Ok(result);
    }
    state.actions.truncate(start);
    Err(RuntimeError::from_code(status as u32).unwrap_or(RuntimeError::Internal))
}

/// An event's frame as the executor asks about it.
pub(crate) struct FrameView<'f> {
    pub frames: &'f SourceFrames,
    pub frame: &'f [u8],
}

impl<'f> FrameView<'f> {
    /// The event time, when the source names a time field.
    pub(crate) fn time(&self) -> Option<i64> {
        self.frames.time_slot.map(|at| read_slot(self.frame, at).1 as i64)
    }

    /// The value of the field the rule index looks up, read as `leaf`.
    pub(crate) fn probe(&self, leaf: &Type) -> Probe<'f> {
        let Some(at) = self.frames.index_slot else { return Probe::Other };
        let (_, word, len) = read_slot(self.frame, at);
        match leaf {
            // SAFETY: a string slot holds a pointer and length of UTF-8 text in the event's
            // bytes or in what the frame keeps, both alive while the event is processed.
            Type::String => Probe::Str(unsafe { frame_str(word, len) }),
            Type::Int => Probe::Int(word as i64),
            Type::Enum(_) => Probe::Enum(word as i64 as i32),
            Type::Bool => Probe::Bool(word != 0),
            _ => Probe::Other,
        }
    }
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
