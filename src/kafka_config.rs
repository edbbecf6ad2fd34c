//! The Kafka host's settings: flags over a TOML file (`--config`), the file's unknown keys and
//! wrong types refused with their place.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::run::Endpoints;

/// `evr run BUNDLE --brokers ...`: the bundle over Kafka topics instead of a file.
#[derive(clap::Args)]
pub struct KafkaArgs {
    /// Run over Kafka: the brokers to bootstrap from (`host:port[,host:port]`). The bundle is
    /// reloaded whenever one of its files changes, or on SIGHUP.
    #[arg(long, help_heading = "Kafka")]
    pub brokers: Option<String>,
    /// A TOML file with any of these settings (flags override it) and a `[kafka]` table of
    /// librdkafka properties.
    #[arg(long, value_name = "FILE", help_heading = "Kafka")]
    pub config: Option<PathBuf>,
    /// The consumer group: instances in one group share the partitions.
    /// (default: evr)
    #[arg(long, help_heading = "Kafka")]
    pub group: Option<String>,
    /// The topic a source reads (default: the source's name). Repeatable.
    #[arg(long, value_name = "SOURCE=TOPIC", value_parser = evr_kafka::pair, help_heading = "Kafka")]
    pub topic: Vec<(String, String)>,
    /// The topic a sink writes (default: the sink's name). Repeatable.
    #[arg(long, value_name = "SINK=TOPIC", value_parser = evr_kafka::pair, help_heading = "Kafka")]
    pub sink_topic: Vec<(String, String)>,
    /// Where dirty records go; `{source}` is the source's name.
    /// (default: {source}.dirty)
    #[arg(long, help_heading = "Kafka")]
    pub dirty_topic: Option<String>,
    /// Worker threads that evaluate (default: the cores).
    #[arg(long, help_heading = "Kafka")]
    pub workers: Option<usize>,
    /// Messages queued for each worker; past it, the partitions the worker serves are paused
    /// until it catches up (default: 512).
    #[arg(long, value_name = "MESSAGES", help_heading = "Kafka")]
    pub queue: Option<usize>,
    /// A librdkafka property, passed through (`--kafka security.protocol=ssl`). Repeatable.
    #[arg(long, value_name = "KEY=VALUE", value_parser = evr_kafka::pair, help_heading = "Kafka")]
    pub kafka: Vec<(String, String)>,
    /// Serve `POST /reload` (bearer token required) and `GET /metrics` on this address.
    #[arg(long, value_name = "ADDR", help_heading = "Kafka")]
    pub admin: Option<String>,
    /// The file holding the admin token (default: the EVR_ADMIN_TOKEN variable).
    #[arg(long, value_name = "FILE", help_heading = "Kafka")]
    pub admin_token_file: Option<PathBuf>,
    /// Allow the admin and metrics endpoints on an address other machines can reach.
    #[arg(long, help_heading = "Kafka")]
    pub admin_remote: bool,
    /// Serve Prometheus metrics (`GET /metrics`) on this address.
    #[arg(long, value_name = "ADDR", help_heading = "Kafka")]
    pub metrics: Option<String>,
    /// Also take new versions from this compacted topic (its latest record is a built bundle,
    /// written by `evr publish`), so that every instance moves to the same bundle.
    #[arg(long, value_name = "TOPIC", help_heading = "Kafka")]
    pub control_topic: Option<String>,
}

/// The `--config` file: every flag by its name (`_` for `-`), `[topics]`, `[sink_topics]`
/// and `[kafka]` tables.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    brokers: Option<String>,
    group: Option<String>,
    #[serde(default)]
    topics: HashMap<String, String>,
    #[serde(default)]
    sink_topics: HashMap<String, String>,
    dirty_topic: Option<String>,
    workers: Option<usize>,
    queue: Option<usize>,
    #[serde(default)]
    kafka: HashMap<String, String>,
    admin: Option<String>,
    admin_token_file: Option<PathBuf>,
    #[serde(default)]
    admin_remote: bool,
    metrics: Option<String>,
    control_topic: Option<String>,
}

/// The settings of a Kafka run: the flags, over the config file when one is named.
pub fn settings(args: KafkaArgs) -> Result<(evr_kafka::Settings, Endpoints), String> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read {}: {}", path.display(), evr_compiler::files::io_reason(&e)))?;
            toml::from_str::<File>(&text).map_err(|e| format!("{}: {}", path.display(), e.to_string().trim_end()))?
        }
        None => File::default(),
    };
    let brokers = args.brokers.or(file.brokers).ok_or("no brokers: give --brokers or `brokers` in --config")?;
    let group = args.group.or(file.group).unwrap_or_else(|| "evr".to_owned());
    let mut settings = evr_kafka::Settings::new(brokers, group);
    settings.source_topics = file.topics;
    settings.source_topics.extend(args.topic);
    settings.sink_topics = file.sink_topics;
    settings.sink_topics.extend(args.sink_topic);
    if let Some(d) = args.dirty_topic.or(file.dirty_topic) {
        settings.dirty_topic = d;
    }
    if let Some(w) = args.workers.or(file.workers) {
        settings.workers = w;
    }
    if let Some(q) = args.queue.or(file.queue) {
        settings.queue = q.max(1);
    }
    // librdkafka properties: the file's, then the flags' (later ones win).
    let mut kafka: Vec<(String, String)> = file.kafka.into_iter().collect();
    kafka.sort();
    kafka.extend(args.kafka);
    settings.kafka = kafka;
    settings.control_topic = args.control_topic.or(file.control_topic);
    let token = match args.admin_token_file.or(file.admin_token_file) {
        Some(path) => Some(
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {}", path.display(), evr_compiler::files::io_reason(&e)))?
                .trim()
                .to_owned(),
        ),
        None => std::env::var("EVR_ADMIN_TOKEN").ok().filter(|t| !t.is_empty()),
    };
    let http = Endpoints {
        admin: args.admin.or(file.admin),
        metrics: args.metrics.or(file.metrics),
        token,
        remote: args.admin_remote || file.admin_remote,
    };
    Ok((settings, http))
}
