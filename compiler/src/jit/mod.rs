//! The Cranelift backend: one native function per drop, score and rule, reading the event from a
//! frame (see [`frame`]) and calling Rust through a C ABI (see [`abi`]).
//!
//! Coverage grows construct by construct; whatever it cannot compile is reported as
//! [`Unsupported`], and the caller fails rather than falling back to the interpreter.

pub mod abi;
pub mod frame;
mod translate;

use std::collections::HashMap;

use cranelift_codegen::ir::{UserFuncName, types};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, default_libcall_names};

use crate::ir::{Expr, Program, SourceId};
use abi::{Constant, Ctx, Ty};
use frame::FrameLayout;
pub use translate::Unsupported;
use translate::{Env, Translator};

/// Cranelift's optimisation levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OptLevel {
    None,
    #[default]
    Speed,
    SpeedAndSize,
}

/// A compiled unit: `status = f(frame, ctx, out)`.
pub type NativeFn = unsafe extern "C" fn(*const u8, *mut Ctx, *mut i64) -> i32;

/// A construct a unit needs and the JIT cannot compile, with the unit's name.
#[derive(Clone, Debug, PartialEq)]
pub struct Missing {
    pub unit: String,
    pub unsupported: Unsupported,
}

/// A program compiled to native code. Dropping it frees the code.
pub struct Compiled {
    module: Option<JITModule>,
    pub drops: Vec<NativeFn>,
    pub scores: Vec<NativeFn>,
    pub rules: Vec<NativeFn>,
    /// One frame layout per source.
    pub layouts: Vec<FrameLayout>,
    pub constants: Vec<Constant>,
    /// String literals and constant lists the code points at (boxed: they must not move).
    _literals: Vec<Box<[u8]>>,
    #[allow(clippy::vec_box)]
    _values: Vec<Box<Vec<crate::interp::value::Value>>>,
    #[allow(clippy::vec_box)]
    _maps: Vec<Box<Vec<(crate::interp::value::Value, crate::interp::value::Value)>>>,
}

impl Drop for Compiled {
    fn drop(&mut self) {
        if let Some(module) = self.module.take() {
            // SAFETY: the function pointers above die with `self`; nothing calls them after this.
            unsafe { module.free_memory() };
        }
    }
}

impl Compiled {
    /// Runs one unit. `frame` is the event's frame for the unit's source.
    pub fn call(f: NativeFn, frame: &[u8], ctx: &mut Ctx, out: &mut i64) -> i32 {
        // SAFETY: `f` was compiled by `compile` for frames of this layout; `ctx` is valid for the
        // call; the code only reads the frame within its size and writes `out`.
        unsafe { f(frame.as_ptr(), ctx as *mut Ctx, out as *mut i64) }
    }
}

fn isa(opt: OptLevel) -> Result<std::sync::Arc<dyn cranelift_codegen::isa::TargetIsa>, String> {
    let mut flags = settings::builder();
    let level = match opt {
        OptLevel::None => "none",
        OptLevel::Speed => "speed",
        OptLevel::SpeedAndSize => "speed_and_size",
    };
    flags.set("opt_level", level).map_err(|e| e.to_string())?;
    flags.set("use_colocated_libcalls", "false").map_err(|e| e.to_string())?;
    flags.set("is_pic", "false").map_err(|e| e.to_string())?;
    let builder = cranelift_native::builder().map_err(|e| format!("this machine is not supported: {e}"))?;
    builder.finish(settings::Flags::new(flags)).map_err(|e| e.to_string())
}

fn ctype(t: Ty) -> cranelift_codegen::ir::Type {
    match t {
        Ty::I8 => types::I8,
        Ty::I32 => types::I32,
        Ty::I64 => types::I64,
        Ty::F64 => types::F64,
    }
}

/// Compiles every drop, score and rule. Fails listing every construct it could not compile.
pub fn compile(
    program: &Program,
    schema: &crate::schema::Schema,
    opt: OptLevel,
) -> Result<Compiled, Result<Vec<Missing>, String>> {
    let isa = isa(opt).map_err(Err)?;
    let mut builder = JITBuilder::with_isa(isa, default_libcall_names());
    let helpers = abi::helpers();
    for h in &helpers {
        builder.symbol(h.name, h.ptr);
    }
    let mut module = JITModule::new(builder);
    let mut table: HashMap<&'static str, (FuncId, &'static [Ty], Option<Ty>)> = HashMap::new();
    for h in &helpers {
        let mut sig = module.make_signature();
        sig.params.extend(h.params.iter().map(|t| cranelift_codegen::ir::AbiParam::new(ctype(*t))));
        sig.returns.extend(h.ret.iter().map(|t| cranelift_codegen::ir::AbiParam::new(ctype(*t))));
        let id = module.declare_function(h.name, Linkage::Import, &sig).map_err(|e| Err(e.to_string()))?;
        table.insert(h.name, (id, h.params, h.ret));
    }
    let layouts: Vec<FrameLayout> =
        (0..program.sources.len()).map(|s| FrameLayout::new(program, SourceId(s as u32))).collect();
    let (mut constants, mut literals, mut values, mut maps) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut missing = Vec::new();
    let mut ctx = module.make_context();
    let mut fctx = FunctionBuilderContext::new();
    let sig = translate::signature(&module);
    let mut ids: Vec<(u8, FuncId)> = Vec::new();

    enum Body<'p> {
        Drop(&'p Expr),
        Score(&'p [(i64, Expr)]),
        Rule(&'p crate::ir::Rule),
    }
    let units = program
        .drops
        .iter()
        .map(|d| (0u8, d.name.as_str(), d.source, Body::Drop(&d.cond)))
        .chain(program.scores.iter().map(|s| (1u8, s.name.as_str(), s.source, Body::Score(&s.weights))))
        .chain(program.rules.iter().map(|r| (2u8, r.name.as_str(), r.source, Body::Rule(r))));
    for (n, (kind, name, source, body)) in units.enumerate() {
        let id = module.declare_function(&format!("unit{n}"), Linkage::Local, &sig).map_err(|e| Err(e.to_string()))?;
        ctx.func.signature = sig.clone();
        ctx.func.name = UserFuncName::user(0, id.as_u32());
        let env = Env {
            module: &mut module,
            helpers: &table,
            layout: &layouts[source.0 as usize],
            schema,
            constants: &mut constants,
            literals: &mut literals,
            values: &mut values,
            maps: &mut maps,
        };
        let mut t = Translator::new(FunctionBuilder::new(&mut ctx.func, &mut fctx), env);
        let result = match body {
            Body::Drop(cond) => t.truth(cond).map(Some),
            Body::Score(weights) => t.score(weights).map(Some),
            Body::Rule(r) => t.rule(r).map(|()| None),
        };
        match result {
            Ok(r) => {
                t.finish(r);
                module.define_function(id, &mut ctx).map_err(|e| Err(format!("{name}: {e:?}")))?;
            }
            Err(unsupported) => {
                drop(t);
                // The builder did not finish this function; its context must start afresh.
                fctx = FunctionBuilderContext::new();
                missing.push(Missing { unit: name.to_owned(), unsupported });
            }
        }
        module.clear_context(&mut ctx);
        ids.push((kind, id));
    }
    if !missing.is_empty() {
        // SAFETY: nothing from this module was handed out.
        unsafe { module.free_memory() };
        return Err(Ok(missing));
    }
    module.finalize_definitions().map_err(|e| Err(e.to_string()))?;
    let mut compiled = Compiled {
        module: None,
        drops: Vec::new(),
        scores: Vec::new(),
        rules: Vec::new(),
        layouts,
        constants,
        _literals: literals,
        _values: values,
        _maps: maps,
    };
    for (kind, id) in ids {
        let ptr = module.get_finalized_function(id);
        // SAFETY: every unit was defined with the `NativeFn` signature.
        let f: NativeFn = unsafe { std::mem::transmute::<*const u8, NativeFn>(ptr) };
        match kind {
            0 => compiled.drops.push(f),
            1 => compiled.scores.push(f),
            _ => compiled.rules.push(f),
        }
    }
    compiled.module = Some(module);
    Ok(compiled)
}
