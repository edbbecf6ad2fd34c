//! Content hashes of what units mean: a unit's hash changes with any change of what it does,
//! and with nothing else — not with formatting, spans, comments, local names, docs, nor with the
//! order or the ids of the items it does not use. Reload diffs versions by these hashes, and a
//! velocity call site is identified across versions by its unit's name and its call's hash.
//!
//! Everything positional in the IR is hashed by name: sources, sinks, scores, messages and
//! enums by their names, fields by name and number, so renumbering them changes no hash.

use std::hash::{Hash, Hasher};

use xxhash_rust::xxh3::Xxh3;

use crate::ir::{Annotation, Expr, ExprKind, Literal, Program, Stmt, UnitBody, UnitRef};
use crate::schema::{MessageId, Schema};
use crate::types::Type;

/// A 64-bit content hash.
pub type ContentHash = u64;

/// The hash of a unit's meaning: its kind, name, source, annotations and code.
pub fn unit_hash(program: &Program, schema: &Schema, r: UnitRef) -> ContentHash {
    let u = program.unit(r);
    let mut m = Meaning::new(program, schema);
    m.tag(match r {
        UnitRef::Drop(_) => "drop",
        UnitRef::Score(_) => "score",
        UnitRef::Rule(_) => "rule",
    });
    m.str(u.name);
    m.str(&program.sources[u.source.0 as usize].name);
    for a in u.annotations {
        match a {
            Annotation::Priority(p) => m.tag(&format!("priority {p:?}")),
            Annotation::Shadow => m.tag("shadow"),
            Annotation::Owner(o) => {
                m.tag("owner");
                m.str(o);
            }
        }
    }
    for l in &u.unit.locals {
        m.ty(&l.ty);
    }
    match u.body {
        UnitBody::Drop(cond) => m.expr(cond),
        UnitBody::Score(weights) => {
            m.len(weights.len());
            for (w, cond) in weights {
                w.hash(&mut m.h);
                m.expr(cond);
            }
        }
        UnitBody::Rule(rule) => {
            m.tag("when");
            if let Some(c) = &rule.cond {
                m.expr(c);
            }
            m.stmts(&rule.body);
        }
    }
    m.finish()
}

/// The hash of one expression's meaning (a velocity call: builtin, key, window).
pub fn expr_hash(program: &Program, schema: &Schema, e: &Expr) -> ContentHash {
    let mut m = Meaning::new(program, schema);
    m.expr(e);
    m.finish()
}

/// Hashes a whole schema's meaning for the code compiled against it: message and field layout,
/// enums and their numbers (field indexes and ids are baked into native code).
pub fn schema_hash(schema: &Schema) -> ContentHash {
    let mut h = Xxh3::new();
    for (_, msg) in schema.messages() {
        msg.full_name.hash(&mut h);
        for f in &msg.fields {
            (&f.name, f.number, format!("{:?}", f.ty), format!("{:?}", f.wire)).hash(&mut h);
        }
    }
    h.finish()
}

struct Meaning<'a> {
    program: &'a Program,
    schema: &'a Schema,
    h: Xxh3,
}

impl<'a> Meaning<'a> {
    fn new(program: &'a Program, schema: &'a Schema) -> Meaning<'a> {
        Meaning { program, schema, h: Xxh3::new() }
    }

    fn finish(&self) -> ContentHash {
        self.h.finish()
    }

    /// A fixed word that says what follows.
    fn tag(&mut self, t: &str) {
        self.h.write(t.as_bytes());
        self.h.write_u8(0xff);
    }

    fn str(&mut self, s: &str) {
        s.hash(&mut self.h);
    }

    fn len(&mut self, n: usize) {
        self.h.write_u64(n as u64);
    }

    fn message(&mut self, id: MessageId) {
        let name = &self.schema.message(id).full_name;
        name.hash(&mut self.h);
    }

    fn ty(&mut self, t: &Type) {
        std::mem::discriminant(t).hash(&mut self.h);
        match t {
            Type::Enum(id) => self.schema.enum_(*id).full_name.hash(&mut self.h),
            Type::Message(id) => self.message(*id),
            Type::List(e) | Type::Optional(e) => self.ty(e),
            Type::Map(k, v) => {
                self.ty(k);
                self.ty(v);
            }
            _ => {}
        }
    }

    fn lit(&mut self, l: &Literal) {
        std::mem::discriminant(l).hash(&mut self.h);
        match l {
            Literal::Null => {}
            Literal::Bool(b) => b.hash(&mut self.h),
            Literal::Int(i) | Literal::Duration(i) => i.hash(&mut self.h),
            Literal::Float(f) => f.to_bits().hash(&mut self.h),
            Literal::String(s) => self.str(s),
            Literal::Enum(id, n) => {
                self.schema.enum_(*id).full_name.hash(&mut self.h);
                n.hash(&mut self.h);
            }
            Literal::List(items) => {
                self.len(items.len());
                items.iter().for_each(|i| self.lit(i));
            }
        }
    }

    fn field(&mut self, message: MessageId, index: u32) {
        self.message(message);
        match self.schema.message(message).fields.get(index as usize) {
            Some(f) => (&f.name, f.number).hash(&mut self.h),
            None => index.hash(&mut self.h),
        }
    }

    fn expr(&mut self, e: &Expr) {
        std::mem::discriminant(&e.kind).hash(&mut self.h);
        self.ty(&e.ty);
        match &e.kind {
            ExprKind::Lit(l) => self.lit(l),
            ExprKind::Local(id) => id.0.hash(&mut self.h),
            ExprKind::Score(id) => self.str(&self.program.scores[id.0 as usize].name),
            ExprKind::Field { message, index, .. } => self.field(*message, *index),
            ExprKind::Unary { op, .. } => op.hash(&mut self.h),
            ExprKind::Arith { op, .. } => op.hash(&mut self.h),
            ExprKind::Compare { op, .. } => op.hash(&mut self.h),
            ExprKind::In { negated, .. } => negated.hash(&mut self.h),
            ExprKind::InSet { set, negated, .. } => {
                negated.hash(&mut self.h);
                self.len(set.len());
                set.items().iter().for_each(|i| self.lit(i));
            }
            ExprKind::Let { local, .. } => local.0.hash(&mut self.h),
            ExprKind::Call { builtin, overload, .. } => (builtin.name(), overload).hash(&mut self.h),
            ExprKind::ListPred { kind, param, .. } => (kind, param.0).hash(&mut self.h),
            ExprKind::ListLit(items) => self.len(items.len()),
            ExprKind::MapLit(entries) => self.len(entries.len()),
            ExprKind::Record { message, spread, fields } => {
                self.message(*message);
                spread.is_some().hash(&mut self.h);
                self.len(fields.len());
                for (i, _) in fields {
                    self.field(*message, *i);
                }
            }
            ExprKind::Event
            | ExprKind::Index { .. }
            | ExprKind::And(..)
            | ExprKind::Or(..)
            | ExprKind::Coalesce { .. }
            | ExprKind::If { .. }
            | ExprKind::Has(_)
            | ExprKind::IntToFloat(_)
            | ExprKind::Some(_)
            | ExprKind::Unwrap(_) => {}
        }
        // Children in their fixed order; a closing tag keeps `f(a)(b)` apart from `f(a(b))`.
        e.for_each_child(|c| self.expr(c));
        self.h.write_u8(0xfe);
    }

    fn stmts(&mut self, stmts: &[Stmt]) {
        self.len(stmts.len());
        for s in stmts {
            std::mem::discriminant(s).hash(&mut self.h);
            match s {
                Stmt::Let { local, value } => {
                    local.0.hash(&mut self.h);
                    self.expr(value);
                }
                Stmt::Emit { sink, key, record, .. } => {
                    self.str(&self.program.sinks[sink.0 as usize].name);
                    key.is_some().hash(&mut self.h);
                    if let Some(k) = key {
                        self.expr(k);
                    }
                    self.expr(record);
                }
                Stmt::Route { sink, .. } => self.str(&self.program.sinks[sink.0 as usize].name),
                Stmt::If { cond, then, otherwise } => {
                    self.expr(cond);
                    self.stmts(then);
                    self.stmts(otherwise);
                }
            }
        }
    }
}
