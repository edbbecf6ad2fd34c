//! Finding a bundle's `.evr` files on disk.

use std::io;
use std::path::{Path, PathBuf};

use crate::files::Files;

/// Loads a bundle: a single `.evr` file, or every `.evr` file under a directory (recursively),
/// ordered by path, which is the order rules run in.
pub fn load(path: &Path) -> io::Result<Files> {
    let mut files = Files::default();
    for p in paths(path)? {
        let text = read(&p)?;
        let name = p.display().to_string();
        files.add(&p, name, text);
    }
    Ok(files)
}

/// The `.evr` files of a bundle path (itself, or every one under a directory), ordered by path.
pub fn paths(path: &Path) -> io::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    if path.is_dir() {
        collect(path, &mut paths).map_err(|e| named(path, &e))?;
        paths.sort();
    } else {
        paths.push(path.to_path_buf());
    }
    Ok(paths)
}

/// The text of a source file; an error names the file.
pub fn read(path: &Path) -> io::Result<String> {
    std::fs::read_to_string(path).map_err(|e| named(path, &e))
}

/// An I/O error whose message names the path once: "PATH: reason".
fn named(path: &Path, e: &io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {}", path.display(), crate::files::io_reason(e)))
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) -> io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "evr") {
            out.push(path);
        }
    }
    Ok(())
}
