//! EVR's types.

use std::fmt;

use crate::schema::{EnumId, MessageId, Schema};

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Type {
    Bool,
    Int,
    Float,
    String,
    Bytes,
    Duration,
    Enum(EnumId),
    Message(MessageId),
    List(Box<Type>),
    Map(Box<Type>, Box<Type>),
    Optional(Box<Type>),
    /// The type of `null` before its context gives it one.
    Null,
    /// A type already reported as wrong: accepted everywhere so one mistake yields one error.
    Error,
}

impl Type {
    pub fn optional(self) -> Type {
        match self {
            Type::Optional(_) | Type::Null | Type::Error => self,
            other => Type::Optional(Box::new(other)),
        }
    }

    pub fn list(elem: Type) -> Type {
        Type::List(Box::new(elem))
    }

    pub fn is_optional(&self) -> bool {
        matches!(self, Type::Optional(_) | Type::Null)
    }

    /// `T` for `T?`, the type itself otherwise.
    pub fn strip_optional(&self) -> &Type {
        match self {
            Type::Optional(t) => t,
            t => t,
        }
    }

    pub fn is_numeric(&self) -> bool {
        matches!(self, Type::Int | Type::Float)
    }

    /// Scalars: what can be hashed, used as a window key or turned into text.
    pub fn is_scalar(&self) -> bool {
        matches!(
            self,
            Type::Bool | Type::Int | Type::Float | Type::String | Type::Bytes | Type::Duration | Type::Enum(_)
        )
    }

    pub fn is_error(&self) -> bool {
        *self == Type::Error
    }

    pub fn display<'a>(&'a self, schema: &'a Schema) -> TypeDisplay<'a> {
        TypeDisplay { ty: self, schema }
    }

    pub fn from_stdlib(ty: evr_stdlib::signature::Ty) -> Type {
        use evr_stdlib::signature::Ty;
        match ty {
            Ty::Bool => Type::Bool,
            Ty::Int => Type::Int,
            Ty::Float => Type::Float,
            Ty::String => Type::String,
            Ty::Bytes => Type::Bytes,
            Ty::Duration => Type::Duration,
        }
    }
}

pub struct TypeDisplay<'a> {
    ty: &'a Type,
    schema: &'a Schema,
}

impl fmt::Display for TypeDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.schema;
        match self.ty {
            Type::Bool => f.write_str("bool"),
            Type::Int => f.write_str("int"),
            Type::Float => f.write_str("float"),
            Type::String => f.write_str("string"),
            Type::Bytes => f.write_str("bytes"),
            Type::Duration => f.write_str("duration"),
            Type::Enum(id) => f.write_str(&s.enum_(*id).name),
            Type::Message(id) => f.write_str(&s.message(*id).name),
            Type::List(t) => write!(f, "list<{}>", t.display(s)),
            Type::Map(k, v) => write!(f, "map<{}, {}>", k.display(s), v.display(s)),
            Type::Optional(t) => write!(f, "{}?", t.display(s)),
            Type::Null => f.write_str("null"),
            Type::Error => f.write_str("{unknown}"),
        }
    }
}
