//! Builtin calls: each becomes inline code or a call to its C ABI helper.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, Value, types};
use evr_grammar::ast::Span;
use evr_stdlib::{Builtin, RuntimeError};

use super::{JVal, R, Translator, unsupported};
use crate::ir::{Expr, ExprKind, Literal};
use crate::jit::abi::Constant;
use crate::jit::abi::Helper;
use crate::types::Type;

impl Translator<'_, '_> {
    pub(super) fn builtin(&mut self, b: Builtin, args: &[Expr], site: Option<u32>, span: Span) -> R<JVal> {
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
                JVal::S(p, l) if args[0].ty == Type::String => JVal::I(self.call1(Helper::StrLen, &[p, l])),
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
            Builtin::Substr => {
                let (Some((p, l)), JVal::I(start), JVal::I(n)) = (str_arg(&vals[0]), &vals[1], &vals[2]) else {
                    return unsupported("these arguments", span);
                };
                let (start, n) = (*start, *n);
                self.string_result(Helper::Substr, &[p, l, start, n])
            }
            Builtin::Replace => {
                let (Some((p, l)), Some((fp, fl)), Some((tp, tl))) =
                    (str_arg(&vals[0]), str_arg(&vals[1]), str_arg(&vals[2]))
                else {
                    return unsupported("these arguments", span);
                };
                self.string_result(Helper::Replace, &[ctx, p, l, fp, fl, tp, tl])
            }
            Builtin::Split => {
                let Some((a, al, x, xl)) = pair(&vals) else { return unsupported("these arguments", span) };
                let out = self.words();
                self.call(Helper::Split, &[ctx, a, al, x, xl, out]);
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
                self.optional_result(Helper::Extract, &[ctx, id, p, l, group], &Type::String, span)?
            }
            Builtin::UrlHost => {
                let Some((p, l)) = str_arg(&vals[0]) else { return unsupported("this argument", span) };
                self.optional_result(Helper::UrlHost, &[ctx, p, l], &Type::String, span)?
            }
            Builtin::UrlParam => {
                let Some((a, al, x, xl)) = pair(&vals) else { return unsupported("these arguments", span) };
                self.optional_result(Helper::UrlParam, &[ctx, a, al, x, xl], &Type::String, span)?
            }
            Builtin::JsonString | Builtin::JsonInt => {
                let Some((p, l)) = str_arg(&vals[0]) else { return unsupported("this argument", span) };
                let id = constant(self, &args[1], &|t| {
                    evr_stdlib::constant::parse_json_path(t).ok().map(Constant::JsonPath)
                })?;
                if b == Builtin::JsonString {
                    self.optional_result(Helper::JsonString, &[ctx, id, p, l], &Type::String, span)?
                } else {
                    self.optional_result(Helper::JsonInt, &[ctx, id, p, l], &Type::Int, span)?
                }
            }
            Builtin::Lower | Builtin::Upper => {
                let Some((p, l)) = str_arg(&vals[0]) else { return unsupported("this argument", span) };
                let name = if b == Builtin::Lower { Helper::StrLower } else { Helper::StrUpper };
                self.string_result(name, &[ctx, p, l])
            }
            Builtin::Trim => {
                let Some((p, l)) = str_arg(&vals[0]) else { return unsupported("this argument", span) };
                self.string_result(Helper::StrTrim, &[p, l])
            }
            Builtin::StartsWith | Builtin::EndsWith | Builtin::Contains => {
                let Some((a, al, x, xl)) = pair(&vals) else { return unsupported("these arguments", span) };
                let name = match b {
                    Builtin::StartsWith => Helper::StrStarts,
                    Builtin::EndsWith => Helper::StrEnds,
                    _ => Helper::StrContains,
                };
                JVal::B(self.call1(name, &[a, al, x, xl]))
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
                    let name = if b == Builtin::Min { Helper::FloatMin } else { Helper::FloatMax };
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
                JVal::I(self.checked_int(Helper::FloatToInt, &[which, x]))
            }
            Builtin::ToInt => match vals[0].clone() {
                JVal::S(p, l) => self.optional_result(Helper::ParseInt, &[p, l], &Type::Int, span)?,
                v @ JVal::I(_) => self.present(v),
                JVal::F(v) => self.optional_result(Helper::FloatTrunc, &[v], &Type::Int, span)?,
                _ => return unsupported("this argument", span),
            },
            Builtin::ToFloat => match vals[0].clone() {
                JVal::S(p, l) => self.optional_result(Helper::ParseFloat, &[p, l], &Type::Float, span)?,
                v @ JVal::F(_) => self.present(v),
                _ => return unsupported("this argument", span),
            },
            Builtin::Hash64 => JVal::I(self.hash(&vals[0], &args[0].ty, span)?),
            Builtin::Bucket => {
                let h = self.hash(&vals[0], &args[0].ty, span)?;
                let JVal::I(n) = vals[1] else { return unsupported("this argument", span) };
                JVal::I(self.checked_int(Helper::Bucket, &[h, n]))
            }
            Builtin::HourOfDay | Builtin::DayOfWeek => {
                let JVal::I(ms) = vals[0] else { return unsupported("this argument", span) };
                let name = if b == Builtin::HourOfDay { Helper::HourOfDay } else { Helper::DayOfWeek };
                JVal::I(self.call1(name, &[ms]))
            }
            Builtin::NowMs => JVal::I(self.call1(Helper::NowMs, &[])),
            Builtin::IsBot => {
                let Some((p, l)) = str_arg(&vals[0]) else { return unsupported("this argument", span) };
                JVal::B(self.call1(Helper::IsBot, &[p, l]))
            }
            Builtin::Matches => {
                let Some((p, l)) = str_arg(&vals[0]) else { return unsupported("this argument", span) };
                let id = constant(self, &args[1], &|t| {
                    evr_stdlib::constant::compile_pattern(t).ok().map(Constant::Pattern)
                })?;
                JVal::B(self.call1(Helper::Matches, &[ctx, id, p, l]))
            }
            Builtin::IpIn => {
                let Some((p, l)) = str_arg(&vals[0]) else { return unsupported("this argument", span) };
                let id = constant(self, &args[1], &|t| evr_stdlib::constant::parse_cidr(t).ok().map(Constant::Cidr))?;
                JVal::B(self.call1(Helper::IpIn, &[ctx, id, p, l]))
            }
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
