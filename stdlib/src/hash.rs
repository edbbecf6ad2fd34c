//! Stable hashing: `hash64` is XXH3-64 (seed 0) of a value's canonical bytes, which are fixed
//! by this file and never change between versions:
//! - string: its UTF-8 bytes; bytes: themselves;
//! - int, duration (milliseconds), enum (its number): 8 bytes little-endian of the i64;
//! - float: 8 bytes little-endian of its IEEE-754 bits (`-0.0` and `0.0` differ);
//! - bool: one byte, 0 or 1.

use xxhash_rust::xxh3::xxh3_64;

use crate::RuntimeError;

pub fn hash_bytes(bytes: &[u8]) -> i64 {
    xxh3_64(bytes) as i64
}

pub fn hash_int(v: i64) -> i64 {
    hash_bytes(&v.to_le_bytes())
}

pub fn hash_float(v: f64) -> i64 {
    hash_bytes(&v.to_bits().to_le_bytes())
}

pub fn hash_bool(v: bool) -> i64 {
    hash_bytes(&[u8::from(v)])
}

/// `bucket(x, n)`: a stable bucket in `[0, n)` from a hash; `n <= 0` is an error.
pub fn bucket(hash: i64, n: i64) -> Result<i64, RuntimeError> {
    if n <= 0 {
        return Err(RuntimeError::BucketCount);
    }
    Ok(((hash as u64) % (n as u64)) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pinned values: changing them breaks every gray release keyed on them.
    #[test]
    fn hashes_are_stable() {
        assert_eq!(hash_bytes(b""), 0x2d06800538d394c2u64 as i64);
        assert_eq!(hash_bytes(b"user-42"), hash_bytes("user-42".as_bytes()));
        assert_ne!(hash_int(1), hash_int(2));
        assert!((0..100).contains(&bucket(hash_bytes(b"x"), 100).unwrap()));
        assert_eq!(bucket(1, 0), Err(RuntimeError::BucketCount));
        assert_eq!(bucket(1, -3), Err(RuntimeError::BucketCount));
    }
}
