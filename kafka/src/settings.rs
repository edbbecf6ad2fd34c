//! What a Kafka run is told: where the brokers are, which group it joins, which topics the
//! sources and sinks are, and librdkafka properties passed through.

use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct Settings {
    /// `host:port[,host:port...]`
    pub brokers: String,
    pub group: String,
    /// Topic by source name; a source not named here reads the topic of its own name.
    pub source_topics: HashMap<String, String>,
    /// Topic by sink name; a sink not named here writes the topic of its own name.
    pub sink_topics: HashMap<String, String>,
    /// Where dirty records of a source go; `{source}` stands for its name.
    pub dirty_topic: String,
    /// Worker threads that evaluate (partitions are spread over them).
    pub workers: usize,
    /// Messages queued for a worker before the partitions it serves are paused.
    pub queue: usize,
    /// librdkafka properties for both consumer and producer, applied after evr's own.
    pub kafka: Vec<(String, String)>,
    /// The compacted topic whose latest record is the bundle to run ([`crate::control`]).
    pub control_topic: Option<String>,
}

impl Settings {
    pub fn new(brokers: impl Into<String>, group: impl Into<String>) -> Settings {
        Settings {
            brokers: brokers.into(),
            group: group.into(),
            source_topics: HashMap::new(),
            sink_topics: HashMap::new(),
            dirty_topic: "{source}.dirty".to_owned(),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue: 512,
            kafka: Vec::new(),
            control_topic: None,
        }
    }

    pub fn source_topic(&self, source: &str) -> String {
        self.source_topics.get(source).cloned().unwrap_or_else(|| source.to_owned())
    }

    pub fn sink_topic(&self, sink: &str) -> String {
        self.sink_topics.get(sink).cloned().unwrap_or_else(|| sink.to_owned())
    }

    pub fn dirty_topic(&self, source: &str) -> String {
        self.dirty_topic.replace("{source}", source)
    }
}

/// Parses `NAME=TOPIC` (for `--topic` and `--sink-topic`) or `key=value` (for `--kafka`).
pub fn pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() && !v.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}
