//! Builtin calls in the interpreter: arguments become plain Rust values, the catalog's body
//! does the work, its result becomes a value again.

use std::sync::Arc;

use evr_stdlib::constant::{Cidr, JsonStep};
use evr_stdlib::native::{Args, Results};
use evr_stdlib::{Builtin, RuntimeError, hash, number};

use super::prepared::Prepared;
use super::{Env, Result, eval};
use crate::ir::{Expr, ExprKind, Literal};
use crate::types::Type;
use crate::value::Value;

/// The text of a constant string argument (patterns, paths, CIDR blocks).
fn constant(e: &Expr) -> Result<&str> {
    match &e.kind {
        ExprKind::Lit(Literal::String(s)) => Ok(s),
        _ => Err(RuntimeError::Internal),
    }
}

/// The stable hash of a scalar value, as `hash64` and velocity keys use it.
pub fn hash_value(v: &Value) -> Result<i64> {
    Ok(match v {
        Value::Str(s) => hash::hash_bytes(s.as_bytes()),
        Value::Bytes(b) => hash::hash_bytes(b),
        Value::Int(i) | Value::Duration(i) => hash::hash_int(*i),
        Value::Enum(e) => hash::hash_int(i64::from(*e)),
        Value::Float(f) => hash::hash_float(*f),
        Value::Bool(b) => hash::hash_bool(*b),
        _ => return Err(RuntimeError::Internal),
    })
}

/// `to_string` of a scalar of type `ty`.
pub fn to_text(v: &Value, ty: &Type, schema: &crate::schema::Schema) -> Result<String> {
    Ok(match v {
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => number::float_to_string(*f),
        Value::Bool(b) => b.to_string(),
        Value::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        Value::Duration(ms) => format!("{ms}ms"),
        Value::Enum(n) => match ty {
            Type::Enum(id) => schema
                .enum_(*id)
                .values
                .iter()
                .find(|(_, v)| v == n)
                .map_or_else(|| n.to_string(), |(name, _)| name.clone()),
            _ => n.to_string(),
        },
        _ => return Err(RuntimeError::Internal),
    })
}

/// The arguments of a call as the catalog's bodies take them.
struct ValueArgs<'a> {
    values: &'a [Value],
    exprs: &'a [Expr],
    prepared: &'a Prepared,
    next: usize,
}

impl<'a> ValueArgs<'a> {
    fn value(&mut self) -> Result<&'a Value> {
        let v = self.values.get(self.next).ok_or(RuntimeError::Internal)?;
        self.next += 1;
        Ok(v)
    }

    /// The text of a constant argument, which the prepared constants are keyed by.
    fn constant(&mut self) -> Result<&'a str> {
        let e = self.exprs.get(self.next).ok_or(RuntimeError::Internal)?;
        self.next += 1;
        constant(e)
    }
}

impl<'a> Args<'a> for ValueArgs<'a> {
    fn str(&mut self) -> Result<&'a str> {
        match self.value()? {
            Value::Str(s) => Ok(s),
            _ => Err(RuntimeError::Internal),
        }
    }

    fn int(&mut self) -> Result<i64> {
        match self.value()? {
            Value::Int(v) => Ok(*v),
            _ => Err(RuntimeError::Internal),
        }
    }

    fn float(&mut self) -> Result<f64> {
        match self.value()? {
            Value::Float(v) => Ok(*v),
            _ => Err(RuntimeError::Internal),
        }
    }

    fn hashed(&mut self) -> Result<i64> {
        hash_value(self.value()?)
    }

    fn pattern(&mut self) -> Result<&'a regex::Regex> {
        let text = self.constant()?;
        self.prepared.regex(text).ok_or(RuntimeError::Internal)
    }

    fn cidr(&mut self) -> Result<&'a Cidr> {
        let text = self.constant()?;
        self.prepared.cidr(text).ok_or(RuntimeError::Internal)
    }

    fn path(&mut self) -> Result<&'a [JsonStep]> {
        let text = self.constant()?;
        self.prepared.json_path(text).ok_or(RuntimeError::Internal)
    }
}

/// A body's result, as a value.
struct ValueOut(Value);

impl<'a> Results<'a> for ValueOut {
    fn null(&mut self) {
        self.0 = Value::Null;
    }
    fn bool(&mut self, v: bool) {
        self.0 = Value::Bool(v);
    }
    fn int(&mut self, v: i64) {
        self.0 = Value::Int(v);
    }
    fn float(&mut self, v: f64) {
        self.0 = Value::Float(v);
    }
    fn string(&mut self, v: String) {
        self.0 = Value::str(&v);
    }
    fn part(&mut self, v: &'a str) {
        self.0 = Value::str(v);
    }
    fn strings(&mut self, v: Vec<&'a str>) {
        self.0 = Value::List(Arc::new(v.into_iter().map(Value::str).collect()));
    }
}

/// Calls overload `overload` of a builtin: the catalog's body, or what the interpreter builds
/// itself for the overloads the catalog leaves to the engines.
pub fn call(b: Builtin, overload: u16, args: &[Expr], site: Option<u32>, env: &mut Env) -> Result<Value> {
    let mut values = Vec::with_capacity(args.len());
    for a in args {
        values.push(eval(a, env)?);
    }
    let native = b.overloads().get(overload as usize).is_some_and(|o| o.native);
    if native {
        let mut out = ValueOut(Value::Null);
        let mut given = ValueArgs { values: &values, exprs: args, prepared: env.prepared, next: 0 };
        b.invoke(overload, &mut given, &mut out)?;
        return Ok(out.0);
    }
    Ok(match b {
        Builtin::Len => match &values[0] {
            Value::List(l) => Value::Int(l.len() as i64),
            Value::Map(m) => Value::Int(m.len() as i64),
            Value::Bytes(b) => Value::Int(b.len() as i64),
            _ => return Err(RuntimeError::Internal),
        },
        Builtin::ToString => Value::str(&to_text(&values[0], &args[0].ty, env.schema)?),
        Builtin::ContainsKey => match &values[0] {
            Value::Map(m) => Value::Bool(m.iter().any(|(k, _)| *k == values[1])),
            _ => return Err(RuntimeError::Internal),
        },
        Builtin::WindowCount | Builtin::WindowSum | Builtin::WindowDistinct | Builtin::Seen => {
            let site = site.and_then(|s| env.sites.get_mut(s as usize)).ok_or(RuntimeError::Internal)?;
            let key = hash_value(&values[0])? as u64;
            let t = env.time_ms;
            match (b, &values[1]) {
                (Builtin::WindowCount, _) => Value::Int(site.count(key, t)),
                (Builtin::WindowSum, Value::Float(amount)) => Value::Float(site.sum(key, *amount, t)),
                (Builtin::WindowDistinct, v) => Value::Int(site.distinct(key, hash_value(v)? as u64, t)),
                (Builtin::Seen, _) => Value::Bool(site.seen(key, t)),
                _ => return Err(RuntimeError::Internal),
            }
        }
        // `has`, `any`, `all` and `count_if` have IR nodes of their own.
        _ => return Err(RuntimeError::Internal),
    })
}
