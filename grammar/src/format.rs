//! `evr fmt`: one canonical layout for a file, printed from its syntax tree. Two-space
//! indents; one item, statement or weight a line; a record or list literal on one line when it
//! fits in [`WIDTH`] columns, else one entry a line with a trailing comma; parentheses only
//! where precedence needs them; literals as written. Blank lines between items and statements
//! are kept (at most one). Comments are kept: on their own lines before an item, a statement or
//! a weight, or after one on its line. An item holding a comment anywhere else (inside an
//! expression or a header) is kept as written, since no place in the layout would hold it.

use crate::ast::{
    BinOp, Comment, Expr, ExprKind, FieldKey, Item, ItemKind, Module, Record, Span, Stmt, StmtKind, TestStmt,
    TestStmtKind, TypeExpr, TypeExprKind, UnOp, Weight,
};
use crate::parse::parse;

/// Where record and list literals break.
pub const WIDTH: usize = 100;

/// The file in the canonical layout, or `None` when it has syntax errors (it is then left as
/// it is: a layout of a half-understood file could lose text).
pub fn format(src: &str) -> Option<String> {
    let parsed = parse(0, src);
    if !parsed.errors.is_empty() {
        return None;
    }
    let comments = &parsed.module.comments;
    Some(Printer { src, comments, placed: vec![false; comments.len()], log: Vec::new() }.module(&parsed.module))
}

struct Printer<'a> {
    src: &'a str,
    comments: &'a [Comment],
    /// Per comment, whether it is printed already.
    placed: Vec<bool>,
    /// The comments printed, in order: what an item kept as written takes back.
    log: Vec<usize>,
}

impl Printer<'_> {
    fn text(&self, span: Span) -> &str {
        &self.src[span.range()]
    }

    /// Whether the source has a blank line between two offsets.
    fn blank_between(&self, from: u32, to: u32) -> bool {
        let lines: Vec<&str> = self.src[from as usize..to as usize].split('\n').collect();
        lines.len() > 2 && lines[1..lines.len() - 1].iter().any(|l| l.trim().is_empty())
    }

    /// Comments wholly inside `[from, to)`, not printed yet (comments are in order of place).
    fn comments_in(&self, from: u32, to: u32) -> Vec<usize> {
        let first = self.comments.partition_point(|c| c.span.start < from);
        (first..self.comments.len())
            .take_while(|&i| self.comments[i].span.start < to)
            .filter(|&i| !self.placed[i] && self.comments[i].span.end <= to)
            .collect()
    }

    fn place(&mut self, i: usize) {
        self.placed[i] = true;
        self.log.push(i);
    }

    /// The comment starting on the line where `end` is, after it.
    fn trailing(&self, end: u32, limit: u32) -> Option<usize> {
        let line_end = self.src[end as usize..].find('\n').map_or(self.src.len(), |i| end as usize + i) as u32;
        self.comments_in(end, limit.min(line_end).max(end))
            .into_iter()
            .find(|&i| !self.src[end as usize..self.comments[i].span.start as usize].contains('\n'))
    }

    /// Prints the comments before `next` (from `from`), each on its own line at `indent`,
    /// keeping one blank line where the source had one.
    fn leading(&mut self, out: &mut String, indent: &str, from: u32, next: u32, first: bool) {
        let mut at = from;
        for i in self.comments_in(from, next) {
            let c = self.comments[i].span;
            if (!first || at != from) && self.blank_between(at, c.start) {
                out.push('\n');
            }
            out.push_str(indent);
            out.push_str(self.text(c).trim_end());
            out.push('\n');
            self.place(i);
            at = c.end;
        }
        if (!first || at != from) && self.blank_between(at, next) {
            out.push('\n');
        }
    }

    fn module(mut self, m: &Module) -> String {
        let mut out = String::new();
        let mut at = 0;
        for (n, item) in m.items.iter().enumerate() {
            self.leading(&mut out, "", at, item.span.start, n == 0);
            let limit = m.items.get(n + 1).map_or(self.src.len() as u32, |next| next.span.start);
            self.item(&mut out, item);
            self.end_line(&mut out, item.span.end, limit);
            at = item.span.end;
        }
        self.leading(&mut out, "", at, self.src.len() as u32, m.items.is_empty());
        while out.ends_with("\n\n") {
            out.pop();
        }
        out
    }

    /// Ends a line, with the comment that followed `end` on it in the source.
    fn end_line(&mut self, out: &mut String, end: u32, limit: u32) {
        if let Some(i) = self.trailing(end, limit) {
            out.push(' ');
            out.push_str(self.text(self.comments[i].span).trim_end());
            self.place(i);
        }
        out.push('\n');
    }

    fn item(&mut self, out: &mut String, item: &Item) {
        let (placed_before, written_before) = (self.log.len(), out.len());
        self.item_layout(out, item);
        // A comment the layout had no place for: the item as written.
        if !self.comments_in(item.span.start, item.span.end).is_empty() {
            for i in self.log.drain(placed_before..) {
                self.placed[i] = false;
            }
            out.truncate(written_before);
            out.push_str(self.text(item.span));
            for i in self.comments_in(item.span.start, item.span.end) {
                self.place(i);
            }
        }
    }

    fn item_layout(&mut self, out: &mut String, item: &Item) {
        for a in &item.annotations {
            out.push('@');
            out.push_str(&a.name.text);
            if !a.args.is_empty() {
                let args: Vec<String> = a.args.iter().map(|e| self.expr(e, 0, 0)).collect();
                out.push_str(&format!("({})", args.join(", ")));
            }
            out.push('\n');
        }
        match &item.kind {
            ItemKind::UseFile { path_span, .. } => out.push_str(&format!("use {};", self.text(*path_span))),
            ItemKind::UseTypes { prefix, names } => {
                let prefix: Vec<&str> = prefix.iter().map(|n| n.text.as_str()).collect();
                let names: Vec<String> = names
                    .iter()
                    .map(|u| match &u.alias {
                        Some(a) => format!("{} as {}", u.name.text, a.text),
                        None => u.name.text.clone(),
                    })
                    .collect();
                match names.as_slice() {
                    [one] => out.push_str(&format!("use {}.{one};", prefix.join("."))),
                    many => out.push_str(&format!("use {}.{{{}}};", prefix.join("."), many.join(", "))),
                }
            }
            ItemKind::Source { name, ty, format, time } => {
                let time = time.as_ref().map(|t| format!(" time {}", t.text)).unwrap_or_default();
                out.push_str(&format!("source {}: {} as {}{time};", name.text, ty_text(ty), format.text));
            }
            ItemKind::Sink { name, ty, format } => {
                out.push_str(&format!("sink {}: {} as {};", name.text, ty_text(ty), format.text));
            }
            ItemKind::Const { name, value } => {
                let head = format!("const {} = ", name.text);
                out.push_str(&format!("{head}{};", self.expr(value, 0, head.len())));
            }
            ItemKind::Fn { name, params, ret, body } => {
                let params: Vec<String> =
                    params.iter().map(|p| format!("{}: {}", p.name.text, ty_text(&p.ty))).collect();
                let ret = ret.as_ref().map(|t| format!(" -> {}", ty_text(t))).unwrap_or_default();
                let head = format!("fn {}({}){ret} = ", name.text, params.join(", "));
                out.push_str(&format!("{head}{};", self.expr(body, 0, head.len())));
            }
            ItemKind::Drop { name, source, cond } => {
                let head = format!("drop {} on {} when ", name.text, source.text);
                out.push_str(&format!("{head}{};", self.expr(cond, 0, head.len())));
            }
            ItemKind::Score { name, source, weights } => {
                out.push_str(&format!("score {} on {} {{\n", name.text, source.text));
                let open = item.span.start + self.text(item.span).find('{').unwrap_or(0) as u32 + 1;
                self.weights(out, weights, open, item.span.end);
                out.push('}');
            }
            ItemKind::Rule { name, source, cond, body } => {
                let mut head = format!("rule {} on {}", name.text, source.text);
                if let Some(c) = cond {
                    head.push_str(" when ");
                    let c = self.expr(c, 0, head.len());
                    head.push_str(&c);
                }
                out.push_str(&head);
                // `=> route sink;` stays the one-line form it is written in.
                let after_cond = cond.as_ref().map_or(source.span.end, |c| c.span.end);
                let arrow = self.src[after_cond as usize..].trim_start().starts_with("=>");
                match body.as_slice() {
                    [s] if arrow && !matches!(s.kind, StmtKind::If { .. }) => {
                        out.push_str(" => ");
                        out.push_str(&self.stmt_line(s, ""));
                    }
                    _ => {
                        out.push_str(" {\n");
                        let open = body.first().map_or(item.span.end - 1, |s| s.span.start);
                        let open = self.src[..open as usize].rfind('{').map_or(open, |i| i as u32 + 1);
                        self.block(out, body, "  ", open, item.span.end);
                        out.push('}');
                    }
                }
            }
            ItemKind::Test { name_span, body, .. } => {
                out.push_str(&format!("test {} {{\n", self.text(*name_span)));
                self.test_steps(out, body, name_span.end, item.span.end);
                out.push('}');
            }
            ItemKind::Error => out.push_str(self.text(item.span)),
        }
    }

    /// The statements of a block, one a line, with their comments; `close` is the offset of
    /// the block's `}` (or past it).
    fn block(&mut self, out: &mut String, stmts: &[Stmt], indent: &str, open: u32, close: u32) {
        let mut at = open;
        for (n, s) in stmts.iter().enumerate() {
            self.leading(out, indent, at, s.span.start, n == 0);
            let limit = stmts.get(n + 1).map_or(close, |next| next.span.start);
            match &s.kind {
                StmtKind::If { branches, otherwise } => {
                    for (k, (cond, body)) in branches.iter().enumerate() {
                        let word = if k == 0 { format!("{indent}if ") } else { " else if ".to_owned() };
                        out.push_str(&word);
                        out.push_str(&self.expr(cond, 0, indent.len() + 3));
                        out.push_str(" {\n");
                        let inner = format!("{indent}  ");
                        let (from, to) = self.braces_after(cond.span.end, body, limit);
                        self.block(out, body, &inner, from, to);
                        out.push_str(indent);
                        out.push('}');
                    }
                    if let Some(body) = otherwise {
                        out.push_str(" else {\n");
                        let inner = format!("{indent}  ");
                        let after = branches
                            .last()
                            .map_or(s.span.start, |(_, b)| b.last().map_or(s.span.start, |x| x.span.end));
                        let from = self.src[after as usize..s.span.end as usize]
                            .find("else")
                            .and_then(|e| self.src[after as usize + e..].find('{').map(|b| after as usize + e + b + 1))
                            .map_or(after, |x| x as u32);
                        self.block(out, body, &inner, from, s.span.end);
                        out.push_str(indent);
                        out.push('}');
                    }
                }
                _ => out.push_str(&self.stmt_line(s, indent)),
            }
            self.end_line(out, s.span.end, limit);
            at = s.span.end;
        }
        self.leading(out, indent, at, close, stmts.is_empty());
    }

    /// Where the braces of an `if` branch's block are: after the condition, up to `limit`.
    fn braces_after(&self, cond_end: u32, body: &[Stmt], limit: u32) -> (u32, u32) {
        let open = self.src[cond_end as usize..].find('{').map_or(cond_end, |i| cond_end + i as u32 + 1);
        let last = body.last().map_or(open, |s| s.span.end);
        let close = self.src[last as usize..limit as usize].find('}').map_or(limit, |i| last + i as u32);
        (open, close)
    }

    fn stmt_line(&mut self, s: &Stmt, indent: &str) -> String {
        match &s.kind {
            StmtKind::Let { name, value } => {
                let head = format!("{indent}let {} = ", name.text);
                format!("{head}{};", self.expr(value, 0, head.len()))
            }
            StmtKind::Emit { sink, key, record } => {
                let mut head = format!("{indent}emit {}", sink.text);
                if let Some(k) = key {
                    head.push_str(" key ");
                    let k = self.expr(k, 0, head.len());
                    head.push_str(&k);
                }
                head.push(' ');
                let r = self.record(record, indent.len(), head.len());
                format!("{head}{r};")
            }
            StmtKind::Route { sink } => format!("{indent}route {};", sink.text),
            StmtKind::If { .. } | StmtKind::Error => format!("{indent}{}", self.text(s.span)),
        }
    }

    fn weights(&mut self, out: &mut String, weights: &[Weight], open: u32, close: u32) {
        let mut at = open;
        for (n, w) in weights.iter().enumerate() {
            self.leading(out, "  ", at, w.span.start, n == 0);
            let limit = weights.get(n + 1).map_or(close, |next| next.span.start);
            let weight = self.expr(&w.weight, 0, 2);
            let head = format!("  {weight} when ");
            out.push_str(&format!("{head}{};", self.expr(&w.cond, 0, head.len())));
            self.end_line(out, w.span.end, limit);
            at = w.span.end;
        }
        self.leading(out, "  ", at, close, weights.is_empty());
    }

    fn test_steps(&mut self, out: &mut String, steps: &[TestStmt], open: u32, close: u32) {
        let mut at = open;
        for (n, s) in steps.iter().enumerate() {
            self.leading(out, "  ", at, s.span.start, n == 0);
            let limit = steps.get(n + 1).map_or(close, |next| next.span.start);
            let line = match &s.kind {
                TestStmtKind::Given { source: name, record } | TestStmtKind::Expect { sink: name, record } => {
                    let word = if matches!(s.kind, TestStmtKind::Given { .. }) { "given" } else { "expect" };
                    let head = format!("  {word} {} ", name.text);
                    format!("{head}{};", self.record(record, 2, head.len()))
                }
                TestStmtKind::ExpectNothing { sink } => format!("  expect nothing {};", sink.text),
                TestStmtKind::ExpectDropped => "  expect dropped;".to_owned(),
                TestStmtKind::ExpectDirty => "  expect dirty;".to_owned(),
                TestStmtKind::Error => format!("  {}", self.text(s.span)),
            };
            out.push_str(&line);
            self.end_line(out, s.span.end, limit);
            at = s.span.end;
        }
        self.leading(out, "  ", at, close, steps.is_empty());
    }

    /// A record literal starting at column `column` of a line indented by `indent`.
    fn record(&mut self, r: &Record, indent: usize, column: usize) -> String {
        let mut entries: Vec<String> = Vec::new();
        if let Some(s) = &r.spread {
            entries.push(format!("..{}", self.expr(s, 0, indent + 4)));
        }
        for f in &r.fields {
            let key = match &f.key {
                FieldKey::Name(n) => n.text.clone(),
                FieldKey::Str(_, span) => self.text(*span).to_owned(),
            };
            entries.push(format!("{key}: {}", self.expr(&f.value, indent + 2, indent + 4 + key.len())));
        }
        if entries.is_empty() {
            return "{}".to_owned();
        }
        let one = format!("{{ {} }}", entries.join(", "));
        // Room for what follows it (`;`, `,`).
        if column + one.len() < WIDTH && !one.contains('\n') {
            return one;
        }
        let pad = " ".repeat(indent + 2);
        let lines: String = entries.iter().map(|e| format!("{pad}{e},\n")).collect();
        format!("{{\n{lines}{}}}", " ".repeat(indent))
    }

    /// An expression that must bind at least as tightly as `min` (see [`prec`]), starting at
    /// column `column` of a line indented by `indent`.
    fn expr(&mut self, e: &Expr, indent: usize, column: usize) -> String {
        self.expr_in(e, 0, indent, column)
    }

    fn expr_in(&mut self, e: &Expr, min: u8, indent: usize, column: usize) -> String {
        let text = self.expr_bare(e, indent, column);
        if prec(e) < min { format!("({text})") } else { text }
    }

    fn expr_bare(&mut self, e: &Expr, indent: usize, column: usize) -> String {
        match &e.kind {
            ExprKind::Int(_) | ExprKind::Float(_) | ExprKind::Str(_) | ExprKind::Duration(_) => {
                self.text(e.span).to_owned()
            }
            ExprKind::Bool(b) => b.to_string(),
            ExprKind::Null => "null".to_owned(),
            ExprKind::SelfRef => "self".to_owned(),
            ExprKind::Name(n) => n.text.clone(),
            ExprKind::Error => self.text(e.span).to_owned(),
            ExprKind::List(items) => {
                let items: Vec<String> = items.iter().map(|i| self.expr(i, indent + 2, indent + 2)).collect();
                let one = format!("[{}]", items.join(", "));
                // Room for what follows it (`;`, `,`).
                if column + one.len() < WIDTH && !one.contains('\n') {
                    return one;
                }
                let pad = " ".repeat(indent + 2);
                let lines: String = items.iter().map(|i| format!("{pad}{i},\n")).collect();
                format!("[\n{lines}{}]", " ".repeat(indent))
            }
            ExprKind::Record(r) => self.record(r, indent, column),
            ExprKind::Unary(op, a) => {
                let sym = match op {
                    UnOp::Not => "!",
                    UnOp::Neg => "-",
                };
                let operand = self.expr_in(a, UNARY, indent, column + 1);
                // `- -1`, not `--1`.
                let gap = if operand.starts_with(sym) { " " } else { "" };
                format!("{sym}{gap}{operand}")
            }
            ExprKind::Binary(op, a, b) => {
                let p = bin_prec(*op);
                let (left, right) = match op {
                    // `a ?? b ?? c` groups to the right.
                    BinOp::Coalesce => (p + 1, p),
                    // Comparisons do not chain.
                    BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => (p + 1, p + 1),
                    _ => (p, p + 1),
                };
                let l = self.expr_in(a, left, indent, column);
                let r = self.expr_in(b, right, indent, column + l.len() + op.symbol().len() + 2);
                format!("{l} {} {r}", op.symbol())
            }
            ExprKind::In { needle, haystack, negated } => {
                let l = self.expr_in(needle, CMP + 1, indent, column);
                let word = if *negated { "not in" } else { "in" };
                let r = self.expr_in(haystack, CMP + 1, indent, column + l.len() + word.len() + 2);
                format!("{l} {word} {r}")
            }
            ExprKind::Field(base, name) => format!("{}.{}", self.expr_in(base, POSTFIX, indent, column), name.text),
            ExprKind::Index(base, index) => {
                let b = self.expr_in(base, POSTFIX, indent, column);
                let i = self.expr(index, indent, column + b.len() + 1);
                format!("{b}[{i}]")
            }
            ExprKind::Call { callee, args } => {
                let c = self.expr_in(callee, POSTFIX, indent, column);
                let mut col = column + c.len() + 1;
                let mut parts = Vec::new();
                for a in args {
                    let p = self.expr(a, indent, col);
                    col += p.len() + 2;
                    parts.push(p);
                }
                format!("{c}({})", parts.join(", "))
            }
            ExprKind::Lambda { param, body } => {
                let b = self.expr(body, indent, column + param.text.len() + 4);
                format!("{} => {b}", param.text)
            }
            ExprKind::If { cond, then, otherwise } => {
                let c = self.expr(cond, indent, column + 3);
                let t = self.expr(then, indent, column);
                let o = match &otherwise.kind {
                    ExprKind::If { .. } => self.expr(otherwise, indent, column),
                    _ => format!("{{ {} }}", self.expr(otherwise, indent, column)),
                };
                format!("if {c} {{ {t} }} else {o}")
            }
        }
    }
}

const COALESCE: u8 = 1;
const CMP: u8 = 4;
const UNARY: u8 = 7;
const POSTFIX: u8 = 8;
const PRIMARY: u8 = 9;

/// How tightly an operator binds, loosest first, as the grammar has it.
fn bin_prec(op: BinOp) -> u8 {
    match op {
        BinOp::Coalesce => COALESCE,
        BinOp::Or => 2,
        BinOp::And => 3,
        BinOp::Eq | BinOp::Ne | BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => CMP,
        BinOp::Add | BinOp::Sub => 5,
        BinOp::Mul | BinOp::Div | BinOp::Rem => 6,
    }
}

fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Binary(op, ..) => bin_prec(*op),
        ExprKind::In { .. } => CMP,
        ExprKind::Unary(..) => UNARY,
        ExprKind::Field(..) | ExprKind::Index(..) | ExprKind::Call { .. } => POSTFIX,
        // Only an argument; never needs parentheses there, and is never elsewhere.
        ExprKind::Lambda { .. } => 0,
        _ => PRIMARY,
    }
}

fn ty_text(t: &TypeExpr) -> String {
    match &t.kind {
        TypeExprKind::Named(path) => path.iter().map(|n| n.text.as_str()).collect::<Vec<_>>().join("."),
        TypeExprKind::Generic(name, args) => {
            format!("{}<{}>", name.text, args.iter().map(ty_text).collect::<Vec<_>>().join(", "))
        }
        TypeExprKind::Optional(inner) => format!("{}?", ty_text(inner)),
    }
}
