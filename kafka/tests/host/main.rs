//! The Kafka host against librdkafka's mock cluster, for faults a real broker cannot stage on
//! demand: produce requests failing and timing out, every broker going down and coming back,
//! the group coordinator moving, workers that cannot keep up. In each, every output arrives and
//! every offset is committed.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use evr_compiler::jit::OptLevel;
use evr_kafka::{Counters, Settings};
use evr_runtime::executor::{Config, Engine, Loaded};
use evr_runtime::live::Live;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::mocking::{MockCluster, MockCoordinator};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

const PARTITIONS: i32 = 4;
const BROKERS: i32 = 3;

fn live() -> Arc<Live> {
    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/check/schemas/events.proto");
    let rules = format!(
        r#"
use "{}";
use track.v1.Event;
source events: Event as json;
sink views: Event as json;
sink sales: Event as json;
rule viewed on events when name == "view" => route views;
rule sold on events when name == "buy" => emit sales key name {{ name: name, ts: ts }};
"#,
        schema.canonicalize().expect("the test schema").display()
    );
    let mut files = evr_compiler::files::Files::default();
    files.add("mock.evr", "mock.evr", rules);
    let a = evr_compiler::analyze(files);
    assert!(!a.has_errors(), "{:?}", a.diagnostics);
    Live::new(Loaded::from_analysis(&a, Config { engine: Engine::Jit(OptLevel::Speed), ..Config::default() }).unwrap())
}

fn cluster() -> MockCluster<'static, DefaultProducerContext> {
    let mock = MockCluster::new(BROKERS).expect("a mock cluster");
    for topic in ["events", "views", "sales", "events.dirty"] {
        mock.create_topic(topic, PARTITIONS, BROKERS).expect("a topic");
    }
    mock
}

/// Events `from..from + n`: views and sales by turns; event `i` has `ts` `i`.
fn produce(servers: &str, from: usize, n: usize) {
    let p: ThreadedProducer<DefaultProducerContext> =
        ClientConfig::new().set("bootstrap.servers", servers).create().expect("a producer");
    for i in from..from + n {
        let name = if i % 2 == 0 { "view" } else { "buy" };
        let (payload, key) = (format!(r#"{{"name":"{name}","ts":{i}}}"#), format!("k{i}"));
        let mut record = BaseRecord::to("events").payload(payload.as_bytes()).key(key.as_bytes());
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    p.flush(Duration::from_secs(60)).expect("events are produced");
}

struct Host {
    stop: Arc<AtomicBool>,
    counters: Arc<Counters>,
    thread: JoinHandle<Result<(), String>>,
}

fn host(servers: &str, group: &str) -> Host {
    host_with(servers, group, |_| {})
}

fn host_with(servers: &str, group: &str, tweak: impl FnOnce(&mut Settings)) -> Host {
    let mut settings = Settings::new(servers, group);
    settings.workers = 2;
    tweak(&mut settings);
    let (stop, counters) = (Arc::new(AtomicBool::new(false)), Arc::new(Counters::default()));
    let thread = {
        let (stop, counters, live) = (stop.clone(), counters.clone(), live());
        std::thread::spawn(move || evr_kafka::run(live, settings, stop, counters))
    };
    Host { stop, counters, thread }
}

impl Host {
    /// Stops the host; what it committed, summed over partitions (the next offset of each).
    fn stop(self) -> i64 {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the host").expect("the host runs");
        self.counters.committed().iter().map(|(_, next)| next).sum()
    }
}

/// The `ts` of every distinct output on the sink topics, once `n` have arrived (or a minute
/// passed).
fn outputs(servers: &str, n: usize) -> BTreeSet<(String, i64)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", servers)
        .set("group.id", "reader")
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("a reader");
    c.subscribe(&["views", "sales"]).expect("subscribed");
    let mut got = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while got.len() < n && Instant::now() < deadline {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            let v: serde_json::Value = serde_json::from_slice(m.payload().unwrap_or_default()).expect("JSON");
            let ts = v["ts"].as_i64().or_else(|| v["ts"].as_str().and_then(|s| s.parse().ok())).expect("a ts");
            got.insert((m.topic().to_owned(), ts));
        }
    }
    got
}

fn expected(n: usize) -> BTreeSet<(String, i64)> {
    (0..n).map(|i| (if i % 2 == 0 { "views" } else { "sales" }.to_owned(), i as i64)).collect()
}

/// Every output of events `0..n` arrives, and every offset is committed.
fn all_arrive(servers: &str, host: Host, n: usize) {
    let got = outputs(servers, n);
    wait(|| host.counters.committed().iter().map(|(_, next)| next).sum::<i64>() == n as i64);
    assert_eq!(host.stop(), n as i64, "every offset committed");
    let missing: Vec<_> = expected(n).difference(&got).cloned().collect();
    assert!(missing.is_empty(), "{} outputs missing, the first {:?}", missing.len(), &missing[..missing.len().min(8)]);
}

/// Until `done`, or a minute.
fn wait(done: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn produce_requests_that_fail_or_time_out_lose_nothing() {
    let mock = cluster();
    let servers = mock.bootstrap_servers();
    produce(&servers, 0, 400);
    // Every produce request of the host fails at first: leaders moving, timeouts, a full broker.
    use RDKafkaRespErr::*;
    let errors = [
        RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
        RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT,
        RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        RD_KAFKA_RESP_ERR__TRANSPORT,
    ];
    mock.request_errors(RDKafkaApiKey::Produce, &errors.repeat(5));
    let host = host(&servers, "faults");
    all_arrive(&servers, host, 400);
}

#[test]
fn brokers_down_then_up_lose_nothing() {
    let mock = cluster();
    let servers = mock.bootstrap_servers();
    produce(&servers, 0, 300);
    let host = host(&servers, "down");
    wait(|| host.counters.outputs.load(Ordering::Relaxed) >= 100);
    for b in 1..=BROKERS {
        mock.broker_down(b).expect("down");
    }
    // Unreachable for a while: the host waits and retries, dropping nothing.
    std::thread::sleep(Duration::from_secs(3));
    for b in 1..=BROKERS {
        mock.broker_up(b).expect("up");
    }
    produce(&servers, 300, 300);
    all_arrive(&servers, host, 600);
}

#[test]
fn the_group_coordinator_moving_loses_nothing() {
    let mock = cluster();
    let servers = mock.bootstrap_servers();
    produce(&servers, 0, 300);
    let host = host(&servers, "moving");
    wait(|| host.counters.outputs.load(Ordering::Relaxed) >= 100);
    for to in [2, 3, 1] {
        mock.coordinator(MockCoordinator::Group("moving".to_owned()), to).expect("moved");
        std::thread::sleep(Duration::from_millis(500));
    }
    produce(&servers, 300, 300);
    all_arrive(&servers, host, 600);
}

#[test]
fn full_worker_queues_pause_partitions_and_lose_nothing() {
    let mock = cluster();
    let servers = mock.bootstrap_servers();
    produce(&servers, 0, 2_000);
    // Four messages queued per worker: the consumer reads faster than the worker takes, so
    // partitions are paused and resumed over and over.
    let host = host_with(&servers, "paused", |s| {
        s.workers = 1;
        s.queue = 4;
        // The mock cluster answers every fetch after its longest wait (500 ms by default),
        // which a partition resumed hundreds of times would pay each time.
        s.kafka.push(("fetch.wait.max.ms".into(), "10".into()));
    });
    wait(|| host.counters.committed().iter().map(|(_, next)| next).sum::<i64>() == 2_000);
    let pauses = host.counters.pauses.load(Ordering::Relaxed);
    let events = host.counters.events.load(Ordering::Relaxed);
    all_arrive(&servers, host, 2_000);
    assert!(pauses > 0, "no partition was paused");
    assert_eq!(events, 2_000, "every message read once (paused partitions are not read again)");
}
