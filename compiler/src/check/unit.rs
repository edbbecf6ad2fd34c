//! Checking of the units: rules (and their statements), drops, scores, fn bodies and tests.

use evr_grammar::ast;

use super::cx::Cx;
use crate::diag::{Code, Diagnostic};
use crate::ir::{self, Expr, ExprKind, Literal, Stmt, TestStep};
use crate::symbols::{Def, Ref};
use crate::types::Type;

impl Cx<'_, '_> {
    /// Brings the event of `on SOURCE` into scope.
    pub fn enter_source(&mut self, source: &ast::Name) -> Option<ir::SourceId> {
        let id = self.env.source_id(source, self.diags);
        match id {
            Some(id) => {
                let m = self.env.program.sources[id.0 as usize].message;
                self.refs.push(Ref::new(source.span, Def::Source(source.text.clone()), Type::Message(m)));
                self.source = Some((id, m));
            }
            None => self.source_unknown = true,
        }
        id
    }

    fn sink_ref(&mut self, sink: &ast::Name, id: Option<ir::SinkId>) {
        if let Some(id) = id {
            let m = self.env.program.sinks[id.0 as usize].message;
            self.refs.push(Ref::new(sink.span, Def::Sink(sink.text.clone()), Type::Message(m)));
        }
    }

    pub fn block(&mut self, stmts: &[ast::Stmt]) -> Vec<Stmt> {
        let mark = self.mark();
        let out = stmts.iter().filter_map(|s| self.stmt(s)).collect();
        self.reset(mark);
        out
    }

    fn stmt(&mut self, s: &ast::Stmt) -> Option<Stmt> {
        match &s.kind {
            ast::StmtKind::Let { name, value } => {
                let value = self.expr(value, None);
                if value.ty == Type::Null {
                    self.error(
                        Diagnostic::new(
                            Code::E0021,
                            value.span,
                            format!("cannot tell the type of `{}` from `null`", name.text),
                        )
                        .label("null alone has no type")
                        .hint("a let holds a value of known type; use the value you will compare against instead"),
                    );
                }
                let local = self.bind(name, value.ty.clone());
                Some(Stmt::Let { local, value })
            }
            ast::StmtKind::Emit { sink, key, record } => {
                let sink_id = self.env.sink_id(sink, self.diags);
                self.sink_ref(sink, sink_id);
                let key = key.as_ref().map(|k| {
                    let e = self.expr(k, None);
                    let e = self.require_present(e, "the output key");
                    if !matches!(e.ty, Type::String | Type::Bytes | Type::Int | Type::Error) {
                        let t = self.ty(&e.ty);
                        self.error(
                            Diagnostic::new(
                                Code::E0008,
                                e.span,
                                format!("an output key must be a string, bytes or int, found {t}"),
                            )
                            .label(format!("this is {}", super::cx::article(&t))),
                        );
                    }
                    e
                });
                let expected = sink_id.map(|id| Type::Message(self.env.program.sinks[id.0 as usize].message));
                let record = self.record(record, Some(expected.as_ref().unwrap_or(&Type::Error)), record.span);
                Some(Stmt::Emit { sink: sink_id?, key, record, span: s.span })
            }
            ast::StmtKind::Route { sink } => {
                let sink_id = self.env.sink_id(sink, self.diags)?;
                self.sink_ref(sink, Some(sink_id));
                let sink_decl = &self.env.program.sinks[sink_id.0 as usize];
                if let Some((source_id, source_msg)) = self.source
                    && sink_decl.message != source_msg
                {
                    let schema = self.env.schema;
                    let (src, dst) = (&schema.message(source_msg).name, &schema.message(sink_decl.message).name);
                    let source_name = &self.env.program.sources[source_id.0 as usize].name;
                    self.error(
                        Diagnostic::new(
                            Code::E0013,
                            sink.span,
                            format!("cannot route {src} events to `{}`, which carries {dst}", sink.text),
                        )
                        .label(format!("a {dst} sink"))
                        .secondary(sink_decl.span, format!("`{}` is declared with {dst}", sink.text))
                        .hint(format!(
                            "`route` forwards the `{source_name}` event unchanged; to write a {dst}, use `emit {} {{ ... }};`",
                            sink.text
                        )),
                    );
                }
                Some(Stmt::Route { sink: sink_id, span: s.span })
            }
            ast::StmtKind::If { branches, otherwise } => {
                let mut tail = otherwise.as_ref().map(|b| self.block(b)).unwrap_or_default();
                // Build from the last branch outwards so `else if` nests as `else { if .. }`.
                let mut checked: Vec<(Expr, Vec<Stmt>)> = Vec::new();
                for (cond, body) in branches {
                    let c = self.condition(cond, "the condition of `if`");
                    let mark = self.mark();
                    self.assume(&c);
                    let b = self.block(body);
                    self.reset(mark);
                    checked.push((c, b));
                }
                // `otherwise` was checked before the conditions; that order only affects which
                // error comes first, never the result.
                while let Some((cond, then)) = checked.pop() {
                    tail = vec![Stmt::If { cond, then, otherwise: tail }];
                }
                tail.pop()
            }
            ast::StmtKind::Error => None,
        }
    }

    /// A score weight: a constant int.
    pub fn weight(&mut self, e: &ast::Expr) -> i64 {
        let w = self.expr(e, None);
        match w.kind {
            ExprKind::Lit(Literal::Int(v)) => v,
            _ if w.ty.is_error() => 0,
            _ => {
                self.error(
                    Diagnostic::new(Code::E0015, w.span, "a score weight must be a constant int")
                        .label("not a constant int")
                        .hint("write `40 when condition;`; weights add up when their conditions hold"),
                );
                0
            }
        }
    }

    pub fn test_steps(&mut self, body: &[ast::TestStmt]) -> Vec<TestStep> {
        let mut steps = Vec::new();
        let mut given = false;
        for s in body {
            let span = s.span;
            match &s.kind {
                ast::TestStmtKind::Given { source, record } => {
                    given = true;
                    let id = self.env.source_id(source, self.diags);
                    let ty =
                        id.map_or(Type::Error, |id| Type::Message(self.env.program.sources[id.0 as usize].message));
                    if id.is_some() {
                        self.refs.push(Ref::new(source.span, Def::Source(source.text.clone()), ty.clone()));
                    }
                    let record = self.record(record, Some(&ty), record.span);
                    if let Some(source) = id {
                        steps.push(TestStep::Given { source, record, span });
                    }
                }
                ast::TestStmtKind::Expect { sink, record } => {
                    let id = self.env.sink_id(sink, self.diags);
                    self.sink_ref(sink, id);
                    let ty = id.map_or(Type::Error, |id| Type::Message(self.env.program.sinks[id.0 as usize].message));
                    let record = self.record(record, Some(&ty), record.span);
                    if let Some(sink) = id {
                        steps.push(TestStep::Expect { sink, record, span });
                    }
                }
                ast::TestStmtKind::ExpectNothing { sink } => {
                    let id = self.env.sink_id(sink, self.diags);
                    self.sink_ref(sink, id);
                    if let Some(sink) = id {
                        steps.push(TestStep::ExpectNothing { sink, span });
                    }
                }
                ast::TestStmtKind::ExpectDropped | ast::TestStmtKind::ExpectDirty => {
                    if !given {
                        self.error(
                            Diagnostic::new(
                                Code::E0027,
                                span,
                                "this expectation refers to the last `given`, but there is none yet",
                            )
                            .label("nothing given before this")
                            .hint("feed an event first: `given SOURCE { ... };`"),
                        );
                    }
                    steps.push(if matches!(s.kind, ast::TestStmtKind::ExpectDropped) {
                        TestStep::ExpectDropped { span }
                    } else {
                        TestStep::ExpectDirty { span }
                    });
                }
                ast::TestStmtKind::Error => {}
            }
        }
        steps
    }
}
