//! From the typed IR of one unit to Cranelift IR: one translator per function owns the
//! `FunctionBuilder` and the unit's variables.
//!
//! Native functions have the signature `fn(frame: *const u8, ctx: *mut Ctx, out: *mut i64) -> i32`:
//! the status is 0 or a [`RuntimeError`] code; a drop writes 0/1 and a score its total to `out`.
//! Runtime errors jump to one exit block that returns their code, so nothing unwinds.

use std::collections::HashMap;
use std::sync::Mutex;

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    AbiParam, Block, BlockArg, ExtFuncData, ExternalName, FuncRef, InstBuilder, MemFlagsData, Signature, StackSlotData,
    StackSlotKind, Type as CType, UserExternalName, Value, types,
};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::{FunctionBuilder, Variable};
use cranelift_module::FuncId;
use evr_grammar::ast::Span;
use evr_stdlib::{Builtin, RuntimeError};

use super::Pinned;
use super::abi::Constant;
use super::frame::{FrameLayout, event_path};
use crate::ir::{ArithOp, CmpOp, Expr, ExprKind, ListPredKind, Literal, Stmt, UnaryOp};
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
    pub helpers: &'m HashMap<&'static str, (FuncId, Signature)>,
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
    refs: HashMap<&'static str, FuncRef>,
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

    fn helper(&mut self, name: &'static str) -> FuncRef {
        if let Some(r) = self.refs.get(name) {
            return *r;
        }
        // What `Module::declare_func_in_func` does, without the module.
        let (id, sig) = &self.env.helpers[name];
        let signature = self.b.func.import_signature(sig.clone());
        let name_ref =
            self.b.func.declare_imported_user_function(UserExternalName { namespace: 0, index: id.as_u32() });
        let r = self.b.func.import_function(ExtFuncData {
            name: ExternalName::user(name_ref),
            signature,
            colocated: false,
            patchable: false,
        });
        self.refs.insert(name, r);
        r
    }

    fn call(&mut self, name: &'static str, args: &[Value]) -> Option<Value> {
        let f = self.helper(name);
        let inst = self.b.ins().call(f, args);
        self.b.inst_results(inst).first().copied()
    }

    fn call1(&mut self, name: &'static str, args: &[Value]) -> Value {
        self.call(name, args).expect("the helper returns a value")
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

    fn string_result(&mut self, name: &'static str, args: &[Value]) -> JVal {
        let out = self.slot(2);
        let mut all = args.to_vec();
        all.push(out);
        self.call(name, &all);
        let p = self.load(types::I64, out, 0);
        let l = self.load(types::I64, out, 8);
        JVal::S(p, l)
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

    // ------------------------------------------------------------------ statements

    pub fn stmts(&mut self, body: &[Stmt]) -> R<()> {
        for s in body {
            match s {
                Stmt::Let { local, value } => {
                    let v = self.expr(value)?;
                    self.bind(local.0, &value.ty, &v, value.span)?;
                }
                Stmt::Route { sink, .. } => {
                    let sink = self.b.ins().iconst(types::I64, i64::from(sink.0));
                    self.call("evr_route", &[self.ctx, sink]);
                }
                Stmt::Emit { sink, key, record, .. } => {
                    if let Some(k) = key {
                        match self.expr(k)? {
                            JVal::S(p, l) => {
                                self.call("evr_key_str", &[self.ctx, p, l]);
                            }
                            JVal::I(v) => {
                                self.call("evr_key_int", &[self.ctx, v]);
                            }
                            _ => return unsupported("bytes keys", k.span),
                        }
                    }
                    self.record(record, -1)?;
                    let sink = self.b.ins().iconst(types::I64, i64::from(sink.0));
                    let status = self.call1("evr_record_end", &[self.ctx, sink]);
                    self.check_status(status);
                }
                Stmt::If { cond, then, otherwise } => {
                    let c = self.truth(cond)?;
                    let (t, e, done) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
                    self.b.ins().brif(c, t, &[], e, &[]);
                    self.b.switch_to_block(t);
                    self.stmts(then)?;
                    self.b.ins().jump(done, &[]);
                    self.b.switch_to_block(e);
                    self.stmts(otherwise)?;
                    self.b.ins().jump(done, &[]);
                    self.b.switch_to_block(done);
                }
            }
        }
        Ok(())
    }

    /// Builds a record; `field` is the enclosing record's field it fills (-1: the emitted one).
    /// The caller ends the outermost record.
    fn record(&mut self, e: &Expr, field: i64) -> R<()> {
        let ExprKind::Record { message, spread, fields } = &e.kind else {
            return unsupported("a record that is not a record literal", e.span);
        };
        let ty = self.b.ins().iconst(types::I64, i64::from(message.0));
        let at = self.b.ins().iconst(types::I64, field);
        self.call("evr_record_begin", &[self.ctx, ty, at]);
        if let Some(s) = spread {
            let JVal::Msg(_, ptr) = self.expr(s)? else { return unsupported("this spread", s.span) };
            let status = self.call1("evr_record_spread", &[self.ctx, ptr]);
            self.check_status(status);
        }
        for (index, value) in fields {
            let f = self.b.ins().iconst(types::I64, i64::from(*index));
            if matches!(value.kind, ExprKind::Record { .. }) {
                self.record(value, i64::from(*index))?;
                let none = self.b.ins().iconst(types::I64, -1);
                let status = self.call1("evr_record_end", &[self.ctx, none]);
                self.check_status(status);
                continue;
            }
            match &value.kind {
                ExprKind::ListLit(_) | ExprKind::Lit(Literal::List(_)) => {
                    self.list_field(f, value)?;
                    continue;
                }
                ExprKind::MapLit(entries) => {
                    self.map_field(f, entries)?;
                    continue;
                }
                _ => {}
            }
            let v = self.expr(value)?;
            self.set_field(f, &value.ty, v)?;
        }
        Ok(())
    }

    /// A list literal as a field of the record being built.
    fn list_field(&mut self, f: Value, value: &Expr) -> R<()> {
        self.fill_list(value)?;
        let status = self.call1("evr_list_end", &[self.ctx, f]);
        self.check_status(status);
        Ok(())
    }

    /// A map literal as a field of the record being built.
    fn map_field(&mut self, f: Value, entries: &[(Expr, Expr)]) -> R<()> {
        self.fill_map(entries)?;
        let status = self.call1("evr_map_end", &[self.ctx, f]);
        self.check_status(status);
        Ok(())
    }

    /// Opens a list buffer and fills it with the elements of a list literal.
    fn fill_list(&mut self, value: &Expr) -> R<()> {
        let Type::List(elem) = &value.ty else { return unsupported("this list", value.span) };
        let items: Vec<Expr> = match &value.kind {
            ExprKind::ListLit(items) => items.clone(),
            ExprKind::Lit(Literal::List(lits)) => {
                lits.iter().map(|l| Expr::lit(l.clone(), (**elem).clone(), value.span)).collect()
            }
            _ => return unsupported("this list", value.span),
        };
        self.call("evr_list_begin", &[self.ctx]);
        for item in &items {
            self.element(item)?;
        }
        Ok(())
    }

    /// Opens a list buffer and fills it with keys and values, alternating.
    fn fill_map(&mut self, entries: &[(Expr, Expr)]) -> R<()> {
        self.call("evr_list_begin", &[self.ctx]);
        for (k, v) in entries {
            self.push(k)?;
            self.element(v)?;
        }
        Ok(())
    }

    /// Appends one element to the innermost list buffer: a record, or a scalar.
    fn element(&mut self, item: &Expr) -> R<()> {
        if matches!(item.kind, ExprKind::Record { .. }) {
            self.record(item, -2)?;
            let none = self.b.ins().iconst(types::I64, -1);
            let status = self.call1("evr_record_end", &[self.ctx, none]);
            self.check_status(status);
            return Ok(());
        }
        self.push(item)
    }

    /// Ends a list or map buffer, or a record, as a value of its own (not a field).
    fn value_of(&mut self, helper: &'static str, message: bool) -> JVal {
        let out = self.words();
        let status = self.call1(helper, &[self.ctx, out]);
        self.check_status(status);
        let ptr = self.load(types::I64, out, 0);
        if message {
            let one = self.b.ins().iconst(types::I8, 1);
            JVal::Msg(one, ptr)
        } else {
            let len = self.load(types::I64, out, 8);
            JVal::Coll(ptr, len)
        }
    }

    /// Appends a scalar to the list buffer of the context.
    fn push(&mut self, item: &Expr) -> R<()> {
        let v = self.expr(item)?;
        let (kind, a, b) = self.scalar_words(v, &item.ty, item.span)?;
        let kind = self.b.ins().iconst(types::I64, kind);
        self.call("evr_list_push", &[self.ctx, kind, a, b]);
        Ok(())
    }

    /// A scalar as (kind, word, word) for the helpers that take any scalar (`list_push`,
    /// `list_contains` in abi.rs): 0 int, 1 float bits, 2 bool, 3 enum, 4 duration, 5 string.
    fn scalar_words(&mut self, v: JVal, ty: &Type, span: Span) -> R<(i64, Value, Value)> {
        Ok(match (v, ty.strip_optional()) {
            (JVal::I(x), Type::Enum(_)) => (3, x, x),
            (JVal::I(x), Type::Duration) => (4, x, x),
            (JVal::I(x), _) => (0, x, x),
            (JVal::F(x), _) => {
                let bits = self.b.ins().bitcast(types::I64, MemFlagsData::new(), x);
                (1, bits, bits)
            }
            (JVal::B(x), _) => {
                let w = self.b.ins().uextend(types::I64, x);
                (2, w, w)
            }
            (JVal::S(p, l), Type::String) => (5, p, l),
            _ => return unsupported("lists of this type", span),
        })
    }

    fn set_field(&mut self, f: Value, ty: &Type, v: JVal) -> R<()> {
        match (v, ty.strip_optional()) {
            (JVal::Opt(p, inner), t) => {
                let t = t.clone();
                let (set, done) = (self.b.create_block(), self.b.create_block());
                self.b.ins().brif(p, set, &[], done, &[]);
                self.b.switch_to_block(set);
                self.set_field(f, &t, *inner)?;
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(done);
                return Ok(());
            }
            (JVal::I(x), Type::Enum(_)) => {
                let s = self.call1("evr_set_enum", &[self.ctx, f, x]);
                self.check_status(s);
            }
            (JVal::I(x), Type::Duration) => {
                let s = self.call1("evr_set_duration", &[self.ctx, f, x]);
                self.check_status(s);
            }
            (JVal::I(x), _) => {
                let s = self.call1("evr_set_int", &[self.ctx, f, x]);
                self.check_status(s);
            }
            (JVal::F(x), _) => {
                let s = self.call1("evr_set_float", &[self.ctx, f, x]);
                self.check_status(s);
            }
            (JVal::B(x), _) => {
                let s = self.call1("evr_set_bool", &[self.ctx, f, x]);
                self.check_status(s);
            }
            (JVal::S(p, l), t) => {
                let name = if *t == Type::Bytes { "evr_set_bytes" } else { "evr_set_str" };
                let s = self.call1(name, &[self.ctx, f, p, l]);
                self.check_status(s);
            }
            (JVal::Msg(_, ptr), _) => {
                let s = self.call1("evr_set_message", &[self.ctx, f, ptr]);
                self.check_status(s);
            }
            (JVal::Coll(ptr, _), t) => {
                let kind = self.b.ins().iconst(types::I64, i64::from(matches!(t, Type::Map(..))));
                let s = self.call1("evr_set_collection", &[self.ctx, f, kind, ptr]);
                self.check_status(s);
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------------ expressions

    pub fn truth(&mut self, e: &Expr) -> R<Value> {
        match self.expr(e)? {
            JVal::B(v) => Ok(v),
            _ => unsupported("a condition that is not a bool", e.span),
        }
    }

    fn expr(&mut self, e: &Expr) -> R<JVal> {
        let span = e.span;
        Ok(match &e.kind {
            ExprKind::Lit(l) => self.literal(l, &e.ty, span)?,
            ExprKind::Field { .. } => self.field(e)?,
            ExprKind::Local(id) => match self.locals.get(&id.0) {
                Some((s, vars)) => {
                    let (s, vars) = (s.clone(), vars.clone());
                    self.use_vars(&s, &vars)
                }
                None => return unsupported("a local read before it is set", span),
            },
            ExprKind::Score(id) => {
                let out = self.slot(1);
                let id = self.b.ins().iconst(types::I64, i64::from(id.0));
                let status = self.call1("evr_score", &[self.ctx, id, out]);
                self.check_status(status);
                JVal::I(self.load(types::I64, out, 0))
            }
            ExprKind::Unary { op, arg } => {
                let v = self.expr(arg)?;
                match (op, v) {
                    (UnaryOp::Not, JVal::B(x)) => JVal::B(self.b.ins().bxor_imm_u(x, 1)),
                    (UnaryOp::NegInt | UnaryOp::NegDuration, JVal::I(x)) => {
                        let min = self.b.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
                        self.fail_if(min, RuntimeError::Overflow);
                        JVal::I(self.b.ins().ineg(x))
                    }
                    (UnaryOp::NegFloat, JVal::F(x)) => JVal::F(self.b.ins().fneg(x)),
                    _ => return unsupported("this unary operation", span),
                }
            }
            ExprKind::Arith { op, lhs, rhs } => {
                let (a, b) = (self.expr(lhs)?, self.expr(rhs)?);
                self.arith(*op, a, b, span)?
            }
            ExprKind::Compare { op, lhs, rhs } => {
                let (a, b) = (self.expr(lhs)?, self.expr(rhs)?);
                JVal::B(self.compare(*op, a, b, span)?)
            }
            ExprKind::And(a, b) | ExprKind::Or(a, b) => {
                let is_and = matches!(e.kind, ExprKind::And(..));
                let x = self.truth(a)?;
                let var = self.b.declare_var(types::I8);
                self.b.def_var(var, x);
                let (rhs, done) = (self.b.create_block(), self.b.create_block());
                if is_and {
                    self.b.ins().brif(x, rhs, &[], done, &[]);
                } else {
                    self.b.ins().brif(x, done, &[], rhs, &[]);
                }
                self.b.switch_to_block(rhs);
                let y = self.truth(b)?;
                self.b.def_var(var, y);
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(done);
                JVal::B(self.b.use_var(var))
            }
            ExprKind::If { cond, then, otherwise } => {
                let c = self.truth(cond)?;
                let s = shape(&e.ty, span)?;
                let vars = self.declare(&s);
                let (t, f, done) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
                self.b.ins().brif(c, t, &[], f, &[]);
                self.b.switch_to_block(t);
                let v = self.expr(then)?;
                self.def(&vars, &v);
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(f);
                let v = self.expr(otherwise)?;
                self.def(&vars, &v);
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(done);
                self.use_vars(&s, &vars)
            }
            ExprKind::Coalesce { value, default } => {
                let JVal::Opt(present, inner) = self.expr(value)? else {
                    return unsupported("`??` on a value that is never null", span);
                };
                let s = shape(&e.ty, span)?;
                let vars = self.declare(&s);
                let (have, other, done) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
                self.b.ins().brif(present, have, &[], other, &[]);
                self.b.switch_to_block(have);
                let kept = match (&s, *inner) {
                    (Shape::Opt(_), v) => {
                        let one = self.b.ins().iconst(types::I8, 1);
                        JVal::Opt(one, Box::new(v))
                    }
                    (_, v) => v,
                };
                self.def(&vars, &kept);
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(other);
                let d = self.expr(default)?;
                self.def(&vars, &d);
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(done);
                self.use_vars(&s, &vars)
            }
            ExprKind::Let { local, value, body } => {
                let v = self.expr(value)?;
                self.bind(local.0, &value.ty, &v, value.span)?;
                self.expr(body)?
            }
            ExprKind::Has(x) => match self.expr(x)? {
                JVal::Opt(p, _) | JVal::Msg(p, _) => JVal::B(p),
                JVal::Coll(_, len) => JVal::B(self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, len, 0)),
                _ => return unsupported("`has` on this value", span),
            },
            ExprKind::Some(x) => {
                let v = self.expr(x)?;
                let one = self.b.ins().iconst(types::I8, 1);
                JVal::Opt(one, Box::new(v))
            }
            ExprKind::Unwrap(x) => match self.expr(x)? {
                JVal::Opt(_, inner) => *inner,
                other => other,
            },
            ExprKind::IntToFloat(x) => match self.expr(x)? {
                JVal::I(v) => JVal::F(self.b.ins().fcvt_from_sint(types::F64, v)),
                JVal::Opt(p, inner) => match *inner {
                    JVal::I(v) => JVal::Opt(p, Box::new(JVal::F(self.b.ins().fcvt_from_sint(types::F64, v)))),
                    _ => return unsupported("this conversion", span),
                },
                _ => return unsupported("this conversion", span),
            },
            ExprKind::In { needle, list, negated }
                if !matches!(list.kind, ExprKind::Lit(Literal::List(_)) | ExprKind::ListLit(_)) =>
            {
                let JVal::Coll(ptr, len) = self.expr(list)? else {
                    return unsupported("`in` over this value", list.span);
                };
                let one = self.b.ins().iconst(types::I8, 1);
                let (present, v) = match self.expr(needle)? {
                    JVal::Opt(p, inner) => (p, *inner),
                    v => (one, v),
                };
                let (kind, a, b) = self.scalar_words(v, &needle.ty, span)?;
                let kind = self.b.ins().iconst(types::I64, kind);
                let found = self.call1("evr_list_contains", &[ptr, len, kind, a, b]);
                // A null needle is in no list.
                let hit = self.b.ins().band(found, present);
                JVal::B(if *negated { self.b.ins().bxor_imm_u(hit, 1) } else { hit })
            }
            ExprKind::In { needle, list, negated } => {
                // A list written out: one comparison per element.
                let elem = match &list.ty {
                    Type::List(t) => (**t).clone(),
                    _ => return unsupported("`in` over this value", list.span),
                };
                let items: Vec<Expr> = match &list.kind {
                    ExprKind::Lit(Literal::List(lits)) => {
                        lits.iter().map(|l| Expr::lit(l.clone(), elem.clone(), list.span)).collect()
                    }
                    ExprKind::ListLit(items) => items.clone(),
                    _ => return unsupported("`in` over this list", list.span),
                };
                let needle_v = self.expr(needle)?;
                let mut any = self.b.ins().iconst(types::I8, 0);
                for item in &items {
                    let v = self.expr(item)?;
                    let eq = self.compare(CmpOp::Eq, needle_v.clone(), v, span)?;
                    any = self.b.ins().bor(any, eq);
                }
                JVal::B(if *negated { self.b.ins().bxor_imm_u(any, 1) } else { any })
            }
            ExprKind::Call { builtin, args, site, .. } => self.builtin(*builtin, args, *site, span)?,
            ExprKind::Event => {
                let one = self.b.ins().iconst(types::I8, 1);
                let ptr = self.call1("evr_event", &[self.ctx]);
                JVal::Msg(one, ptr)
            }
            ExprKind::Index { base, index } => self.index(e, base, index)?,
            ExprKind::ListPred { .. } => self.list_pred(e)?,
            ExprKind::ListLit(_) => {
                self.fill_list(e)?;
                self.value_of("evr_list_value", false)
            }
            ExprKind::MapLit(entries)
                if entries.iter().all(|(k, v)| matches!((&k.kind, &v.kind), (ExprKind::Lit(_), ExprKind::Lit(_)))) =>
            {
                // A map of constants lives as long as the compiled code.
                let mut map: Vec<(crate::interp::value::Value, crate::interp::value::Value)> = Vec::new();
                for (k, v) in entries {
                    let (ExprKind::Lit(k), ExprKind::Lit(v)) = (&k.kind, &v.kind) else { continue };
                    let (k, v) = (crate::interp::literal(k), crate::interp::literal(v));
                    match map.iter_mut().find(|(ek, _)| *ek == k) {
                        Some(slot) => slot.1 = v,
                        None => map.push((k, v)),
                    }
                }
                let map = Box::new(map);
                let (ptr, len) = (&*map as *const Vec<_> as i64, map.len() as i64);
                self.env.pinned.maps.push(map);
                JVal::Coll(self.b.ins().iconst(types::I64, ptr), self.b.ins().iconst(types::I64, len))
            }
            ExprKind::MapLit(entries) => {
                self.fill_map(entries)?;
                self.value_of("evr_map_value", false)
            }
            ExprKind::Record { .. } => {
                self.record(e, -3)?;
                self.value_of("evr_record_value", true)
            }
        })
    }

    fn literal(&mut self, l: &Literal, ty: &Type, span: Span) -> R<JVal> {
        Ok(match l {
            Literal::Bool(b) => JVal::B(self.b.ins().iconst(types::I8, i64::from(*b))),
            Literal::Int(i) | Literal::Duration(i) => JVal::I(self.b.ins().iconst(types::I64, *i)),
            Literal::Enum(_, n) => JVal::I(self.b.ins().iconst(types::I64, i64::from(*n))),
            Literal::Float(f) => JVal::F(self.b.ins().f64const(*f)),
            Literal::String(s) => {
                let bytes: Box<[u8]> = s.as_bytes().into();
                let (ptr, len) = (bytes.as_ptr() as i64, bytes.len() as i64);
                self.env.pinned.literals.push(bytes);
                JVal::S(self.b.ins().iconst(types::I64, ptr), self.b.ins().iconst(types::I64, len))
            }
            Literal::Null => {
                let s = shape(ty, span)?;
                self.zero(&s)
            }
            Literal::List(items) => {
                // A constant list lives as long as the compiled code.
                let values: Box<Vec<crate::interp::value::Value>> =
                    Box::new(items.iter().map(crate::interp::literal).collect());
                let (ptr, len) = (&*values as *const Vec<crate::interp::value::Value> as i64, values.len() as i64);
                self.env.pinned.lists.push(values);
                JVal::Coll(self.b.ins().iconst(types::I64, ptr), self.b.ins().iconst(types::I64, len))
            }
        })
    }

    fn field(&mut self, e: &Expr) -> R<JVal> {
        let ExprKind::Field { base, message, index } = &e.kind else { return unsupported("a field read", e.span) };
        let Some(path) = event_path(e) else {
            // A field of a message value (a list element, an optional message): ask Rust.
            let (base_present, ptr) = match self.expr(base)? {
                JVal::Msg(p, ptr) => (p, ptr),
                JVal::Opt(p, inner) => match *inner {
                    JVal::Msg(q, ptr) => (self.b.ins().band(p, q), ptr),
                    _ => return unsupported("a field of this value", e.span),
                },
                _ => return unsupported("a field of this value", e.span),
            };
            let declared = self.env.schema.message(*message).fields[*index as usize].ty.clone();
            let out = self.words();
            let i = self.b.ins().iconst(types::I64, i64::from(*index));
            let set = self.call1("evr_msg_field", &[ptr, i, out]);
            let raw = self.read_words(&declared, out, set, e.span)?;
            if !base.ty.is_optional() {
                return Ok(raw);
            }
            // A field of an absent message is null.
            return Ok(match raw {
                JVal::Opt(p, inner) => JVal::Opt(self.b.ins().band(base_present, p), inner),
                v => JVal::Opt(base_present, Box::new(v)),
            });
        };
        let Some(off) = self.env.layout.offset(&path) else {
            return unsupported("reading this field", e.span);
        };
        let off = off as i32;
        let present = self.load(types::I8, self.frame, off);
        let value = match e.ty.strip_optional() {
            Type::Message(_) => JVal::Msg(present, self.load(types::I64, self.frame, off + 8)),
            Type::List(_) | Type::Map(_, _) => {
                let p = self.load(types::I64, self.frame, off + 8);
                JVal::Coll(p, self.load(types::I64, self.frame, off + 16))
            }
            Type::Bool => JVal::B(self.load(types::I8, self.frame, off + 8)),
            Type::Int | Type::Duration | Type::Enum(_) => JVal::I(self.load(types::I64, self.frame, off + 8)),
            Type::Float => JVal::F(self.load(types::F64, self.frame, off + 8)),
            Type::String | Type::Bytes => {
                let p = self.load(types::I64, self.frame, off + 8);
                let l = self.load(types::I64, self.frame, off + 16);
                JVal::S(p, l)
            }
            _ => return unsupported("reading this field", e.span),
        };
        Ok(if e.ty.is_optional() { JVal::Opt(present, Box::new(value)) } else { value })
    }

    fn index(&mut self, e: &Expr, base: &Expr, index: &Expr) -> R<JVal> {
        let JVal::Coll(ptr, _) = self.expr(base)? else { return unsupported("indexing this value", e.span) };
        let key = self.expr(index)?;
        let out = self.words();
        let present = match (&base.ty, key) {
            (Type::List(_), JVal::I(i)) => self.call1("evr_list_get", &[ptr, i, out]),
            (Type::Map(..), key) => {
                let (kind, k0, k1) = match key {
                    JVal::S(p, l) => (0, p, l),
                    JVal::I(i) => (1, i, i),
                    JVal::B(b) => {
                        let w = self.b.ins().uextend(types::I64, b);
                        (2, w, w)
                    }
                    _ => return unsupported("this map key", e.span),
                };
                let kind = self.b.ins().iconst(types::I64, kind);
                self.call1("evr_map_get", &[ptr, kind, k0, k1, out])
            }
            _ => return unsupported("indexing this value", e.span),
        };
        self.read_words(&e.ty, out, present, e.span)
    }

    /// `any` / `all` / `count_if`: a loop over the elements.
    fn list_pred(&mut self, e: &Expr) -> R<JVal> {
        let ExprKind::ListPred { kind, list, param, body } = &e.kind else {
            return unsupported("a list predicate", e.span);
        };
        let JVal::Coll(ptr, len) = self.expr(list)? else { return unsupported("this list", list.span) };
        let Type::List(elem) = &list.ty else { return unsupported("this list", list.span) };
        let elem = (**elem).clone();
        let (i, acc) = (self.b.declare_var(types::I64), self.b.declare_var(types::I64));
        let (zero, start) = (
            self.b.ins().iconst(types::I64, 0),
            self.b.ins().iconst(types::I64, i64::from(*kind == ListPredKind::All)),
        );
        self.b.def_var(i, zero);
        self.b.def_var(acc, start);
        let (head, step, exit) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
        self.b.ins().jump(head, &[]);
        self.b.switch_to_block(head);
        let iv = self.b.use_var(i);
        let more = self.b.ins().icmp(IntCC::SignedLessThan, iv, len);
        let body_block = self.b.create_block();
        self.b.ins().brif(more, body_block, &[], exit, &[]);
        self.b.switch_to_block(body_block);
        let out = self.words();
        let present = self.call1("evr_list_get", &[ptr, iv, out]);
        let item = self.read_words(&elem, out, present, list.span)?;
        self.bind(param.0, &elem, &item, list.span)?;
        let holds = self.truth(body)?;
        match kind {
            ListPredKind::Any | ListPredKind::All => {
                let stop = if *kind == ListPredKind::Any { holds } else { self.b.ins().bxor_imm_u(holds, 1) };
                let found = self.b.ins().uextend(types::I64, holds);
                self.b.def_var(acc, found);
                self.b.ins().brif(stop, exit, &[], step, &[]);
            }
            ListPredKind::CountIf => {
                let a = self.b.use_var(acc);
                let h = self.b.ins().uextend(types::I64, holds);
                let sum = self.b.ins().iadd(a, h);
                self.b.def_var(acc, sum);
                self.b.ins().jump(step, &[]);
            }
        }
        self.b.switch_to_block(step);
        let iv = self.b.use_var(i);
        let next = self.b.ins().iadd_imm_s(iv, 1);
        self.b.def_var(i, next);
        self.b.ins().jump(head, &[]);
        self.b.switch_to_block(exit);
        let r = self.b.use_var(acc);
        Ok(match kind {
            ListPredKind::CountIf => JVal::I(r),
            _ => JVal::B(self.b.ins().ireduce(types::I8, r)),
        })
    }

    fn arith(&mut self, op: ArithOp, a: JVal, b: JVal, span: Span) -> R<JVal> {
        use ArithOp::*;
        Ok(match (op, a, b) {
            (AddInt | AddDuration, JVal::I(x), JVal::I(y)) => {
                let (r, of) = self.b.ins().sadd_overflow(x, y);
                self.fail_if(of, RuntimeError::Overflow);
                JVal::I(r)
            }
            (SubInt | SubDuration, JVal::I(x), JVal::I(y)) => {
                let (r, of) = self.b.ins().ssub_overflow(x, y);
                self.fail_if(of, RuntimeError::Overflow);
                JVal::I(r)
            }
            (MulInt, JVal::I(x), JVal::I(y)) => {
                let (r, of) = self.b.ins().smul_overflow(x, y);
                self.fail_if(of, RuntimeError::Overflow);
                JVal::I(r)
            }
            (DivInt | RemInt, JVal::I(x), JVal::I(y)) => {
                let zero = self.b.ins().icmp_imm_s(IntCC::Equal, y, 0);
                self.fail_if(zero, RuntimeError::DivisionByZero);
                // x / -1 is a negation (which overflows for the smallest int); x % -1 is 0.
                let minus_one = self.b.ins().icmp_imm_s(IntCC::Equal, y, -1);
                let var = self.b.declare_var(types::I64);
                let (special, normal, done) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
                self.b.ins().brif(minus_one, special, &[], normal, &[]);
                self.b.switch_to_block(special);
                if op == DivInt {
                    let min = self.b.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
                    self.fail_if(min, RuntimeError::Overflow);
                    let n = self.b.ins().ineg(x);
                    self.b.def_var(var, n);
                } else {
                    let z = self.b.ins().iconst(types::I64, 0);
                    self.b.def_var(var, z);
                }
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(normal);
                let r = if op == DivInt { self.b.ins().sdiv(x, y) } else { self.b.ins().srem(x, y) };
                self.b.def_var(var, r);
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(done);
                JVal::I(self.b.use_var(var))
            }
            (AddFloat, JVal::F(x), JVal::F(y)) => JVal::F(self.b.ins().fadd(x, y)),
            (SubFloat, JVal::F(x), JVal::F(y)) => JVal::F(self.b.ins().fsub(x, y)),
            (MulFloat, JVal::F(x), JVal::F(y)) => JVal::F(self.b.ins().fmul(x, y)),
            (DivFloat, JVal::F(x), JVal::F(y)) => JVal::F(self.b.ins().fdiv(x, y)),
            (RemFloat, JVal::F(x), JVal::F(y)) => JVal::F(self.call1("evr_float_rem", &[x, y])),
            (Concat, JVal::S(ap, al), JVal::S(bp, bl)) => {
                self.string_result("evr_str_concat", &[self.ctx, ap, al, bp, bl])
            }
            _ => return unsupported("this arithmetic", span),
        })
    }

    /// An i8 truth value; optionals follow the null rules.
    fn compare(&mut self, op: CmpOp, a: JVal, b: JVal, span: Span) -> R<Value> {
        if matches!(a, JVal::Opt(..)) || matches!(b, JVal::Opt(..)) {
            let one = self.b.ins().iconst(types::I8, 1);
            let (pa, va) = match a {
                JVal::Opt(p, v) => (p, *v),
                v => (one, v),
            };
            let (pb, vb) = match b {
                JVal::Opt(p, v) => (p, *v),
                v => (one, v),
            };
            let both = self.b.ins().band(pa, pb);
            let either = self.b.ins().bor(pa, pb);
            let neither = self.b.ins().bxor_imm_u(either, 1);
            return Ok(match op {
                // Null equals only null.
                CmpOp::Eq | CmpOp::Ne => {
                    let inner = self.compare(CmpOp::Eq, va, vb, span)?;
                    let equal_values = self.b.ins().band(both, inner);
                    let eq = self.b.ins().bor(equal_values, neither);
                    if op == CmpOp::Eq { eq } else { self.b.ins().bxor_imm_u(eq, 1) }
                }
                // An ordering with null is false.
                _ => {
                    let inner = self.compare(op, va, vb, span)?;
                    self.b.ins().band(both, inner)
                }
            });
        }
        let icc = |op: CmpOp| match op {
            CmpOp::Eq => IntCC::Equal,
            CmpOp::Ne => IntCC::NotEqual,
            CmpOp::Lt => IntCC::SignedLessThan,
            CmpOp::Le => IntCC::SignedLessThanOrEqual,
            CmpOp::Gt => IntCC::SignedGreaterThan,
            CmpOp::Ge => IntCC::SignedGreaterThanOrEqual,
        };
        Ok(match (a, b) {
            (JVal::I(x), JVal::I(y)) | (JVal::B(x), JVal::B(y)) => self.b.ins().icmp(icc(op), x, y),
            (JVal::F(x), JVal::F(y)) => {
                let cc = match op {
                    CmpOp::Eq => FloatCC::Equal,
                    CmpOp::Ne => FloatCC::NotEqual,
                    CmpOp::Lt => FloatCC::LessThan,
                    CmpOp::Le => FloatCC::LessThanOrEqual,
                    CmpOp::Gt => FloatCC::GreaterThan,
                    CmpOp::Ge => FloatCC::GreaterThanOrEqual,
                };
                self.b.ins().fcmp(cc, x, y)
            }
            (JVal::S(ap, al), JVal::S(bp, bl)) => {
                let c = self.call1("evr_str_cmp", &[ap, al, bp, bl]);
                self.b.ins().icmp_imm_s(icc(op), c, 0)
            }
            _ => return unsupported("this comparison", span),
        })
    }

    fn builtin(&mut self, b: Builtin, args: &[Expr], site: Option<u32>, span: Span) -> R<JVal> {
        // Constant arguments are compiled once into the module's constant table.
        let constant = |this: &mut Self, e: &Expr, make: &dyn Fn(&str) -> Option<Constant>| -> R<Value> {
            let ExprKind::Lit(Literal::String(text)) = &e.kind else {
                return unsupported("a non-constant argument", e.span);
            };
            let Some(c) = make(text) else { return unsupported("an invalid constant", e.span) };
            let index = {
                // A poisoned lock only means another translation panicked; the table is intact.
                let mut table = this.env.constants.lock().unwrap_or_else(|p| p.into_inner());
                table.push(c);
                table.len() as i64 - 1
            };
            Ok(this.b.ins().iconst(types::I64, index))
        };
        // The pattern of `matches` and the block of `ip_in` are constants, not values.
        let evaluated: Vec<&Expr> = match b {
            Builtin::Matches | Builtin::IpIn | Builtin::JsonString | Builtin::JsonInt => args[..1].iter().collect(),
            Builtin::Extract => vec![&args[0], &args[2]],
            _ => args.iter().collect(),
        };
        let mut vals = Vec::with_capacity(args.len());
        for a in evaluated {
            vals.push(self.expr(a)?);
        }
        let str_arg = |v: &JVal| match v {
            JVal::S(p, l) => Some((*p, *l)),
            _ => None,
        };
        let pair = |vals: &[JVal]| -> Option<(Value, Value, Value, Value)> {
            let (a, b) = (str_arg(&vals[0])?, str_arg(&vals[1])?);
            Some((a.0, a.1, b.0, b.1))
        };
        let ctx = self.ctx;
        Ok(match b {
            Builtin::Len => match vals[0] {
                JVal::S(p, l) if args[0].ty == Type::String => JVal::I(self.call1("evr_str_len", &[p, l])),
                JVal::S(_, l) => JVal::I(l),
                JVal::Coll(_, len) => JVal::I(len),
                _ => return unsupported("`len` of this value", span),
            },
            Builtin::ContainsKey => {
                let JVal::Coll(map, _) = vals[0] else { return unsupported("this map", span) };
                let (kind, k0, k1) = match vals[1] {
                    JVal::S(p, l) => (0, p, l),
                    JVal::I(i) => (1, i, i),
                    JVal::B(b) => {
                        let w = self.b.ins().uextend(types::I64, b);
                        (2, w, w)
                    }
                    _ => return unsupported("this key", span),
                };
                let kind = self.b.ins().iconst(types::I64, kind);
                let out = self.words();
                JVal::B(self.call1("evr_map_get", &[map, kind, k0, k1, out]))
            }
            Builtin::Substr => {
                let (Some((p, l)), JVal::I(start), JVal::I(n)) = (str_arg(&vals[0]), &vals[1], &vals[2]) else {
                    return unsupported("these arguments", span);
                };
                let (start, n) = (*start, *n);
                self.string_result("evr_substr", &[p, l, start, n])
            }
            Builtin::Replace => {
                let (Some((p, l)), Some((fp, fl)), Some((tp, tl))) =
                    (str_arg(&vals[0]), str_arg(&vals[1]), str_arg(&vals[2]))
                else {
                    return unsupported("these arguments", span);
                };
                self.string_result("evr_replace", &[ctx, p, l, fp, fl, tp, tl])
            }
            Builtin::Split => {
                let Some((a, al, x, xl)) = pair(&vals) else { return unsupported("these arguments", span) };
                let out = self.words();
                self.call("evr_split", &[ctx, a, al, x, xl, out]);
                let ptr = self.load(types::I64, out, 0);
                JVal::Coll(ptr, self.load(types::I64, out, 8))
            }
            Builtin::Extract => {
                let (Some((p, l)), JVal::I(group)) = (str_arg(&vals[0]), &vals[1]) else {
                    return unsupported("these arguments", span);
                };
                let group = *group;
                let id = constant(self, &args[1], &|t| {
                    evr_stdlib::constant::compile_pattern(t).ok().map(Constant::Pattern)
                })?;
                let out = self.words();
                let present = self.call1("evr_extract", &[ctx, id, p, l, group, out]);
                let ptr = self.load(types::I64, out, 0);
                let len = self.load(types::I64, out, 8);
                JVal::Opt(present, Box::new(JVal::S(ptr, len)))
            }
            Builtin::UrlHost | Builtin::UrlParam => {
                let out = self.words();
                let present = if b == Builtin::UrlHost {
                    let Some((p, l)) = str_arg(&vals[0]) else { return unsupported("this argument", span) };
                    self.call1("evr_url_host", &[ctx, p, l, out])
                } else {
                    let Some((a, al, x, xl)) = pair(&vals) else { return unsupported("these arguments", span) };
                    self.call1("evr_url_param", &[ctx, a, al, x, xl, out])
                };
                let ptr = self.load(types::I64, out, 0);
                let len = self.load(types::I64, out, 8);
                JVal::Opt(present, Box::new(JVal::S(ptr, len)))
            }
            Builtin::JsonString | Builtin::JsonInt => {
                let Some((p, l)) = str_arg(&vals[0]) else { return unsupported("this argument", span) };
                let id = constant(self, &args[1], &|t| {
                    evr_stdlib::constant::parse_json_path(t).ok().map(Constant::JsonPath)
                })?;
                let out = self.words();
                if b == Builtin::JsonString {
                    let present = self.call1("evr_json_string", &[ctx, id, p, l, out]);
                    let ptr = self.load(types::I64, out, 0);
                    let len = self.load(types::I64, out, 8);
                    JVal::Opt(present, Box::new(JVal::S(ptr, len)))
                } else {
                    let present = self.call1("evr_json_int", &[ctx, id, p, l, out]);
                    JVal::Opt(present, Box::new(JVal::I(self.load(types::I64, out, 0))))
                }
            }
            Builtin::Lower | Builtin::Upper => {
                let Some((p, l)) = str_arg(&vals[0]) else { return unsupported("this argument", span) };
                let name = if b == Builtin::Lower { "evr_str_lower" } else { "evr_str_upper" };
                self.string_result(name, &[ctx, p, l])
            }
            Builtin::Trim => {
                let Some((p, l)) = str_arg(&vals[0]) else { return unsupported("this argument", span) };
                self.string_result("evr_str_trim", &[p, l])
            }
            Builtin::StartsWith | Builtin::EndsWith | Builtin::Contains => {
                let Some((a, al, x, xl)) = pair(&vals) else { return unsupported("these arguments", span) };
                let name = match b {
                    Builtin::StartsWith => "evr_str_starts",
                    Builtin::EndsWith => "evr_str_ends",
                    _ => "evr_str_contains",
                };
                JVal::B(self.call1(name, &[a, al, x, xl]))
            }
            Builtin::ToString => match (&vals[0], &args[0].ty) {
                (JVal::S(p, l), Type::String) => JVal::S(*p, *l),
                (JVal::I(v), Type::Int) => self.string_result("evr_int_to_string", &[ctx, *v]),
                (JVal::I(v), Type::Duration) => self.string_result("evr_duration_to_string", &[ctx, *v]),
                (JVal::I(v), Type::Enum(id)) => {
                    let id = self.b.ins().iconst(types::I64, i64::from(id.0));
                    self.string_result("evr_enum_name", &[ctx, id, *v])
                }
                (JVal::F(v), Type::Float) => self.string_result("evr_float_to_string", &[ctx, *v]),
                (JVal::S(p, l), Type::Bytes) => self.string_result("evr_bytes_to_string", &[ctx, *p, *l]),
                (JVal::B(v), Type::Bool) => {
                    let (t, f) = (Literal::String("true".into()), Literal::String("false".into()));
                    let (JVal::S(tp, tl), JVal::S(fp, fl)) =
                        (self.literal(&t, &Type::String, span)?, self.literal(&f, &Type::String, span)?)
                    else {
                        return unsupported("this conversion", span);
                    };
                    let v = *v;
                    JVal::S(self.b.ins().select(v, tp, fp), self.b.ins().select(v, tl, fl))
                }
                _ => return unsupported("`to_string` of this value", span),
            },
            Builtin::Abs => match vals[0] {
                JVal::I(x) => {
                    let min = self.b.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
                    self.fail_if(min, RuntimeError::Overflow);
                    let neg = self.b.ins().ineg(x);
                    let is_neg = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, x, 0);
                    JVal::I(self.b.ins().select(is_neg, neg, x))
                }
                JVal::F(x) => JVal::F(self.b.ins().fabs(x)),
                _ => return unsupported("this argument", span),
            },
            Builtin::Min | Builtin::Max => match (&vals[0], &vals[1]) {
                (JVal::I(x), JVal::I(y)) => {
                    let cc = if b == Builtin::Min { IntCC::SignedLessThan } else { IntCC::SignedGreaterThan };
                    let pick = self.b.ins().icmp(cc, *x, *y);
                    JVal::I(self.b.ins().select(pick, *x, *y))
                }
                (JVal::F(x), JVal::F(y)) => {
                    let name = if b == Builtin::Min { "evr_float_min" } else { "evr_float_max" };
                    JVal::F(self.call1(name, &[*x, *y]))
                }
                _ => return unsupported("these arguments", span),
            },
            Builtin::Round | Builtin::Floor | Builtin::Ceil => {
                let JVal::F(x) = vals[0] else { return unsupported("this argument", span) };
                let which = self.b.ins().iconst(
                    types::I32,
                    match b {
                        Builtin::Round => 0,
                        Builtin::Floor => 1,
                        _ => 2,
                    },
                );
                let out = self.slot(1);
                let status = self.call1("evr_float_to_int", &[which, x, out]);
                self.check_status(status);
                JVal::I(self.load(types::I64, out, 0))
            }
            Builtin::ToInt => match &vals[0] {
                JVal::S(p, l) => {
                    let out = self.slot(1);
                    let present = self.call1("evr_parse_int", &[*p, *l, out]);
                    JVal::Opt(present, Box::new(JVal::I(self.load(types::I64, out, 0))))
                }
                JVal::I(v) => {
                    let one = self.b.ins().iconst(types::I8, 1);
                    JVal::Opt(one, Box::new(JVal::I(*v)))
                }
                JVal::F(v) => {
                    let out = self.slot(1);
                    let present = self.call1("evr_float_trunc", &[*v, out]);
                    JVal::Opt(present, Box::new(JVal::I(self.load(types::I64, out, 0))))
                }
                _ => return unsupported("this argument", span),
            },
            Builtin::ToFloat => match &vals[0] {
                JVal::S(p, l) => {
                    let out = self.slot(1);
                    let present = self.call1("evr_parse_float", &[*p, *l, out]);
                    JVal::Opt(present, Box::new(JVal::F(self.load(types::F64, out, 0))))
                }
                JVal::F(v) => {
                    let one = self.b.ins().iconst(types::I8, 1);
                    JVal::Opt(one, Box::new(JVal::F(*v)))
                }
                _ => return unsupported("this argument", span),
            },
            Builtin::Hash64 => JVal::I(self.hash(&vals[0], &args[0].ty, span)?),
            Builtin::Bucket => {
                let h = self.hash(&vals[0], &args[0].ty, span)?;
                let JVal::I(n) = vals[1] else { return unsupported("this argument", span) };
                let out = self.slot(1);
                let status = self.call1("evr_bucket", &[h, n, out]);
                self.check_status(status);
                JVal::I(self.load(types::I64, out, 0))
            }
            Builtin::HourOfDay | Builtin::DayOfWeek => {
                let JVal::I(ms) = vals[0] else { return unsupported("this argument", span) };
                let name = if b == Builtin::HourOfDay { "evr_hour_of_day" } else { "evr_day_of_week" };
                JVal::I(self.call1(name, &[ms]))
            }
            Builtin::NowMs => JVal::I(self.call1("evr_now_ms", &[])),
            Builtin::IsBot => {
                let Some((p, l)) = str_arg(&vals[0]) else { return unsupported("this argument", span) };
                JVal::B(self.call1("evr_is_bot", &[p, l]))
            }
            Builtin::Matches => {
                let Some((p, l)) = str_arg(&vals[0]) else { return unsupported("this argument", span) };
                let id = constant(self, &args[1], &|t| {
                    evr_stdlib::constant::compile_pattern(t).ok().map(Constant::Pattern)
                })?;
                JVal::B(self.call1("evr_matches", &[ctx, id, p, l]))
            }
            Builtin::IpIn => {
                let Some((p, l)) = str_arg(&vals[0]) else { return unsupported("this argument", span) };
                let id = constant(self, &args[1], &|t| evr_stdlib::constant::parse_cidr(t).ok().map(Constant::Cidr))?;
                JVal::B(self.call1("evr_ip_in", &[ctx, id, p, l]))
            }
            Builtin::WindowCount | Builtin::Seen | Builtin::WindowSum | Builtin::WindowDistinct => {
                let Some(site) = site else { return unsupported("a velocity call without a site", span) };
                let key = self.hash(&vals[0], &args[0].ty, span)?;
                let site = self.b.ins().iconst(types::I64, i64::from(site));
                match b {
                    Builtin::WindowCount | Builtin::Seen => {
                        let kind = self.b.ins().iconst(types::I64, i64::from(b == Builtin::Seen));
                        let r = self.call1("evr_velocity", &[ctx, site, kind, key]);
                        if b == Builtin::Seen { JVal::B(self.b.ins().ireduce(types::I8, r)) } else { JVal::I(r) }
                    }
                    Builtin::WindowSum => {
                        let JVal::F(amount) = vals[1] else { return unsupported("this argument", span) };
                        JVal::F(self.call1("evr_velocity_sum", &[ctx, site, key, amount]))
                    }
                    _ => {
                        let value = self.hash(&vals[1], &args[1].ty, span)?;
                        JVal::I(self.call1("evr_velocity_distinct", &[ctx, site, key, value]))
                    }
                }
            }
            other => return unsupported(format!("the builtin `{}`", other.name()), span),
        })
    }

    /// The stable hash of a scalar, as `hash64` and velocity keys use it.
    fn hash(&mut self, v: &JVal, ty: &Type, span: Span) -> R<Value> {
        Ok(match (v, ty) {
            (JVal::S(p, l), Type::String | Type::Bytes) => self.call1("evr_hash_str", &[*p, *l]),
            (JVal::I(x), _) => self.call1("evr_hash_int", &[*x]),
            (JVal::F(x), _) => self.call1("evr_hash_float", &[*x]),
            (JVal::B(x), _) => self.call1("evr_hash_bool", &[*x]),
            _ => return unsupported("hashing this type", span),
        })
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
