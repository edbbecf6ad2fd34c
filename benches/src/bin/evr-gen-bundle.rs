//! Writes a generated bundle of N rules to a directory: `evr-gen-bundle N DIR`.

use std::path::PathBuf;

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(n), Some(dir)) = (args.next().and_then(|n| n.parse::<usize>().ok()), args.next()) else {
        eprintln!("usage: evr-gen-bundle N DIR");
        std::process::exit(2);
    };
    let dir = PathBuf::from(dir);
    let schemas = dir.join("schemas");
    std::fs::create_dir_all(&schemas).expect("create the bundle directory");
    std::fs::copy(evr_benches::workload_dir().join("schemas/app.proto"), schemas.join("app.proto"))
        .expect("copy the schema");
    std::fs::write(dir.join("rules.evr"), evr_benches::bundle(n)).expect("write rules.evr");
}
