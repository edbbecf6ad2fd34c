//! Expressions: literals, field reads, operators, conditionals, list predicates.

use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{InstBuilder, Value, types};
use evr_grammar::ast::Span;
use evr_stdlib::RuntimeError;

use super::{JVal, R, Shape, Translator, shape, unsupported};
use crate::frame::{SLOT, keyed_path};
use crate::ir::{ArithOp, CmpOp, Expr, ExprKind, ListPredKind, Literal, UnaryOp, event_path};
use crate::jit::abi::{Helper, Place};
use crate::types::Type;

/// Up to this many constants, `x in [...]` compares inline; past it, one set lookup.
const INLINE_SET: usize = 8;

/// Where a list predicate's elements are: in columns (each column's first slot, by the element
/// field it holds), or in a list value.
enum Elements {
    Columns(Vec<(u32, Value)>),
    Value(Value),
}

impl Translator<'_, '_> {
    pub fn truth(&mut self, e: &Expr) -> R<Value> {
        match self.expr(e)? {
            JVal::B(v) => Ok(v),
            _ => unsupported("a condition that is not a bool", e.span),
        }
    }

    pub(super) fn expr(&mut self, e: &Expr) -> R<JVal> {
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
                let id = self.b.ins().iconst(types::I64, i64::from(id.0));
                JVal::I(self.checked_int(Helper::Score, &[self.ctx, id]))
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
                JVal::B(self.compare(*op, a, b, &lhs.ty, span)?)
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
            ExprKind::Has(x) if let Some((base, index)) = crate::ir::presence_field(x, self.env.schema) => {
                JVal::B(self.field_set(x, base, index)?)
            }
            ExprKind::Has(x) => match self.expr(x)? {
                JVal::Opt(p, _) | JVal::Msg(p, _) => JVal::B(p),
                JVal::Coll(_, len) => JVal::B(self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, len, 0)),
                _ => return unsupported("`has` on this value", span),
            },
            ExprKind::Some(x) => {
                let v = self.expr(x)?;
                self.present(v)
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
            ExprKind::In { needle, list, negated } if !matches!(list.kind, ExprKind::ListLit(_)) => {
                let JVal::Coll(ptr, len) = self.expr(list)? else {
                    return unsupported("`in` over this value", list.span);
                };
                let (present, kind, a, b) = self.needle(needle, span)?;
                let found = self.call1(Helper::ListContains, &[ptr, len, kind, a, b]);
                // A null needle is in no list.
                let hit = self.b.ins().band(found, present);
                self.negated(hit, *negated)
            }
            ExprKind::In { needle, list, negated } => {
                let ExprKind::ListLit(items) = &list.kind else { return unsupported("`in` over this list", list.span) };
                let any = self.equals_any(needle, items, span)?;
                self.negated(any, *negated)
            }
            ExprKind::InSet { needle, set, negated } if set.len() <= INLINE_SET => {
                // A few constants: compared one by one, inline.
                let items: Vec<Expr> = set
                    .items()
                    .iter()
                    .map(|l| Expr::lit(l.clone(), needle.ty.strip_optional().clone(), span))
                    .collect();
                let any = self.equals_any(needle, &items, span)?;
                self.negated(any, *negated)
            }
            ExprKind::InSet { needle, set, negated } => {
                let (present, kind, a, b) = self.needle(needle, span)?;
                let set_ptr = std::sync::Arc::as_ptr(set) as i64;
                self.env.pinned.sets.push(set.clone());
                let set_ptr = self.b.ins().iconst(types::I64, set_ptr);
                let found = self.call1(Helper::SetContains, &[set_ptr, kind, a, b]);
                // A null needle is in no set.
                let hit = self.b.ins().band(found, present);
                self.negated(hit, *negated)
            }
            ExprKind::Call { builtin, overload, args, site } => self.builtin(*builtin, *overload, args, *site, span)?,
            ExprKind::Event => {
                let one = self.b.ins().iconst(types::I8, 1);
                let ptr = self.call1(Helper::Event, &[self.ctx]);
                JVal::Msg(one, ptr)
            }
            ExprKind::Index { base, index } => self.index(e, base, index)?,
            ExprKind::ListPred { .. } => self.list_pred(e)?,
            ExprKind::ListLit(_) => {
                self.fill_list(e)?;
                self.value_of(Helper::ListValue, false)
            }
            ExprKind::MapLit(entries)
                if entries.iter().all(|(k, v)| matches!((&k.kind, &v.kind), (ExprKind::Lit(_), ExprKind::Lit(_)))) =>
            {
                // A map of constants lives as long as the compiled code.
                let mut map: Vec<(crate::value::Value, crate::value::Value)> = Vec::new();
                for (k, v) in entries {
                    let (ExprKind::Lit(k), ExprKind::Lit(v)) = (&k.kind, &v.kind) else { continue };
                    let (k, v) = (crate::value::literal(k), crate::value::literal(v));
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
                self.value_of(Helper::MapValue, false)
            }
            ExprKind::Record { .. } => {
                self.record(e, Place::VALUE)?;
                self.value_of(Helper::RecordValue, true)
            }
        })
    }

    pub(super) fn literal(&mut self, l: &Literal, ty: &Type, span: Span) -> R<JVal> {
        Ok(match l {
            Literal::Bool(b) => JVal::B(self.b.ins().iconst(types::I8, i64::from(*b))),
            Literal::Int(i) | Literal::Duration(i) => JVal::I(self.b.ins().iconst(types::I64, *i)),
            Literal::Enum(_, n) => JVal::I(self.b.ins().iconst(types::I64, i64::from(*n))),
            Literal::Float(f) => JVal::F(self.b.ins().f64const(*f)),
            Literal::String(s) => {
                let bytes: Box<[u8]> = s.as_bytes().into();
                let (ptr, len) = (bytes.as_ptr() as i64, bytes.len() as i64);
                let (p, l) = (self.b.ins().iconst(types::I64, ptr), self.b.ins().iconst(types::I64, len));
                self.note_literal(p, &bytes);
                self.env.pinned.literals.push(bytes);
                JVal::S(p, l)
            }
            Literal::Null => {
                let s = shape(ty, span)?;
                self.zero(&s)
            }
            Literal::List(items) => {
                // A constant list lives as long as the compiled code.
                let values: Box<Vec<crate::value::Value>> = Box::new(items.iter().map(crate::value::literal).collect());
                let (ptr, len) = (&*values as *const Vec<crate::value::Value> as i64, values.len() as i64);
                self.env.pinned.lists.push(values);
                JVal::Coll(self.b.ins().iconst(types::I64, ptr), self.b.ins().iconst(types::I64, len))
            }
        })
    }

    /// The needle of `in` as words for a helper (see `words_of`), with whether it is present.
    fn needle(&mut self, needle: &Expr, span: Span) -> R<(Value, Value, Value, Value)> {
        let one = self.b.ins().iconst(types::I8, 1);
        let (present, v) = match self.expr(needle)? {
            JVal::Opt(p, inner) => (p, *inner),
            v => (one, v),
        };
        let (kind, a, b) = self.words_of(v, &needle.ty, span)?;
        let kind = self.b.ins().iconst(types::I64, kind);
        Ok((present, kind, a, b))
    }

    /// `in`'s answer, or `not in`'s.
    fn negated(&mut self, hit: Value, negated: bool) -> JVal {
        JVal::B(if negated { self.b.ins().bxor_imm_u(hit, 1) } else { hit })
    }

    /// Whether `needle` equals one of `items`: one comparison each.
    fn equals_any(&mut self, needle: &Expr, items: &[Expr], span: Span) -> R<Value> {
        let elem = needle.ty.strip_optional().clone();
        let needle_v = self.expr(needle)?;
        let mut any = self.b.ins().iconst(types::I8, 0);
        for item in items {
            let v = self.expr(item)?;
            let eq = self.compare(CmpOp::Eq, needle_v.clone(), v, &elem, span)?;
            any = self.b.ins().bor(any, eq);
        }
        Ok(any)
    }

    pub(super) fn field(&mut self, e: &Expr) -> R<JVal> {
        let ExprKind::Field { base, message, index } = &e.kind else { return unsupported("a field read", e.span) };
        // A field of a list predicate's element read from its column.
        if let Some(slot) = self.column_slot(base, *index) {
            return self.slot_at(slot, 0, &e.ty, e.span);
        }
        let Some(path) = event_path(e) else {
            // A field of a message value (a list element, an optional message): ask Rust.
            let (base_present, ptr) = self.message_value(base, e.span)?;
            let declared = self.env.schema.message(*message).fields[*index as usize].ty.clone();
            let out = self.words();
            let i = self.b.ins().iconst(types::I64, i64::from(*index));
            let set = self.call1(Helper::MsgField, &[ptr, i, out]);
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
        self.slot_at(self.frame, off as i32, &e.ty, e.span)
    }

    /// Whether field `index` of `base` is set (see `ir::presence_field`), `x` being its read.
    fn field_set(&mut self, x: &Expr, base: &Expr, index: u32) -> R<Value> {
        if let Some(slot) = self.column_slot(base, index) {
            return Ok(self.load(types::I8, slot, 0));
        }
        if let Some(off) = event_path(x).and_then(|p| self.env.layout.offset(&p)) {
            return Ok(self.load(types::I8, self.frame, off as i32));
        }
        let (base_present, ptr) = self.message_value(base, x.span)?;
        let zero = self.b.ins().iconst(types::I64, 0);
        let ptr = self.b.ins().select(base_present, ptr, zero);
        let out = self.words();
        let i = self.b.ins().iconst(types::I64, i64::from(index));
        Ok(self.call1(Helper::MsgField, &[ptr, i, out]))
    }

    /// The column slot of field `index` of a list predicate's element, when `base` is one.
    fn column_slot(&self, base: &Expr, index: u32) -> Option<Value> {
        let ExprKind::Local(id) = &base.kind else { return None };
        self.elements.get(&id.0).and_then(|fields| fields.get(&index)).copied()
    }

    /// A message value (possibly optional) as whether it is there and its pointer.
    fn message_value(&mut self, base: &Expr, span: Span) -> R<(Value, Value)> {
        Ok(match self.expr(base)? {
            JVal::Msg(p, ptr) => (p, ptr),
            JVal::Opt(p, inner) => match *inner {
                JVal::Msg(q, ptr) => (self.b.ins().band(p, q), ptr),
                _ => return unsupported("a field of this value", span),
            },
            _ => return unsupported("a field of this value", span),
        })
    }

    /// The value of type `ty` in the slot at `base + off` (a frame's or a column's).
    fn slot_at(&mut self, base: Value, off: i32, ty: &Type, span: Span) -> R<JVal> {
        let present = self.load(types::I8, base, off);
        let value = match ty.strip_optional() {
            Type::Message(_) => JVal::Msg(present, self.load(types::I64, base, off + 8)),
            Type::List(_) | Type::Map(_, _) => {
                let p = self.load(types::I64, base, off + 8);
                JVal::Coll(p, self.load(types::I64, base, off + 16))
            }
            Type::Bool => JVal::B(self.load(types::I8, base, off + 8)),
            Type::Int | Type::Duration | Type::Enum(_) => JVal::I(self.load(types::I64, base, off + 8)),
            Type::Float => JVal::F(self.load(types::F64, base, off + 8)),
            Type::String | Type::Bytes => {
                let p = self.load(types::I64, base, off + 8);
                let l = self.load(types::I64, base, off + 16);
                JVal::S(p, l)
            }
            _ => return unsupported("reading this field", span),
        };
        Ok(if ty.is_optional() { JVal::Opt(present, Box::new(value)) } else { value })
    }

    pub(super) fn index(&mut self, e: &Expr, base: &Expr, index: &Expr) -> R<JVal> {
        // A map of the event read by a constant key: its own slot, filled while decoding.
        if let Some(off) = keyed_path(e).and_then(|k| self.env.layout.keyed_offset(&k)) {
            return self.slot_at(self.frame, off as i32, &e.ty, e.span);
        }
        let JVal::Coll(ptr, _) = self.expr(base)? else { return unsupported("indexing this value", e.span) };
        let key = self.expr(index)?;
        let out = self.words();
        let present = match (&base.ty, key) {
            (Type::List(_), JVal::I(i)) => self.call1(Helper::ListGet, &[ptr, i, out]),
            (Type::Map(key_ty, _), key) => {
                let (kind, k0, k1) = self.words_of(key, key_ty, e.span)?;
                let kind = self.b.ins().iconst(types::I64, kind);
                self.call1(Helper::MapGet, &[ptr, kind, k0, k1, out])
            }
            _ => return unsupported("indexing this value", e.span),
        };
        self.read_words(&e.ty, out, present, e.span)
    }

    /// `any` / `all` / `count_if`: a loop over the elements.
    pub(super) fn list_pred(&mut self, e: &Expr) -> R<JVal> {
        let ExprKind::ListPred { kind, list, param, body } = &e.kind else {
            return unsupported("a list predicate", e.span);
        };
        // Elements come from columns (a slot per element for each field the lambda reads,
        // filled while decoding: here, each column's first slot), or from the list's value.
        let (source, len) = match self.env.layout.columns_of(e).filter(|c| !c.is_empty()) {
            Some(columns) => {
                let len = self.load(types::I64, self.frame, columns[0].1 as i32 + 16);
                let firsts = columns
                    .iter()
                    .map(|&(field, off)| (field, self.load(types::I64, self.frame, off as i32 + 8)))
                    .collect();
                (Elements::Columns(firsts), len)
            }
            None => match self.expr(list)? {
                JVal::Coll(ptr, len) => (Elements::Value(ptr), len),
                _ => return unsupported("this list", list.span),
            },
        };
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
        match &source {
            Elements::Columns(firsts) => {
                // Where this element's slot is in each column.
                let at = self.b.ins().imul_imm_u(iv, i64::from(SLOT));
                let slots = firsts.iter().map(|&(field, first)| (field, self.b.ins().iadd(first, at))).collect();
                self.elements.insert(param.0, slots);
            }
            Elements::Value(ptr) => {
                let out = self.words();
                let present = self.call1(Helper::ListGet, &[*ptr, iv, out]);
                let item = self.read_words(&elem, out, present, list.span)?;
                self.bind(param.0, &elem, &item, list.span)?;
            }
        }
        let holds = self.truth(body);
        self.elements.remove(&param.0);
        let holds = holds?;
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

    pub(super) fn arith(&mut self, op: ArithOp, a: JVal, b: JVal, span: Span) -> R<JVal> {
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
            (RemFloat, JVal::F(x), JVal::F(y)) => JVal::F(self.call1(Helper::FloatRem, &[x, y])),
            (Concat, JVal::S(ap, al), JVal::S(bp, bl)) => {
                self.string_result(Helper::StrConcat, &[self.ctx, ap, al, bp, bl])
            }
            _ => return unsupported("this arithmetic", span),
        })
    }

    /// An i8 truth value; optionals follow the null rules.
    /// `a op b` for two values of type `ty` (either may be its optional).
    pub(super) fn compare(&mut self, op: CmpOp, a: JVal, b: JVal, ty: &Type, span: Span) -> R<Value> {
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
                    let inner = self.compare(CmpOp::Eq, va, vb, ty, span)?;
                    let equal_values = self.b.ins().band(both, inner);
                    let eq = self.b.ins().bor(equal_values, neither);
                    if op == CmpOp::Eq { eq } else { self.b.ins().bxor_imm_u(eq, 1) }
                }
                // An ordering with null is false.
                _ => {
                    let inner = self.compare(op, va, vb, ty, span)?;
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
            (JVal::S(ap, al), JVal::S(bp, bl)) if matches!(op, CmpOp::Eq | CmpOp::Ne) => {
                let eq = self.str_equal((ap, al), (bp, bl));
                if op == CmpOp::Eq { eq } else { self.b.ins().bxor_imm_u(eq, 1) }
            }
            (JVal::S(ap, al), JVal::S(bp, bl)) => {
                let c = self.call1(Helper::StrCmp, &[ap, al, bp, bl]);
                self.b.ins().icmp_imm_s(icc(op), c, 0)
            }
            // Lists, maps and messages: equality only, by value, in Rust.
            (a @ (JVal::Coll(..) | JVal::Msg(..)), b) if matches!(op, CmpOp::Eq | CmpOp::Ne) => {
                let ty = ty.strip_optional().clone();
                let (kind, a0, a1) = self.words_of(a, &ty, span)?;
                let (_, b0, b1) = self.words_of(b, &ty, span)?;
                let kind = self.b.ins().iconst(types::I64, kind);
                let eq = self.call1(Helper::WordsEqual, &[kind, a0, a1, b0, b1]);
                if op == CmpOp::Eq { eq } else { self.b.ins().bxor_imm_u(eq, 1) }
            }
            _ => return unsupported("this comparison", span),
        })
    }
}
