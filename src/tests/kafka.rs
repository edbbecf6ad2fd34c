//! `evr run --brokers` against a real Kafka-protocol broker on 127.0.0.1, named by
//! `EVR_TEST_BROKER` (`scripts/test` installs and starts one). Without it these tests fail.
//!
//! Every test uses topics and a group of its own, so they run side by side on one broker.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};

const PARTITIONS: i32 = 4;

fn broker() -> String {
    std::env::var("EVR_TEST_BROKER").unwrap_or_else(|_| {
        panic!("EVR_TEST_BROKER must name the Kafka-protocol broker these tests run against; `scripts/test` starts one")
    })
}

/// Topics of one test: `events` (the source) with `PARTITIONS` partitions, the sinks, dirty.
struct Topics {
    prefix: String,
    /// The broker they are on.
    broker: String,
}

impl Topics {
    fn new(test: &str) -> Topics {
        Topics::on(&broker(), test)
    }

    /// The topics of `test` on `broker`, made there.
    fn on(broker: &str, test: &str) -> Topics {
        let t = Topics { prefix: format!("t{}_{test}", std::process::id()), broker: broker.to_owned() };
        t.make();
        t
    }

    /// Makes the topics on the broker (again, after an in-memory broker restarted).
    fn make(&self) {
        let admin: AdminClient<DefaultClientContext> =
            ClientConfig::new().set("bootstrap.servers", &self.broker).create().expect("an admin client");
        let names = [self.name("events"), self.name("views"), self.name("sales"), self.name("events.dirty")];
        let mut new: Vec<NewTopic> =
            names.iter().map(|n| NewTopic::new(n, PARTITIONS, TopicReplication::Fixed(1))).collect();
        // The control topic: one partition, compacted (where the broker compacts).
        let control = self.name("control");
        new.push(NewTopic::new(&control, 1, TopicReplication::Fixed(1)).set("cleanup.policy", "compact"));
        let made = futures_executor::block_on(admin.create_topics(&new, &AdminOptions::new()))
            .unwrap_or_else(|e| panic!("cannot create topics on {} ({e}): is the broker running?", self.broker));
        for r in made {
            r.unwrap_or_else(|(topic, e)| panic!("cannot create {topic}: {e}"));
        }
    }

    fn name(&self, what: &str) -> String {
        format!("{}_{what}", self.prefix)
    }

    /// The flags that map the bundle's streams onto these topics.
    fn flags(&self, group: &str) -> Vec<String> {
        vec![
            "--brokers".into(),
            self.broker.clone(),
            "--group".into(),
            format!("{}_{group}", self.prefix),
            "--topic".into(),
            format!("events={}", self.name("events")),
            "--sink-topic".into(),
            format!("views={}", self.name("views")),
            "--sink-topic".into(),
            format!("sales={}", self.name("sales")),
            "--dirty-topic".into(),
            format!("{}_{{source}}.dirty", self.prefix),
        ]
    }

    /// `evr publish` of `rules`, written to `dir`, to this test's control topic.
    fn publish(&self, dir: &Path, rules: &str) {
        std::fs::write(dir.join("shop.evr"), rules).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_evr"))
            .arg("publish")
            .arg(dir)
            .args(["--brokers", &self.broker, "--control-topic", &self.name("control")])
            .output()
            .expect("evr publish runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    fn produce(&self, events: &[String]) {
        // One record per batch. Tansu 0.6.0 answers a fetch with the batches that start at or
        // after the offset asked for (`offsets.split_off(&offset)` in tansu-storage's
        // dynostore), so a consumer that goes on from inside a batch (a host restarted after
        // kill -9, a partition resumed after a pause) never sees the rest of that batch; Kafka
        // returns the batch holding the offset. With batches of one, every offset starts one.
        let p: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.broker)
            .set("batch.num.messages", "1")
            .create()
            .expect("a producer");
        let topic = self.name("events");
        for (i, e) in events.iter().enumerate() {
            let key = format!("k{i}");
            let headers = OwnedHeaders::new().insert(Header { key: "origin", value: Some("test") });
            let mut record = BaseRecord::to(&topic).payload(e.as_bytes()).key(key.as_bytes()).headers(headers);
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
        p.flush(Duration::from_secs(30)).expect("events are produced");
    }
}

/// A record read back from a topic.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Got {
    topic: String,
    key: Option<String>,
    value: String,
    headers: BTreeMap<String, String>,
}

/// Reads `topics` from the start until `done` says enough arrived or `within` passes, then a
/// little longer (so that extra records would show).
fn read(topics: &[String], within: Duration, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
    read_from(&broker(), topics, within, done)
}

/// [`read`] from `broker`.
fn read_from(broker: &str, topics: &[String], within: Duration, done: impl Fn(&[Got]) -> bool) -> Vec<Got> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker)
        .set("group.id", format!("reader_{}_{}", std::process::id(), topics[0]))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .expect("a consumer");
    let names: Vec<&str> = topics.iter().map(String::as_str).collect();
    c.subscribe(&names).expect("subscribes");
    let mut got = Vec::new();
    let start = Instant::now();
    let mut enough: Option<Instant> = None;
    while start.elapsed() < within && enough.is_none_or(|t| t.elapsed() < Duration::from_millis(1500)) {
        if let Some(Ok(m)) = c.poll(Duration::from_millis(100)) {
            let text = |b: Option<&[u8]>| b.map(|b| String::from_utf8_lossy(b).into_owned());
            let headers = m
                .headers()
                .map(|h| h.iter().map(|h| (h.key.to_owned(), text(h.value).unwrap_or_default())).collect())
                .unwrap_or_default();
            got.push(Got {
                topic: m.topic().to_owned(),
                key: text(m.key()),
                value: text(m.payload()).unwrap_or_default(),
                headers,
            });
        }
        if enough.is_none() && done(&got) {
            enough = Some(Instant::now());
        }
    }
    got
}

/// One HTTP/1.1 request: (status, body).
fn http(addr: &str, method: &str, path: &str, token: Option<&str>) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("the endpoint listens");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).unwrap();
    let status = response.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    (status, body)
}

/// The endpoints listen on loopback unless told otherwise.
#[test]
fn kafka_admin_endpoint_stays_on_loopback() {
    let out = Command::new(env!("CARGO_BIN_EXE_evr"))
        .arg("run")
        .arg(bundle())
        .args(["--brokers", "127.0.0.1:1", "--admin", "0.0.0.0:0"])
        .output()
        .expect("evr runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("0.0.0.0:0 is not a loopback address"), "{err}");
}

/// `--config` holds what the flags set; its unknown keys are refused naming key and line,
/// and its settings take effect (here: an admin address off loopback, refused).
#[test]
fn kafka_config_file_is_read_and_checked() {
    let dir = temp("config");
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "brokers = \"127.0.0.1:1\"\nbrokerz = \"x\"\n").unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_evr")).arg("run").arg(bundle()).arg("--config").arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("unknown field `brokerz`") && err.contains("line 2"), "{err}");
    let good = dir.join("good.toml");
    std::fs::write(&good, "brokers = \"127.0.0.1:1\"\nadmin = \"0.0.0.0:0\"\n[topics]\nevents = \"e\"\n[kafka]\n\"client.id\" = \"evr-test\"\n").unwrap();
    let out =
        Command::new(env!("CARGO_BIN_EXE_evr")).arg("run").arg(bundle()).arg("--config").arg(&good).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("0.0.0.0:0 is not a loopback address"), "{err}");
}

fn bundle() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kafka/shop")
}

/// Events for the shop bundle: views, sales (each with a unique `ts`), failing ones and bad
/// JSON, in a fixed mix.
/// The test bundle's rules with their schema's path made absolute, to be written anywhere.
fn movable_rules() -> String {
    let rules = std::fs::read_to_string(bundle().join("shop.evr")).unwrap();
    let schema = bundle().join("../../check/schemas/events.proto").canonicalize().unwrap();
    rules.replace("../../check/schemas/events.proto", schema.to_str().unwrap())
}

fn events(n: usize, from: usize) -> Vec<String> {
    (from..from + n)
        .map(|i| match i % 5 {
            0 | 1 => format!("{{\"name\":\"view\",\"ts\":{i}}}"),
            2 => format!("{{\"name\":\"buy\",\"ts\":{i},\"revenue\":{}.5}}", i % 7),
            3 => format!("{{\"name\":\"boom\",\"ts\":{i}}}"),
            _ => format!("{{not json {i}"),
        })
        .collect()
}

/// The outputs the file host gives for `events`: (sink, key, value) and (error, rule, event).
fn file_host(events: &[String], dir: &Path) -> (Vec<Output>, Vec<Output>) {
    let input = dir.join("events.jsonl");
    std::fs::write(&input, events.join("\n") + "\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_evr"))
        .args(["run".as_ref(), bundle().as_os_str(), "--input".as_ref(), input.as_os_str()])
        .output()
        .expect("evr runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let (mut outputs, mut dirty): (Vec<Output>, Vec<Output>) = (Vec::new(), Vec::new());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
        match v["sink"].as_str().unwrap() {
            "dirty" => {
                let n = v["line"].as_u64().unwrap() as usize;
                dirty.push((text("error").unwrap(), text("rule"), events[n - 1].clone()));
            }
            sink => outputs.push((sink.to_owned(), text("key"), v["value"].to_string())),
        }
    }
    outputs.sort();
    dirty.sort();
    (outputs, dirty)
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("evr-kafka-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A running `evr run --brokers`, its stderr lines on a channel.
struct Host {
    child: Child,
    stderr: Receiver<String>,
}

impl Host {
    fn start(bundle: &Path, flags: &[String]) -> Host {
        Host::start_with(bundle, flags, &[])
    }

    fn start_with(bundle: &Path, flags: &[String], env: &[(&str, &str)]) -> Host {
        let mut child = Command::new(env!("CARGO_BIN_EXE_evr"))
            .arg("run")
            .arg(bundle)
            .args(flags)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("evr runs");
        let (tx, rx) = channel();
        let err = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Host { child, stderr: rx }
    }

    fn signal(&self, signal: &str) {
        let ok = Command::new("kill").args([signal, &self.child.id().to_string()]).status().expect("kill runs");
        assert!(ok.success());
    }

    /// SIGTERM, then the exit status and what it printed.
    fn stop(mut self) -> (Option<i32>, String) {
        self.signal("-TERM");
        let status = self.child.wait().expect("evr ends");
        let lines: Vec<String> = self.stderr.iter().collect();
        (status.code(), lines.join("\n"))
    }

    /// Waits for a stderr line containing `text`; the line.
    fn wait_for(&self, text: &str, within: Duration) -> String {
        self.wait_until(|line| line.contains(text), within)
            .unwrap_or_else(|| panic!("no line with `{text}` within {within:?}"))
    }

    /// Waits for a stderr line that `wanted` accepts.
    fn wait_until(&self, wanted: impl Fn(&str) -> bool, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.stderr.recv_timeout(left) {
                Ok(line) if wanted(&line) => return Some(line),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        None
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Output = (String, Option<String>, String);

/// Sink outputs as the file host shows them: routed events keep the input key on Kafka (the
/// file host has none to show), so it is left out for them; sorted.
fn comparable(outputs: Vec<Output>) -> Vec<Output> {
    let mut out: Vec<Output> =
        outputs.into_iter().map(|(s, k, v)| if s == "views" { (s, None, v) } else { (s, k, v) }).collect();
    out.sort();
    out
}

/// Asserts two sorted lists are equal, naming what is missing and what is extra.
fn assert_same<T: Ord + std::fmt::Debug>(got: &[T], expected: &[T], what: &str) {
    let missing: Vec<&T> = expected.iter().filter(|e| got.binary_search(e).is_err()).collect();
    let extra: Vec<&T> = got.iter().filter(|g| expected.binary_search(g).is_err()).collect();
    assert!(
        missing.is_empty() && extra.is_empty() && got.len() == expected.len(),
        "{what}: {} expected, {} got; {} missing (first: {:?}), {} extra (first: {:?})",
        expected.len(),
        got.len(),
        missing.len(),
        missing.iter().take(3).collect::<Vec<_>>(),
        extra.len(),
        extra.iter().take(3).collect::<Vec<_>>()
    );
}

/// The sink outputs, each once (at least once delivers some twice), as the file host shows them.
fn distinct(got: &[Got], t: &Topics) -> Vec<Output> {
    let mut out = comparable(sink_outputs(got, t));
    out.dedup();
    out
}

fn sink_outputs(got: &[Got], t: &Topics) -> Vec<Output> {
    let mut out: Vec<_> = got
        .iter()
        .filter(|g| g.topic == t.name("views") || g.topic == t.name("sales"))
        .map(|g| {
            let sink = g.topic.rsplit('_').next().unwrap().to_owned();
            let value: serde_json::Value = serde_json::from_str(&g.value).expect("a JSON record");
            (sink, g.key.clone(), value.to_string())
        })
        .collect();
    out.sort();
    out
}

/// Every sink topic holds exactly what the file host outputs for the same events (content,
/// keys), the dirty topic the dirty records (reason, rule, original bytes); outputs carry the
/// input's headers and the version; SIGTERM drains and exits 0.
#[test]
fn kafka_topics_hold_the_file_hosts_outputs() {
    let t = Topics::new("same");
    let events = events(500, 0);
    let (expected, expected_dirty) = file_host(&events, &temp("same"));
    t.produce(&events);
    let host = Host::start(&bundle(), &t.flags("g"));
    let topics = [t.name("views"), t.name("sales"), t.name("events.dirty")];
    let want = expected.len() + expected_dirty.len();
    let got = read(&topics, Duration::from_secs(90), |g| g.len() >= want);
    let (code, err) = host.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("evr: 500 events"), "{err}");
    // Routed events keep the input key; emitted ones carry the key they were given.
    let by_input_key =
        |sink: &str, key: &Option<String>| sink == "sales" || key.as_deref().is_some_and(|k| k.starts_with('k'));
    let outputs = sink_outputs(&got, &t);
    assert!(outputs.iter().all(|(s, k, _)| by_input_key(s, k)), "{outputs:?}");
    assert_same(&comparable(outputs), &expected, "sink topics");
    let mut dirty: Vec<_> = got
        .iter()
        .filter(|g| g.topic == t.name("events.dirty"))
        .map(|g| (g.headers["evr-error"].clone(), g.headers.get("evr-rule").cloned(), g.value.clone()))
        .collect();
    dirty.sort();
    assert_same(&dirty, &expected_dirty, "the dirty topic");
    for g in &got {
        assert_eq!(g.headers.get("origin").map(String::as_str), Some("test"), "{g:?}");
        assert_eq!(g.headers.get("evr-version").map(String::as_str), Some("1"), "{g:?}");
    }
}

/// `kill -9` mid-stream, then a restart in the same group: every output is there (some twice:
/// at least once).
#[test]
fn kafka_nothing_is_lost_when_killed() {
    let t = Topics::new("kill");
    let events = events(3000, 0);
    let (expected, _) = file_host(&events, &temp("kill"));
    t.produce(&events);
    let topics = [t.name("views"), t.name("sales")];
    let mut host = Host::start(&bundle(), &t.flags("g"));
    let early = read(&topics, Duration::from_secs(60), |g| g.len() >= 200);
    assert!(early.len() >= 200, "outputs began to arrive: {}", early.len());
    host.child.kill().expect("kill -9");
    let _ = host.child.wait();
    let host = Host::start(&bundle(), &t.flags("g"));
    let got = read(&topics, Duration::from_secs(120), |g| distinct(g, &t).len() >= expected.len());
    let (code, err) = host.stop();
    assert_eq!(code, Some(0), "{err}");
    let all = sink_outputs(&got, &t).len();
    let outputs = distinct(&got, &t);
    assert_same(&outputs, &expected, "outputs after kill -9 and a restart");
    eprintln!("kill -9 then restart: {} outputs, {} of them again", all, all - outputs.len());
}

/// Two instances in one group share the partitions; one joins mid-stream and one leaves
/// mid-stream, and together they lose nothing.
#[test]
fn kafka_two_instances_share_a_group() {
    let t = Topics::new("pair");
    let waves = [events(800, 0), events(800, 800), events(800, 1600)];
    let all: Vec<String> = waves.concat();
    let (expected, _) = file_host(&all, &temp("pair"));
    let topics = [t.name("views"), t.name("sales")];
    let first = Host::start(&bundle(), &t.flags("g"));
    t.produce(&waves[0]);
    let second = Host::start(&bundle(), &t.flags("g"));
    // The group splits the partitions: the second instance is given some of them.
    let assigned = |line: &str| line.contains("partitions assigned") && !line.contains("partitions=0");
    let split = second.wait_until(assigned, Duration::from_secs(60));
    assert!(split.is_some(), "the second instance was given no partition");
    t.produce(&waves[1]);
    std::thread::sleep(Duration::from_secs(3));
    let (code, err) = first.stop();
    assert_eq!(code, Some(0), "{err}");
    // Cooperative assignment: when the second joined, the first gave up only half of its
    // partitions, and kept consuming the others.
    let half = format!("partitions={}", PARTITIONS / 2);
    assert!(err.lines().any(|l| l.contains("partitions revoked") && l.ends_with(&half)), "{err}");
    t.produce(&waves[2]);
    let got = read(&topics, Duration::from_secs(120), |g| distinct(g, &t).len() >= expected.len());
    let (code, err) = second.stop();
    assert_eq!(code, Some(0), "{err}");
    assert_same(&distinct(&got, &t), &expected, "outputs of two instances");
}

/// 20 reloads while events stream, by file change, SIGHUP, `POST /reload` (which wants the
/// token) and `evr publish` to the control topic: nothing is lost, and the version header of
/// every output names the version whose rules made it; the metrics endpoint counts the
/// reloads and what the units did.
#[test]
fn kafka_reloads_while_consuming() {
    let t = Topics::new("reload");
    let dir = temp("reload");
    let rules = movable_rules();
    std::fs::write(dir.join("shop.evr"), &rules).unwrap();
    let published = temp("reload_published");
    let mut flags = t.flags("g");
    flags.extend(["--admin".into(), "127.0.0.1:0".into(), "--control-topic".into(), t.name("control")]);
    let host = Host::start_with(&dir, &flags, &[("EVR_ADMIN_TOKEN", "s3cret")]);
    let admin = host.wait_for("serving /reload", Duration::from_secs(30)).rsplit("http://").next().unwrap().to_owned();
    // Changes count from when the bundle is watched.
    host.wait_for("consuming", Duration::from_secs(30));
    assert_eq!(http(&admin, "POST", "/reload", None).0, 401, "no token");
    assert_eq!(http(&admin, "POST", "/reload", Some("guess")).0, 401, "a wrong token");
    assert_eq!(http(&admin, "GET", "/nothing", None).0, 404);
    let total = 2000;
    let producer = {
        let (prefix, broker) = (t.prefix.clone(), t.broker.clone());
        std::thread::spawn(move || {
            let t = Topics { prefix, broker };
            for wave in 0..20 {
                t.produce(&events(total / 20, wave * total / 20));
                std::thread::sleep(Duration::from_millis(150));
            }
        })
    };
    // Reload k is a file change, SIGHUP, POST /reload or a bundle published to the control
    // topic in turn; `text_for[v]` is the rule text (the change it came with) version v must
    // run. SIGHUP and POST /reload read the bundle's files, whose text is the last file change.
    let mut text_for = vec![0u64, 0];
    let mut file_text = 0;
    for k in 1..=20u64 {
        let with_k = rules.replace("\"v0\"", &format!("\"v{k}\""));
        match k % 4 {
            1 => {
                std::fs::write(dir.join("shop.evr"), with_k).unwrap();
                file_text = k;
            }
            2 => host.signal("-HUP"),
            3 => {
                let (status, body) = http(&admin, "POST", "/reload", Some("s3cret"));
                assert_eq!(status, 200, "{body}");
                assert!(body.contains(&format!("version {} live", k + 1)), "{body}");
            }
            _ => t.publish(&published, &with_k),
        }
        text_for.push(if k % 4 == 0 { k } else { file_text });
        let line = host.wait_for(&format!("version {} live", k + 1), Duration::from_secs(30));
        assert_eq!(line.contains("from control topic"), k % 4 == 0, "{line}");
        std::thread::sleep(Duration::from_millis(100));
    }
    producer.join().unwrap();
    let expected_sales = events(total, 0).iter().filter(|e| e.contains("\"buy\"")).count();
    let expected_views = events(total, 0).iter().filter(|e| e.contains("\"view\"")).count();
    let topics = [t.name("views"), t.name("sales")];
    let got = read(&topics, Duration::from_secs(120), |g| g.len() >= expected_sales + expected_views);
    // Workers tally what they counted every half second.
    let want = format!("evr_sink_outputs_total{{sink=\"sales\"}} {expected_sales}\n");
    let deadline = Instant::now() + Duration::from_secs(20);
    let metrics = loop {
        let (status, metrics) = http(&admin, "GET", "/metrics", None);
        assert_eq!(status, 200);
        if metrics.contains(&want) || Instant::now() > deadline {
            break metrics;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let (code, err) = host.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("reloads: 20 live, 0 rejected"), "{err}");
    let mut sales: Vec<(u64, u64, String)> = Vec::new();
    let mut seen_ts = std::collections::BTreeSet::new();
    for g in &got {
        let version: u64 = g.headers["evr-version"].parse().unwrap();
        let v: serde_json::Value = serde_json::from_str(&g.value).unwrap();
        let ts: u64 = v["ts"].as_u64().or_else(|| v["ts"].as_str().and_then(|s| s.parse().ok())).unwrap();
        seen_ts.insert((g.topic.clone(), ts));
        if g.topic == t.name("sales") {
            sales.push((version, ts, v["name"].as_str().unwrap().to_owned()));
        }
    }
    assert_eq!(seen_ts.len(), expected_sales + expected_views, "every event's output arrived");
    // One text per version: the one that version was made from.
    let mut text_of: BTreeMap<u64, String> = BTreeMap::new();
    for (version, _, tag) in &sales {
        let known = text_of.entry(*version).or_insert_with(|| tag.clone());
        assert_eq!(known, tag, "version {version} made outputs of two rule texts");
    }
    for (version, text) in &text_of {
        assert_eq!(text[1..].parse::<u64>().unwrap(), text_for[*version as usize], "version {version}");
    }
    assert!(metrics.contains("evr_reloads_total{result=\"live\"} 20"), "{metrics}");
    assert!(metrics.contains("evr_bundle_version 21"), "{metrics}");
    assert!(metrics.contains("evr_committed_offset{topic="), "{metrics}");
    assert!(metrics.contains("evr_reload_seconds_count 20"), "{metrics}");
    // Units, sinks and dirty records are counted by name, across the 21 versions.
    let value = |line: &str| -> u64 {
        let found = metrics.lines().find(|l| l.starts_with(line)).unwrap_or_else(|| panic!("no {line} in {metrics}"));
        found.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(value("evr_sink_outputs_total{sink=\"sales\"}"), expected_sales as u64, "{metrics}");
    assert_eq!(value("evr_sink_outputs_total{sink=\"views\"}"), expected_views as u64, "{metrics}");
    assert_eq!(value("evr_unit_hits_total{unit=\"sold\"}"), expected_sales as u64, "{metrics}");
    let booms = events(total, 0).iter().filter(|e| e.contains("\"boom\"")).count() as u64;
    assert_eq!(value("evr_unit_errors_total{unit=\"broken\",code=\"division_by_zero\"}"), booms, "{metrics}");
    assert_eq!(value("evr_dirty_by_reason_total{reason=\"unit_failed\"}"), booms, "{metrics}");
    assert!(value("evr_unit_evaluations_total{unit=\"viewed\"}") >= expected_views as u64, "{metrics}");
    assert!(metrics.contains("evr_unit_eval_seconds_bucket{unit=\"sold\",le=\"+Inf\"}"), "{metrics}");
}

/// A host that starts after bundles were published to the control topic takes the latest of
/// them as one new version (the records already there are one burst).
#[test]
fn kafka_a_starting_host_takes_the_published_bundle() {
    let t = Topics::new("ctl");
    let (dir, published) = (temp("ctl"), temp("ctl_published"));
    let rules = movable_rules();
    std::fs::write(dir.join("shop.evr"), &rules).unwrap();
    // Two records: an earlier bundle and the one to run; only the last one counts.
    for tag in ["\"v1\"", "\"v2\""] {
        t.publish(&published, &rules.replace("\"v0\"", tag));
    }
    let mut flags = t.flags("g");
    flags.extend(["--control-topic".into(), t.name("control")]);
    let host = Host::start(&dir, &flags);
    let line = host.wait_for("version 2 live", Duration::from_secs(60));
    assert!(line.contains("from control topic"), "{line}");
    let events = events(200, 0);
    t.produce(&events);
    let sales = events.iter().filter(|e| e.contains("\"buy\"")).count();
    let got = read(&[t.name("sales")], Duration::from_secs(60), |g| g.len() >= sales);
    let (code, err) = host.stop();
    assert_eq!(code, Some(0), "{err}");
    assert!(!err.contains("version 3 live"), "one version from the burst of two records: {err}");
    assert_eq!(got.len(), sales, "{err}");
    for g in &got {
        assert_eq!(g.headers["evr-version"], "2", "{g:?}");
        assert!(g.value.contains("\"v2\""), "made by the published rules: {g:?}");
    }
}

/// A Tansu broker of one test's own, in memory, on a port of its own: one it can stop and
/// start again. Tansu is the broker `scripts/test` installs; without it the test fails.
struct OwnBroker {
    port: u16,
    child: Child,
}

impl OwnBroker {
    fn start() -> OwnBroker {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        OwnBroker { port, child: OwnBroker::spawn(port) }
    }

    fn spawn(port: u16) -> Child {
        let cargo_bin = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
            .map(|home| home.join("bin/tansu"));
        let tansu = std::env::var_os("PATH")
            .and_then(|paths| std::env::split_paths(&paths).map(|p| p.join("tansu")).find(|p| p.is_file()))
            .or(cargo_bin.filter(|p| p.is_file()))
            .expect("Tansu (`tansu`) must be installed for the broker restart test; `scripts/test` installs it");
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(tansu)
            .args(["broker", "--storage-engine", "memory://tansu/", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("Tansu starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "Tansu did not listen on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the broker, waits `away`, and starts it again (empty: it keeps nothing).
    fn restart(&mut self, away: Duration) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::thread::sleep(away);
        self.child = OwnBroker::spawn(self.port);
    }
}

impl Drop for OwnBroker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The broker killed mid-stream and started again: the host waits while it is away, then
/// rejoins, and every output of the events sent after the restart arrives. (Tansu in memory
/// comes back empty, so the topics are made again and what was there before is gone.)
#[test]
fn kafka_broker_restart_loses_nothing() {
    let mut broker = OwnBroker::start();
    let t = Topics::on(&broker.addr(), "restart");
    t.produce(&events(300, 0));
    let topics = [t.name("views"), t.name("sales")];
    let host = Host::start_with(&bundle(), &t.flags("g"), &[("EVR_LOG", "info")]);
    let early = read_from(&broker.addr(), &topics, Duration::from_secs(60), |g| g.len() >= 50);
    assert!(early.len() >= 50, "outputs began to arrive: {}", early.len());
    broker.restart(Duration::from_secs(3));
    t.make();
    let after = events(300, 300);
    let (expected, _) = file_host(&after, &temp("restart"));
    t.produce(&after);
    let got = read_from(&broker.addr(), &topics, Duration::from_secs(120), |g| distinct(g, &t).len() >= expected.len());
    let (code, err) = host.stop();
    assert_eq!(code, Some(0), "{err}");
    let outputs = distinct(&got, &t);
    if outputs != expected {
        eprintln!("the host said:\n{err}");
    }
    assert_same(&outputs, &expected, "outputs after the broker restarted");
}
