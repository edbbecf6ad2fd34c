//! Builtin calls in the interpreter: arguments become plain Rust values, the stdlib function
//! does the work, its result becomes a value again.

use std::sync::Arc;

use evr_stdlib::{Builtin, RuntimeError, hash, json, number, text, time, web};

use super::{Env, Result, eval};
use crate::ir::{Expr, ExprKind, Literal};
use crate::types::Type;
use crate::value::Value;

fn opt_str(s: Option<impl AsRef<str>>) -> Value {
    s.map_or(Value::Null, |s| Value::str(s.as_ref()))
}

fn opt_int(i: Option<i64>) -> Value {
    i.map_or(Value::Null, Value::Int)
}

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

/// Calls a builtin; the overload follows from the argument values themselves.
pub fn call(b: Builtin, args: &[Expr], site: Option<u32>, env: &mut Env) -> Result<Value> {
    let mut values = Vec::with_capacity(args.len());
    for a in args {
        values.push(eval(a, env)?);
    }
    let s = |i: usize| match &values[i] {
        Value::Str(s) => Ok(s.clone()),
        _ => Err(RuntimeError::Internal),
    };
    let i = |n: usize| match values[n] {
        Value::Int(v) => Ok(v),
        _ => Err(RuntimeError::Internal),
    };
    let f = |n: usize| match values[n] {
        Value::Float(v) => Ok(v),
        _ => Err(RuntimeError::Internal),
    };
    let prepared = env.prepared;
    Ok(match b {
        Builtin::Len => match &values[0] {
            Value::Str(s) => Value::Int(text::len(s)),
            Value::List(l) => Value::Int(l.len() as i64),
            Value::Map(m) => Value::Int(m.len() as i64),
            Value::Bytes(b) => Value::Int(b.len() as i64),
            _ => return Err(RuntimeError::Internal),
        },
        Builtin::Lower => Value::str(&s(0)?.to_lowercase()),
        Builtin::Upper => Value::str(&s(0)?.to_uppercase()),
        Builtin::Trim => Value::str(s(0)?.trim()),
        Builtin::StartsWith => Value::Bool(s(0)?.starts_with(&*s(1)?)),
        Builtin::EndsWith => Value::Bool(s(0)?.ends_with(&*s(1)?)),
        Builtin::Contains => Value::Bool(s(0)?.contains(&*s(1)?)),
        Builtin::Replace => Value::str(&text::replace(&s(0)?, &s(1)?, &s(2)?)),
        Builtin::Substr => Value::str(text::substr(&s(0)?, i(1)?, i(2)?)),
        Builtin::Split => {
            let whole = s(0)?;
            Value::List(Arc::new(text::split(&whole, &s(1)?).into_iter().map(Value::str).collect()))
        }
        Builtin::Matches => {
            let re = prepared.regex(constant(&args[1])?).ok_or(RuntimeError::Internal)?;
            Value::Bool(re.is_match(&s(0)?))
        }
        Builtin::Extract => {
            let re = prepared.regex(constant(&args[1])?).ok_or(RuntimeError::Internal)?;
            opt_str(text::extract(re, &s(0)?, i(2)?))
        }
        Builtin::ToString => Value::str(&to_text(&values[0], &args[0].ty, env.schema)?),
        Builtin::Abs => match values[0] {
            Value::Int(v) => Value::Int(number::abs(v)?),
            Value::Float(v) => Value::Float(v.abs()),
            _ => return Err(RuntimeError::Internal),
        },
        Builtin::Min | Builtin::Max => {
            let min = b == Builtin::Min;
            match (&values[0], &values[1]) {
                (Value::Int(x), Value::Int(y)) => Value::Int(if min { *x.min(y) } else { *x.max(y) }),
                (Value::Float(x), Value::Float(y)) => {
                    Value::Float(if min { number::min_float(*x, *y) } else { number::max_float(*x, *y) })
                }
                _ => return Err(RuntimeError::Internal),
            }
        }
        Builtin::Floor => Value::Int(number::floor(f(0)?)?),
        Builtin::Ceil => Value::Int(number::ceil(f(0)?)?),
        Builtin::Round => Value::Int(number::round(f(0)?)?),
        Builtin::ToInt => match &values[0] {
            Value::Str(s) => opt_int(number::parse_int(s)),
            Value::Int(v) => Value::Int(*v),
            Value::Float(v) => opt_int(number::float_to_int(*v)),
            _ => return Err(RuntimeError::Internal),
        },
        Builtin::ToFloat => match &values[0] {
            Value::Str(s) => number::parse_float(s).map_or(Value::Null, Value::Float),
            Value::Float(v) => Value::Float(*v),
            _ => return Err(RuntimeError::Internal),
        },
        Builtin::Hash64 => Value::Int(hash_value(&values[0])?),
        Builtin::Bucket => Value::Int(hash::bucket(hash_value(&values[0])?, i(1)?)?),
        Builtin::HourOfDay => Value::Int(time::hour_of_day(i(0)?)),
        Builtin::DayOfWeek => Value::Int(time::day_of_week(i(0)?)),
        Builtin::NowMs => Value::Int(time::now_ms()),
        Builtin::IpIn => {
            let cidr = prepared.cidr(constant(&args[1])?).ok_or(RuntimeError::Internal)?;
            Value::Bool(web::ip_in(&s(0)?, cidr))
        }
        Builtin::UrlHost => opt_str(web::url_host(&s(0)?)),
        Builtin::UrlParam => opt_str(web::url_param(&s(0)?, &s(1)?)),
        Builtin::IsBot => Value::Bool(web::is_bot(&s(0)?)),
        Builtin::JsonString => {
            let path = prepared.json_path(constant(&args[1])?).ok_or(RuntimeError::Internal)?;
            opt_str(json::json_string(&s(0)?, path))
        }
        Builtin::JsonInt => {
            let path = prepared.json_path(constant(&args[1])?).ok_or(RuntimeError::Internal)?;
            opt_int(json::json_int(&s(0)?, path))
        }
        Builtin::ContainsKey => match &values[0] {
            Value::Map(m) => Value::Bool(m.iter().any(|(k, _)| *k == values[1])),
            _ => return Err(RuntimeError::Internal),
        },
        Builtin::WindowCount | Builtin::WindowSum | Builtin::WindowDistinct | Builtin::Seen => {
            let site = site.and_then(|s| env.sites.get_mut(s as usize)).ok_or(RuntimeError::Internal)?;
            let key = hash_value(&values[0])? as u64;
            let t = env.time_ms;
            match b {
                Builtin::WindowCount => Value::Int(site.count(key, t)),
                Builtin::WindowSum => Value::Float(site.sum(key, f(1)?, t)),
                Builtin::WindowDistinct => Value::Int(site.distinct(key, hash_value(&values[1])? as u64, t)),
                _ => Value::Bool(site.seen(key, t)),
            }
        }
        // `has`, `any`, `all` and `count_if` have IR nodes of their own.
        Builtin::Has | Builtin::Any | Builtin::All | Builtin::CountIf => return Err(RuntimeError::Internal),
    })
}
