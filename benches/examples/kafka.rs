//! The Kafka host end to end through a broker, against a no-op passthrough on the same host:
//!
//! ```sh
//! cargo build --release -p evr && cargo run --release -p evr-benches --example kafka -- \
//!     --brokers 127.0.0.1:19092 --events 200000
//! ```
//!
//! For each case, the input topic is filled first; then `target/release/evr run --brokers`
//! consumes it, and its rate is read off its own metrics (`evr_events_total`) between 10 % and
//! 90 % of the events, so that joining the group and the last stragglers do not count. The
//! passthrough is one rule routing every event unchanged (consume, decode nothing it does not
//! need, produce the same bytes); the ETL case is the 32-rule workload of the other benches
//! (routes, maps, filters, scores, velocity). Then the 1,000-rule bundle over 8 and over 1,000
//! partitions, with the host's peak resident memory.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

struct Case {
    name: &'static str,
    rules: String,
    /// Rules whose event names the events are spread over.
    names: usize,
    partitions: i32,
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flag = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned();
    let brokers = flag("--brokers").unwrap_or_else(|| "127.0.0.1:19092".to_owned());
    let events: usize = flag("--events").and_then(|n| n.parse().ok()).unwrap_or(200_000);
    let evr = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/evr");
    assert!(evr.exists(), "build the host first: cargo build --release -p evr");
    let cases = [
        Case { name: "passthrough", rules: passthrough(), names: 32, partitions: 8 },
        Case { name: "etl (32 rules)", rules: evr_benches::bundle(32), names: 32, partitions: 8 },
        Case { name: "etl (1,000 rules)", rules: evr_benches::bundle(1_000), names: 1_000, partitions: 8 },
        Case { name: "etl (1,000 rules)", rules: evr_benches::bundle(1_000), names: 1_000, partitions: 1_000 },
    ];
    let mut rates = Vec::new();
    for (i, case) in cases.iter().enumerate() {
        let m = run(&evr, &brokers, case, events, i);
        println!(
            "{:<18} {:>5} partitions: {:>8.0} events/s, host CPU {:.1} us/event, peak RSS {:.0} MB",
            case.name,
            case.partitions,
            m.rate,
            m.cpu_us,
            m.rss as f64 / 1e6
        );
        rates.push(m.rate);
    }
    println!("etl (32 rules) / passthrough: {:.2}", rates[1] / rates[0]);
    println!("1,000 rules: 1,000 partitions / 8 partitions: {:.2}", rates[3] / rates[2]);
}

fn passthrough() -> String {
    "use \"schemas/app.proto\";\nuse bench.v1.Log;\nsource logs: Log as json time event_time;\n\
     sink shard: Log as json;\nrule all on logs => route shard;\n"
        .to_owned()
}

struct Measured {
    /// Events consumed per second.
    rate: f64,
    /// CPU time of the host (all its threads, librdkafka's included) per event.
    cpu_us: f64,
    /// Peak resident memory, in bytes.
    rss: u64,
}

/// One case: topics of its own, filled, then consumed by a host.
fn run(evr: &Path, brokers: &str, case: &Case, events: usize, index: usize) -> Measured {
    let prefix = format!("bench{}_{index}", std::process::id());
    let topic = |what: &str| format!("{prefix}_{what}");
    let admin: AdminClient<DefaultClientContext> =
        ClientConfig::new().set("bootstrap.servers", brokers).create().expect("an admin client");
    let input = topic("logs");
    let mut new = vec![NewTopic::new(&input, case.partitions, TopicReplication::Fixed(1))];
    let sinks = ["shard", "actions", "alerts", "logs.dirty"];
    let sink_topics: Vec<String> = sinks.iter().map(|s| topic(s)).collect();
    new.extend(sink_topics.iter().map(|t| NewTopic::new(t, 8, TopicReplication::Fixed(1))));
    for r in futures_executor::block_on(admin.create_topics(&new, &AdminOptions::new())).expect("topics") {
        r.expect("a topic");
    }
    fill(brokers, &topic("logs"), &evr_benches::events(events, case.names));

    let dir = std::env::temp_dir().join(&prefix);
    std::fs::create_dir_all(&dir).unwrap();
    let schemas = evr_benches::workload_dir().join("schemas").canonicalize().unwrap();
    let rules = case.rules.replace("\"schemas/", &format!("\"{}/", schemas.display()));
    std::fs::write(dir.join("rules.evr"), rules).unwrap();
    let port = free_port();
    let mut child = Command::new(evr)
        .arg("run")
        .arg(&dir)
        .args(["--brokers", brokers, "--group", &topic("group"), "--topic", &format!("logs={}", topic("logs"))])
        .args(["--sink-topic", &format!("shard={}", topic("shard"))])
        .args(["--sink-topic", &format!("actions={}", topic("actions"))])
        .args(["--sink-topic", &format!("alerts={}", topic("alerts"))])
        .args(["--dirty-topic", &format!("{prefix}_{{source}}.dirty")])
        .args(["--metrics", &format!("127.0.0.1:{port}")])
        // Worker queues deep enough that no partition is ever paused. Tansu 0.6.0 answers a
        // fetch with the batches that start at or after the offset asked for, so a partition
        // resumed from inside a batch never sees the rest of it (Kafka returns the batch that
        // holds the offset): with batches of one (how the tests produce) every offset starts a
        // batch, but Tansu then serves one record per partition and fetch, which measures the
        // broker rather than the host; with batched input, a pause would lose records and the
        // run would never reach 90 %.
        .args(["--queue", &events.to_string()])
        .stdout(Stdio::null())
        .stderr(if std::env::var_os("EVR_BENCH_VERBOSE").is_some() { Stdio::inherit() } else { Stdio::null() })
        .spawn()
        .expect("evr runs");
    let (mut from, mut to) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(600);
    while to.is_none() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        let Some(consumed) = consumed(port) else { continue };
        let now = Instant::now();
        if from.is_none() && consumed >= events as u64 / 10 {
            from = Some((now, consumed, cpu(child.id())));
        }
        if consumed >= events as u64 * 9 / 10 {
            to = Some((now, consumed, cpu(child.id())));
        }
    }
    let rss = peak_rss(child.id());
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    match (from, to) {
        (Some((t0, n0, c0)), Some((t1, n1, c1))) => {
            let n = (n1 - n0) as f64;
            Measured { rate: n / (t1 - t0).as_secs_f64(), cpu_us: (c1 - c0).as_secs_f64() * 1e6 / n, rss }
        }
        _ => panic!("{}: the host did not consume the events within 10 minutes ({from:?}, {to:?})", case.name),
    }
}

fn fill(brokers: &str, topic: &str, events: &[String]) {
    let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("linger.ms", "20")
        .set("queue.buffering.max.messages", "1000000")
        .create()
        .expect("a producer");
    for (i, e) in events.iter().enumerate() {
        let key = (i % 10_007).to_string();
        let mut record = BaseRecord::to(topic).payload(e.as_bytes()).key(key.as_bytes());
        loop {
            match p.send(record) {
                Ok(()) => break,
                Err((_, r)) => {
                    record = r;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
    }
    p.flush(Duration::from_secs(300)).expect("events produced");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `evr_events_total` from the host's metrics endpoint.
fn consumed(port: u16) -> Option<u64> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let line = text.lines().find(|l| l.starts_with("evr_events_total "))?;
    line.rsplit(' ').next()?.parse().ok()
}

/// The CPU time a process has used (user and system, all threads).
fn cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses: utime and stime are the 12th
    // and 13th, in clock ticks of 1/100 s.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let ticks: u64 = rest.split_whitespace().skip(11).take(2).filter_map(|t| t.parse::<u64>().ok()).sum();
    Duration::from_millis(ticks * 10)
}

/// The peak resident memory of a process (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status = std::fs::read_to_string(PathBuf::from(format!("/proc/{pid}/status"))).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
