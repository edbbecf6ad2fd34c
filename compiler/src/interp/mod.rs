//! The reference interpreter: evaluates the typed IR directly. It defines what every program
//! means; the JIT must agree with it on every output, dirty record and order.

mod builtins;
mod prepared;

use std::sync::Arc;

use evr_stdlib::velocity::Site;
use evr_stdlib::{RuntimeError, number};

use crate::ir::{ArithOp, CmpOp, Expr, ExprKind, ListPredKind, Rule, Stmt, UnaryOp, Unit};
use crate::schema::Schema;
pub use crate::value::{Action, literal};
use crate::value::{Message, Value};
pub use builtins::{hash_value, to_text};
pub use prepared::{Prepared, velocity_sites};

/// Everything one unit's evaluation for one event reads and updates.
pub struct Env<'a> {
    pub schema: &'a Schema,
    pub prepared: &'a Prepared,
    pub event: &'a Value,
    /// Each score's value for this event; `None` when the score failed.
    pub scores: &'a [Option<i64>],
    /// The velocity sites of the unit being evaluated, by site number.
    pub sites: &'a mut [Site],
    /// Event time (or processing time) in milliseconds, for velocity windows.
    pub time_ms: i64,
    locals: Vec<Value>,
}

impl<'a> Env<'a> {
    pub fn new(
        schema: &'a Schema,
        prepared: &'a Prepared,
        event: &'a Value,
        scores: &'a [Option<i64>],
        sites: &'a mut [Site],
        time_ms: i64,
    ) -> Env<'a> {
        Env { schema, prepared, event, scores, sites, time_ms, locals: Vec::new() }
    }

    fn enter(&mut self, unit: &Unit) {
        self.locals.clear();
        self.locals.resize(unit.locals.len(), Value::Null);
    }
}

pub type Result<T> = std::result::Result<T, RuntimeError>;

pub fn eval_drop(cond: &Expr, unit: &Unit, env: &mut Env) -> Result<bool> {
    env.enter(unit);
    truth(cond, env)
}

pub fn eval_score(weights: &[(i64, Expr)], unit: &Unit, env: &mut Env) -> Result<i64> {
    env.enter(unit);
    let mut total = 0i64;
    for (w, cond) in weights {
        if truth(cond, env)? {
            total = number::add(total, *w)?;
        }
    }
    Ok(total)
}

/// Runs a rule; its actions are appended to `out` only when the whole rule succeeds.
pub fn eval_rule(rule: &Rule, env: &mut Env, out: &mut Vec<Action>) -> Result<()> {
    env.enter(&rule.unit);
    if let Some(c) = &rule.cond
        && !truth(c, env)?
    {
        return Ok(());
    }
    let start = out.len();
    let result = stmts(&rule.body, env, out);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

/// Evaluates an expression outside any event (the records of `given` and `expect`).
pub fn eval_standalone(expr: &Expr, unit: &Unit, schema: &Schema, prepared: &Prepared) -> Result<Value> {
    let event = Value::Null;
    let mut env = Env::new(schema, prepared, &event, &[], &mut [], 0);
    env.enter(unit);
    eval(expr, &mut env)
}

fn stmts(body: &[Stmt], env: &mut Env, out: &mut Vec<Action>) -> Result<()> {
    for s in body {
        match s {
            Stmt::Let { local, value } => {
                let v = eval(value, env)?;
                env.locals[local.0 as usize] = v;
            }
            Stmt::Emit { sink, key, record, .. } => {
                let key = key.as_ref().map(|k| eval(k, env)).transpose()?;
                let record = eval(record, env)?;
                out.push(Action::Emit { sink: *sink, key, record });
            }
            Stmt::Route { sink, .. } => out.push(Action::Route { sink: *sink }),
            Stmt::If { cond, then, otherwise } => {
                if truth(cond, env)? {
                    stmts(then, env, out)?;
                } else {
                    stmts(otherwise, env, out)?;
                }
            }
        }
    }
    Ok(())
}

fn truth(e: &Expr, env: &mut Env) -> Result<bool> {
    match eval(e, env)? {
        Value::Bool(b) => Ok(b),
        _ => Err(RuntimeError::Internal),
    }
}

pub fn eval(e: &Expr, env: &mut Env) -> Result<Value> {
    Ok(match &e.kind {
        ExprKind::Lit(l) => literal(l),
        ExprKind::Event => env.event.clone(),
        ExprKind::Local(id) => env.locals[id.0 as usize].clone(),
        ExprKind::Score(id) => match env.scores.get(id.0 as usize) {
            Some(Some(v)) => Value::Int(*v),
            Some(None) => return Err(RuntimeError::ScoreFailed),
            None => return Err(RuntimeError::Internal),
        },
        ExprKind::Field { base, message, index } => {
            let declared = &env.schema.message(*message).fields[*index as usize].ty;
            match eval(base, env)? {
                // An unset field reads as its default, unless it has presence (`T?`).
                Value::Message(m) => match m.fields.get(*index as usize).ok_or(RuntimeError::Internal)? {
                    Value::Null if !declared.is_optional() => Value::default_of(declared),
                    v => v.clone(),
                },
                // A field of a null `M?` is null; of an absent sub-message, its default.
                Value::Null if base.ty.is_optional() || declared.is_optional() => Value::Null,
                Value::Null => Value::default_of(declared),
                _ => return Err(RuntimeError::Internal),
            }
        }
        ExprKind::Index { base, index } => {
            let base = eval(base, env)?;
            let index = eval(index, env)?;
            match (base, index) {
                (Value::List(items), Value::Int(i)) => {
                    usize::try_from(i).ok().and_then(|i| items.get(i).cloned()).unwrap_or(Value::Null)
                }
                (Value::Map(entries), key) => {
                    entries.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()).unwrap_or(Value::Null)
                }
                _ => return Err(RuntimeError::Internal),
            }
        }
        ExprKind::Unary { op, arg } => {
            let v = eval(arg, env)?;
            match (op, v) {
                (UnaryOp::Not, Value::Bool(b)) => Value::Bool(!b),
                (UnaryOp::NegInt, Value::Int(i)) => Value::Int(number::neg(i)?),
                (UnaryOp::NegFloat, Value::Float(f)) => Value::Float(-f),
                (UnaryOp::NegDuration, Value::Duration(d)) => Value::Duration(number::neg(d)?),
                _ => return Err(RuntimeError::Internal),
            }
        }
        ExprKind::Arith { op, lhs, rhs } => arith(*op, eval(lhs, env)?, eval(rhs, env)?)?,
        ExprKind::Compare { op, lhs, rhs } => {
            let (a, b) = (eval(lhs, env)?, eval(rhs, env)?);
            Value::Bool(compare(*op, &a, &b))
        }
        ExprKind::And(a, b) => Value::Bool(truth(a, env)? && truth(b, env)?),
        ExprKind::Or(a, b) => Value::Bool(truth(a, env)? || truth(b, env)?),
        ExprKind::In { needle, list, negated } => {
            let needle = eval(needle, env)?;
            let Value::List(items) = eval(list, env)? else { return Err(RuntimeError::Internal) };
            Value::Bool(items.contains(&needle) != *negated)
        }
        ExprKind::InSet { needle, set, negated } => Value::Bool(set.contains(&eval(needle, env)?) != *negated),
        ExprKind::Coalesce { value, default } => match eval(value, env)? {
            Value::Null => eval(default, env)?,
            v => v,
        },
        ExprKind::If { cond, then, otherwise } => {
            if truth(cond, env)? {
                eval(then, env)?
            } else {
                eval(otherwise, env)?
            }
        }
        ExprKind::Let { local, value, body } => {
            let v = eval(value, env)?;
            env.locals[local.0 as usize] = v;
            eval(body, env)?
        }
        ExprKind::Call { builtin, overload, args, site } => builtins::call(*builtin, *overload, args, *site, env)?,
        ExprKind::Has(x) if let Some((base, index)) = crate::ir::presence_field(x, env.schema) => {
            match eval(base, env)? {
                Value::Message(m) => {
                    Value::Bool(!m.fields.get(index as usize).ok_or(RuntimeError::Internal)?.is_null())
                }
                _ => Value::Bool(false),
            }
        }
        ExprKind::Has(x) => {
            let v = eval(x, env)?;
            Value::Bool(match v {
                Value::Null => false,
                Value::List(l) if !x.ty.is_optional() => !l.is_empty(),
                Value::Map(m) if !x.ty.is_optional() => !m.is_empty(),
                _ => true,
            })
        }
        ExprKind::ListPred { kind, list, param, body } => {
            let Value::List(items) = eval(list, env)? else { return Err(RuntimeError::Internal) };
            let mut hits = 0i64;
            for item in items.iter() {
                env.locals[param.0 as usize] = item.clone();
                let holds = truth(body, env)?;
                match kind {
                    ListPredKind::Any if holds => return Ok(Value::Bool(true)),
                    ListPredKind::All if !holds => return Ok(Value::Bool(false)),
                    ListPredKind::CountIf if holds => hits += 1,
                    _ => {}
                }
            }
            match kind {
                ListPredKind::Any => Value::Bool(false),
                ListPredKind::All => Value::Bool(true),
                ListPredKind::CountIf => Value::Int(hits),
            }
        }
        ExprKind::ListLit(items) => {
            let values: Result<Vec<Value>> = items.iter().map(|i| eval(i, env)).collect();
            Value::List(Arc::new(values?))
        }
        ExprKind::MapLit(entries) => {
            let mut out: Vec<(Value, Value)> = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let (k, v) = (eval(k, env)?, eval(v, env)?);
                match out.iter_mut().find(|(ek, _)| *ek == k) {
                    Some(slot) => slot.1 = v,
                    None => out.push((k, v)),
                }
            }
            Value::Map(Arc::new(out))
        }
        ExprKind::Record { message, spread, fields } => {
            let mut m = match spread {
                Some(s) => match eval(s, env)? {
                    Value::Message(m) => Arc::unwrap_or_clone(m),
                    Value::Null => Message::empty(env.schema, *message),
                    _ => return Err(RuntimeError::Internal),
                },
                None => Message::empty(env.schema, *message),
            };
            let msg = env.schema.message(*message);
            for (index, value) in fields {
                let v = eval(value, env)?;
                m.fields[*index as usize] = crate::value::store(v, &msg.fields[*index as usize])?;
            }
            Value::Message(Arc::new(m))
        }
        ExprKind::IntToFloat(x) => match eval(x, env)? {
            Value::Int(i) => Value::Float(i as f64),
            Value::Null => Value::Null,
            _ => return Err(RuntimeError::Internal),
        },
        ExprKind::Some(x) => eval(x, env)?,
        ExprKind::Unwrap(x) => match eval(x, env)? {
            Value::Null => return Err(RuntimeError::Internal),
            v => v,
        },
    })
}

/// A value written to a field must fit its protobuf kind (int32, uint64, ...).
fn arith(op: ArithOp, a: Value, b: Value) -> Result<Value> {
    use ArithOp::*;
    Ok(match (op, a, b) {
        (AddInt, Value::Int(x), Value::Int(y)) => Value::Int(number::add(x, y)?),
        (SubInt, Value::Int(x), Value::Int(y)) => Value::Int(number::sub(x, y)?),
        (MulInt, Value::Int(x), Value::Int(y)) => Value::Int(number::mul(x, y)?),
        (DivInt, Value::Int(x), Value::Int(y)) => Value::Int(number::div(x, y)?),
        (RemInt, Value::Int(x), Value::Int(y)) => Value::Int(number::rem(x, y)?),
        (AddFloat, Value::Float(x), Value::Float(y)) => Value::Float(x + y),
        (SubFloat, Value::Float(x), Value::Float(y)) => Value::Float(x - y),
        (MulFloat, Value::Float(x), Value::Float(y)) => Value::Float(x * y),
        (DivFloat, Value::Float(x), Value::Float(y)) => Value::Float(x / y),
        (RemFloat, Value::Float(x), Value::Float(y)) => Value::Float(x % y),
        (AddDuration, Value::Duration(x), Value::Duration(y)) => Value::Duration(number::add(x, y)?),
        (SubDuration, Value::Duration(x), Value::Duration(y)) => Value::Duration(number::sub(x, y)?),
        (Concat, Value::Str(x), Value::Str(y)) => {
            let mut s = String::with_capacity(x.len() + y.len());
            s.push_str(&x);
            s.push_str(&y);
            Value::Str(Arc::from(s))
        }
        _ => return Err(RuntimeError::Internal),
    })
}

/// Null equals only null; an ordering with null is false; NaN compares false (but `!=` true).
pub fn compare(op: CmpOp, a: &Value, b: &Value) -> bool {
    use std::cmp::Ordering;
    if a.is_null() || b.is_null() {
        let both = a.is_null() && b.is_null();
        return match op {
            CmpOp::Eq => both,
            CmpOp::Ne => !both,
            _ => false,
        };
    }
    let ord: Option<Ordering> = match (a, b) {
        (Value::Int(x), Value::Int(y)) | (Value::Duration(x), Value::Duration(y)) => Some(x.cmp(y)),
        (Value::Float(x), Value::Float(y)) => x.partial_cmp(y),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bytes(x), Value::Bytes(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Enum(x), Value::Enum(y)) => Some(x.cmp(y)),
        _ => None,
    };
    match (op, ord) {
        (CmpOp::Ne, None) => true,
        (_, None) => false,
        (CmpOp::Eq, Some(o)) => o == Ordering::Equal,
        (CmpOp::Ne, Some(o)) => o != Ordering::Equal,
        (CmpOp::Lt, Some(o)) => o == Ordering::Less,
        (CmpOp::Le, Some(o)) => o != Ordering::Greater,
        (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
        (CmpOp::Ge, Some(o)) => o != Ordering::Less,
    }
}
