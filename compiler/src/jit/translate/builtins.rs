//! Builtin calls. An overload the catalog implements is one call to the `builtin` helper, which
//! runs the catalog's body (see `abi::builtins`); a few pure arithmetic overloads are inlined
//! instead. The overloads the catalog leaves to the engines are built here.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};
use evr_grammar::ast::Span;
use evr_stdlib::signature::{Param, Ret};
use evr_stdlib::{Builtin, RuntimeError};

use super::{JVal, R, Translator, unsupported};
use crate::ir::{Expr, ExprKind, Literal};
use crate::jit::abi::builtins::PRESENT;
use crate::jit::abi::{Constant, Helper};
use crate::types::Type;

impl Translator<'_, '_> {
    pub(super) fn builtin(
        &mut self,
        b: Builtin,
        overload: u16,
        args: &[Expr],
        site: Option<u32>,
        span: Span,
    ) -> R<JVal> {
        let Some(ov) = b.overloads().get(overload as usize) else { return unsupported("this overload", span) };
        if let Some(v) = self.inline_builtin(b, args, span)? {
            return Ok(v);
        }
        if ov.native {
            return self.native_builtin(b, overload, args, span);
        }
        let mut vals = Vec::with_capacity(args.len());
        for a in args {
            vals.push(self.expr(a)?);
        }
        let ctx = self.ctx;
        Ok(match b {
            Builtin::Len => match vals[0] {
                JVal::S(_, l) => JVal::I(l),
                JVal::Coll(_, len) => JVal::I(len),
                _ => return unsupported("`len` of this value", span),
            },
            Builtin::ContainsKey => {
                let (JVal::Coll(map, _), Type::Map(key_ty, _)) = (&vals[0], &args[0].ty) else {
                    return unsupported("this map", span);
                };
                let (kind, k0, k1) = self.words_of(vals[1].clone(), key_ty, span)?;
                let map = *map;
                let kind = self.b.ins().iconst(types::I64, kind);
                let out = self.words();
                JVal::B(self.call1(Helper::MapGet, &[map, kind, k0, k1, out]))
            }
            Builtin::ToString => match (&vals[0], &args[0].ty) {
                (JVal::S(p, l), Type::String) => JVal::S(*p, *l),
                (JVal::I(v), Type::Int) => self.string_result(Helper::IntToString, &[ctx, *v]),
                (JVal::I(v), Type::Duration) => self.string_result(Helper::DurationToString, &[ctx, *v]),
                (JVal::I(v), Type::Enum(id)) => {
                    let id = self.b.ins().iconst(types::I64, i64::from(id.0));
                    self.string_result(Helper::EnumName, &[ctx, id, *v])
                }
                (JVal::F(v), Type::Float) => self.string_result(Helper::FloatToString, &[ctx, *v]),
                (JVal::S(p, l), Type::Bytes) => self.string_result(Helper::BytesToString, &[ctx, *p, *l]),
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
            Builtin::WindowCount | Builtin::Seen | Builtin::WindowSum | Builtin::WindowDistinct => {
                let Some(site) = site else { return unsupported("a velocity call without a site", span) };
                let key = self.hash(&vals[0], &args[0].ty, span)?;
                let site = self.b.ins().iconst(types::I64, i64::from(site));
                match b {
                    Builtin::WindowCount | Builtin::Seen => {
                        let kind = self.b.ins().iconst(types::I64, i64::from(b == Builtin::Seen));
                        let r = self.call1(Helper::Velocity, &[ctx, site, kind, key]);
                        if b == Builtin::Seen { JVal::B(self.b.ins().ireduce(types::I8, r)) } else { JVal::I(r) }
                    }
                    Builtin::WindowSum => {
                        let JVal::F(amount) = vals[1] else { return unsupported("this argument", span) };
                        JVal::F(self.call1(Helper::VelocitySum, &[ctx, site, key, amount]))
                    }
                    _ => {
                        let value = self.hash(&vals[1], &args[1].ty, span)?;
                        JVal::I(self.call1(Helper::VelocityDistinct, &[ctx, site, key, value]))
                    }
                }
            }
            other => return unsupported(format!("the builtin `{}`", other.name()), span),
        })
    }

    /// Integer `abs`, `min` and `max` as inline code: a call would cost more than they do.
    fn inline_builtin(&mut self, b: Builtin, args: &[Expr], span: Span) -> R<Option<JVal>> {
        let ints = args.iter().all(|a| a.ty == Type::Int);
        if !ints || !matches!(b, Builtin::Abs | Builtin::Min | Builtin::Max) {
            return Ok(None);
        }
        let mut vals = Vec::with_capacity(args.len());
        for a in args {
            match self.expr(a)? {
                JVal::I(v) => vals.push(v),
                _ => return unsupported("this argument", span),
            }
        }
        Ok(Some(JVal::I(match (b, vals.as_slice()) {
            (Builtin::Abs, &[x]) => {
                let min = self.b.ins().icmp_imm_s(IntCC::Equal, x, i64::MIN);
                self.fail_if(min, RuntimeError::Overflow);
                let neg = self.b.ins().ineg(x);
                let is_neg = self.b.ins().icmp_imm_s(IntCC::SignedLessThan, x, 0);
                self.b.ins().select(is_neg, neg, x)
            }
            (_, &[x, y]) => {
                let cc = if b == Builtin::Min { IntCC::SignedLessThan } else { IntCC::SignedGreaterThan };
                let pick = self.b.ins().icmp(cc, x, y);
                self.b.ins().select(pick, x, y)
            }
            _ => return unsupported("these arguments", span),
        })))
    }

    /// An overload the catalog implements: its arguments as words, one call, the result read
    /// back by the overload's result type.
    fn native_builtin(&mut self, b: Builtin, overload: u16, args: &[Expr], span: Span) -> R<JVal> {
        let ov = b.overloads()[overload as usize];
        let mut words = Vec::with_capacity(args.len() + 1);
        for (p, e) in ov.params.iter().zip(args) {
            match p {
                Param::Pattern | Param::Cidr | Param::JsonPath => words.push(self.constant(*p, e)?),
                Param::Scalar => {
                    let v = self.expr(e)?;
                    words.push(self.hash(&v, &e.ty, span)?);
                }
                _ => match self.expr(e)? {
                    JVal::S(p, l) => words.extend([p, l]),
                    JVal::I(x) => words.push(x),
                    JVal::F(x) => words.push(self.b.ins().bitcast(types::I64, MemFlagsData::new(), x)),
                    JVal::B(x) => words.push(self.b.ins().uextend(types::I64, x)),
                    _ => return unsupported("this argument", span),
                },
            }
        }
        let given = self.slot(words.len().max(1) as u32);
        for (i, w) in words.into_iter().enumerate() {
            self.b.ins().store(MemFlagsData::trusted(), w, given, 8 * i as i32);
        }
        let out = self.slot(2);
        let id = self.b.ins().iconst(types::I64, b as i64);
        let overload = self.b.ins().iconst(types::I64, i64::from(overload));
        let ctx = self.ctx;
        let status = self.call1(Helper::Builtin, &[ctx, id, overload, given, out]);
        // Errors are positive codes; present and null are not.
        let failed = self.b.ins().icmp_imm_s(IntCC::SignedGreaterThan, status, 0);
        let cont = self.b.create_block();
        self.b.ins().brif(failed, self.fail, &[status.into()], cont, &[]);
        self.b.switch_to_block(cont);
        let (ty, optional) = match ov.ret {
            Ret::Is(t) => (Type::from_stdlib(t), false),
            Ret::Opt(t) => (Type::from_stdlib(t), true),
            Ret::ListOf(t) => (Type::List(Box::new(Type::from_stdlib(t))), false),
        };
        let present = self.b.ins().icmp_imm_s(IntCC::Equal, status, i64::from(PRESENT));
        let value = self.read_words(&ty, out, present, span)?;
        Ok(if optional { JVal::Opt(present, Box::new(value)) } else { value })
    }

    /// A constant argument, compiled once into the unit's constant table: its index.
    fn constant(&mut self, p: Param, e: &Expr) -> R<Value> {
        let ExprKind::Lit(Literal::String(text)) = &e.kind else {
            return unsupported("a non-constant argument", e.span);
        };
        let made = match p {
            Param::Pattern => evr_stdlib::constant::compile_pattern(text).ok().map(Constant::Pattern),
            Param::Cidr => evr_stdlib::constant::parse_cidr(text).ok().map(Constant::Cidr),
            _ => evr_stdlib::constant::parse_json_path(text).ok().map(Constant::JsonPath),
        };
        let Some(c) = made else { return unsupported("an invalid constant", e.span) };
        let index = {
            // A poisoned lock only means another translation panicked; the table is intact.
            let mut table = self.env.constants.lock().unwrap_or_else(|p| p.into_inner());
            table.push(c);
            table.len() as i64 - 1
        };
        Ok(self.b.ins().iconst(types::I64, index))
    }

    /// The stable hash of a scalar, as `hash64` and velocity keys use it.
    pub(super) fn hash(&mut self, v: &JVal, ty: &Type, span: Span) -> R<Value> {
        Ok(match (v, ty) {
            (JVal::S(p, l), Type::String | Type::Bytes) => self.call1(Helper::HashStr, &[*p, *l]),
            (JVal::I(x), _) => self.call1(Helper::HashInt, &[*x]),
            (JVal::F(x), _) => self.call1(Helper::HashFloat, &[*x]),
            (JVal::B(x), _) => self.call1(Helper::HashBool, &[*x]),
            _ => return unsupported("hashing this type", span),
        })
    }
}
