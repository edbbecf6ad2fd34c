//! The `evr` command: thin glue over the crates.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
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
    /// Explain a diagnostic code, with an example.
    Explain {
        /// A code such as E0009.
        code: String,
    },
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
        Command::Explain { code } => explain(&code),
    }
}

fn check(paths: &[PathBuf], format: Format) -> ExitCode {
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut any_error = false;
    let mut io_problem = false;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut err = std::io::stderr().lock();
    for path in paths {
        let files = match evr_compiler::bundle::load(path) {
            Ok(f) if f.is_empty() => {
                let _ = writeln!(err, "evr: {}: no .evr files found", path.display());
                io_problem = true;
                continue;
            }
            Ok(f) => f,
            Err(e) => {
                let _ = writeln!(err, "evr: cannot read {}: {e}", path.display());
                io_problem = true;
                continue;
            }
        };
        let analysis = evr_compiler::analyze(files);
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
            println!(
                "{} {}: {}\n\n{}",
                c.as_str(),
                if c.as_str().starts_with('W') { "warning" } else { "error" },
                c.title(),
                c.explanation()
            );
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("evr: unknown code `{code}`; codes look like E0001 (E0001..E0028, W0001)");
            ExitCode::from(USAGE)
        }
    }
}
