//! `evr run` and `evr test`: load and check a bundle, then hand it to the runtime.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use evr_compiler::Analysis;
use evr_compiler::diag::human;
use evr_compiler::files::io_reason;
use evr_compiler::ir::{Source, SourceId, WireFormat, is_shadow};
use evr_compiler::jit::OptLevel;
use evr_runtime::executor::{Config, Engine, Executor, SetupError};
use evr_runtime::file_host::{self, Progress, Stats};
use evr_runtime::rule_tests;

use crate::{EngineArg, InputFormat, USAGE, color};

/// Loads and checks a bundle; on errors prints them and gives the exit status to return.
fn load(path: &Path) -> Result<Analysis, ExitCode> {
    let files = match evr_compiler::bundle::load(path) {
        Ok(f) if f.is_empty() => {
            eprintln!("evr: {}: no .evr files found", path.display());
            return Err(ExitCode::from(USAGE));
        }
        Ok(f) => f,
        Err(e) => {
            eprintln!("evr: cannot read {e}");
            return Err(ExitCode::from(USAGE));
        }
    };
    let analysis = evr_compiler::analyze(files);
    if analysis.has_errors() {
        let color = color();
        let mut err = io::stderr().lock();
        for d in &analysis.diagnostics {
            let _ = write!(err, "{}", human::render(&analysis.files, d, color));
        }
        if let Some(s) = human::summary(&analysis.diagnostics) {
            let _ = writeln!(err, "{}: {s}; nothing was run", path.display());
        }
        return Err(ExitCode::from(1));
    }
    Ok(analysis)
}

/// The run's hooks: a progress bar or spinner when someone watches stderr, and the flag that
/// SIGINT and SIGTERM raise.
struct Watch {
    bar: Option<indicatif::ProgressBar>,
    stop: Arc<AtomicBool>,
}

impl Progress for Watch {
    fn advance(&mut self, bytes: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(bytes);
        }
    }

    fn stop_requested(&mut self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }
}

/// A bar for a long file, a spinner for a stream; only when someone watches stderr and the
/// outputs go elsewhere (on the same terminal they would tear the line apart, and show the
/// progress themselves).
fn progress_bar(size: Option<u64>) -> Option<indicatif::ProgressBar> {
    if !io::stderr().is_terminal() || io::stdout().is_terminal() {
        return None;
    }
    let bar = match size {
        Some(size) if size > (8 << 20) => indicatif::ProgressBar::new(size).with_style(
            indicatif::ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        ),
        Some(_) => return None,
        None => indicatif::ProgressBar::new_spinner().with_style(
            indicatif::ProgressStyle::with_template("{spinner} {bytes} read, {bytes_per_sec} ({elapsed})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        ),
    };
    Some(bar)
}

/// The summary every run ends with, on stderr.
fn summary(exec: &Executor, stats: &Stats) -> String {
    let program = exec.program();
    let per_sink = |counts: &[u64]| {
        let parts: Vec<String> = counts
            .iter()
            .zip(&program.sinks)
            .filter(|(n, _)| **n > 0)
            .map(|(n, s)| format!("{} {n}", s.name))
            .collect();
        if parts.is_empty() { String::new() } else { format!(" ({})", parts.join(", ")) }
    };
    let shadow = exec.shadow();
    let mut text = format!(
        "evr: {} events{}: {} outputs{}, {} dropped, {} dirty",
        stats.events,
        if stats.stopped { " (stopped)" } else { "" },
        stats.outputs,
        per_sink(&stats.per_sink),
        stats.dropped,
        stats.dirty
    );
    let shadow_outputs: u64 = shadow.outputs.iter().sum();
    let shadow_drops: u64 = shadow.drops.iter().sum();
    if shadow_outputs > 0 || shadow_drops > 0 || program.rules.iter().any(|r| is_shadow(&r.annotations)) {
        text.push_str(&format!("; shadow: {shadow_outputs} outputs not written{}", per_sink(&shadow.outputs)));
        if shadow_drops > 0 {
            text.push_str(&format!(", {shadow_drops} events not dropped"));
        }
    }
    text
}

/// The exit status either way: the commands below return early with `?` on a problem already
/// reported.
type Status = Result<ExitCode, ExitCode>;

fn status(s: Status) -> ExitCode {
    match s {
        Ok(code) | Err(code) => code,
    }
}

fn engine_of(engine: EngineArg) -> Engine {
    match engine {
        EngineArg::Interp => Engine::Interpreter,
        EngineArg::Jit => Engine::Jit(OptLevel::Speed),
    }
}

fn executor(analysis: &Analysis, engine: EngineArg) -> Result<Executor<'_>, ExitCode> {
    let engine = engine_of(engine);
    Executor::new(&analysis.program, &analysis.schema, Config { engine, ..Config::default() }).map_err(|why| {
        report_setup(analysis, &why);
        ExitCode::from(1)
    })
}

/// Why a checked bundle cannot run: what the JIT cannot compile, as diagnostics at their place.
fn report_setup(analysis: &Analysis, why: &SetupError) {
    match why {
        SetupError::Unsupported(missing) => {
            let color = color();
            let mut err = io::stderr().lock();
            for m in missing {
                let _ = write!(err, "{}", human::render(&analysis.files, &m.diagnostic(), color));
            }
        }
        SetupError::Other(why) => eprintln!("evr: cannot prepare the bundle: {why}"),
    }
}

pub fn run(
    bundle: &Path,
    input: &Path,
    source: Option<&str>,
    format: Option<InputFormat>,
    engine: EngineArg,
) -> ExitCode {
    status(run_bundle(bundle, input, source, format, engine))
}

fn run_bundle(
    bundle: &Path,
    input: &Path,
    source: Option<&str>,
    format: Option<InputFormat>,
    engine: EngineArg,
) -> Status {
    let analysis = load(bundle)?;
    let source = pick_source(&analysis.program, source)?;
    let mut exec = executor(&analysis, engine)?;
    let (reader, size): (Box<dyn io::Read + Send>, Option<u64>) = if input == Path::new("-") {
        (Box::new(io::stdin()), None)
    } else {
        match File::open(input) {
            Ok(f) if f.metadata().is_ok_and(|m| m.is_dir()) => {
                eprintln!("evr: cannot read {}: it is a directory", input.display());
                return Err(ExitCode::from(USAGE));
            }
            Ok(f) => {
                let size = f.metadata().ok().map(|m| m.len());
                (Box::new(f), size)
            }
            Err(e) => {
                eprintln!("evr: cannot read {}: {}", input.display(), io_reason(&e));
                return Err(ExitCode::from(USAGE));
            }
        }
    };
    let format = input_format(&analysis.program.sources[source.0 as usize], format)?;
    // SIGINT and SIGTERM stop reading; the outputs so far are flushed and summed up. A second
    // one, while that happens, ends the process at once (exit status 130).
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 130, stop.clone());
        let _ = signal_hook::flag::register(signal, stop.clone());
    }
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut watch = Watch { bar: progress_bar(size), stop };
    let result = file_host::run(&mut exec, source, format, reader, &mut out, &mut watch);
    if let Some(bar) = &watch.bar {
        bar.finish_and_clear();
    }
    if let Ok(stats) = &result {
        eprintln!("{}", summary(&exec, stats));
    }
    match result {
        Ok(_) => Ok(ExitCode::SUCCESS),
        // A closed pipe (`evr run ... | head`) is the reader's choice, not a failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(ExitCode::SUCCESS),
        Err(e) => {
            eprintln!("evr: {e}");
            Err(ExitCode::from(USAGE))
        }
    }
}

/// How the input is framed: as asked, or as the source is declared. Events are decoded as the
/// source says, so a framing of the other format is refused rather than made all dirty.
fn input_format(source: &Source, asked: Option<InputFormat>) -> Result<file_host::InputFormat, ExitCode> {
    match (source.format, asked) {
        (WireFormat::Json, None | Some(InputFormat::Json)) => Ok(file_host::InputFormat::JsonLines),
        (WireFormat::Protobuf, None | Some(InputFormat::Protobuf)) => Ok(file_host::InputFormat::DelimitedProtobuf),
        (WireFormat::Json, Some(InputFormat::Protobuf)) => {
            eprintln!(
                "evr: source `{}` is declared `as json`: its events are JSON lines, not protobuf records (drop --input-format protobuf)",
                source.name
            );
            Err(ExitCode::from(USAGE))
        }
        (WireFormat::Protobuf, Some(InputFormat::Json)) => {
            eprintln!(
                "evr: source `{}` is declared `as protobuf`: its events are length-delimited protobuf records, not JSON lines (drop --input-format json)",
                source.name
            );
            Err(ExitCode::from(USAGE))
        }
    }
}

/// The source events belong to: the named one, or the bundle's only one.
fn pick_source(program: &evr_compiler::ir::Program, name: Option<&str>) -> Result<SourceId, ExitCode> {
    let names: Vec<&str> = program.sources.iter().map(|s| s.name.as_str()).collect();
    let index = match (name, names.len()) {
        (Some(name), _) => names.iter().position(|n| *n == name).ok_or_else(|| {
            eprintln!("evr: the bundle has no source `{name}`; its sources are: {}", names.join(", "));
            ExitCode::from(USAGE)
        })?,
        (None, 1) => 0,
        (None, 0) => {
            eprintln!("evr: the bundle declares no source");
            return Err(ExitCode::from(USAGE));
        }
        (None, _) => {
            eprintln!("evr: the bundle has several sources; choose one with --source ({})", names.join(", "));
            return Err(ExitCode::from(USAGE));
        }
    };
    Ok(SourceId(index as u32))
}

pub fn bench(bundle: &Path, input: &Path, source: Option<&str>, runs: usize, engine: EngineArg) -> ExitCode {
    status(bench_bundle(bundle, input, source, runs, engine))
}

fn bench_bundle(bundle: &Path, input: &Path, source: Option<&str>, runs: usize, engine: EngineArg) -> Status {
    let analysis = load(bundle)?;
    let source = pick_source(&analysis.program, source)?;
    let text = std::fs::read(input).map_err(|e| {
        eprintln!("evr: cannot read {}: {e}", input.display());
        ExitCode::from(USAGE)
    })?;
    let events: Vec<&[u8]> = text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
    if events.is_empty() {
        eprintln!("evr: {} holds no events", input.display());
        return Err(ExitCode::from(USAGE));
    }
    let mut per_run = Vec::with_capacity(runs);
    let mut counts = (0usize, 0usize);
    for run in 0..=runs {
        let mut exec = executor(&analysis, engine)?;
        let (mut outputs, mut produced, mut dirty) = (Vec::new(), 0usize, 0usize);
        let start = std::time::Instant::now();
        for e in &events {
            outputs.clear();
            exec.process(source, e, &mut outputs);
            for o in &outputs {
                match exec.payload(source, e, o) {
                    Some(bytes) => {
                        std::hint::black_box(bytes);
                        produced += 1;
                    }
                    None => dirty += 1,
                }
            }
        }
        let elapsed = start.elapsed();
        // The first run warms caches and allocator; it is not counted.
        if run > 0 {
            per_run.push(elapsed);
            counts = (produced, dirty);
        }
    }
    per_run.sort();
    let median = per_run[per_run.len() / 2];
    let n = events.len() as f64;
    say(&format!(
        "{} events, {} outputs, {} dirty per run; median of {} runs: {:.0} events/s, {:.0} ns/event (engine: {})\n",
        events.len(),
        counts.0,
        counts.1,
        per_run.len(),
        n / median.as_secs_f64(),
        median.as_nanos() as f64 / n,
        match engine {
            EngineArg::Interp => "interpreter",
            EngineArg::Jit => "jit",
        }
    ));
    Ok(ExitCode::SUCCESS)
}

pub fn test(paths: &[PathBuf], junit: Option<&Path>, engine: EngineArg) -> ExitCode {
    let mut suites = Vec::new();
    let mut status = ExitCode::SUCCESS;
    let (mut passed, mut failed) = (0, 0);
    for path in paths {
        let analysis = match load(path) {
            Ok(a) => a,
            Err(code) => {
                status = code;
                continue;
            }
        };
        let location = |span: evr_compiler::Span| analysis.files.location(span);
        let results = match rule_tests::run_all(&analysis.program, &analysis.schema, engine_of(engine), &location) {
            Ok(r) => r,
            Err(why) => {
                // Tests that cannot run are failed, not absent: "0 passed, 0 failed" would read
                // as a bundle without tests.
                report_setup(&analysis, &why);
                rule_tests::not_run(&analysis.program, &location, &why)
            }
        };
        passed += results.iter().filter(|r| r.failure.is_none()).count();
        failed += results.iter().filter(|r| r.failure.is_some()).count();
        say(&rule_tests::report(&path.display().to_string(), &results));
        suites.push((path.display().to_string(), results));
    }
    say(&format!("{passed} passed, {failed} failed\n"));
    if let Some(file) = junit
        && let Err(e) = std::fs::write(file, rule_tests::junit(&suites))
    {
        eprintln!("evr: cannot write {}: {e}", file.display());
        return ExitCode::from(USAGE);
    }
    if failed > 0 { ExitCode::from(1) } else { status }
}

/// Prints to stdout; a reader that went away (`evr explain E0001 | head`) is its choice, not an
/// error to report, and never a panic.
pub fn say(text: &str) {
    let mut out = io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}
