//! String equality in native code. Rules compare fields with short literals all the time (event
//! names, countries, codes): against a literal of up to [`INLINE_MAX`] bytes the comparison is a
//! length test and a few loads, with no call. Other strings compare lengths first and call the
//! helper only when the lengths agree.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{InstBuilder, MemFlagsData, Value, types};

use super::Translator;
use crate::jit::abi::Helper;

/// The longest literal compared inline: four 8-byte loads.
const INLINE_MAX: usize = 32;

impl Translator<'_, '_> {
    /// Remembers that `ptr` points at this literal's bytes, for [`str_equal`](Self::str_equal).
    pub(super) fn note_literal(&mut self, ptr: Value, bytes: &[u8]) {
        self.str_literals.insert(ptr, bytes.into());
    }

    /// Whether two strings, each a (pointer, length), are equal: an i8.
    pub(super) fn str_equal(&mut self, a: (Value, Value), b: (Value, Value)) -> Value {
        let literal = |t: &Self, v: (Value, Value)| t.str_literals.get(&v.0).filter(|l| l.len() <= INLINE_MAX).cloned();
        // The literal, and the other string.
        let inline = match (literal(self, a), literal(self, b)) {
            (Some(l), _) => Some((l, b)),
            (None, Some(l)) => Some((l, a)),
            (None, None) => None,
        };
        let same_len = match &inline {
            Some((lit, (_, len))) => self.b.ins().icmp_imm_u(IntCC::Equal, *len, lit.len() as i64),
            None => self.b.ins().icmp(IntCC::Equal, a.1, b.1),
        };
        let (check, done) = (self.b.create_block(), self.b.create_block());
        self.b.append_block_param(done, types::I8);
        let no = self.b.ins().iconst(types::I8, 0);
        self.b.ins().brif(same_len, check, &[], done, &[no.into()]);
        self.b.switch_to_block(check);
        let eq = match inline {
            Some((lit, (ptr, _))) => self.equals_literal(ptr, &lit),
            None => {
                let c = self.call1(Helper::StrCmp, &[a.0, a.1, b.0, b.1]);
                self.b.ins().icmp_imm_s(IntCC::Equal, c, 0)
            }
        };
        self.b.ins().jump(done, &[eq.into()]);
        self.b.switch_to_block(done);
        self.b.block_params(done)[0]
    }

    /// Whether the `lit.len()` bytes at `ptr` are `lit`: loads of one width cover them, the last
    /// one overlapping the one before when the length is not a multiple of the width.
    fn equals_literal(&mut self, ptr: Value, lit: &[u8]) -> Value {
        let n = lit.len();
        if n == 0 {
            return self.b.ins().iconst(types::I8, 1);
        }
        let (width, ty) = match n {
            1 => (1, types::I8),
            2..=3 => (2, types::I16),
            4..=7 => (4, types::I32),
            _ => (8, types::I64),
        };
        let mut offsets: Vec<usize> = (0..n / width).map(|i| i * width).collect();
        if !n.is_multiple_of(width) {
            offsets.push(n - width);
        }
        // The pointer need not be aligned; the bytes are there (the length was checked).
        let flags = MemFlagsData::new().with_notrap();
        let mut diff = None;
        for off in offsets {
            let mut word = [0u8; 8];
            word[..width].copy_from_slice(&lit[off..off + width]);
            // The host runs the code, so its byte order is the code's.
            let expected = u64::from_ne_bytes(word);
            let expected = if cfg!(target_endian = "big") { expected >> (64 - 8 * width) } else { expected };
            let loaded = self.b.ins().load(ty, flags, ptr, off as i32);
            // Zero-extended, as the verifier wants narrow constants.
            let expected = self.b.ins().iconst(ty, expected as i64);
            let d = self.b.ins().bxor(loaded, expected);
            diff = Some(match diff {
                Some(acc) => self.b.ins().bor(acc, d),
                None => d,
            });
        }
        let diff = diff.expect("a non-empty literal has a word");
        self.b.ins().icmp_imm_u(IntCC::Equal, diff, 0)
    }
}
