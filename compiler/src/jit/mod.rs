//! The Cranelift backend: one native function per drop, score and rule, reading the event from a
//! frame (see [`frame`]) and calling Rust through a C ABI (see [`abi`]).
//!
//! Coverage grows construct by construct; whatever it cannot compile is reported as
//! [`Unsupported`], and the caller fails rather than falling back to the interpreter.

pub mod abi;
mod translate;

use std::sync::{Arc, Mutex};

use cranelift_codegen::control::ControlPlane;
use cranelift_codegen::ir::{AbiParam, Signature, UserFuncName, types};
use cranelift_codegen::isa::TargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Linkage, Module, ModuleReloc, default_libcall_names};

use crate::frame::FrameLayout;
use crate::ir::{Program, UnitBody, UnitRef, UnitView};
use crate::value::Value;
use abi::{Constant, Ctx, Helper, Ty};
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

impl Missing {
    /// The construct as a diagnostic at its place.
    pub fn diagnostic(&self) -> crate::diag::Diagnostic {
        let what = &self.unsupported.what;
        crate::diag::Diagnostic::new(
            crate::diag::Code::E0029,
            self.unsupported.span,
            format!("the JIT cannot compile {what} yet (in `{}`)", self.unit),
        )
        .label(format!("{what}: not compiled"))
        .hint("run the bundle with `--engine interp` meanwhile")
    }
}

/// Data native code points at: string literals, constant lists and maps. Boxed, so that each
/// stays where the code points however the vectors grow.
#[derive(Default)]
#[allow(clippy::vec_box)]
pub struct Pinned {
    literals: Vec<Box<[u8]>>,
    lists: Vec<Box<Vec<Value>>>,
    maps: Vec<Box<Vec<(Value, Value)>>>,
    sets: Vec<std::sync::Arc<crate::const_set::ConstSet>>,
}

impl Pinned {
    fn extend(&mut self, other: Pinned) {
        self.literals.extend(other.literals);
        self.lists.extend(other.lists);
        self.maps.extend(other.maps);
        self.sets.extend(other.sets);
    }
}

/// Native code compiled together, with the data it points at. Dropping it frees the code, so
/// every [`UnitCode`] holds it: code is freed once no unit that runs it is left. It is `Send`
/// and `Sync`: one compilation serves executors on any number of threads.
pub struct Chunk {
    /// Kept only to free the code; never used through a shared reference (hence the mutex,
    /// which makes that plain to the compiler).
    module: Mutex<Option<JITModule>>,
    /// Constant arguments of this chunk's units, by the index their code passes.
    constants: Vec<Constant>,
    _pinned: Pinned,
}

impl Drop for Chunk {
    fn drop(&mut self) {
        let module = self.module.get_mut().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(module) = module.take() {
            // SAFETY: the function pointers into this module live only in `UnitCode`s, which
            // hold this chunk; it is dropped after the last of them.
            unsafe { module.free_memory() };
        }
    }
}

/// The native code of one unit, and the chunk that keeps it alive.
#[derive(Clone)]
pub struct UnitCode {
    f: NativeFn,
    chunk: Arc<Chunk>,
}

impl UnitCode {
    /// The constants this unit's code refers to by index; `Ctx::constants` must be these.
    pub fn constants(&self) -> &[Constant] {
        &self.chunk.constants
    }

    /// Runs the unit. `frame` is the event's frame, of the layout the unit was compiled for, and
    /// `ctx.constants` is [`constants`](Self::constants).
    pub fn call(&self, frame: &[u8], ctx: &mut Ctx, out: &mut i64) -> i32 {
        debug_assert!(std::ptr::eq(ctx.constants, self.constants()));
        // SAFETY: `f` was compiled by `compile_units` for frames of this layout; `ctx` is valid
        // for the call; the code only reads the frame within its size and writes `out`.
        unsafe { (self.f)(frame.as_ptr(), ctx as *mut Ctx, out as *mut i64) }
    }

    /// Whether two units run code of the same chunk.
    pub fn same_chunk(&self, other: &UnitCode) -> bool {
        Arc::ptr_eq(&self.chunk, &other.chunk)
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
    // The IR verifier costs about 6% of compile time; tests (debug builds) keep it on.
    flags.set("enable_verifier", if cfg!(debug_assertions) { "true" } else { "false" }).map_err(|e| e.to_string())?;
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

/// The code of one unit, translated and compiled on a worker thread.
struct Machine {
    bytes: Vec<u8>,
    alignment: u64,
    relocs: Vec<ModuleReloc>,
}

/// What one worker thread hands back: a result per unit (machine code, a construct it could
/// not compile, or another failure), and the data the code points at.
type WorkerOutput = (Vec<Result<Machine, Result<Missing, String>>>, Pinned);

/// Compiles the given units of a program against frames of `layouts` (one per source) into
/// one chunk, spreading the work over the machine's cores. Fails listing every construct it
/// could not compile.
pub fn compile_units(
    program: &Program,
    schema: &crate::schema::Schema,
    layouts: &[FrameLayout],
    selected: &[UnitRef],
    opt: OptLevel,
) -> Result<Vec<UnitCode>, Result<Vec<Missing>, String>> {
    if selected.is_empty() {
        return Ok(Vec::new());
    }
    let isa = isa(opt).map_err(Err)?;
    let mut builder = JITBuilder::with_isa(isa.clone(), default_libcall_names());
    for &h in Helper::ALL {
        builder.symbol(h.symbol(), h.address());
    }
    let mut module = JITModule::new(builder);
    // By helper, in `Helper::ALL` order: its id in the module and its signature.
    let mut table: Vec<(FuncId, Signature)> = Vec::with_capacity(Helper::ALL.len());
    for &h in Helper::ALL {
        let mut sig = module.make_signature();
        sig.params.extend(h.params().iter().map(|t| AbiParam::new(ctype(*t))));
        sig.returns.extend(h.ret().iter().map(|t| AbiParam::new(ctype(*t))));
        let id = module.declare_function(h.symbol(), Linkage::Import, &sig).map_err(|e| Err(e.to_string()))?;
        table.push((id, sig));
    }
    let sig = translate::signature(isa.default_call_conv());
    let units: Vec<UnitView> = selected.iter().map(|&r| program.unit(r)).collect();
    let mut ids = Vec::with_capacity(units.len());
    for n in 0..units.len() {
        ids.push(module.declare_function(&format!("unit{n}"), Linkage::Local, &sig).map_err(|e| Err(e.to_string()))?);
    }
    let constants = Mutex::new(Vec::new());
    // For whoever works on the backend: each unit's Cranelift IR, before optimisation.
    let show_clif = std::env::var_os("EVR_SHOW_CLIF").is_some();
    // Asked once: it reads the process's CPU quota from files, which a one-rule reload felt.
    static THREADS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    let threads = *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8));
    let chunk = units.len().div_ceil(threads).max(1);
    // Each worker translates and compiles a contiguous share of the units.
    let results: Vec<WorkerOutput> = std::thread::scope(|scope| {
        let workers: Vec<_> = units
            .chunks(chunk)
            .zip(ids.chunks(chunk))
            .map(|(units, ids)| {
                let (isa, table, layouts, constants, sig) = (&isa, &table, &layouts, &constants, &sig);
                scope.spawn(move || {
                    let mut pinned = Pinned::default();
                    let mut ctx = cranelift_codegen::Context::new();
                    let mut fctx = FunctionBuilderContext::new();
                    let mut out = Vec::with_capacity(units.len());
                    for (unit, id) in units.iter().zip(ids) {
                        let name = unit.name;
                        ctx.clear();
                        ctx.func.signature = sig.clone();
                        ctx.func.name = UserFuncName::user(0, id.as_u32());
                        let env = Env {
                            frontend: isa.frontend_config(),
                            helpers: table,
                            layout: &layouts[unit.source.0 as usize],
                            schema,
                            constants,
                            pinned: &mut pinned,
                        };
                        let mut t = Translator::new(FunctionBuilder::new(&mut ctx.func, &mut fctx), env);
                        let result = match unit.body {
                            UnitBody::Drop(cond) => t.truth(cond).map(Some),
                            UnitBody::Score(weights) => t.score(weights).map(Some),
                            UnitBody::Rule(r) => t.rule(r).map(|()| None),
                        };
                        match result {
                            Ok(r) => {
                                t.finish(r);
                                if show_clif {
                                    eprintln!("; {name}\n{}", ctx.func.display());
                                }
                                out.push(machine(&mut ctx, &**isa, *id).map_err(|e| Err(format!("{name}: {e}"))));
                            }
                            Err(mut unsupported) => {
                                unsupported.span = unit.place(unsupported.span);
                                drop(t);
                                // The builder did not finish this function; its context must start afresh.
                                fctx = FunctionBuilderContext::new();
                                out.push(Err(Ok(Missing { unit: name.to_owned(), unsupported })));
                            }
                        }
                    }
                    (out, pinned)
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| {
                w.join().unwrap_or_else(|_| (vec![Err(Err("a compiler thread panicked".into()))], Pinned::default()))
            })
            .collect()
    });
    let mut pinned = Pinned::default();
    let mut missing = Vec::new();
    let mut machines = Vec::with_capacity(units.len());
    for (out, p) in results {
        pinned.extend(p);
        for m in out {
            match m {
                Ok(m) => machines.push(m),
                Err(Ok(miss)) => missing.push(miss),
                Err(Err(why)) => return Err(Err(why)),
            }
        }
    }
    if !missing.is_empty() {
        // SAFETY: nothing from this module was handed out.
        unsafe { module.free_memory() };
        return Err(Ok(missing));
    }
    for (m, id) in machines.iter().zip(&ids) {
        module.define_function_bytes(*id, m.alignment, &m.bytes, &m.relocs).map_err(|e| Err(e.to_string()))?;
    }
    module.finalize_definitions().map_err(|e| Err(e.to_string()))?;
    let chunk = Arc::new(Chunk {
        module: Mutex::new(None),
        constants: constants.into_inner().unwrap_or_else(|p| p.into_inner()),
        _pinned: pinned,
    });
    let code = ids
        .iter()
        .map(|&id| {
            let ptr = module.get_finalized_function(id);
            // SAFETY: every unit was defined with the `NativeFn` signature.
            let f: NativeFn = unsafe { std::mem::transmute::<*const u8, NativeFn>(ptr) };
            UnitCode { f, chunk: chunk.clone() }
        })
        .collect();
    *chunk.module.lock().unwrap_or_else(|p| p.into_inner()) = Some(module);
    Ok(code)
}

/// Compiles the function in `ctx` to machine code, as `JITModule::define_function` would.
fn machine(ctx: &mut cranelift_codegen::Context, isa: &dyn TargetIsa, id: FuncId) -> Result<Machine, String> {
    ctx.compile(isa, &mut ControlPlane::default()).map_err(|e| format!("{:?}", e.inner))?;
    let compiled = ctx.compiled_code().ok_or("no compiled code")?;
    let alignment = u64::from(compiled.buffer.alignment)
        .max(u64::from(isa.function_alignment().minimum))
        .max(isa.symbol_alignment());
    let bytes = compiled.buffer.data().to_vec();
    let relocs = compiled.buffer.relocs().iter().map(|r| ModuleReloc::from_mach_reloc(r, &ctx.func, id)).collect();
    Ok(Machine { bytes, alignment, relocs })
}

/// Compiled code is shared between threads.
const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Chunk>();
    send_sync::<UnitCode>();
};
