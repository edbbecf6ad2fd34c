//! Which input offsets may be committed: an offset is committed only once every output of its
//! message, and of every earlier message of its partition, has been acknowledged by the broker.
//!
//! Per partition, messages are begun in offset order (one worker owns a partition); outputs
//! are acknowledged in any order, possibly before their message is finished. A partition's
//! state belongs to one *generation* of its assignment: when the partition is revoked and
//! assigned again, acknowledgements of the old generation no longer count.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// A partition of a topic, by the topic's index among the subscribed topics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tp {
    pub topic: u32,
    pub partition: i32,
}

/// An output in flight: the message it belongs to.
#[derive(Clone, Copy, Debug)]
pub struct Token {
    pub tp: Tp,
    pub generation: u64,
    pub offset: i64,
}

#[derive(Debug)]
struct Message {
    offset: i64,
    /// Outputs sent minus acknowledged; only meaningful once `finished`.
    pending: i64,
    finished: bool,
}

#[derive(Debug)]
struct Partition {
    generation: u64,
    /// Messages begun and not yet committable, in offset order.
    open: VecDeque<Message>,
    /// The next offset to commit (one past the last committable message), if any moved.
    committable: Option<i64>,
    /// What was last handed out for committing.
    committed: Option<i64>,
}

impl Partition {
    /// Moves `committable` past every finished and acknowledged message at the front.
    fn advance(&mut self) -> bool {
        let mut moved = false;
        while let Some(m) = self.open.front() {
            if !(m.finished && m.pending == 0) {
                break;
            }
            self.committable = Some(m.offset + 1);
            self.open.pop_front();
            moved = true;
        }
        moved
    }
}

/// Every assigned partition's messages in flight. Shared by the workers (begin, finish), the
/// producer's delivery callback (acknowledge) and the consumer (commit).
#[derive(Default)]
pub struct Offsets {
    partitions: Mutex<HashMap<Tp, Partition>>,
    /// Signalled whenever a partition advances, for a revocation waiting to drain.
    advanced: Condvar,
}

impl Offsets {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Tp, Partition>> {
        // A poisoned lock means a thread panicked while holding it; the map itself is whole.
        self.partitions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The partition is (again) ours, in a new generation.
    pub fn assign(&self, tp: Tp, generation: u64) {
        let fresh = Partition { generation, open: VecDeque::new(), committable: None, committed: None };
        self.lock().insert(tp, fresh);
    }

    /// The partition is no longer ours: its state is dropped, late acknowledgements ignored.
    pub fn revoke(&self, tp: Tp) {
        self.lock().remove(&tp);
    }

    /// A worker starts on a message; false when its generation is over (skip the message).
    pub fn begin(&self, token: Token) -> bool {
        let mut map = self.lock();
        match map.get_mut(&token.tp) {
            Some(p) if p.generation == token.generation => {
                p.open.push_back(Message { offset: token.offset, pending: 0, finished: false });
                true
            }
            _ => false,
        }
    }

    /// A worker is done with a message, having sent `sent` outputs.
    pub fn finish(&self, token: Token, sent: u64) {
        self.update(token, |m| {
            m.pending += sent as i64;
            m.finished = true;
        });
    }

    /// The broker acknowledged one output of a message.
    pub fn acknowledge(&self, token: Token) {
        self.update(token, |m| m.pending -= 1);
    }

    fn update(&self, token: Token, f: impl FnOnce(&mut Message)) {
        let mut map = self.lock();
        let Some(p) = map.get_mut(&token.tp).filter(|p| p.generation == token.generation) else { return };
        // Messages are few per partition in flight (bounded queues), so a scan is cheap.
        if let Some(m) = p.open.iter_mut().find(|m| m.offset == token.offset) {
            f(m);
        }
        if p.advance() {
            self.advanced.notify_all();
        }
    }

    /// Offsets that moved since the last call: (partition, next offset to read).
    pub fn to_commit(&self, only: Option<&[Tp]>) -> Vec<(Tp, i64)> {
        let mut map = self.lock();
        let mut out = Vec::new();
        for (tp, p) in map.iter_mut() {
            if only.is_some_and(|o| !o.contains(tp)) {
                continue;
            }
            if let Some(c) = p.committable
                && p.committed != Some(c)
            {
                p.committed = Some(c);
                out.push((*tp, c));
            }
        }
        out.sort();
        out
    }

    /// Waits until no message of `tps` is in flight, or `timeout` passes; whether they drained.
    pub fn drain(&self, tps: &[Tp], timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut map = self.lock();
        loop {
            let busy = tps.iter().any(|tp| map.get(tp).is_some_and(|p| !p.open.is_empty()));
            if !busy {
                return true;
            }
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            map = match self.advanced.wait_timeout(map, deadline - now) {
                Ok((m, _)) => m,
                Err(p) => p.into_inner().0,
            };
        }
    }

    /// Messages in flight over all partitions.
    pub fn in_flight(&self) -> usize {
        self.lock().values().map(|p| p.open.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TP: Tp = Tp { topic: 0, partition: 3 };

    fn token(offset: i64) -> Token {
        Token { tp: TP, generation: 1, offset }
    }

    #[test]
    fn commits_only_the_acknowledged_prefix() {
        let o = Offsets::default();
        o.assign(TP, 1);
        for off in 10..13 {
            assert!(o.begin(token(off)));
        }
        // Message 11 has no outputs; 10 and 12 one each, acknowledged out of order.
        o.finish(token(11), 0);
        o.acknowledge(token(12));
        o.finish(token(12), 1);
        assert_eq!(o.to_commit(None), vec![], "10 is still in flight");
        o.finish(token(10), 1);
        assert_eq!(o.to_commit(None), vec![]);
        o.acknowledge(token(10));
        assert_eq!(o.to_commit(None), vec![(TP, 13)]);
        assert_eq!(o.to_commit(None), vec![], "nothing moved since");
        assert!(o.drain(&[TP], Duration::ZERO));
    }

    #[test]
    fn an_old_generation_counts_for_nothing() {
        let o = Offsets::default();
        o.assign(TP, 1);
        assert!(o.begin(token(5)));
        o.revoke(TP);
        o.assign(TP, 2);
        o.finish(token(5), 0);
        assert_eq!(o.to_commit(None), vec![]);
        assert!(!o.begin(token(6)), "a message of generation 1 is skipped");
        assert!(o.begin(Token { generation: 2, ..token(6) }));
        assert!(!o.drain(&[TP], Duration::from_millis(1)));
    }
}
