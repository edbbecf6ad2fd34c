//! From the typed IR of one unit to Cranelift IR: one translator per function owns the
//! `FunctionBuilder` and the unit's variables.
//!
//! Native functions have the signature `fn(frame: *const u8, ctx: *mut Ctx, out: *mut i64) -> i32`:
//! the status is 0 or a [`RuntimeError`] code; a drop writes 0/1 and a score its total to `out`.
//! Runtime errors jump to one exit block that returns their code, so nothing unwinds.

use std::collections::HashMap;
use std::sync::Mutex;

use cranelift_codegen::ir::{
    AbiParam, Block, BlockArg, ExtFuncData, ExternalName, FuncRef, InstBuilder, MemFlagsData, Signature, StackSlotData,
    StackSlotKind, Type as CType, UserExternalName, Value, types,
};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::{FunctionBuilder, Variable};
use cranelift_module::FuncId;
use evr_grammar::ast::Span;
use evr_stdlib::RuntimeError;

mod builtins;
mod exprs;
mod records;
mod strings;

use super::Pinned;
use super::abi::{Constant, Helper};
use crate::frame::FrameLayout;
use crate::ir::Expr;
use crate::types::Type;

/// A construct the JIT cannot compile (yet): the command that asked for native code fails.
#[derive(Clone, Debug, PartialEq)]
pub struct Unsupported {
    pub what: String,
    pub span: Span,
}

type R<T> = Result<T, Unsupported>;

fn unsupported<T>(what: impl Into<String>, span: Span) -> R<T> {
    Err(Unsupported { what: what.into(), span })
}

/// A value in native code, by the shape of its EVR type.
#[derive(Clone, Debug)]
enum JVal {
    /// bool as an i8 (0 or 1)
    B(Value),
    /// int, duration, enum number
    I(Value),
    F(Value),
    /// string: pointer and length (i64 each)
    S(Value, Value),
    /// `T?`: presence (i8) and the value (its default when absent)
    Opt(Value, Box<JVal>),
    /// a decoded message: presence (i8) and a pointer to it (0 when absent)
    Msg(Value, Value),
    /// a decoded list or map: a pointer to its entries (0 when empty) and its length
    Coll(Value, Value),
}

/// The shape of a type, for variables and merges.
#[derive(Clone, Debug, PartialEq)]
enum Shape {
    B,
    I,
    F,
    S,
    Opt(Box<Shape>),
    Msg,
    Coll,
}

fn shape(t: &Type, span: Span) -> R<Shape> {
    Ok(match t {
        Type::Bool => Shape::B,
        Type::Int | Type::Duration | Type::Enum(_) => Shape::I,
        Type::Float => Shape::F,
        Type::String | Type::Bytes => Shape::S,
        Type::Optional(inner) => Shape::Opt(Box::new(shape(inner, span)?)),
        Type::Message(_) => Shape::Msg,
        Type::List(_) | Type::Map(_, _) => Shape::Coll,
        _ => return unsupported("values of this type", span),
    })
}

fn ctypes(s: &Shape, out: &mut Vec<CType>) {
    match s {
        Shape::B => out.push(types::I8),
        Shape::I => out.push(types::I64),
        Shape::F => out.push(types::F64),
        Shape::S => out.extend([types::I64, types::I64]),
        Shape::Opt(inner) => {
            out.push(types::I8);
            ctypes(inner, out);
        }
        Shape::Msg => out.extend([types::I8, types::I64]),
        Shape::Coll => out.extend([types::I64, types::I64]),
    }
}

fn flatten(v: &JVal, out: &mut Vec<Value>) {
    match v {
        JVal::B(x) | JVal::I(x) | JVal::F(x) => out.push(*x),
        JVal::S(p, l) | JVal::Msg(p, l) | JVal::Coll(p, l) => out.extend([*p, *l]),
        JVal::Opt(p, inner) => {
            out.push(*p);
            flatten(inner, out);
        }
    }
}

fn rebuild(s: &Shape, vals: &mut impl Iterator<Item = Value>) -> JVal {
    let mut next = || vals.next().expect("one value per component");
    match s {
        Shape::B => JVal::B(next()),
        Shape::I => JVal::I(next()),
        Shape::F => JVal::F(next()),
        Shape::S => {
            let p = next();
            JVal::S(p, next())
        }
        Shape::Opt(inner) => {
            let p = next();
            JVal::Opt(p, Box::new(rebuild(inner, vals)))
        }
        Shape::Msg => {
            let p = next();
            JVal::Msg(p, next())
        }
        Shape::Coll => {
            let p = next();
            JVal::Coll(p, next())
        }
    }
}

/// What the translator needs from the module being built. It holds no reference to the module
/// itself, so that functions can be translated and compiled on several threads.
pub struct Env<'m> {
    pub frontend: TargetFrontendConfig,
    /// Each helper's id in the module and its signature.
    pub helpers: &'m [(FuncId, Signature)],
    pub layout: &'m FrameLayout,
    pub schema: &'m crate::schema::Schema,
    /// Shared by the threads that translate: code refers to a constant by its index.
    pub constants: &'m Mutex<Vec<Constant>>,
    pub pinned: &'m mut Pinned,
}

pub struct Translator<'a, 'm> {
    b: FunctionBuilder<'a>,
    env: Env<'m>,
    frame: Value,
    ctx: Value,
    out: Value,
    fail: Block,
    locals: HashMap<u32, (Shape, Vec<Variable>)>,
    refs: HashMap<Helper, FuncRef>,
    /// String literals by the value holding their pointer (see `strings`).
    str_literals: HashMap<Value, Box<[u8]>>,
    /// For a list predicate's element read from columns: by local, where the element's slot is
    /// for each field read.
    elements: HashMap<u32, HashMap<u32, Value>>,
}

impl<'a, 'm> Translator<'a, 'm> {
    pub fn new(mut b: FunctionBuilder<'a>, env: Env<'m>) -> Translator<'a, 'm> {
        let entry = b.create_block();
        b.append_block_params_for_function_params(entry);
        b.switch_to_block(entry);
        let params = b.block_params(entry).to_vec();
        let fail = b.create_block();
        b.append_block_param(fail, types::I32);
        Translator {
            b,
            env,
            frame: params[0],
            ctx: params[1],
            out: params[2],
            fail,
            locals: HashMap::new(),
            refs: HashMap::new(),
            str_literals: HashMap::new(),
            elements: HashMap::new(),
        }
    }

    /// Ends the function: `result` (if any) goes to `*out`, status 0; errors return their code.
    pub fn finish(mut self, result: Option<Value>) {
        if let Some(r) = result {
            let wide = if self.b.func.dfg.value_type(r) == types::I8 { self.b.ins().uextend(types::I64, r) } else { r };
            self.b.ins().store(MemFlagsData::trusted(), wide, self.out, 0);
        }
        let ok = self.b.ins().iconst(types::I32, 0);
        self.b.ins().return_(&[ok]);
        self.b.switch_to_block(self.fail);
        let code = self.b.block_params(self.fail)[0];
        self.b.ins().return_(&[code]);
        self.b.seal_all_blocks();
        self.b.finalize(self.env.frontend);
    }

    fn helper(&mut self, helper: Helper) -> FuncRef {
        if let Some(r) = self.refs.get(&helper) {
            return *r;
        }
        // What `Module::declare_func_in_func` does, without the module.
        let (id, sig) = &self.env.helpers[helper as usize];
        let signature = self.b.func.import_signature(sig.clone());
        let name_ref =
            self.b.func.declare_imported_user_function(UserExternalName { namespace: 0, index: id.as_u32() });
        let r = self.b.func.import_function(ExtFuncData {
            name: ExternalName::user(name_ref),
            signature,
            colocated: false,
            patchable: false,
        });
        self.refs.insert(helper, r);
        r
    }

    fn call(&mut self, helper: Helper, args: &[Value]) -> Option<Value> {
        let f = self.helper(helper);
        let inst = self.b.ins().call(f, args);
        self.b.inst_results(inst).first().copied()
    }

    fn call1(&mut self, helper: Helper, args: &[Value]) -> Value {
        self.call(helper, args).expect("the helper returns a value")
    }

    /// Fails with `code` when `cond` (an i8/i64 truth value) is non-zero.
    fn fail_if(&mut self, cond: Value, code: RuntimeError) {
        let cont = self.b.create_block();
        let c = self.b.ins().iconst(types::I32, i64::from(code.code()));
        self.b.ins().brif(cond, self.fail, &[BlockArg::Value(c)], cont, &[]);
        self.b.switch_to_block(cont);
    }

    /// Fails with the status a helper returned, when it is not 0.
    fn check_status(&mut self, status: Value) {
        let cont = self.b.create_block();
        self.b.ins().brif(status, self.fail, &[BlockArg::Value(status)], cont, &[]);
        self.b.switch_to_block(cont);
    }

    fn slot(&mut self, words: u32) -> Value {
        let ss = self.b.create_sized_stack_slot(StackSlotData::new(StackSlotKind::ExplicitSlot, words * 8, 3));
        self.b.ins().stack_addr(types::I64, ss, 0)
    }

    fn load(&mut self, ty: CType, p: Value, offset: i32) -> Value {
        self.b.ins().load(ty, MemFlagsData::trusted(), p, offset)
    }

    fn string_result(&mut self, helper: Helper, args: &[Value]) -> JVal {
        let out = self.slot(2);
        let mut all = args.to_vec();
        all.push(out);
        self.call(helper, &all);
        let p = self.load(types::I64, out, 0);
        let l = self.load(types::I64, out, 8);
        JVal::S(p, l)
    }

    /// Calls a helper that returns a status and writes an int through a last pointer argument.
    fn checked_int(&mut self, helper: Helper, args: &[Value]) -> Value {
        let out = self.slot(1);
        let mut all = args.to_vec();
        all.push(out);
        let status = self.call1(helper, &all);
        self.check_status(status);
        self.load(types::I64, out, 0)
    }

    /// A value that is present, as a `T?`.
    fn present(&mut self, v: JVal) -> JVal {
        let one = self.b.ins().iconst(types::I8, 1);
        JVal::Opt(one, Box::new(v))
    }

    fn zero(&mut self, s: &Shape) -> JVal {
        match s {
            Shape::B => JVal::B(self.b.ins().iconst(types::I8, 0)),
            Shape::I => JVal::I(self.b.ins().iconst(types::I64, 0)),
            Shape::F => JVal::F(self.b.ins().f64const(0.0)),
            Shape::S => {
                let z = self.b.ins().iconst(types::I64, 0);
                JVal::S(z, z)
            }
            Shape::Opt(inner) => {
                let p = self.b.ins().iconst(types::I8, 0);
                JVal::Opt(p, Box::new(self.zero(inner)))
            }
            Shape::Msg => {
                let (p, z) = (self.b.ins().iconst(types::I8, 0), self.b.ins().iconst(types::I64, 0));
                JVal::Msg(p, z)
            }
            Shape::Coll => {
                let z = self.b.ins().iconst(types::I64, 0);
                JVal::Coll(z, z)
            }
        }
    }

    /// A value of type `ty` from the two words a helper wrote (`put` in abi.rs).
    fn read_words(&mut self, ty: &Type, words: Value, present: Value, span: Span) -> R<JVal> {
        let w0 = self.load(types::I64, words, 0);
        let w1 = self.load(types::I64, words, 8);
        Ok(match ty {
            Type::Bool => JVal::B(self.b.ins().ireduce(types::I8, w0)),
            Type::Int | Type::Duration | Type::Enum(_) => JVal::I(w0),
            Type::Float => JVal::F(self.b.ins().bitcast(types::F64, MemFlagsData::new(), w0)),
            Type::String | Type::Bytes => JVal::S(w0, w1),
            Type::Message(_) => JVal::Msg(present, w0),
            Type::List(_) | Type::Map(_, _) => JVal::Coll(w0, w1),
            Type::Optional(inner) => {
                let v = self.read_words(inner, words, present, span)?;
                JVal::Opt(present, Box::new(v))
            }
            _ => return unsupported("values of this type", span),
        })
    }

    /// Two zeroed words for a helper to write a value into.
    fn words(&mut self) -> Value {
        let out = self.slot(2);
        let z = self.b.ins().iconst(types::I64, 0);
        self.b.ins().store(MemFlagsData::trusted(), z, out, 0);
        self.b.ins().store(MemFlagsData::trusted(), z, out, 8);
        out
    }

    fn declare(&mut self, s: &Shape) -> Vec<Variable> {
        let mut tys = Vec::new();
        ctypes(s, &mut tys);
        tys.into_iter().map(|t| self.b.declare_var(t)).collect()
    }

    fn def(&mut self, vars: &[Variable], v: &JVal) {
        let mut vals = Vec::new();
        flatten(v, &mut vals);
        for (var, val) in vars.iter().zip(vals) {
            self.b.def_var(*var, val);
        }
    }

    fn use_vars(&mut self, s: &Shape, vars: &[Variable]) -> JVal {
        let vals: Vec<Value> = vars.iter().map(|v| self.b.use_var(*v)).collect();
        rebuild(s, &mut vals.into_iter())
    }

    fn bind(&mut self, local: u32, ty: &Type, v: &JVal, span: Span) -> R<()> {
        let s = shape(ty, span)?;
        let vars = match self.locals.get(&local) {
            Some((_, vars)) => vars.clone(),
            None => {
                let vars = self.declare(&s);
                self.locals.insert(local, (s, vars.clone()));
                vars
            }
        };
        self.def(&vars, v);
        Ok(())
    }
}

/// The native signature every unit has.
pub fn signature(call_conv: cranelift_codegen::isa::CallConv) -> Signature {
    let mut sig = Signature::new(call_conv);
    sig.params.extend([AbiParam::new(types::I64), AbiParam::new(types::I64), AbiParam::new(types::I64)]);
    sig.returns.push(AbiParam::new(types::I32));
    sig
}

impl Translator<'_, '_> {
    /// A score: the sum of the weights whose condition holds (checked).
    pub fn score(&mut self, weights: &[(i64, Expr)]) -> R<Value> {
        let total = self.b.declare_var(types::I64);
        let zero = self.b.ins().iconst(types::I64, 0);
        self.b.def_var(total, zero);
        for (w, cond) in weights {
            let c = self.truth(cond)?;
            let (add, next) = (self.b.create_block(), self.b.create_block());
            self.b.ins().brif(c, add, &[], next, &[]);
            self.b.switch_to_block(add);
            let t = self.b.use_var(total);
            let w = self.b.ins().iconst(types::I64, *w);
            let (sum, of) = self.b.ins().sadd_overflow(t, w);
            self.fail_if(of, RuntimeError::Overflow);
            self.b.def_var(total, sum);
            self.b.ins().jump(next, &[]);
            self.b.switch_to_block(next);
        }
        Ok(self.b.use_var(total))
    }

    /// A rule: its condition, then its statements.
    pub fn rule(&mut self, r: &crate::ir::Rule) -> R<()> {
        if let Some(c) = &r.cond {
            let holds = self.truth(c)?;
            let (body, done) = (self.b.create_block(), self.b.create_block());
            self.b.ins().brif(holds, body, &[], done, &[]);
            self.b.switch_to_block(body);
            self.stmts(&r.body)?;
            self.b.ins().jump(done, &[]);
            self.b.switch_to_block(done);
            return Ok(());
        }
        self.stmts(&r.body)
    }
}
