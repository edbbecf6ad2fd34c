//! Writes a generated bundle of N rules to a directory, and M events for it:
//! `evr-gen-bundle N DIR [M]` (M defaults to 100,000; events go to DIR/events.jsonl).

use std::io::Write;
use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(n), Some(dir)) = (args.next().and_then(|n| n.parse::<usize>().ok()), args.next()) else {
        eprintln!("usage: evr-gen-bundle RULES DIR [EVENTS]");
        std::process::exit(2);
    };
    let m = args.next().and_then(|m| m.parse::<usize>().ok()).unwrap_or(100_000);
    let dir = PathBuf::from(dir);
    let schemas = dir.join("schemas");
    std::fs::create_dir_all(&schemas).expect("create the bundle directory");
    std::fs::copy(evr_benches::workload_dir().join("schemas/app.proto"), schemas.join("app.proto"))
        .expect("copy the schema");
    std::fs::write(dir.join("rules.evr"), evr_benches::bundle(n)).expect("write rules.evr");
    let mut events =
        std::io::BufWriter::new(std::fs::File::create(dir.join("events.jsonl")).expect("create events.jsonl"));
    for e in evr_benches::events(m, n) {
        writeln!(events, "{e}").expect("write events.jsonl");
    }
}
