//! The one helper behind every builtin overload the catalog implements: native code writes the
//! arguments as words, this runs the catalog's body on them ([`Builtin::invoke`]) and writes the
//! result as words.
//!
//! Words of the arguments, in order: a string is its pointer and length, an int one word, a
//! float its bits, a hashed scalar its hash, a constant (pattern, CIDR block, JSON path) its
//! index in the unit's constants. The result goes to two words: an int or bool in the first, a
//! float's bits, a string's pointer and length, a list's pointer and length. The status is
//! [`PRESENT`], [`NULL`] (both words zero) or a [`RuntimeError`] code.

use evr_stdlib::Builtin;
use evr_stdlib::constant::{Cidr, JsonStep};
use evr_stdlib::native::{Args, Results};

#[allow(unused_imports)]
use super::*;

pub const PRESENT: i32 = 0;
pub const NULL: i32 = -1;

struct Words<'a> {
    words: *const i64,
    next: usize,
    constants: &'a [Constant],
}

impl<'a> Words<'a> {
    fn word(&mut self) -> i64 {
        // SAFETY: native code wrote one word per argument word its overload declares, and reads
        // them in that order (see the translator's `native_builtin`).
        let w = unsafe { *self.words.add(self.next) };
        self.next += 1;
        w
    }

    fn constant(&mut self) -> Result<&'a Constant, RuntimeError> {
        let index = self.word();
        self.constants.get(index as usize).ok_or(RuntimeError::Internal)
    }
}

impl<'a> Args<'a> for Words<'a> {
    fn str(&mut self) -> Result<&'a str, RuntimeError> {
        let (p, len) = (self.word(), self.word());
        // SAFETY: see `str_of`.
        Ok(unsafe { str_of(p as *const u8, len) })
    }

    fn int(&mut self) -> Result<i64, RuntimeError> {
        Ok(self.word())
    }

    fn float(&mut self) -> Result<f64, RuntimeError> {
        Ok(f64::from_bits(self.word() as u64))
    }

    fn hashed(&mut self) -> Result<i64, RuntimeError> {
        Ok(self.word())
    }

    fn pattern(&mut self) -> Result<&'a regex::Regex, RuntimeError> {
        match self.constant()? {
            Constant::Pattern(re) => Ok(re),
            _ => Err(RuntimeError::Internal),
        }
    }

    fn cidr(&mut self) -> Result<&'a Cidr, RuntimeError> {
        match self.constant()? {
            Constant::Cidr(c) => Ok(c),
            _ => Err(RuntimeError::Internal),
        }
    }

    fn path(&mut self) -> Result<&'a [JsonStep], RuntimeError> {
        match self.constant()? {
            Constant::JsonPath(p) => Ok(p),
            _ => Err(RuntimeError::Internal),
        }
    }
}

struct Out<'c, 'x> {
    ctx: &'c mut Ctx<'x>,
    out: *mut i64,
    status: i32,
}

impl Out<'_, '_> {
    fn put(&mut self, a: i64, b: i64) {
        // SAFETY: `out` points at two i64s in the caller's stack frame.
        unsafe {
            *self.out = a;
            *self.out.add(1) = b;
        }
    }
}

impl<'a> Results<'a> for Out<'_, '_> {
    fn null(&mut self) {
        self.put(0, 0);
        self.status = NULL;
    }

    fn bool(&mut self, v: bool) {
        self.put(i64::from(v), 0);
    }

    fn int(&mut self, v: i64) {
        self.put(v, 0);
    }

    fn float(&mut self, v: f64) {
        self.put(v.to_bits() as i64, 0);
    }

    fn string(&mut self, v: String) {
        give(self.ctx, v, self.out);
    }

    fn part(&mut self, v: &'a str) {
        self.put(v.as_ptr() as i64, v.len() as i64);
    }

    fn strings(&mut self, v: Vec<&'a str>) {
        let list = Arc::new(v.into_iter().map(Value::str).collect::<Vec<_>>());
        self.put(Arc::as_ptr(&list) as i64, list.len() as i64);
        self.ctx.scratch.lists.push(list);
    }
}

/// Runs overload `overload` of builtin number `builtin` on the words at `args`.
pub(super) extern "C" fn builtin(c: *mut Ctx, builtin: i64, overload: i64, args: *const i64, out: *mut i64) -> i32 {
    let c = ctx(c);
    let Some(b) = Builtin::ALL.get(builtin as usize) else { return RuntimeError::Internal.code() as i32 };
    let constants = c.constants;
    let mut words = Words { words: args, next: 0, constants };
    let mut result = Out { ctx: c, out, status: PRESENT };
    match b.invoke(overload as u16, &mut words, &mut result) {
        Ok(()) => result.status,
        Err(e) => e.code() as i32,
    }
}
