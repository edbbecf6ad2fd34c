//! `evr build` and `evr inspect`: writing a bundle file and showing what one holds.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use evr_compiler::evrb;
use evr_compiler::files::io_reason;

use crate::USAGE;
use crate::run::{load, say};

pub fn build(paths: &[PathBuf], output: &Path) -> ExitCode {
    let Ok(analysis) = load(paths) else { return ExitCode::from(1) };
    let bytes = evrb::build(&analysis);
    // Written aside and renamed, so that a host watching the file never reads half of it.
    let tmp = output.with_extension("evrb.tmp");
    if let Err(e) = std::fs::write(&tmp, &bytes).and_then(|()| std::fs::rename(&tmp, output)) {
        let _ = std::fs::remove_file(&tmp);
        eprintln!("evr: cannot write {}: {}", output.display(), io_reason(&e));
        return ExitCode::from(USAGE);
    }
    let units = analysis.program.units().count();
    say(&format!("{}: {units} units, {} bytes\n", output.display(), bytes.len()));
    ExitCode::SUCCESS
}

/// `evr publish`: the bundle, built, as the latest record of a control topic.
pub fn publish(paths: &[PathBuf], brokers: String, topic: &str, kafka: Vec<(String, String)>) -> ExitCode {
    let Ok(analysis) = load(paths) else { return ExitCode::from(1) };
    let bytes = evrb::build(&analysis);
    let mut settings = evr_kafka::Settings::new(brokers, "evr-publish");
    settings.kafka = kafka;
    match evr_kafka::control::publish(&settings, topic, &bytes) {
        Ok(()) => {
            let units = analysis.program.units().count();
            say(&format!(
                "published {units} units ({} bytes, hash {:016x}) to {topic}\n",
                bytes.len(),
                xxhash_of(&bytes)
            ));
            ExitCode::SUCCESS
        }
        Err(why) => {
            eprintln!("evr: {why}");
            ExitCode::from(1)
        }
    }
}

pub fn inspect(path: &Path) -> ExitCode {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("evr: cannot read {}: {}", path.display(), io_reason(&e));
            return ExitCode::from(USAGE);
        }
    };
    let body = match evrb::read(&bytes) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("evr: {}: {e}", path.display());
            return ExitCode::from(1);
        }
    };
    let mut text = format!(
        "{}: bundle format {}, built by {}, hash {:016x}\nsources: {}\n",
        path.display(),
        body.format,
        body.compiler,
        xxhash_of(&bytes),
        body.sources.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", ")
    );
    for u in &body.units {
        let sinks = if u.sinks.is_empty() { String::new() } else { format!(" -> {}", u.sinks.join(", ")) };
        text.push_str(&format!("{:016x}  {:<5} {}  (source {}){sinks}\n", u.hash, u.kind, u.name, u.source));
    }
    say(&text);
    ExitCode::SUCCESS
}

/// The hash the bundle's envelope holds (of its body).
fn xxhash_of(bytes: &[u8]) -> u64 {
    use prost::Message as _;
    let rest = &bytes[evrb::MAGIC.len()..];
    evrb::Envelope::decode(rest).map_or(0, |e| e.hash)
}
