//! The Kafka host: one consumer in a consumer group, one executor per assigned partition on a
//! fixed pool of workers, one idempotent producer, and offsets committed at least once.
//!
//! The consumer thread polls, hands each message to the worker that owns its partition
//! (partition order is kept: one worker per partition) and commits what [`Offsets`] says may
//! be committed. Each worker has a bounded queue; when it is full, the message waits in its
//! partition's backlog and the partition is paused until the backlog is handed over, so a slow
//! sink slows consumption instead of growing memory, and the consumer keeps polling (the group
//! keeps it as a member, rebalances are served, other workers' partitions keep flowing). A worker evaluates the message with its partition's executor, which follows
//! reloads between messages, and sends the outputs. The producer's delivery callback
//! acknowledges them; a failed delivery is sent again after a back-off, never dropped, and a
//! producer whose deliveries keep failing is made again ([`Producers`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, Sender, SyncSender, TrySendError, channel, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use evr_compiler::ir::SourceId;
use evr_runtime::executor::Executor;
use evr_runtime::live::Live;
use evr_runtime::sink::{Envelope, Key, Outputs, SinkRef};
use evr_runtime::stats::{UnitCounts, UnitTotals};
use rdkafka::client::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{Offset, TopicPartitionList};

use crate::offsets::{Offsets, Token, Tp};
use crate::settings::Settings;

/// The header every output carries: the bundle version that made it.
pub const VERSION_HEADER: &str = "evr-version";

/// How long a revocation or a stop waits for outputs in flight.
const DRAIN: Duration = Duration::from_secs(30);
const COMMIT_EVERY: Duration = Duration::from_millis(200);
/// How often a worker adds what it counted to the run's [`Tally`].
pub const TALLY_EVERY: Duration = Duration::from_millis(500);

/// What a run did, for its summary.
#[derive(Debug, Default)]
pub struct Counters {
    pub events: AtomicU64,
    pub outputs: AtomicU64,
    pub dirty: AtomicU64,
    pub dropped: AtomicU64,
    /// Deliveries that failed and were sent again.
    pub resent: AtomicU64,
    pub commits: AtomicU64,
    /// Times a partition was paused because its worker's queue was full.
    pub pauses: AtomicU64,
    /// The last offset committed by topic and partition (an asynchronous commit counts when
    /// it is handed to librdkafka).
    committed: Mutex<BTreeMap<(String, i32), i64>>,
    /// Messages behind the end of each partition, as librdkafka's statistics last said.
    lag: Mutex<BTreeMap<(String, i32), i64>>,
    /// What workers counted, added up every [`TALLY_EVERY`].
    tally: Mutex<Tally>,
}

/// What the workers counted by name: per unit, per sink, per dirty reason.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub units: UnitTotals,
    /// Outputs sent, by sink name.
    pub sink_outputs: BTreeMap<String, u64>,
    /// Outputs `@shadow` rules would have sent, by sink name.
    pub shadow_outputs: BTreeMap<String, u64>,
    /// Dirty records by reason: `undecodable` (the event did not decode), `unit_failed` (a
    /// drop, score or rule failed on it), `no_source` (the live version lost its source).
    pub dirty: BTreeMap<&'static str, u64>,
}

impl Tally {
    fn merge(&mut self, other: &Tally) {
        self.units.merge(&other.units);
        let add = |to: &mut BTreeMap<String, u64>, from: &BTreeMap<String, u64>| {
            for (k, v) in from {
                *to.entry(k.clone()).or_default() += v;
            }
        };
        add(&mut self.sink_outputs, &other.sink_outputs);
        add(&mut self.shadow_outputs, &other.shadow_outputs);
        for (k, v) in &other.dirty {
            *self.dirty.entry(k).or_default() += v;
        }
    }
}

impl Counters {
    pub fn committed(&self) -> Vec<((String, i32), i64)> {
        let map = self.committed.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    pub fn lag(&self) -> Vec<((String, i32), i64)> {
        let map = self.lag.lock().unwrap_or_else(|p| p.into_inner());
        map.iter().map(|(k, v)| (k.clone(), *v)).collect()
    }

    /// What the workers counted, up to their last tally (at most [`TALLY_EVERY`] ago).
    pub fn tally(&self) -> Tally {
        self.tally.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// What workers, callbacks and the consumer share.
struct Shared {
    offsets: Offsets,
    counters: Arc<Counters>,
    /// Subscribed topics by index, with the source each one feeds.
    topics: Vec<String>,
    sources: Vec<String>,
    settings: Settings,
    stop: Arc<AtomicBool>,
    /// The generation of each assigned partition.
    generations: Mutex<HashMap<Tp, u64>>,
    next_generation: AtomicU64,
}

impl Shared {
    fn tps(&self, list: &TopicPartitionList) -> Vec<Tp> {
        list.elements()
            .iter()
            .filter_map(|e| {
                let topic = self.topics.iter().position(|t| t == e.topic())?;
                Some(Tp { topic: topic as u32, partition: e.partition() })
            })
            .collect()
    }

    fn generation(&self, tp: Tp) -> Option<u64> {
        self.generations.lock().unwrap_or_else(|p| p.into_inner()).get(&tp).copied()
    }
}

/// A delivery that failed, to send again.
struct Resend {
    topic: String,
    key: Option<Vec<u8>>,
    payload: Vec<u8>,
    headers: Option<OwnedHeaders>,
    token: Token,
    attempt: u32,
}

struct Delivery {
    shared: Arc<Shared>,
    resend: Mutex<Sender<Resend>>,
}

impl ClientContext for Delivery {}

impl ProducerContext for Delivery {
    type DeliveryOpaque = Box<(Token, u32)>;

    fn delivery(&self, result: &DeliveryResult<'_>, opaque: Box<(Token, u32)>) {
        let (token, attempt) = *opaque;
        match result {
            Ok(_) => self.shared.offsets.acknowledge(token),
            Err((e, m)) => {
                if attempt == 0 || attempt.is_power_of_two() {
                    tracing::warn!(topic = m.topic(), attempt, error = %e, "delivery failed; sending it again");
                }
                let again = Resend {
                    topic: m.topic().to_owned(),
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().unwrap_or_default().to_vec(),
                    headers: m.headers().map(|h| h.detach()),
                    token,
                    attempt: attempt + 1,
                };
                let _ = self.resend.lock().unwrap_or_else(|p| p.into_inner()).send(again);
            }
        }
    }
}

type Produce = ThreadedProducer<Delivery>;

/// A delivery that failed this many times running means a stalled producer.
const STALLED: u32 = 2;
/// A stalled producer is made again at most this often.
const RENEW_EVERY: Duration = Duration::from_secs(30);

/// The idempotent producer, made again when it stalls. A broker that comes back without the
/// producer's state (restarted from memory) may never complete its deliveries: they time out
/// and, sent again, time out again. Then the resender makes a new producer (a new producer id)
/// and everything is sent through it; what the old one still holds times out and is sent again.
struct Producers {
    current: ArcSwap<Produce>,
    make: Box<dyn Fn() -> Result<Produce, String> + Send + Sync>,
    renewed: Mutex<Instant>,
}

impl Producers {
    fn current(&self) -> arc_swap::Guard<Arc<Produce>> {
        self.current.load()
    }

    /// Makes a new producer unless one was made less than [`RENEW_EVERY`] ago.
    fn renew(&self) {
        let mut renewed = self.renewed.lock().unwrap_or_else(|p| p.into_inner());
        if renewed.elapsed() < RENEW_EVERY {
            return;
        }
        *renewed = Instant::now();
        match (self.make)() {
            Ok(p) => {
                tracing::warn!("deliveries keep failing: the producer is made again");
                let old = self.current.swap(Arc::new(p));
                // Letting go of a producer waits for what it still holds: not on this thread.
                std::thread::spawn(move || drop(old));
            }
            Err(e) => tracing::warn!(error = %e, "the producer could not be made again"),
        }
    }
}

struct Group {
    shared: Arc<Shared>,
    producers: Arc<Producers>,
}

impl ClientContext for Group {
    /// librdkafka's statistics (every `statistics.interval.ms`): the lag of each partition.
    fn stats(&self, statistics: rdkafka::Statistics) {
        let mut lag = self.shared.counters.lag.lock().unwrap_or_else(|p| p.into_inner());
        for (topic, t) in &statistics.topics {
            for (&partition, p) in &t.partitions {
                // Partition -1 is librdkafka's own; a lag of -1 is not known yet.
                if partition >= 0 && p.consumer_lag >= 0 {
                    lag.insert((topic.clone(), partition), p.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for Group {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        let Rebalance::Revoke(list) = rebalance else { return };
        let tps = self.shared.tps(list);
        // Outputs of the revoked partitions are delivered and their offsets committed before
        // they go; messages still queued for them are skipped (their generation ends here).
        {
            let mut generations = self.shared.generations.lock().unwrap_or_else(|p| p.into_inner());
            for tp in &tps {
                generations.remove(tp);
            }
        }
        let _ = self.producers.current().flush(DRAIN);
        if !self.shared.offsets.drain(&tps, DRAIN) {
            tracing::warn!(
                partitions = tps.len(),
                "revoked partitions still had outputs in flight; they will be read again"
            );
        }
        commit(consumer, &self.shared, Some(&tps), CommitMode::Sync);
        for tp in &tps {
            self.shared.offsets.revoke(*tp);
        }
        tracing::info!(partitions = tps.len(), "partitions revoked, their outputs delivered and offsets committed");
    }

    fn post_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(list) => {
                // librdkafka keeps a partition paused across assignments: one paused when it
                // was revoked starts afresh (resuming one not paused changes nothing).
                if let Err(e) = consumer.resume(list) {
                    tracing::debug!(error = %e, "resuming assigned partitions failed");
                }
                let tps = self.shared.tps(list);
                tracing::info!(partitions = tps.len(), "partitions assigned");
                let mut generations = self.shared.generations.lock().unwrap_or_else(|p| p.into_inner());
                for tp in tps {
                    let g = self.shared.next_generation.fetch_add(1, Ordering::Relaxed);
                    generations.insert(tp, g);
                    self.shared.offsets.assign(tp, g);
                }
            }
            Rebalance::Error(e) => tracing::error!(error = %e, "rebalance failed"),
            Rebalance::Revoke(_) => {}
        }
    }
}

fn commit<C: ConsumerContext>(consumer: &BaseConsumer<C>, shared: &Shared, only: Option<&[Tp]>, mode: CommitMode) {
    let ready = shared.offsets.to_commit(only);
    if ready.is_empty() {
        return;
    }
    let mut list = TopicPartitionList::new();
    for (tp, next) in &ready {
        let _ = list.add_partition_offset(&shared.topics[tp.topic as usize], tp.partition, Offset::Offset(*next));
    }
    match consumer.commit(&list, mode) {
        Ok(()) => {
            shared.counters.commits.fetch_add(1, Ordering::Relaxed);
            let mut committed = shared.counters.committed.lock().unwrap_or_else(|p| p.into_inner());
            for (tp, next) in ready {
                committed.insert((shared.topics[tp.topic as usize].clone(), tp.partition), next);
            }
        }
        Err(e) => tracing::warn!(error = %e, "commit failed; it is tried again with the next one"),
    }
}

/// One message, owned, on its way to a worker.
struct Job {
    token: Token,
    key: Option<Vec<u8>>,
    headers: Vec<(String, Vec<u8>)>,
    time_ms: i64,
    payload: Vec<u8>,
}

impl Job {
    fn of(m: &BorrowedMessage<'_>, token: Token) -> Job {
        let headers = m
            .headers()
            .map(|h| h.iter().map(|h| (h.key.to_owned(), h.value.unwrap_or_default().to_vec())).collect())
            .unwrap_or_default();
        Job {
            token,
            key: m.key().map(<[u8]>::to_vec),
            headers,
            time_ms: m.timestamp().to_millis().unwrap_or_else(evr_stdlib::time::now_ms),
            payload: m.payload().unwrap_or_default().to_vec(),
        }
    }
}

/// Runs `live` over the source topics until `stop` is raised, then drains and commits.
/// `counters` are updated as it goes (for metrics) and hold the totals at the end.
pub fn run(live: Arc<Live>, settings: Settings, stop: Arc<AtomicBool>, counters: Arc<Counters>) -> Result<(), String> {
    let sources: Vec<String> = live.current().program().sources.iter().map(|s| s.name.clone()).collect();
    if sources.is_empty() {
        return Err("the bundle declares no source".to_owned());
    }
    let topics: Vec<String> = sources.iter().map(|s| settings.source_topic(s)).collect();
    let shared = Arc::new(Shared {
        offsets: Offsets::default(),
        counters: counters.clone(),
        topics: topics.clone(),
        sources,
        settings: settings.clone(),
        stop: stop.clone(),
        generations: Mutex::new(HashMap::new()),
        next_generation: AtomicU64::new(1),
    });
    let (resend_tx, resend_rx) = channel::<Resend>();
    let make = {
        let (settings, shared) = (settings.clone(), shared.clone());
        move || -> Result<Produce, String> {
            config(
                &settings,
                &[
                    ("enable.idempotence", "true"),
                    // A delivery not acknowledged within this fails, and is sent again after a
                    // back-off (`resend`): it is never dropped.
                    ("message.timeout.ms", "10000"),
                    ("linger.ms", "5"),
                ],
            )
            .create_with_context(Delivery { shared: shared.clone(), resend: Mutex::new(resend_tx.clone()) })
            .map_err(|e| format!("cannot make the producer: {e}"))
        }
    };
    let producers = Arc::new(Producers {
        current: ArcSwap::from_pointee(make()?),
        make: Box::new(make),
        renewed: Mutex::new(Instant::now()),
    });
    let consumer: BaseConsumer<Group> = config(
        &settings,
        &[
            ("group.id", settings.group.as_str()),
            ("enable.auto.commit", "false"),
            ("auto.offset.reset", "earliest"),
            ("enable.partition.eof", "false"),
            ("statistics.interval.ms", "1000"),
            // A rebalance moves only the partitions that change owner; the others keep
            // flowing. Every member of a group must agree (`--kafka
            // partition.assignment.strategy=range` for a group of eager members).
            ("partition.assignment.strategy", "cooperative-sticky"),
        ],
    )
    .create_with_context(Group { shared: shared.clone(), producers: producers.clone() })
    .map_err(|e| format!("cannot make the consumer: {e}"))?;
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    consumer.subscribe(&names).map_err(|e| format!("cannot subscribe to {}: {e}", topics.join(", ")))?;

    let resender = {
        let (producers, shared) = (producers.clone(), shared.clone());
        std::thread::spawn(move || resend(&resend_rx, &producers, &shared))
    };
    let mut queues: Vec<SyncSender<Job>> = Vec::new();
    let mut workers = Vec::new();
    for _ in 0..settings.workers.max(1) {
        let (tx, rx) = sync_channel::<Job>(settings.queue.max(1));
        let (live, producers, shared) = (live.clone(), producers.clone(), shared.clone());
        queues.push(tx);
        workers.push(std::thread::spawn(move || work(&rx, &live, &producers, &shared)));
    }

    let mut last_commit = Instant::now();
    let mut errors = 0u64;
    let mut dispatch = Dispatch { queues, waiting: HashMap::new() };
    while !stop.load(Ordering::Relaxed) {
        if !dispatch.hand_over(&consumer, &shared) {
            break;
        }
        // While messages wait, poll briefly, to hand them over soon after their worker caught up.
        let wait = if dispatch.waiting.is_empty() { 100 } else { 2 };
        match consumer.poll(Duration::from_millis(wait)) {
            Some(Ok(m)) => {
                let Some(topic) = shared.topics.iter().position(|t| t == m.topic()) else { continue };
                let tp = Tp { topic: topic as u32, partition: m.partition() };
                let Some(generation) = shared.generation(tp) else { continue };
                let job = Job::of(&m, Token { tp, generation, offset: m.offset() });
                drop(m);
                counters.events.fetch_add(1, Ordering::Relaxed);
                if !dispatch.send(job, &consumer, &shared) {
                    break;
                }
            }
            Some(Err(e)) => {
                errors += 1;
                if errors.is_power_of_two() {
                    tracing::warn!(error = %e, seen = errors, "consuming failed; librdkafka retries");
                }
            }
            None => {}
        }
        if last_commit.elapsed() >= COMMIT_EVERY {
            commit(&consumer, &shared, None, CommitMode::Async);
            last_commit = Instant::now();
        }
    }
    // Stop: what was read is evaluated, its outputs delivered, its offsets committed.
    dispatch.finish(&shared);
    for w in workers {
        let _ = w.join();
    }
    let _ = producers.current().flush(DRAIN);
    let deadline = Instant::now() + DRAIN;
    while shared.offsets.in_flight() > 0 && Instant::now() < deadline {
        let _ = consumer.poll(Duration::from_millis(10));
        let _ = producers.current().flush(Duration::from_millis(100));
    }
    commit(&consumer, &shared, None, CommitMode::Sync);
    consumer.unsubscribe();
    drop(consumer);
    drop(resender);
    Ok(())
}

/// Hands messages to workers without ever blocking the consumer: a message whose worker's
/// queue is full waits in its partition's backlog, the partition is paused, and later
/// messages of that partition (librdkafka may hold some already) queue behind it, so order
/// within a partition holds. Once a backlog is handed over, its partition is resumed.
struct Dispatch {
    queues: Vec<SyncSender<Job>>,
    /// Per partition: the generation it was paused in, and what waits, oldest first.
    waiting: HashMap<Tp, (u64, VecDeque<Job>)>,
}

impl Dispatch {
    /// False when the workers are gone.
    fn send<C: ConsumerContext>(&mut self, mut job: Job, consumer: &BaseConsumer<C>, shared: &Shared) -> bool {
        let Token { tp, generation, .. } = job.token;
        if !self.waiting.contains_key(&tp) {
            match worker(&self.queues, tp).try_send(job) {
                Ok(()) => return true,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(j)) => job = j,
            }
        }
        let (paused_in, backlog) = self.waiting.entry(tp).or_insert_with(|| (0, VecDeque::new()));
        backlog.push_back(job);
        // Paused once per generation: a partition revoked and assigned again starts unpaused.
        if *paused_in != generation {
            *paused_in = generation;
            pause(consumer, shared, tp, true);
            shared.counters.pauses.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    /// Hands over what waits, as far as the queues take it; resumes the partitions whose
    /// backlog is gone. False when the workers are gone.
    fn hand_over<C: ConsumerContext>(&mut self, consumer: &BaseConsumer<C>, shared: &Shared) -> bool {
        let mut emptied = Vec::new();
        for (&tp, (_, backlog)) in &mut self.waiting {
            let queue = worker(&self.queues, tp);
            while let Some(job) = backlog.pop_front() {
                // A revoked partition's messages are dropped here: they will be read again.
                if shared.generation(tp) != Some(job.token.generation) {
                    continue;
                }
                match queue.try_send(job) {
                    Ok(()) => {}
                    Err(TrySendError::Full(job)) => {
                        backlog.push_front(job);
                        break;
                    }
                    Err(TrySendError::Disconnected(_)) => return false,
                }
            }
            if backlog.is_empty() {
                emptied.push(tp);
            }
        }
        for tp in emptied {
            self.waiting.remove(&tp);
            if shared.generation(tp).is_some() {
                pause(consumer, shared, tp, false);
            }
        }
        true
    }

    /// At a stop: what waits is evaluated too (the workers still run), then the queues close.
    fn finish(self, shared: &Shared) {
        let Dispatch { queues, waiting } = self;
        for (tp, (_, backlog)) in waiting {
            let queue = worker(&queues, tp);
            for job in backlog.into_iter().filter(|j| shared.generation(tp) == Some(j.token.generation)) {
                if queue.send(job).is_err() {
                    return;
                }
            }
        }
    }
}

/// The queue of the worker that evaluates a partition (always the same one: order is kept).
fn worker(queues: &[SyncSender<Job>], tp: Tp) -> &SyncSender<Job> {
    &queues[(tp.topic as usize * 7919 + tp.partition as usize) % queues.len()]
}

/// Pauses or resumes fetching one partition.
fn pause<C: ConsumerContext>(consumer: &BaseConsumer<C>, shared: &Shared, tp: Tp, paused: bool) {
    let mut list = TopicPartitionList::new();
    list.add_partition(&shared.topics[tp.topic as usize], tp.partition);
    let done = if paused { consumer.pause(&list) } else { consumer.resume(&list) };
    if let Err(e) = done {
        tracing::debug!(partition = tp.partition, paused, error = %e, "pausing or resuming a partition failed");
    }
}

pub(crate) fn config(settings: &Settings, own: &[(&str, &str)]) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &settings.brokers);
    for (k, v) in own {
        c.set(*k, *v);
    }
    for (k, v) in &settings.kafka {
        c.set(k, v);
    }
    c
}

fn resend(rx: &Receiver<Resend>, producers: &Producers, shared: &Shared) {
    while let Ok(r) = rx.recv() {
        if r.attempt >= STALLED {
            producers.renew();
        }
        // Back off: 50 ms, doubling, at most 5 s.
        let wait = Duration::from_millis(50u64 << r.attempt.min(7)).min(Duration::from_secs(5));
        std::thread::sleep(wait);
        shared.counters.resent.fetch_add(1, Ordering::Relaxed);
        let mut record =
            BaseRecord::<[u8], [u8], _>::with_opaque_to(&r.topic, Box::new((r.token, r.attempt))).payload(&r.payload);
        if let Some(k) = &r.key {
            record = record.key(k);
        }
        if let Some(h) = r.headers {
            record = record.headers(h);
        }
        send(&producers.current(), record, &shared.stop);
    }
}

/// Sends a record, waiting while the producer's queue is full; false when a stop ends the wait.
fn send(producer: &Produce, mut record: BaseRecord<'_, [u8], [u8], Box<(Token, u32)>>, stop: &AtomicBool) -> bool {
    let mut waited = 0u32;
    loop {
        match producer.send(record) {
            Ok(()) => return true,
            Err((e, r)) => {
                record = r;
                if stop.load(Ordering::Relaxed) && waited > 1000 {
                    return false;
                }
                if !matches!(e, KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)) && waited.is_power_of_two()
                {
                    tracing::warn!(topic = record.topic, error = %e, "cannot send; trying again");
                }
                waited += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }
}

fn work(rx: &Receiver<Job>, live: &Arc<Live>, producers: &Producers, shared: &Shared) {
    // One executor per partition (its velocity state), made afresh for a new generation, with
    // the shadow outputs it had when last tallied.
    let mut executors: HashMap<Tp, (u64, Executor)> = HashMap::new();
    let mut shadow_seen: HashMap<Tp, BTreeMap<String, u64>> = HashMap::new();
    // The topic of each sink, by sink id, of the last version seen: worked out once a version.
    let mut sink_topics: (u64, Vec<String>) = (0, Vec::new());
    let (mut counts, mut tally, mut tallied) = (UnitCounts::new(), Tally::default(), Instant::now());
    loop {
        if tallied.elapsed() >= TALLY_EVERY {
            tally_up(shared, &mut counts, &mut tally, &executors, &mut shadow_seen);
            tallied = Instant::now();
        }
        let job = match rx.recv_timeout(TALLY_EVERY) {
            Ok(job) => job,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => continue,
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let token = job.token;
        if !shared.offsets.begin(token) {
            continue;
        }
        let slot = executors.entry(token.tp).or_insert_with(|| (token.generation, Executor::following(live.clone())));
        if slot.0 != token.generation {
            *slot = (token.generation, Executor::following(live.clone()));
            shadow_seen.remove(&token.tp);
        }
        let exec = &mut slot.1;
        exec.refresh();
        let source = &shared.sources[token.tp.topic as usize];
        let headers: Vec<(&str, &[u8])> = job.headers.iter().map(|(k, v)| (k.as_str(), v.as_slice())).collect();
        let envelope = Envelope { key: job.key.as_deref(), headers: &headers, time_ms: job.time_ms };
        let version = exec.loaded().version().to_string();
        if sink_topics.0 != exec.loaded().version() {
            let topics = exec.program().sinks.iter().map(|s| shared.settings.sink_topic(&s.name)).collect();
            sink_topics = (exec.loaded().version(), topics);
        }
        let producer = producers.current();
        let mut out = ToTopics {
            producer: &producer,
            shared,
            token,
            version: &version,
            source,
            sent: 0,
            sink_topics: &sink_topics.1,
            tally: &mut tally,
        };
        let id = exec.program().sources.iter().position(|s| s.name == *source);
        let result = match id {
            Some(id) => exec
                .counting(&mut counts, |exec| exec.process_into(SourceId(id as u32), &job.payload, &envelope, &mut out))
                .map(|p| {
                    if p.dropped_by.is_some() {
                        shared.counters.dropped.fetch_add(1, Ordering::Relaxed);
                    }
                }),
            None => {
                let why = format!("version {version} has no source `{source}`");
                *out.tally.dirty.entry("no_source").or_default() += 1;
                out.dirty_record(&why, None, &job.payload, &envelope)
            }
        };
        match result {
            Ok(()) => shared.offsets.finish(token, out.sent),
            // Only a stop ends a send unfinished: the message is not committed, so it is read
            // again by whoever reads the partition next.
            Err(e) => {
                let topic = &shared.topics[token.tp.topic as usize];
                tracing::warn!(topic = %topic, partition = token.tp.partition, offset = token.offset, error = %e, "message not finished")
            }
        }
    }
}

/// Adds what a worker counted since its last tally to the run's, and starts again.
fn tally_up(
    shared: &Shared,
    counts: &mut UnitCounts,
    tally: &mut Tally,
    executors: &HashMap<Tp, (u64, Executor)>,
    shadow_seen: &mut HashMap<Tp, BTreeMap<String, u64>>,
) {
    tally.units = counts.take();
    // Shadow outputs are counted by each executor since it was made: add what is new.
    for (tp, (_, exec)) in executors {
        let seen = shadow_seen.entry(*tp).or_default();
        for (sink, &now) in exec.program().sinks.iter().zip(&exec.shadow().outputs) {
            let before = seen.insert(sink.name.clone(), now).unwrap_or(0);
            if now > before {
                *tally.shadow_outputs.entry(sink.name.clone()).or_default() += now - before;
            }
        }
    }
    shared.counters.tally.lock().unwrap_or_else(|p| p.into_inner()).merge(tally);
    *tally = Tally::default();
}

/// Outputs of one message, sent to their topics.
struct ToTopics<'a> {
    producer: &'a Produce,
    shared: &'a Shared,
    token: Token,
    version: &'a str,
    source: &'a str,
    sent: u64,
    /// Topic by sink id of the version evaluating the message.
    sink_topics: &'a [String],
    tally: &'a mut Tally,
}

impl<'a> ToTopics<'a> {
    fn send(&mut self, topic: &str, key: Option<&[u8]>, payload: &[u8], headers: OwnedHeaders) -> io::Result<()> {
        let mut record = BaseRecord::<[u8], [u8], _>::with_opaque_to(topic, Box::new((self.token, 0)))
            .payload(payload)
            .headers(headers);
        if let Some(k) = key {
            record = record.key(k);
        }
        if !send(self.producer, record, &self.shared.stop) {
            return Err(io::Error::other("stopped before the output was sent"));
        }
        self.sent += 1;
        Ok(())
    }

    fn headers(&self, event: &Envelope) -> OwnedHeaders {
        let mut h = OwnedHeaders::new_with_capacity(event.headers.len() + 1);
        for (key, value) in event.headers {
            h = h.insert(Header { key, value: Some(*value) });
        }
        h.insert(Header { key: VERSION_HEADER, value: Some(self.version) })
    }

    fn sink_topic(&mut self, sink: SinkRef<'_>) -> io::Result<&'a str> {
        match self.tally.sink_outputs.get_mut(&sink.name) {
            Some(n) => *n += 1,
            None => {
                self.tally.sink_outputs.insert(sink.name.clone(), 1);
            }
        }
        self.sink_topics
            .get(sink.id.0 as usize)
            .map(String::as_str)
            .ok_or_else(|| io::Error::other("an output of an unknown sink"))
    }

    /// The original bytes, unchanged, with why in headers: `evr-error`, `evr-rule` (when a
    /// unit failed), `evr-topic`, `evr-partition` and `evr-offset`.
    fn dirty_record(&mut self, reason: &str, unit: Option<&str>, input: &[u8], event: &Envelope) -> io::Result<()> {
        let topic = self.shared.settings.dirty_topic(self.source);
        let (partition, offset) = (self.token.tp.partition.to_string(), self.token.offset.to_string());
        let source_topic = &self.shared.topics[self.token.tp.topic as usize];
        let mut headers = self.headers(event).insert(Header { key: "evr-error", value: Some(reason) });
        if let Some(u) = unit {
            headers = headers.insert(Header { key: "evr-rule", value: Some(u) });
        }
        let headers = headers
            .insert(Header { key: "evr-topic", value: Some(source_topic.as_str()) })
            .insert(Header { key: "evr-partition", value: Some(partition.as_str()) })
            .insert(Header { key: "evr-offset", value: Some(offset.as_str()) });
        self.shared.counters.dirty.fetch_add(1, Ordering::Relaxed);
        self.send(&topic, event.key, input, headers)
    }
}

impl Outputs for ToTopics<'_> {
    fn record(&mut self, sink: SinkRef<'_>, key: Option<Key<'_>>, bytes: &[u8], event: &Envelope) -> io::Result<()> {
        let topic = self.sink_topic(sink)?;
        let headers = self.headers(event);
        let key = key.as_ref().map(Key::as_bytes).or(event.key);
        self.shared.counters.outputs.fetch_add(1, Ordering::Relaxed);
        self.send(topic, key, bytes, headers)
    }

    fn route(&mut self, sink: SinkRef<'_>, bytes: &[u8], event: &Envelope) -> io::Result<()> {
        let topic = self.sink_topic(sink)?;
        let headers = self.headers(event);
        self.shared.counters.outputs.fetch_add(1, Ordering::Relaxed);
        self.send(topic, event.key, bytes, headers)
    }

    fn dirty(&mut self, reason: &str, unit: Option<&str>, input: &[u8], event: &Envelope) -> io::Result<()> {
        let why = if unit.is_some() { "unit_failed" } else { "undecodable" };
        *self.tally.dirty.entry(why).or_default() += 1;
        self.dirty_record(reason, unit, input, event)
    }
}
