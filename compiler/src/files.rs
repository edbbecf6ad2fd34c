//! The source files of one analysis: their names, text and line tables.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use evr_grammar::ast::{FileId, Span};

pub struct SourceFile {
    /// Where the file is on disk (used to resolve `use "x.proto"`).
    pub path: PathBuf,
    /// How diagnostics name the file: the path as the user gave it.
    pub name: String,
    /// Shared: a reload takes an unchanged file's text from the last analysis, not from disk.
    pub text: Arc<str>,
    /// Made the first time a position is asked for: most analyses after a reload show none,
    /// and scanning every file for line breaks would cost a reload the whole bundle.
    line_starts: OnceLock<Vec<u32>>,
}

impl SourceFile {
    fn line_starts(&self) -> &[u32] {
        self.line_starts.get_or_init(|| {
            let mut starts = vec![0];
            starts.extend(self.text.match_indices('\n').map(|(i, _)| i as u32 + 1));
            starts
        })
    }

    /// 1-based line and column (in Unicode scalar values) of a byte offset.
    pub fn line_col(&self, offset: u32) -> (usize, usize) {
        let offset = offset.min(self.text.len() as u32);
        let line_starts = self.line_starts();
        let line = line_starts.partition_point(|&s| s <= offset) - 1;
        let start = line_starts[line] as usize;
        let end = (offset as usize).max(start);
        let col = self.text.get(start..end).map_or(end - start, |s| s.chars().count());
        (line + 1, col + 1)
    }

    /// 0-based line and column in UTF-16 code units (what the language server protocol counts)
    /// of a byte offset.
    pub fn utf16_position(&self, offset: u32) -> (u32, u32) {
        let offset = (offset as usize).min(self.text.len());
        let line_starts = self.line_starts();
        let line = line_starts.partition_point(|&s| s as usize <= offset) - 1;
        let start = line_starts[line] as usize;
        let col: usize =
            self.text[start..].char_indices().take_while(|(i, _)| start + i < offset).map(|(_, c)| c.len_utf16()).sum();
        (line as u32, col as u32)
    }

    /// The byte offset of a 0-based line and UTF-16 column; past the end of a line (or in the
    /// middle of a character), the nearest place before.
    pub fn utf16_offset(&self, line: u32, col: u32) -> u32 {
        let line_starts = self.line_starts();
        let Some(&start) = line_starts.get(line as usize) else { return self.text.len() as u32 };
        let end = line_starts.get(line as usize + 1).map_or(self.text.len(), |&e| e as usize - 1);
        let mut units = 0;
        for (i, c) in self.text[start as usize..end].char_indices() {
            units += c.len_utf16() as u32;
            if units > col {
                return start + i as u32;
            }
        }
        end as u32
    }
}

#[derive(Default)]
pub struct Files {
    files: Vec<SourceFile>,
}

impl Files {
    pub fn add(&mut self, path: impl AsRef<Path>, name: impl Into<String>, text: String) -> FileId {
        self.add_shared(path, name, text.into())
    }

    /// [`add`](Self::add), with a text that may be shared (another analysis's).
    pub fn add_shared(&mut self, path: impl AsRef<Path>, name: impl Into<String>, text: Arc<str>) -> FileId {
        // A byte order mark some editors write is not part of the text.
        let text = match text.strip_prefix('\u{feff}') {
            Some(rest) => rest.into(),
            None => text,
        };
        self.files.push(SourceFile {
            path: path.as_ref().to_owned(),
            name: name.into(),
            text,
            line_starts: OnceLock::new(),
        });
        (self.files.len() - 1) as FileId
    }

    pub fn get(&self, id: FileId) -> &SourceFile {
        &self.files[id as usize]
    }

    pub fn iter(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files.iter().enumerate().map(|(i, f)| (i as FileId, f))
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// `name:line:col` of the start of a span.
    pub fn location(&self, span: Span) -> String {
        let f = self.get(span.file);
        let (line, col) = f.line_col(span.start);
        format!("{}:{line}:{col}", f.name)
    }
}

/// An I/O error's reason without the path, which the message around it names once.
pub fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file".to_owned(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        std::io::ErrorKind::InvalidData => "not UTF-8 text".to_owned(),
        _ => e.to_string(),
    }
}
