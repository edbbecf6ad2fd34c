//! Parse and check throughput of the front end over generated bundles.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use evr_compiler::files::Files;

fn files(n: usize) -> Files {
    let mut files = Files::default();
    files.add(evr_benches::workload_dir().join("rules.evr"), "rules.evr", evr_benches::bundle(n));
    files
}

fn front_end(c: &mut Criterion) {
    let mut group = c.benchmark_group("front_end");
    group.sample_size(10);
    for n in [100usize, 1_000, 10_000] {
        let text = evr_benches::bundle(n);
        group.throughput(Throughput::Bytes(text.len() as u64));
        group.bench_with_input(BenchmarkId::new("parse", n), &text, |b, text| b.iter(|| evr_grammar::parse(0, text)));
        group.throughput(Throughput::Elements(n as u64));
        group.bench_with_input(BenchmarkId::new("parse_and_check", n), &n, |b, &n| {
            b.iter_batched(|| files(n), evr_compiler::analyze, criterion::BatchSize::LargeInput)
        });
    }
    group.finish();
}

criterion_group!(benches, front_end);
criterion_main!(benches);
