//! What a program needs prepared once, before its first event: compiled regular expressions,
//! parsed CIDR blocks and JSON paths, and the kind and window of every velocity call site.

use std::collections::HashMap;

use evr_stdlib::Builtin;
use evr_stdlib::constant::{self, Cidr, JsonStep};
use evr_stdlib::signature::Param;
use evr_stdlib::velocity::Kind;

use crate::ir::{Expr, ExprKind, Literal, Program, UnitRef};

#[derive(Clone, Default)]
pub struct Prepared {
    regexes: HashMap<String, regex::Regex>,
    cidrs: HashMap<String, Cidr>,
    paths: HashMap<String, Vec<JsonStep>>,
}

impl Prepared {
    /// Prepares every constant argument of the program. The checker has validated them all,
    /// so a failure here is reported, not assumed away.
    pub fn new(program: &Program) -> Result<Prepared, String> {
        let all: Vec<UnitRef> = program.units().collect();
        Prepared::default().extended(program, &all)
    }

    /// These constants and those of `units` (and of the program's tests): what a new version
    /// needs when only `units` are new to it (constants no unit uses any more stay, unused).
    pub fn extended(mut self, program: &Program, units: &[UnitRef]) -> Result<Prepared, String> {
        let p = &mut self;
        let mut problem = None;
        let mut visit = |e: &Expr| p.collect(e, &mut problem);
        let mut each = |e: &Expr| walk(e, &mut visit);
        units.iter().for_each(|&u| program.unit(u).for_each_expr(&mut each));
        for t in &program.tests {
            for step in &t.steps {
                if let crate::ir::TestStep::Given { record, .. } | crate::ir::TestStep::Expect { record, .. } = step {
                    each(record);
                }
            }
        }
        match problem {
            Some(why) => Err(why),
            None => Ok(self),
        }
    }

    fn collect(&mut self, e: &Expr, problem: &mut Option<String>) {
        let ExprKind::Call { builtin, overload, args, .. } = &e.kind else { return };
        let params = builtin.overloads()[*overload as usize].params;
        for (p, a) in params.iter().zip(args) {
            let ExprKind::Lit(Literal::String(text)) = &a.kind else { continue };
            let result = match p {
                Param::Pattern if !self.regexes.contains_key(text) => constant::compile_pattern(text).map(|r| {
                    self.regexes.insert(text.clone(), r);
                }),
                Param::Cidr if !self.cidrs.contains_key(text) => constant::parse_cidr(text).map(|c| {
                    self.cidrs.insert(text.clone(), c);
                }),
                Param::JsonPath if !self.paths.contains_key(text) => constant::parse_json_path(text).map(|j| {
                    self.paths.insert(text.clone(), j);
                }),
                _ => Ok(()),
            };
            if let Err(why) = result {
                problem.get_or_insert(format!("{text:?}: {why}"));
            }
        }
    }

    pub fn regex(&self, pattern: &str) -> Option<&regex::Regex> {
        self.regexes.get(pattern)
    }

    pub fn cidr(&self, text: &str) -> Option<&Cidr> {
        self.cidrs.get(text)
    }

    pub fn json_path(&self, text: &str) -> Option<&[JsonStep]> {
        self.paths.get(text).map(Vec::as_slice)
    }
}

fn walk(e: &Expr, f: &mut impl FnMut(&Expr)) {
    f(e);
    e.for_each_child(|c| walk(c, f));
}

/// The velocity call sites of a unit's code, by site number: (kind, window in ms).
/// `each_expr` calls its argument on every top-level expression of the unit.
pub fn velocity_sites(count: u32, each_expr: impl FnOnce(&mut dyn FnMut(&Expr))) -> Vec<(Kind, i64)> {
    let mut sites = vec![(Kind::Count, 1); count as usize];
    let mut visit = |e: &Expr| {
        if let ExprKind::Call { builtin, args, site: Some(s), .. } = &e.kind {
            let kind = match builtin {
                Builtin::WindowCount => Kind::Count,
                Builtin::WindowSum => Kind::Sum,
                Builtin::WindowDistinct => Kind::Distinct,
                _ => Kind::Seen,
            };
            let window = args.iter().find_map(|a| match a.kind {
                ExprKind::Lit(Literal::Duration(ms)) => Some(ms),
                _ => None,
            });
            if let (Some(slot), Some(w)) = (sites.get_mut(*s as usize), window) {
                *slot = (kind, w);
            }
        }
    };
    each_expr(&mut |e| walk(e, &mut visit));
    sites
}
