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
    Meaning::new(program, schema).unit(r)
}

/// The hash of one expression's meaning (a velocity call: builtin, key, window).
pub fn expr_hash(program: &Program, schema: &Schema, e: &Expr) -> ContentHash {
    Meaning::new(program, schema).expr_hash(e)
}

/// Hashes a whole schema's meaning for the code compiled against it: message and field layout,
/// enums and their numbers (field indexes and ids are baked into native code).
pub fn schema_hash(schema: &Schema) -> ContentHash {
    *schema.hash.get_or_init(|| fresh_schema_hash(schema))
}

fn fresh_schema_hash(schema: &Schema) -> ContentHash {
    let mut h = Xxh3::new();
    for (_, msg) in schema.messages() {
        msg.full_name.hash(&mut h);
        for f in &msg.fields {
            (&f.name, f.number, format!("{:?}", f.ty), format!("{:?}", f.wire)).hash(&mut h);
        }
    }
    h.finish()
}

fn name_hash(name: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(name.as_bytes())
}

/// Hashes the meaning of many units of one program: names are hashed once, and each unit's
/// meaning is written into one reused buffer as words, then hashed at once.
pub struct Meaning<'a> {
    program: &'a Program,
    /// The hash of each message's, enum's, field's, sink's and score's name, by id.
    messages: Vec<u64>,
    enums: Vec<u64>,
    fields: Vec<Vec<u64>>,
    sinks: Vec<u64>,
    scores: Vec<u64>,
    sources: Vec<u64>,
    buf: Vec<u8>,
}

impl<'a> Meaning<'a> {
    pub fn new(program: &'a Program, schema: &'a Schema) -> Meaning<'a> {
        let messages = schema.messages().map(|(_, m)| name_hash(&m.full_name)).collect();
        let fields = schema
            .messages()
            .map(|(_, m)| m.fields.iter().map(|f| name_hash(&f.name) ^ u64::from(f.number).rotate_left(32)).collect())
            .collect();
        let enums = schema.enums().map(|(_, e)| name_hash(&e.full_name)).collect();
        Meaning {
            program,
            messages,
            enums,
            fields,
            sinks: program.sinks.iter().map(|s| name_hash(&s.name)).collect(),
            scores: program.scores.iter().map(|s| name_hash(&s.name)).collect(),
            sources: program.sources.iter().map(|s| name_hash(&s.name)).collect(),
            buf: Vec::new(),
        }
    }

    /// The hash of a unit's meaning: its kind, name, source, annotations and code.
    pub fn unit(&mut self, r: UnitRef) -> ContentHash {
        self.buf.clear();
        let program = self.program;
        let u = program.unit(r);
        self.tag(match r {
            UnitRef::Drop(_) => "drop",
            UnitRef::Score(_) => "score",
            UnitRef::Rule(_) => "rule",
        });
        self.str(u.name);
        self.word(self.sources[u.source.0 as usize]);
        for a in u.annotations {
            match a {
                Annotation::Priority(p) => self.tag(&format!("priority {p:?}")),
                Annotation::Shadow => self.tag("shadow"),
                Annotation::Owner(o) => {
                    self.tag("owner");
                    self.str(o);
                }
            }
        }
        for l in &u.unit.locals {
            self.ty(&l.ty);
        }
        match u.body {
            UnitBody::Drop(cond) => self.expr(cond),
            UnitBody::Score(weights) => {
                self.len(weights.len());
                for (w, cond) in weights {
                    self.word(*w as u64);
                    self.expr(cond);
                }
            }
            UnitBody::Rule(rule) => {
                self.tag("when");
                if let Some(c) = &rule.cond {
                    self.expr(c);
                }
                self.stmts(&rule.body);
            }
        }
        xxhash_rust::xxh3::xxh3_64(&self.buf)
    }

    /// The hash of one expression's meaning.
    pub fn expr_hash(&mut self, e: &Expr) -> ContentHash {
        self.buf.clear();
        self.expr(e);
        xxhash_rust::xxh3::xxh3_64(&self.buf)
    }

    fn word(&mut self, w: u64) {
        self.buf.extend_from_slice(&w.to_le_bytes());
    }

    /// A fixed word that says what follows.
    fn tag(&mut self, t: &str) {
        self.buf.extend_from_slice(t.as_bytes());
        self.buf.push(0xff);
    }

    fn str(&mut self, s: &str) {
        self.len(s.len());
        self.buf.extend_from_slice(s.as_bytes());
    }

    fn len(&mut self, n: usize) {
        self.word(n as u64);
    }

    fn message(&mut self, id: MessageId) {
        self.word(self.messages.get(id.0 as usize).copied().unwrap_or(u64::from(id.0)));
    }

    fn enum_(&mut self, id: crate::schema::EnumId) {
        self.word(self.enums.get(id.0 as usize).copied().unwrap_or(u64::from(id.0)));
    }

    fn ty(&mut self, t: &Type) {
        self.buf.push(type_tag(t));
        match t {
            Type::Enum(id) => self.enum_(*id),
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
        match l {
            Literal::Null => self.buf.push(0),
            Literal::Bool(b) => self.buf.extend_from_slice(&[1, u8::from(*b)]),
            Literal::Int(i) => {
                self.buf.push(2);
                self.word(*i as u64);
            }
            Literal::Duration(i) => {
                self.buf.push(3);
                self.word(*i as u64);
            }
            Literal::Float(f) => {
                self.buf.push(4);
                self.word(f.to_bits());
            }
            Literal::String(s) => {
                self.buf.push(5);
                self.str(s);
            }
            Literal::Enum(id, n) => {
                self.buf.push(6);
                self.enum_(*id);
                self.word(*n as u64);
            }
            Literal::List(items) => {
                self.buf.push(7);
                self.len(items.len());
                items.iter().for_each(|i| self.lit(i));
            }
        }
    }

    fn field(&mut self, message: MessageId, index: u32) {
        self.message(message);
        let f = self.fields.get(message.0 as usize).and_then(|f| f.get(index as usize)).copied();
        self.word(f.unwrap_or(u64::from(index)));
    }

    fn expr(&mut self, e: &Expr) {
        self.buf.push(expr_tag(&e.kind));
        self.ty(&e.ty);
        match &e.kind {
            ExprKind::Lit(l) => self.lit(l),
            ExprKind::Local(id) => self.word(u64::from(id.0)),
            ExprKind::Score(id) => self.word(self.scores[id.0 as usize]),
            ExprKind::Field { message, index, .. } => self.field(*message, *index),
            ExprKind::Unary { op, .. } => self.buf.push(*op as u8),
            ExprKind::Arith { op, .. } => self.buf.push(*op as u8),
            ExprKind::Compare { op, .. } => self.buf.push(*op as u8),
            ExprKind::In { negated, .. } => self.buf.push(u8::from(*negated)),
            ExprKind::InSet { set, negated, .. } => {
                self.buf.push(u8::from(*negated));
                self.len(set.len());
                set.items().iter().for_each(|i| self.lit(i));
            }
            ExprKind::Let { local, .. } => self.word(u64::from(local.0)),
            ExprKind::Call { builtin, overload, .. } => {
                self.str(builtin.name());
                self.word(u64::from(*overload));
            }
            ExprKind::ListPred { kind, param, .. } => {
                self.buf.push(*kind as u8);
                self.word(u64::from(param.0));
            }
            ExprKind::ListLit(items) => self.len(items.len()),
            ExprKind::MapLit(entries) => self.len(entries.len()),
            ExprKind::Record { message, spread, fields } => {
                self.message(*message);
                self.buf.push(u8::from(spread.is_some()));
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
        self.buf.push(0xfe);
    }

    fn stmts(&mut self, stmts: &[Stmt]) {
        self.len(stmts.len());
        for s in stmts {
            match s {
                Stmt::Let { local, value } => {
                    self.buf.push(0);
                    self.word(u64::from(local.0));
                    self.expr(value);
                }
                Stmt::Emit { sink, key, record, .. } => {
                    self.buf.push(1);
                    self.word(self.sinks[sink.0 as usize]);
                    self.buf.push(u8::from(key.is_some()));
                    if let Some(k) = key {
                        self.expr(k);
                    }
                    self.expr(record);
                }
                Stmt::Route { sink, .. } => {
                    self.buf.push(2);
                    self.word(self.sinks[sink.0 as usize]);
                }
                Stmt::If { cond, then, otherwise } => {
                    self.buf.push(3);
                    self.expr(cond);
                    self.stmts(then);
                    self.stmts(otherwise);
                }
            }
        }
    }
}

fn type_tag(t: &Type) -> u8 {
    match t {
        Type::Bool => 0,
        Type::Int => 1,
        Type::Float => 2,
        Type::String => 3,
        Type::Bytes => 4,
        Type::Duration => 5,
        Type::Enum(_) => 6,
        Type::Message(_) => 7,
        Type::List(_) => 8,
        Type::Map(..) => 9,
        Type::Optional(_) => 10,
        Type::Null => 11,
        Type::Error => 12,
    }
}

/// A byte per kind of expression, so that two kinds never hash alike.
fn expr_tag(k: &ExprKind) -> u8 {
    match k {
        ExprKind::Lit(_) => 0,
        ExprKind::Event => 1,
        ExprKind::Local(_) => 2,
        ExprKind::Score(_) => 3,
        ExprKind::Field { .. } => 4,
        ExprKind::Index { .. } => 5,
        ExprKind::Unary { .. } => 6,
        ExprKind::Arith { .. } => 7,
        ExprKind::Compare { .. } => 8,
        ExprKind::And(..) => 9,
        ExprKind::Or(..) => 10,
        ExprKind::In { .. } => 11,
        ExprKind::InSet { .. } => 12,
        ExprKind::Coalesce { .. } => 13,
        ExprKind::If { .. } => 14,
        ExprKind::Let { .. } => 15,
        ExprKind::Call { .. } => 16,
        ExprKind::Has(_) => 17,
        ExprKind::ListPred { .. } => 18,
        ExprKind::ListLit(_) => 19,
        ExprKind::MapLit(_) => 20,
        ExprKind::Record { .. } => 21,
        ExprKind::IntToFloat(_) => 22,
        ExprKind::Some(_) => 23,
        ExprKind::Unwrap(_) => 24,
    }
}
