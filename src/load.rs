//! Reading a bundle for any command: `.evr` sources (files or directories), or a built
//! `.evrb` file, which is recognised by its header whatever its name.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use evr_compiler::files::{Files, io_reason};
use evr_compiler::{Analysis, Parses};
use evr_compiler::{bundle, evrb};

/// Why a bundle could not even be checked.
pub enum Problem {
    /// A file could not be read, or holds no rules: a usage problem.
    Io(String),
    /// A built bundle was refused.
    Bundle(String),
}

/// Checks the bundle at `paths` (one built bundle, or sources: every path's `.evr` files, in
/// path order). The analysis may hold errors; the caller shows them.
pub fn analyze(paths: &[PathBuf]) -> Result<Analysis, Problem> {
    analyze_reusing(paths, &mut Parses::default(), None)
}

/// [`analyze`], parsing again only the source files that changed since `parses` was given the
/// modules of an earlier analysis. `changed` names the files a file event reported (in the
/// form [`watched`] directories give them: under the canonical bundle path): every other file
/// the last analysis read is taken as it read it, not read again. `None` reads every file.
pub fn analyze_reusing(
    paths: &[PathBuf],
    parses: &mut Parses,
    changed: Option<&HashSet<PathBuf>>,
) -> Result<Analysis, Problem> {
    if let [one] = paths
        && let Some(bytes) = built(one)?
    {
        return analyze_built(&bytes, &one.display().to_string());
    }
    let mut all: Vec<(PathBuf, PathBuf)> = Vec::new();
    for path in paths {
        let found = bundle::paths(path).map_err(|e| Problem::Io(format!("cannot read {e}")))?;
        if found.is_empty() {
            return Err(Problem::Io(format!("{}: no .evr files found", path.display())));
        }
        // Where file events name each file: its directories are watched canonicalized.
        let canonical = path.canonicalize().unwrap_or_else(|_| path.clone());
        all.extend(found.into_iter().map(|p| {
            let named = match p.strip_prefix(path) {
                Ok(rel) if !rel.as_os_str().is_empty() => canonical.join(rel),
                _ => canonical.clone(),
            };
            (p, named)
        }));
    }
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all.dedup_by(|a, b| a.0 == b.0);
    let mut files = Files::default();
    for (path, named) in all {
        let kept = changed.filter(|c| !c.contains(&named)).and_then(|_| parses.text(&path));
        let text = match kept {
            Some(text) => text,
            None => bundle::read(&path).map_err(|e| Problem::Io(format!("cannot read {e}")))?.into(),
        };
        let name = path.display().to_string();
        files.add_shared(path, name, text);
    }
    Ok(evr_compiler::analyze_reusing(files, None, parses))
}

/// Checks the built bundle `bytes` (`what` names where they came from, for errors).
pub fn analyze_built(bytes: &[u8], what: &str) -> Result<Analysis, Problem> {
    let body = evrb::read(bytes).map_err(|e| Problem::Bundle(format!("{what}: {e}")))?;
    evrb::analyze(&body).map_err(|e| Problem::Bundle(format!("{what}: {e}")))
}

/// The bytes of a built bundle at `path`; `None` when it is a source file or a directory.
fn built(path: &Path) -> Result<Option<Vec<u8>>, Problem> {
    if path.is_dir() || path.extension().is_some_and(|e| e == "evr") {
        return Ok(None);
    }
    let bytes =
        std::fs::read(path).map_err(|e| Problem::Io(format!("cannot read {}: {}", path.display(), io_reason(&e))))?;
    Ok((evrb::is_bundle(&bytes) || path.extension().is_some_and(|e| e == "evrb")).then_some(bytes))
}

/// Where a running bundle's files are, to watch for changes: the directories of the bundle
/// paths (a directory bundle whole, new files included), and of every schema the sources use.
/// A change of a `.evr`, `.proto` or `.evrb` file under them is a change of the bundle.
pub fn watched(paths: &[PathBuf], analysis: &Analysis) -> Vec<(PathBuf, bool)> {
    let mut out: Vec<(PathBuf, bool)> = Vec::new();
    let mut add = |dir: PathBuf, recursive: bool| {
        let dir = dir.canonicalize().unwrap_or(dir);
        if !out.iter().any(|(d, _)| *d == dir) {
            out.push((dir, recursive));
        }
    };
    for p in paths {
        match p.is_dir() {
            true => add(p.clone(), true),
            false => {
                add(p.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf(), false)
            }
        }
    }
    for m in &analysis.modules {
        let dir = analysis.files.get(m.file).path.parent().map(Path::to_path_buf).unwrap_or_default();
        for item in &m.items {
            if let evr_grammar::ast::ItemKind::UseFile { path, .. } = &item.kind
                && let Some(schema_dir) = dir.join(path).parent()
                && schema_dir.is_dir()
            {
                add(schema_dir.to_path_buf(), false);
            }
        }
    }
    out
}

impl From<io::Error> for Problem {
    fn from(e: io::Error) -> Problem {
        Problem::Io(io_reason(&e))
    }
}
