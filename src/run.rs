//! `evr run` and `evr test`: load and check a bundle, then hand it to the runtime.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use evr_compiler::diag::human;
use evr_compiler::files::Files;
use evr_compiler::files::io_reason;
use evr_compiler::ir::{Source, SourceId, WireFormat, is_shadow};
use evr_compiler::jit::OptLevel;
use evr_compiler::{Analysis, Parses};
use evr_grammar::ast::Module;
use evr_runtime::executor::{Config, Engine, Executor, Loaded, SetupError};
use evr_runtime::file_host::{self, Progress, Stats};
use evr_runtime::follow::Follow;
use evr_runtime::live::Live;
use evr_runtime::rule_tests;

use crate::{EngineArg, InputFormat, USAGE, color, load, reload};

/// Loads and checks a bundle; on errors prints them and gives the exit status to return.
pub fn load(paths: &[PathBuf]) -> Result<Analysis, ExitCode> {
    load_reusing(paths, &mut Parses::default())
}

/// [`load`], keeping parses in `parses` for a later reload.
fn load_reusing(paths: &[PathBuf], parses: &mut Parses) -> Result<Analysis, ExitCode> {
    let shown = paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" ");
    let analysis = match load::analyze_reusing(paths, parses, None) {
        Ok(a) => a,
        Err(load::Problem::Io(why)) => {
            eprintln!("evr: {why}");
            return Err(ExitCode::from(USAGE));
        }
        Err(load::Problem::Bundle(why)) => {
            eprintln!("evr: {why}");
            return Err(ExitCode::from(1));
        }
    };
    if analysis.has_errors() {
        report_diagnostics(&analysis);
        if let Some(s) = human::summary(&analysis.diagnostics) {
            eprintln!("{shown}: {s}; nothing was run");
        }
        return Err(ExitCode::from(1));
    }
    Ok(analysis)
}

pub fn report_diagnostics(analysis: &Analysis) {
    let color = color();
    let mut err = io::stderr().lock();
    for d in &analysis.diagnostics {
        let _ = write!(err, "{}", human::render(&analysis.files, d, color));
    }
}

/// A checked bundle made ready to run, its files (for diagnostics) and modules (to reuse).
fn prepare(analysis: Analysis, engine: EngineArg) -> Result<(Files, Vec<Module>, Arc<Loaded>), ExitCode> {
    let Analysis { files, program, schema, modules, .. } = analysis;
    let config = Config { engine: engine_of(engine), ..Config::default() };
    match Loaded::new(program, schema, config) {
        Ok(loaded) => Ok((files, modules, Arc::new(loaded))),
        Err(why) => {
            report_setup(&files, &why);
            Err(ExitCode::from(1))
        }
    }
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
    let per_sink = |counts: &[(String, u64)]| {
        let parts: Vec<String> = counts.iter().filter(|(_, n)| *n > 0).map(|(name, n)| format!("{name} {n}")).collect();
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
        let by_name: Vec<(String, u64)> =
            program.sinks.iter().map(|s| s.name.clone()).zip(shadow.outputs.iter().copied()).collect();
        text.push_str(&format!("; shadow: {shadow_outputs} outputs not written{}", per_sink(&by_name)));
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

/// Why a checked bundle cannot run: what the JIT cannot compile, as diagnostics at their place.
pub fn report_setup(files: &Files, why: &SetupError) {
    match why {
        SetupError::Unsupported(missing) => {
            let color = color();
            let mut err = io::stderr().lock();
            for m in missing {
                let _ = write!(err, "{}", human::render(files, &m.diagnostic(), color));
            }
        }
        SetupError::Other(why) => eprintln!("evr: cannot prepare the bundle: {why}"),
    }
}

/// What `evr run` was asked.
pub struct RunArgs<'a> {
    pub bundle: &'a Path,
    pub input: &'a Path,
    pub source: Option<&'a str>,
    pub format: Option<InputFormat>,
    pub engine: EngineArg,
    /// Tail the input and reload the bundle when it changes.
    pub follow: bool,
}

pub fn run(args: RunArgs) -> ExitCode {
    status(run_bundle(args))
}

fn run_bundle(args: RunArgs) -> Status {
    let paths = [args.bundle.to_path_buf()];
    let mut parses = Parses::default();
    let analysis = load_reusing(&paths, &mut parses)?;
    let source = pick_source(&analysis.program, args.source)?;
    let format = input_format(&analysis.program.sources[source.0 as usize], args.format)?;
    let source_name = analysis.program.sources[source.0 as usize].name.clone();
    let watched = args.follow.then(|| (load::watched(&paths, &analysis), reload::Read::of(&analysis)));
    let (files, modules, loaded) = prepare(analysis, args.engine)?;
    parses.keep(&files, modules);
    let (reader, size): (Box<dyn io::Read + Send>, Option<u64>) = if args.input == Path::new("-") {
        (Box::new(io::stdin()), None)
    } else {
        match File::open(args.input) {
            Ok(f) if f.metadata().is_ok_and(|m| m.is_dir()) => {
                eprintln!("evr: cannot read {}: it is a directory", args.input.display());
                return Err(ExitCode::from(USAGE));
            }
            Ok(_) if args.follow => match Follow::open(args.input) {
                Ok(f) => (Box::new(f), None),
                Err(e) => {
                    eprintln!("evr: cannot read {}: {}", args.input.display(), io_reason(&e));
                    return Err(ExitCode::from(USAGE));
                }
            },
            Ok(f) => {
                let size = f.metadata().ok().map(|m| m.len());
                (Box::new(f), size)
            }
            Err(e) => {
                eprintln!("evr: cannot read {}: {}", args.input.display(), io_reason(&e));
                return Err(ExitCode::from(USAGE));
            }
        }
    };
    // SIGINT and SIGTERM stop reading; the outputs so far are flushed and summed up. A second
    // one, while that happens, ends the process at once (exit status 130).
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 130, stop.clone());
        let _ = signal_hook::flag::register(signal, stop.clone());
    }
    let (mut exec, reloads) = match watched {
        Some((dirs, read)) => {
            let live = Live::new(loaded);
            let reloads = reload::start(paths.to_vec(), dirs, live.clone(), vec![source_name.clone()], parses, read);
            (Executor::following(live), Some(reloads))
        }
        None => (Executor::new(loaded), None),
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut watch = Watch { bar: progress_bar(size), stop };
    let result = file_host::run(&mut exec, &source_name, format, reader, &mut out, &mut watch);
    if let Some(bar) = &watch.bar {
        bar.finish_and_clear();
    }
    if let Ok(stats) = &result {
        let mut text = summary(&exec, stats);
        if let Some(r) = &reloads {
            text.push_str(&format!("; reloads: {} live, {} rejected", r.accepted(), r.rejected()));
        }
        eprintln!("{text}");
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

/// `evr run BUNDLE --brokers ...`: the bundle over Kafka, reloading whenever its files change
/// or on SIGHUP, until SIGINT or SIGTERM (then drained and committed: exit 0).
pub fn run_kafka(bundle: &Path, engine: EngineArg, settings: evr_kafka::Settings, http: Endpoints) -> ExitCode {
    status(kafka_bundle(bundle, engine, settings, http))
}

/// Where the Kafka host's HTTP endpoints listen.
pub struct Endpoints {
    /// `POST /reload` and `GET /metrics`.
    pub admin: Option<String>,
    /// `GET /metrics` alone.
    pub metrics: Option<String>,
    pub token: Option<String>,
    /// Whether a non-loopback address is allowed.
    pub remote: bool,
}

fn kafka_bundle(bundle: &Path, engine: EngineArg, settings: evr_kafka::Settings, http: Endpoints) -> Status {
    log_to_stderr();
    let paths = [bundle.to_path_buf()];
    let mut parses = Parses::default();
    let analysis = load_reusing(&paths, &mut parses)?;
    let sources: Vec<String> = analysis.program.sources.iter().map(|s| s.name.clone()).collect();
    let (dirs, read) = (load::watched(&paths, &analysis), reload::Read::of(&analysis));
    let (files, modules, loaded) = prepare(analysis, engine)?;
    parses.keep(&files, modules);
    let live = Live::new(loaded);
    let reloads = Arc::new(reload::start(paths.to_vec(), dirs, live.clone(), sources, parses, read));
    let counters = Arc::new(evr_kafka::Counters::default());
    let state = Arc::new(crate::admin::State {
        counters: counters.clone(),
        live: live.clone(),
        reloads: reloads.clone(),
        token: http.token,
    });
    for (addr, reload) in [(&http.admin, true), (&http.metrics, false)] {
        let Some(addr) = addr else { continue };
        match crate::admin::serve(addr, http.remote, reload, state.clone()) {
            Ok(at) => {
                let what = if reload { "/reload and /metrics" } else { "/metrics" };
                tracing::info!("serving {what} on http://{at}");
            }
            Err(why) => {
                eprintln!("evr: {why}");
                return Err(ExitCode::from(USAGE));
            }
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_shutdown(signal, 130, stop.clone());
        let _ = signal_hook::flag::register(signal, stop.clone());
    }
    if let Some(topic) = &settings.control_topic {
        let (reloads, from) = (reloads.clone(), format!("control topic {topic}"));
        // The reloader logs how each went.
        let apply = move |bytes| drop(reloads.reload_built(bytes, from.clone()));
        if let Err(why) = evr_kafka::control::follow(&settings, topic, stop.clone(), apply) {
            eprintln!("evr: {why}");
            return Err(ExitCode::from(1));
        }
        tracing::info!(topic = %topic, "following control topic {topic}");
    }
    let topics: Vec<String> = live.current().program().sources.iter().map(|s| settings.source_topic(&s.name)).collect();
    let version = live.current().version();
    let (group, brokers) = (&settings.group, &settings.brokers);
    tracing::info!(version, "version {version} live; consuming {} as group {group} from {brokers}", topics.join(", "));
    progress_line(counters.clone(), live.clone(), stop.clone());
    match evr_kafka::run(live, settings, stop, counters.clone()) {
        Ok(()) => {
            let c = &counters;
            let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            eprintln!(
                "evr: {} events: {} outputs, {} dropped, {} dirty; {} deliveries sent again; reloads: {} live, {} rejected",
                n(&c.events),
                n(&c.outputs),
                n(&c.dropped),
                n(&c.dirty),
                n(&c.resent),
                reloads.accepted(),
                reloads.rejected()
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            eprintln!("evr: {why}");
            Err(ExitCode::from(1))
        }
    }
}

/// Structured logs of the Kafka host on stderr (`EVR_LOG` filters them, as `RUST_LOG` would:
/// `EVR_LOG=evr_kafka=debug`).
fn log_to_stderr() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EVR_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(filter)
        .try_init();
}

/// On a terminal, a line kept up to date: events consumed, their rate, the lag, the version.
fn progress_line(counters: Arc<evr_kafka::Counters>, live: Arc<Live>, stop: Arc<AtomicBool>) {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return;
    }
    std::thread::spawn(move || {
        let bar = indicatif::ProgressBar::new_spinner();
        let (mut before, mut at) = (0u64, std::time::Instant::now());
        while !stop.load(Ordering::Relaxed) {
            std::thread::sleep(std::time::Duration::from_secs(1));
            let events = counters.events.load(Ordering::Relaxed);
            let rate = (events - before) as f64 / at.elapsed().as_secs_f64();
            (before, at) = (events, std::time::Instant::now());
            let lag: i64 = counters.lag().iter().map(|(_, l)| l).sum();
            bar.set_message(format!("{events} events, {rate:.0}/s, lag {lag}, version {}", live.current().version()));
            bar.tick();
        }
        bar.finish_and_clear();
    });
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
    let analysis = load(&[bundle.to_path_buf()])?;
    let source = pick_source(&analysis.program, source)?;
    let format = input_format(&analysis.program.sources[source.0 as usize], None)?;
    let source_name = analysis.program.sources[source.0 as usize].name.clone();
    let (_, _, loaded) = prepare(analysis, engine)?;
    let text = std::fs::read(input).map_err(|e| {
        eprintln!("evr: cannot read {}: {}", input.display(), io_reason(&e));
        ExitCode::from(USAGE)
    })?;
    let mut per_run = Vec::with_capacity(runs);
    let mut last = Stats::default();
    for run in 0..=runs {
        // The file host's own loop, over the events in memory, its output thrown away.
        let mut exec = Executor::new(loaded.clone());
        let start = std::time::Instant::now();
        let stats =
            file_host::run(&mut exec, &source_name, format, io::Cursor::new(text.clone()), &mut io::sink(), &mut ())
                .map_err(|e| {
                    eprintln!("evr: {e}");
                    ExitCode::from(USAGE)
                })?;
        let elapsed = start.elapsed();
        // The first run warms caches and allocator; it is not counted.
        if run > 0 {
            per_run.push(elapsed);
            last = stats;
        }
    }
    if last.events == 0 {
        eprintln!("evr: {} holds no events", input.display());
        return Err(ExitCode::from(USAGE));
    }
    per_run.sort();
    let median = per_run[per_run.len() / 2];
    let n = last.events as f64;
    say(&format!(
        "{} events, {} outputs, {} dirty per run; median of {} runs: {:.0} events/s, {:.0} ns/event (engine: {})\n",
        last.events,
        last.outputs,
        last.dirty,
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
        let analysis = match load(std::slice::from_ref(path)) {
            Ok(a) => a,
            Err(code) => {
                status = code;
                continue;
            }
        };
        let Analysis { files, program, schema, .. } = analysis;
        let location = |span: evr_compiler::Span| files.location(span);
        let config = Config { engine: engine_of(engine), ..Config::default() };
        let tests = program.tests.clone();
        let results = match Loaded::new(program, schema, config) {
            Ok(loaded) => rule_tests::run_all(&Arc::new(loaded), &location),
            Err(why) => {
                // Tests that cannot run are failed, not absent: "0 passed, 0 failed" would read
                // as a bundle without tests.
                report_setup(&files, &why);
                rule_tests::not_run(&tests, &location, &why)
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
