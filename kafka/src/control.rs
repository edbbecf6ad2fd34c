//! The control topic: a compacted topic whose latest record is the bundle (`.evrb` bytes)
//! every instance of a group should run. Each instance reads all of it, from the beginning,
//! outside the group (every instance sees every record), and hands on the latest bundle of
//! each burst: an instance starting up reads the records written before it as one burst and
//! takes only the last. `publish` writes a bundle there.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use crate::settings::Settings;

/// The key of bundle records: compaction keeps the last record of each key.
pub const BUNDLE_KEY: &str = "bundle";

/// Records arriving this close together are one burst, of which only the last is handed on.
const BURST: Duration = Duration::from_millis(300);

/// Follows `topic` on a thread of its own until `stop` is raised, calling `apply` with the
/// bytes of each burst's latest record. The topic must exist; a broker that is away is waited
/// for (librdkafka reconnects).
pub fn follow(
    settings: &Settings,
    topic: &str,
    stop: Arc<AtomicBool>,
    apply: impl Fn(Vec<u8>) + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, String> {
    // Not in the run's group: every instance reads every record, and commits nothing.
    let group = format!("{}.control.{}", settings.group, std::process::id());
    let consumer: BaseConsumer = crate::host::config(
        settings,
        &[("group.id", &group), ("enable.auto.commit", "false"), ("enable.partition.eof", "false")],
    )
    .create()
    .map_err(|e| format!("cannot make the control topic's consumer: {e}"))?;
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(30))
        .map_err(|e| format!("cannot read the control topic {topic}: {e}"))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    if partitions.is_empty() {
        return Err(format!("the control topic {topic} does not exist (create it, compacted, with one partition)"));
    }
    let mut list = TopicPartitionList::new();
    for p in partitions {
        list.add_partition_offset(topic, p, Offset::Beginning).map_err(|e| format!("control topic {topic}: {e}"))?;
    }
    consumer.assign(&list).map_err(|e| format!("cannot read the control topic {topic}: {e}"))?;
    let topic = topic.to_owned();
    Ok(std::thread::spawn(move || {
        let mut latest: Option<(Instant, Vec<u8>)> = None;
        while !stop.load(Ordering::Relaxed) {
            match consumer.poll(Duration::from_millis(50)) {
                Some(Ok(m)) if m.key() == Some(BUNDLE_KEY.as_bytes()) => {
                    // A record without a value is a deletion: nothing to run.
                    if let Some(bytes) = m.payload().filter(|b| !b.is_empty()) {
                        latest = Some((Instant::now(), bytes.to_vec()));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    tracing::warn!(topic = %topic, error = %e, "reading the control topic failed; librdkafka retries")
                }
                None => {}
            }
            if latest.as_ref().is_some_and(|(at, _)| at.elapsed() >= BURST)
                && let Some((_, bytes)) = latest.take()
            {
                apply(bytes);
            }
        }
    }))
}

/// Writes `bundle` (the bytes of a built bundle) to the control topic, and waits until the
/// broker has it.
pub fn publish(settings: &Settings, topic: &str, bundle: &[u8]) -> Result<(), String> {
    let producer: ThreadedProducer<DefaultProducerContext> =
        crate::host::config(settings, &[("enable.idempotence", "true"), ("message.max.bytes", "104857600")])
            .create()
            .map_err(|e| format!("cannot make the producer: {e}"))?;
    producer
        .send(BaseRecord::<str, [u8]>::to(topic).key(BUNDLE_KEY).payload(bundle))
        .map_err(|(e, _)| format!("cannot send the bundle to {topic}: {e}"))?;
    producer.flush(Duration::from_secs(60)).map_err(|e| format!("the bundle did not reach {topic}: {e}"))
}
