//! Velocity state: counts, sums, distinct values and last-seen times per key, over sliding time
//! windows, for one call site of `window_count`, `window_sum`, `window_distinct` or `seen`.
//!
//! Memory is bounded twice: per key, a window is [`BUCKETS`] buckets of width `W / BUCKETS`
//! (older buckets are overwritten as time moves on), and per site, at most `max_keys` keys are
//! kept, the least recently seen evicted first (and counted).
//!
//! One rule for all four builtins: an event at time `t` answers for the window that ends with
//! its own bucket (the `BUCKETS` buckets up to and including the one `t` falls in), over the
//! events of its key seen so far, the current one included, as far as the state still holds
//! them: per key, the buckets within the window before its newest event. Events may arrive
//! out of order: a late event within that range is stored and answers for its own window (later
//! events of its own bucket included: that is the resolution); one older than it is not stored
//! and answers for itself alone (count 1, its amount, one value, not seen).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use lru::LruCache;

use crate::sketch::Sketch;

/// Keys are already XXH3 hashes of the key values; hashing them again only costs time.
#[derive(Default)]
struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        // Only u64 keys reach this hasher; fold anything else in so it stays a hash.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Keys = LruCache<u64, KeyState, BuildHasherDefault<Prehashed>>;

pub const BUCKETS: usize = 30;
/// Distinct values per key counted exactly; beyond this a key switches to a HyperLogLog sketch.
pub const EXACT_DISTINCT: usize = 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Count,
    Sum,
    Distinct,
    Seen,
}

pub struct Site {
    kind: Kind,
    bucket_ms: i64,
    /// Unbounded as a cache (bounded ones preallocate their whole capacity); `max_keys` is
    /// enforced on insertion instead.
    keys: Keys,
    max_keys: usize,
    evicted: u64,
}

enum KeyState {
    /// `head` is the absolute number of the newest bucket; slot `b % BUCKETS` holds bucket `b`.
    Counts {
        head: i64,
        counts: [u32; BUCKETS],
        /// The sum of `counts`: the count of a window that ends with the newest bucket.
        total: u64,
    },
    Sums {
        head: i64,
        sums: [f64; BUCKETS],
    },
    /// Which buckets of the ring hold an event: bit `i` is bucket `head - i`.
    Seen {
        head: i64,
        occupied: u32,
    },
    /// Per value, which buckets of the ring hold it (bit `i`: bucket `head - i`); values that
    /// left the ring are removed.
    Exact {
        head: i64,
        values: HashMap<u64, u32>,
    },
    /// Past [`EXACT_DISTINCT`] values: a HyperLogLog sketch per bucket (see `sketch`).
    Sketch(Box<Sketch>),
}

impl Site {
    /// `window_ms` must be positive (the checker only accepts positive constant windows).
    pub fn new(kind: Kind, window_ms: i64, max_keys: usize) -> Site {
        let window_ms = window_ms.max(1);
        let bucket_ms = (window_ms + BUCKETS as i64 - 1) / BUCKETS as i64;
        Site {
            kind,
            bucket_ms,
            keys: LruCache::unbounded_with_hasher(BuildHasherDefault::default()),
            max_keys: max_keys.max(1),
            evicted: 0,
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Keys evicted so far because the site held `max_keys` keys.
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn entry(&mut self, key: u64, fresh: impl FnOnce() -> KeyState) -> &mut KeyState {
        // One lookup for a key already kept, the common case.
        if self.keys.len() >= self.max_keys && !self.keys.contains(&key) {
            self.keys.pop_lru();
            self.evicted += 1;
        }
        self.keys.get_or_insert_mut(key, fresh)
    }

    /// `window_count`: events with this key in the window, the current one included.
    pub fn count(&mut self, key: u64, t: i64) -> i64 {
        let b = t.div_euclid(self.bucket_ms);
        let fresh = || KeyState::Counts { head: b, counts: [0; BUCKETS], total: 0 };
        let KeyState::Counts { head, counts, total } = self.entry(key, fresh) else {
            return 0;
        };
        // The buckets passed over leave the total; an event older than the ring is not stored,
        // and its window holds only itself.
        let Some(slot) = advance(head, b, counts, 0, |cleared| *total -= u64::from(cleared)) else {
            return 1;
        };
        let slot = &mut counts[slot];
        if *slot < u32::MAX {
            *slot += 1;
            *total += 1;
        }
        if b == *head {
            // The window is the whole ring: no need to add it up.
            return *total as i64;
        }
        // Out of order: the window ends with the event's own bucket.
        window(*head, b).map(|i| i64::from(counts[slot_of(i)])).sum()
    }

    /// `window_sum`: the sum of the amounts with this key in the window, the current one included.
    pub fn sum(&mut self, key: u64, amount: f64, t: i64) -> f64 {
        let b = t.div_euclid(self.bucket_ms);
        let KeyState::Sums { head, sums } = self.entry(key, || KeyState::Sums { head: b, sums: [0.0; BUCKETS] }) else {
            return 0.0;
        };
        let unstored = match advance(head, b, sums, 0.0, drop) {
            Some(slot) => {
                sums[slot] += amount;
                0.0
            }
            None => amount,
        };
        unstored + window(*head, b).map(|i| sums[slot_of(i)]).sum::<f64>()
    }

    /// `seen`: whether this key occurred earlier within the window.
    pub fn seen(&mut self, key: u64, t: i64) -> bool {
        let b = t.div_euclid(self.bucket_ms);
        let KeyState::Seen { head, occupied } = self.entry(key, || KeyState::Seen { head: b, occupied: 0 }) else {
            return false;
        };
        let Some(bit) = shift_to(head, b, std::slice::from_mut(occupied)) else { return false };
        // Earlier events of the window: its own bucket and the older ones the ring holds.
        let hit = *occupied >> bit != 0;
        *occupied |= 1 << bit;
        hit
    }

    /// `window_distinct`: distinct values seen with this key in the window, the current one
    /// included; exact up to [`EXACT_DISTINCT`] values in the ring, estimated above.
    pub fn distinct(&mut self, key: u64, value: u64, t: i64) -> i64 {
        let b = t.div_euclid(self.bucket_ms);
        let state = self.entry(key, || KeyState::Exact { head: b, values: HashMap::new() });
        if let KeyState::Exact { head, values } = state {
            let before = *head;
            let Some(bit) = shift_to(head, b, &mut []) else { return 1 };
            if *head != before {
                values.retain(|_, mask| {
                    *mask = shifted(*mask, *head - before);
                    *mask != 0
                });
            }
            *values.entry(value).or_insert(0) |= 1 << bit;
            if values.len() <= EXACT_DISTINCT {
                return if bit == 0 {
                    values.len() as i64
                } else {
                    values.values().filter(|&&mask| mask >> bit != 0).count() as i64
                };
            }
            // Too many to count exactly: move every value into a sketch by its buckets.
            let head = *head;
            let mut sketch = Box::new(Sketch::new(head));
            for (&v, &mask) in values.iter() {
                for i in (0..BUCKETS as i64).filter(|i| mask >> i & 1 == 1) {
                    sketch.insert(v, head - i);
                }
            }
            *state = KeyState::Sketch(sketch);
        }
        let KeyState::Sketch(sketch) = state else { return 0 };
        sketch.add(value, b).unwrap_or(1)
    }
}

/// The bits of a ring of `BUCKETS` buckets as a mask (bit `i`: `i` buckets before the head).
const RING_MASK: u32 = (1 << BUCKETS) - 1;

/// Moves a ring kept as masks (see [`KeyState::Seen`]) forward to bucket `b`, and returns the
/// bit of bucket `b`, or `None` when `b` is older than the ring.
fn shift_to(head: &mut i64, b: i64, masks: &mut [u32]) -> Option<u32> {
    if b > *head {
        for m in masks.iter_mut() {
            *m = shifted(*m, b - *head);
        }
        *head = b;
    } else if *head - b >= BUCKETS as i64 {
        return None;
    }
    Some((*head - b) as u32)
}

/// A ring's mask after the head moved `by` buckets on.
fn shifted(mask: u32, by: i64) -> u32 {
    mask.checked_shl(by.min(32) as u32).unwrap_or(0) & RING_MASK
}

pub(crate) fn slot_of(bucket: i64) -> usize {
    bucket.rem_euclid(BUCKETS as i64) as usize
}

/// Moves the ring forward to bucket `b` (clearing the buckets it passes, each handed to
/// `cleared` first) and returns the slot where bucket `b` lives, or `None` when `b` is older
/// than the ring.
fn advance<T: Copy>(head: &mut i64, b: i64, ring: &mut [T], zero: T, mut cleared: impl FnMut(T)) -> Option<usize> {
    if b > *head {
        let steps = (b - *head).min(BUCKETS as i64);
        for i in 0..steps {
            let slot = &mut ring[slot_of(b - i)];
            cleared(*slot);
            *slot = zero;
        }
        *head = b;
    } else if *head - b >= BUCKETS as i64 {
        return None;
    }
    Some(slot_of(b))
}

/// The buckets of the window that ends with bucket `b`, limited to those the ring still holds.
pub(crate) fn window(head: i64, b: i64) -> impl Iterator<Item = i64> {
    let newest = b.min(head);
    let oldest = (b - BUCKETS as i64 + 1).max(head - BUCKETS as i64 + 1);
    oldest..=newest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_slide_with_time() {
        let mut s = Site::new(Kind::Count, 60_000, 100);
        assert_eq!(s.count(1, 0), 1);
        assert_eq!(s.count(1, 10_000), 2);
        assert_eq!(s.count(1, 30_000), 3);
        assert_eq!(s.count(2, 30_500), 1);
        assert_eq!(s.count(1, 65_000), 3); // the event at 0 has left the window
        assert_eq!(s.count(1, 200_000), 1);
        assert_eq!(s.count(1, 10), 1); // older than the ring: sees only itself
    }

    /// `count` as it was before it kept a running total: stored in the ring, then the window
    /// added up, always.
    struct Reference {
        head: i64,
        counts: [u32; BUCKETS],
    }

    impl Reference {
        fn count(&mut self, b: i64) -> i64 {
            let unstored = match advance(&mut self.head, b, &mut self.counts, 0, drop) {
                Some(slot) => {
                    self.counts[slot] = self.counts[slot].saturating_add(1);
                    0
                }
                None => 1,
            };
            unstored + window(self.head, b).map(|i| i64::from(self.counts[slot_of(i)])).sum::<i64>()
        }
    }

    proptest::proptest! {
        #[test]
        fn counts_agree_with_adding_up_the_window(
            steps in proptest::collection::vec((0u64..3, -70_000i64..70_000, proptest::bool::weighted(0.05)), 0..300),
        ) {
            let mut site = Site::new(Kind::Count, 60_000, 100);
            let mut reference: Vec<Option<Reference>> = (0..3).map(|_| None).collect();
            let mut t = 1_000_000i64;
            for (key, dt, jump) in steps {
                // Mostly forward in small steps, sometimes back (out of order), sometimes far.
                t += if jump { dt * 100 } else { dt / 10 };
                let b = t.div_euclid(site.bucket_ms);
                let r = reference[key as usize].get_or_insert(Reference { head: b, counts: [0; BUCKETS] });
                proptest::prop_assert_eq!(site.count(key, t), r.count(b), "key {} at {}", key, t);
            }
        }
    }

    /// The rule of the module doc, kept naively: every event of a key with its bucket, whether
    /// it was stored (its bucket within the ring of its key when it came), and its value.
    #[derive(Default)]
    struct Model {
        events: Vec<(i64, bool, u64, f64)>,
        head: Option<i64>,
    }

    impl Model {
        /// The stored earlier events in the window of bucket `b`, then whether this one is
        /// stored; the event itself is added.
        fn add(&mut self, b: i64, value: u64, amount: f64) -> (Vec<(u64, f64)>, bool) {
            let head = self.head.map_or(b, |h| h.max(b));
            self.head = Some(head);
            let stored = head - b < BUCKETS as i64;
            let oldest = (b - BUCKETS as i64 + 1).max(head - BUCKETS as i64 + 1);
            let earlier = self
                .events
                .iter()
                .filter(|(eb, kept, ..)| *kept && (oldest..=b).contains(eb))
                .map(|&(_, _, v, a)| (v, a))
                .collect();
            self.events.push((b, stored, value, amount));
            (earlier, stored)
        }
    }

    proptest::proptest! {
        /// Events in and out of order: count, sum, distinct and seen each answer by the one
        /// rule, as the model computes it.
        #[test]
        fn the_four_builtins_follow_one_rule(
            steps in proptest::collection::vec((0u64..2, -70_000i64..70_000, proptest::bool::weighted(0.1), 0u64..6), 0..200),
        ) {
            let window = 60_000;
            let mut sites = [Kind::Count, Kind::Sum, Kind::Distinct, Kind::Seen].map(|k| Site::new(k, window, 100));
            let bucket_ms = sites[0].bucket_ms;
            let mut models: [Model; 2] = Default::default();
            let mut t = 1_000_000i64;
            for (key, dt, jump, value) in steps {
                t += if jump { dt * 5 } else { dt / 20 };
                let amount = value as f64 + 0.5;
                let (earlier, stored) = models[key as usize].add(t.div_euclid(bucket_ms), value, amount);
                let count = earlier.len() as i64 + 1;
                let sum: f64 = earlier.iter().map(|(_, a)| a).sum::<f64>() + amount;
                let mut values: Vec<u64> = earlier.iter().map(|(v, _)| *v).collect();
                values.push(value);
                values.sort_unstable();
                values.dedup();
                proptest::prop_assert_eq!(sites[0].count(key, t), count, "count, key {} at {} (stored: {})", key, t, stored);
                proptest::prop_assert!((sites[1].sum(key, amount, t) - sum).abs() < 1e-6, "sum at {}", t);
                proptest::prop_assert_eq!(sites[2].distinct(key, value, t), values.len() as i64, "distinct at {}", t);
                proptest::prop_assert_eq!(sites[3].seen(key, t), !earlier.is_empty(), "seen at {}", t);
            }
        }
    }

    /// The late events of the issue that defined the rule: at t = 0, 10, 5, 100, 0, 101 s.
    #[test]
    fn late_events() {
        let mut sites = [Kind::Count, Kind::Distinct, Kind::Seen].map(|k| Site::new(k, 60_000, 10));
        let answers: Vec<(i64, i64, bool)> = [0, 10, 5, 100, 0, 101]
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let t = s * 1_000;
                (sites[0].count(1, t), sites[1].distinct(1, i as u64, t), sites[2].seen(1, t))
            })
            .collect();
        // At 5 s the window holds 0 s, not 10 s (later than it); the second event at 0 s is
        // older than the minute kept before 100 s: alone.
        assert_eq!(answers, [(1, 1, false), (2, 2, true), (2, 2, true), (1, 1, false), (1, 1, false), (2, 2, true)]);
    }

    #[test]
    fn sums_and_seen() {
        let mut s = Site::new(Kind::Sum, 1_000, 10);
        assert_eq!(s.sum(7, 1.5, 0), 1.5);
        assert_eq!(s.sum(7, 2.0, 500), 3.5);
        assert_eq!(s.sum(7, 1.0, 1_600), 1.0);
        let mut d = Site::new(Kind::Seen, 3_600_000, 10);
        assert!(!d.seen(1, 20_000));
        assert!(d.seen(1, 70_000));
        assert!(!d.seen(1, 70_000 + 3_600_000));
    }

    #[test]
    fn distinct_is_exact_then_estimated() {
        let mut s = Site::new(Kind::Distinct, 60_000, 10);
        assert_eq!(s.distinct(1, 10, 0), 1);
        assert_eq!(s.distinct(1, 10, 1), 1);
        assert_eq!(s.distinct(1, 11, 2), 2);
        assert_eq!(s.distinct(1, 12, 61_000), 1);
        // Past the exact range, within 2% (it used to be off by up to 18%).
        let mut n = 0;
        for v in 0..100_000u64 {
            n = s.distinct(2, v, 100 + v as i64 / 10);
        }
        assert!((98_000..102_000).contains(&n), "estimate {n}");
        assert_eq!(s.distinct(3, 1, 0), 1);
    }

    #[test]
    fn keys_are_capped_and_evictions_counted() {
        let mut s = Site::new(Kind::Count, 1_000, 2);
        s.count(1, 0);
        s.count(2, 0);
        s.count(3, 0);
        assert_eq!(s.len(), 2);
        assert_eq!(s.evicted(), 1);
        assert_eq!(s.count(1, 1), 1); // key 1 was the least recently seen
    }
}
