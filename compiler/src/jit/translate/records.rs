//! Statements and the records, lists and maps that `emit` builds.

use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};
use evr_grammar::ast::Span;

use super::{JVal, R, Translator, unsupported};
use crate::ir::{Expr, ExprKind, Literal, Stmt};
use crate::jit::abi::{Helper, Place, kind};
use crate::types::Type;

impl Translator<'_, '_> {
    pub fn stmts(&mut self, body: &[Stmt]) -> R<()> {
        for s in body {
            match s {
                Stmt::Let { local, value } => {
                    let v = self.expr(value)?;
                    self.bind(local.0, &value.ty, &v, value.span)?;
                }
                Stmt::Route { sink, .. } => {
                    let sink = self.b.ins().iconst(types::I64, i64::from(sink.0));
                    self.call(Helper::Route, &[self.ctx, sink]);
                }
                Stmt::Emit { sink, key, record, .. } => {
                    if let Some(k) = key {
                        match self.expr(k)? {
                            JVal::S(p, l) => {
                                let helper = if k.ty == Type::Bytes { Helper::KeyBytes } else { Helper::KeyStr };
                                self.call(helper, &[self.ctx, p, l]);
                            }
                            JVal::I(v) => {
                                self.call(Helper::KeyInt, &[self.ctx, v]);
                            }
                            _ => return unsupported("a key of this type", k.span),
                        }
                    }
                    self.record(record, Place::EMIT)?;
                    let sink = self.b.ins().iconst(types::I64, i64::from(sink.0));
                    let status = self.call1(Helper::RecordEnd, &[self.ctx, sink]);
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
    pub(super) fn record(&mut self, e: &Expr, field: i64) -> R<()> {
        let ExprKind::Record { message, spread, fields } = &e.kind else {
            return unsupported("a record that is not a record literal", e.span);
        };
        let ty = self.b.ins().iconst(types::I64, i64::from(message.0));
        let at = self.b.ins().iconst(types::I64, field);
        self.call(Helper::RecordBegin, &[self.ctx, ty, at]);
        if let Some(s) = spread {
            let JVal::Msg(_, ptr) = self.expr(s)? else { return unsupported("this spread", s.span) };
            let status = self.call1(Helper::RecordSpread, &[self.ctx, ptr]);
            self.check_status(status);
        }
        for (index, value) in fields {
            let f = self.b.ins().iconst(types::I64, i64::from(*index));
            if matches!(value.kind, ExprKind::Record { .. }) {
                self.record(value, i64::from(*index))?;
                let none = self.b.ins().iconst(types::I64, -1);
                let status = self.call1(Helper::RecordEnd, &[self.ctx, none]);
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
    pub(super) fn list_field(&mut self, f: Value, value: &Expr) -> R<()> {
        self.fill_list(value)?;
        let status = self.call1(Helper::ListEnd, &[self.ctx, f]);
        self.check_status(status);
        Ok(())
    }

    /// A map literal as a field of the record being built.
    pub(super) fn map_field(&mut self, f: Value, entries: &[(Expr, Expr)]) -> R<()> {
        self.fill_map(entries)?;
        let status = self.call1(Helper::MapEnd, &[self.ctx, f]);
        self.check_status(status);
        Ok(())
    }

    /// Opens a list buffer and fills it with the elements of a list literal.
    pub(super) fn fill_list(&mut self, value: &Expr) -> R<()> {
        let Type::List(elem) = &value.ty else { return unsupported("this list", value.span) };
        let items: Vec<Expr> = match &value.kind {
            ExprKind::ListLit(items) => items.clone(),
            ExprKind::Lit(Literal::List(lits)) => {
                lits.iter().map(|l| Expr::lit(l.clone(), (**elem).clone(), value.span)).collect()
            }
            _ => return unsupported("this list", value.span),
        };
        self.call(Helper::ListBegin, &[self.ctx]);
        for item in &items {
            self.element(item)?;
        }
        Ok(())
    }

    /// Opens a list buffer and fills it with keys and values, alternating.
    pub(super) fn fill_map(&mut self, entries: &[(Expr, Expr)]) -> R<()> {
        self.call(Helper::ListBegin, &[self.ctx]);
        for (k, v) in entries {
            self.push(k)?;
            self.element(v)?;
        }
        Ok(())
    }

    /// Appends one element to the innermost list buffer: a record, or a scalar.
    pub(super) fn element(&mut self, item: &Expr) -> R<()> {
        if matches!(item.kind, ExprKind::Record { .. }) {
            self.record(item, Place::LIST_ITEM)?;
            let none = self.b.ins().iconst(types::I64, -1);
            let status = self.call1(Helper::RecordEnd, &[self.ctx, none]);
            self.check_status(status);
            return Ok(());
        }
        self.push(item)
    }

    /// Ends a list or map buffer, or a record, as a value of its own (not a field).
    pub(super) fn value_of(&mut self, helper: Helper, message: bool) -> JVal {
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

    /// Appends a value to the list buffer of the context.
    pub(super) fn push(&mut self, item: &Expr) -> R<()> {
        let v = self.expr(item)?;
        let (kind, a, b) = self.words_of(v, &item.ty, item.span)?;
        let kind = self.b.ins().iconst(types::I64, kind);
        self.call(Helper::ListPush, &[self.ctx, kind, a, b]);
        Ok(())
    }

    /// A value as (kind, word, word) for the helpers that take a value of any type
    /// (`list_push`, `list_contains`, `map_get`; the kinds are `Words` in abi.rs).
    pub(super) fn words_of(&mut self, v: JVal, ty: &Type, span: Span) -> R<(i64, Value, Value)> {
        Ok(match (v, ty.strip_optional()) {
            (JVal::I(x), Type::Enum(_)) => (kind::ENUM, x, x),
            (JVal::I(x), Type::Duration) => (kind::DURATION, x, x),
            (JVal::I(x), _) => (kind::INT, x, x),
            (JVal::F(x), _) => {
                let bits = self.b.ins().bitcast(types::I64, MemFlagsData::new(), x);
                (kind::FLOAT, bits, bits)
            }
            (JVal::B(x), _) => {
                let w = self.b.ins().uextend(types::I64, x);
                (kind::BOOL, w, w)
            }
            (JVal::S(p, l), Type::String) => (kind::STRING, p, l),
            (JVal::S(p, l), Type::Bytes) => (kind::BYTES, p, l),
            (JVal::Coll(p, l), Type::List(_)) => (kind::LIST, p, l),
            (JVal::Coll(p, l), Type::Map(..)) => (kind::MAP, p, l),
            (JVal::Msg(present, p), Type::Message(_)) => {
                // An absent message is a null pointer, which `Words` reads as null.
                let zero = self.b.ins().iconst(types::I64, 0);
                let p = self.b.ins().select(present, p, zero);
                (kind::MESSAGE, p, p)
            }
            _ => return unsupported("a value of this type here", span),
        })
    }

    pub(super) fn set_field(&mut self, f: Value, ty: &Type, v: JVal) -> R<()> {
        match (v, ty.strip_optional()) {
            (JVal::Opt(p, inner), t) => {
                let t = t.clone();
                let (set, unset, done) = (self.b.create_block(), self.b.create_block(), self.b.create_block());
                self.b.ins().brif(p, set, &[], unset, &[]);
                self.b.switch_to_block(set);
                self.set_field(f, &t, *inner)?;
                self.b.ins().jump(done, &[]);
                // Null clears the field, which a spread may have set.
                self.b.switch_to_block(unset);
                let s = self.call1(Helper::SetNull, &[self.ctx, f]);
                self.check_status(s);
                self.b.ins().jump(done, &[]);
                self.b.switch_to_block(done);
                return Ok(());
            }
            (JVal::I(x), Type::Enum(_)) => {
                let s = self.call1(Helper::SetEnum, &[self.ctx, f, x]);
                self.check_status(s);
            }
            (JVal::I(x), Type::Duration) => {
                let s = self.call1(Helper::SetDuration, &[self.ctx, f, x]);
                self.check_status(s);
            }
            (JVal::I(x), _) => {
                let s = self.call1(Helper::SetInt, &[self.ctx, f, x]);
                self.check_status(s);
            }
            (JVal::F(x), _) => {
                let s = self.call1(Helper::SetFloat, &[self.ctx, f, x]);
                self.check_status(s);
            }
            (JVal::B(x), _) => {
                let s = self.call1(Helper::SetBool, &[self.ctx, f, x]);
                self.check_status(s);
            }
            (JVal::S(p, l), t) => {
                let name = if *t == Type::Bytes { Helper::SetBytes } else { Helper::SetStr };
                let s = self.call1(name, &[self.ctx, f, p, l]);
                self.check_status(s);
            }
            (JVal::Msg(present, ptr), _) => {
                // An absent message goes in as a null pointer: it unsets the field.
                let zero = self.b.ins().iconst(types::I64, 0);
                let ptr = self.b.ins().select(present, ptr, zero);
                let s = self.call1(Helper::SetMessage, &[self.ctx, f, ptr]);
                self.check_status(s);
            }
            (JVal::Coll(ptr, _), t) => {
                let kind = self.b.ins().iconst(types::I64, i64::from(matches!(t, Type::Map(..))));
                let s = self.call1(Helper::SetCollection, &[self.ctx, f, kind, ptr]);
                self.check_status(s);
            }
        }
        Ok(())
    }
}
