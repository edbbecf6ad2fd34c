//! What each unit did, counted by the executor that ran it: evaluations, hits (a drop that
//! held, a score that came to something other than 0, a rule that asked for outputs), runtime
//! errors by code, and evaluation times. An executor counts in plain integers of its own (no
//! atomic per evaluation); a host takes the counts now and then ([`Executor::take_stats`]) and
//! adds them up by unit name in [`UnitTotals`], which is what its metrics report.
//!
//! Times are measured on one event in [`TIMED_EVERY`]: reading the clock around every unit of
//! every event would cost as much as evaluating the units.
//!
//! [`Executor::take_stats`]: crate::executor::Executor::take_stats

use std::collections::BTreeMap;
use std::sync::Arc;

use evr_stdlib::RuntimeError;

/// One event in this many has its units timed.
pub const TIMED_EVERY: u64 = 64;

/// Upper bounds of the evaluation-time buckets, in nanoseconds (a last bucket holds the rest).
pub const TIME_BUCKETS_NS: [u64; 10] = [100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 100_000, 1_000_000];

/// Error codes are `RuntimeError::code()`, small numbers; this many have a counter each.
const CODES: usize = 8;

/// The counts of one unit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UnitStats {
    pub evaluations: u64,
    pub hits: u64,
    /// By `RuntimeError::code()`.
    pub errors: [u64; CODES],
    /// Timed evaluations by bucket of [`TIME_BUCKETS_NS`], then those slower than its last.
    pub times: [u64; TIME_BUCKETS_NS.len() + 1],
    pub time_sum_ns: u64,
}

impl UnitStats {
    pub(crate) fn error(&mut self, e: RuntimeError) {
        self.errors[(e.code() as usize).min(CODES - 1)] += 1;
    }

    pub(crate) fn time(&mut self, ns: u64) {
        let bucket = TIME_BUCKETS_NS.iter().position(|&b| ns <= b).unwrap_or(TIME_BUCKETS_NS.len());
        self.times[bucket] += 1;
        self.time_sum_ns += ns;
    }

    pub fn is_empty(&self) -> bool {
        self.evaluations == 0
    }

    pub fn timed(&self) -> u64 {
        self.times.iter().sum()
    }

    /// Errors with their code, those that happened.
    pub fn errors(&self) -> impl Iterator<Item = (RuntimeError, u64)> + '_ {
        self.errors
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .filter_map(|(code, n)| Some((RuntimeError::from_code(code as u32)?, *n)))
    }

    fn add(&mut self, other: &UnitStats) {
        self.evaluations += other.evaluations;
        self.hits += other.hits;
        self.errors.iter_mut().zip(&other.errors).for_each(|(a, b)| *a += b);
        self.times.iter_mut().zip(&other.times).for_each(|(a, b)| *a += b);
        self.time_sum_ns += other.time_sum_ns;
    }
}

/// Counts added up by unit name, across executors and versions: a unit keeps its counts while
/// it keeps its name.
#[derive(Clone, Debug, Default)]
pub struct UnitTotals {
    pub by_unit: BTreeMap<Arc<str>, UnitStats>,
}

impl UnitTotals {
    pub fn add(&mut self, unit: &Arc<str>, stats: &UnitStats) {
        match self.by_unit.get_mut(unit) {
            Some(total) => total.add(stats),
            None => {
                self.by_unit.insert(unit.clone(), stats.clone());
            }
        }
    }
}

/// Where executors count what their units do: one per host thread (a worker runs many
/// executors, and a count per unit per executor would cost a partition-heavy host gigabytes),
/// lent to an executor for a call ([`Executor::counting`]). It counts by place in the unit table
/// of the version it last saw; when an executor of another version uses it, what it holds is
/// first added to its totals by name.
///
/// [`Executor::counting`]: crate::executor::Executor::counting
#[derive(Debug, Default)]
pub struct UnitCounts {
    /// Whether counting is on: an executor that was lent none counts nothing.
    pub(crate) on: bool,
    /// The version `stats` counts for (its address and number), and its units' names.
    seen: Option<(usize, u64)>,
    names: Vec<Arc<str>>,
    stats: Vec<UnitStats>,
    /// Events seen, to time one in [`TIMED_EVERY`].
    events: u64,
    totals: UnitTotals,
}

impl UnitCounts {
    pub fn new() -> UnitCounts {
        UnitCounts { on: true, ..UnitCounts::default() }
    }

    /// Starts an event of `loaded`; whether its units are timed.
    pub(crate) fn event(&mut self, loaded: &crate::loaded::Loaded) -> bool {
        let version = (loaded as *const crate::loaded::Loaded as usize, loaded.version());
        if self.seen != Some(version) {
            self.settle();
            self.seen = Some(version);
            self.names = loaded.units().iter().map(|u| u.name.clone()).collect();
            self.stats = vec![UnitStats::default(); self.names.len()];
        }
        self.events += 1;
        self.events.is_multiple_of(TIMED_EVERY)
    }

    pub(crate) fn unit(&mut self, u: usize) -> Option<&mut UnitStats> {
        self.stats.get_mut(u)
    }

    /// Adds what is counted by place to the totals by name.
    fn settle(&mut self) {
        for (name, s) in self.names.iter().zip(&mut self.stats) {
            if !s.is_empty() {
                self.totals.add(name, s);
                *s = UnitStats::default();
            }
        }
    }

    /// Everything counted since the last call, by unit name; counting starts again from zero.
    pub fn take(&mut self) -> UnitTotals {
        self.settle();
        std::mem::take(&mut self.totals)
    }
}

impl UnitTotals {
    /// Adds every unit's counts of `other`.
    pub fn merge(&mut self, other: &UnitTotals) {
        for (name, s) in &other.by_unit {
            self.add(name, s);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_fall_in_their_buckets_and_totals_add_up() {
        let mut s = UnitStats::default();
        for ns in [50, 100, 101, 999_999, 5_000_000] {
            s.time(ns);
        }
        assert_eq!(s.times[0], 2, "up to 100 ns");
        assert_eq!(s.times[1], 1);
        assert_eq!(s.times[TIME_BUCKETS_NS.len() - 1], 1, "up to 1 ms");
        assert_eq!(s.times[TIME_BUCKETS_NS.len()], 1, "slower than the last bound");
        s.error(RuntimeError::DivisionByZero);
        s.evaluations = 3;
        let mut totals = UnitTotals::default();
        let name: Arc<str> = "r".into();
        totals.add(&name, &s);
        totals.add(&name, &s);
        let t = &totals.by_unit[&name];
        assert_eq!((t.evaluations, t.timed(), t.time_sum_ns), (6, 10, 2 * (50 + 100 + 101 + 999_999 + 5_000_000)));
        assert_eq!(t.errors().collect::<Vec<_>>(), vec![(RuntimeError::DivisionByZero, 2)]);
    }
}
