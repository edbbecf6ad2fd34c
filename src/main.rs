//! The `evr` command: thin glue over the crates.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod admin;
mod build;
mod kafka_config;
mod load;
mod reload;
mod run;

/// Decoded lists and maps, emitted records and strings made by builtins are small, short-lived
/// allocations; mimalloc serves them faster than the system allocator (see benches/README.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
use evr_compiler::diag::{Code, human, json};

#[derive(Parser)]
#[command(name = "evr", version, about = "Typed event rules: filter, map, route and score event streams")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Type-check bundles and print every diagnostic. Each PATH (a .evr file, or a directory
    /// taken recursively) is one bundle.
    Check {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// How to print diagnostics.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Run a bundle over a file of events (one JSON event per line, or length-delimited
    /// protobuf records) and print each output as a JSON line.
    Run {
        /// The bundle: a .evr file or a directory.
        bundle: PathBuf,
        /// The events; `-` reads standard input.
        #[arg(long, required_unless_present_any = ["brokers", "config"], conflicts_with_all = ["brokers", "config"])]
        input: Option<PathBuf>,
        /// The source the events belong to (needed when the bundle has several).
        #[arg(long)]
        source: Option<String>,
        /// How events are framed in the input; by default, as the source is declared
        /// (`as json`: one event per line, `as protobuf`: length-delimited records).
        #[arg(long, value_enum)]
        input_format: Option<InputFormat>,
        /// Which evaluator runs the rules. `jit` compiles every rule to native code, or fails
        /// naming what it cannot compile yet; it never falls back silently.
        #[arg(long, value_enum, default_value_t = EngineArg::Jit)]
        engine: EngineArg,
        /// Keep running: after the end of the input wait for more (across truncation and
        /// rotation, as `tail -F`), and reload the bundle whenever one of its files changes or
        /// on SIGHUP. Each output line then tells the version that made it.
        #[arg(long)]
        follow: bool,
        #[command(flatten)]
        kafka: Box<kafka_config::KafkaArgs>,
    },
    /// Build a bundle file (.evrb) from sources: the rules, the compiled schemas they use and
    /// each unit's content hash. `run`, `test`, `bench` and `check` take it as they take sources.
    Build {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Where to write the bundle.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// List a built bundle's units with their hashes, sources and sinks.
    Inspect { bundle: PathBuf },
    /// Build a bundle and write it to a control topic: every `evr run --control-topic` host
    /// following that topic makes it its next version.
    Publish {
        /// The bundle: sources, or a built .evrb file.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// The brokers to bootstrap from (`host:port[,host:port]`).
        #[arg(long)]
        brokers: String,
        /// The compacted topic the hosts follow.
        #[arg(long, value_name = "TOPIC")]
        control_topic: String,
        /// A librdkafka property, passed through. Repeatable.
        #[arg(long, value_name = "KEY=VALUE", value_parser = evr_kafka::pair)]
        kafka: Vec<(String, String)>,
    },
    /// Run the `test` blocks of bundles. Each PATH is one bundle.
    Test {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Also write the results as JUnit XML to this file.
        #[arg(long)]
        junit: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = EngineArg::Jit)]
        engine: EngineArg,
    },
    /// Measure a bundle over events held in memory: decode + evaluate + encode, no file I/O.
    /// Prints the median of several runs, each with fresh state.
    Bench {
        bundle: PathBuf,
        /// The events (one JSON event per line).
        #[arg(long)]
        input: PathBuf,
        #[arg(long)]
        source: Option<String>,
        /// How many timed runs (after one warm-up run).
        #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(1..))]
        runs: u32,
        #[arg(long, value_enum, default_value_t = EngineArg::Jit)]
        engine: EngineArg,
    },
    /// Explain a diagnostic code, with an example.
    Explain {
        /// A code such as E0009.
        code: String,
    },
    /// Format .evr files in the one canonical layout (comments kept), in place. Each PATH is a
    /// file or a directory taken recursively. A file with syntax errors is left as it is.
    Fmt {
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Change nothing: list the files that are not formatted, and exit 1 if any.
        #[arg(long)]
        check: bool,
    },
    /// The language server, over stdin and stdout (editors start it; see editors/README.md).
    /// A file's bundle is every `.evr` file under its directory.
    Lsp,
}

#[derive(Clone, Copy, ValueEnum)]
enum EngineArg {
    /// The reference interpreter.
    Interp,
    /// Native code compiled by Cranelift.
    Jit,
}

#[derive(Clone, Copy, ValueEnum)]
enum InputFormat {
    /// One JSON event per line.
    Json,
    /// Records each preceded by its length as a varint.
    Protobuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Human,
    Json,
}

/// Exit status for a usage or I/O problem (clap uses 2 for usage errors too).
const USAGE: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Check { paths, format } => check(&paths, format),
        Command::Run { bundle, input, source, input_format, engine, follow, kafka } => match input {
            Some(input) => run::run(run::RunArgs {
                bundle: &bundle,
                input: &input,
                source: source.as_deref(),
                format: input_format,
                engine,
                follow,
            }),
            None => match kafka_config::settings(*kafka) {
                Ok((settings, http)) => run::run_kafka(&bundle, engine, settings, http),
                Err(why) => {
                    eprintln!("evr: {why}");
                    ExitCode::from(USAGE)
                }
            },
        },
        Command::Build { paths, output } => build::build(&paths, &output),
        Command::Inspect { bundle } => build::inspect(&bundle),
        Command::Publish { paths, brokers, control_topic, kafka } => {
            build::publish(&paths, brokers, &control_topic, kafka)
        }
        Command::Test { paths, junit, engine } => run::test(&paths, junit.as_deref(), engine),
        Command::Bench { bundle, input, source, runs, engine } => {
            run::bench(&bundle, &input, source.as_deref(), runs as usize, engine)
        }
        Command::Explain { code } => explain(&code),
        Command::Fmt { paths, check } => fmt(&paths, check),
        Command::Lsp => match evr_lsp::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(why) => {
                eprintln!("error: the language server stopped: {why}");
                ExitCode::FAILURE
            }
        },
    }
}

fn fmt(paths: &[PathBuf], check: bool) -> ExitCode {
    let (mut unformatted, mut broken, mut io_problem) = (0, 0, false);
    for path in paths {
        let files = match evr_compiler::bundle::load(path) {
            Ok(files) => files,
            Err(e) => {
                eprintln!("error: cannot read {e}");
                io_problem = true;
                continue;
            }
        };
        for (_, file) in files.iter() {
            let Some(formatted) = evr_grammar::format(&file.text) else {
                eprintln!("{}: not formatted: it has syntax errors (`evr check` shows them)", file.name);
                broken += 1;
                continue;
            };
            if *formatted == *file.text {
                continue;
            }
            if check {
                println!("{}: not formatted", file.name);
                unformatted += 1;
            } else if let Err(e) = std::fs::write(&file.path, formatted) {
                eprintln!("error: cannot write {}: {}", file.name, evr_compiler::files::io_reason(&e));
                io_problem = true;
            }
        }
    }
    if io_problem {
        ExitCode::from(2)
    } else if unformatted > 0 || broken > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Colour only on a terminal, and never with `NO_COLOR`.
fn color() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

fn check(paths: &[PathBuf], format: Format) -> ExitCode {
    let color = color();
    let mut any_error = false;
    let mut io_problem = false;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut err = std::io::stderr().lock();
    for path in paths {
        let analysis = match load::analyze(std::slice::from_ref(path)) {
            Ok(a) => a,
            Err(load::Problem::Io(why)) => {
                let _ = writeln!(err, "evr: {why}");
                io_problem = true;
                continue;
            }
            Err(load::Problem::Bundle(why)) => {
                let _ = writeln!(err, "evr: {why}");
                any_error = true;
                continue;
            }
        };
        any_error |= analysis.has_errors();
        for d in &analysis.diagnostics {
            let _ = match format {
                Format::Human => write!(err, "{}", human::render(&analysis.files, d, color)),
                Format::Json => writeln!(out, "{}", json::to_json(&analysis.files, d)),
            };
        }
        if let (Format::Human, Some(summary)) = (format, human::summary(&analysis.diagnostics)) {
            let _ = writeln!(err, "{}: {summary}", path.display());
        }
    }
    if io_problem {
        ExitCode::from(USAGE)
    } else if any_error {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn explain(code: &str) -> ExitCode {
    match Code::parse(code) {
        Some(c) => {
            run::say(&format!(
                "{} {}: {}\n\n{}\n",
                c.as_str(),
                if c.as_str().starts_with('W') { "warning" } else { "error" },
                c.title(),
                c.explanation()
            ));
            ExitCode::SUCCESS
        }
        None => {
            let codes: Vec<&str> = Code::ALL.iter().map(|c| c.as_str()).collect();
            eprintln!("evr: unknown code `{code}`; the codes are {}", codes.join(", "));
            ExitCode::from(USAGE)
        }
    }
}
