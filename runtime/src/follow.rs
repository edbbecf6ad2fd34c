//! Following a file as it grows, as `tail -F` does: after its end, wait for more; when it is
//! truncated, read it again from its start; when it is replaced (rotated: renamed away and
//! created anew), finish the old file and go on with the new one from its start.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::time::Duration;

/// How long to wait at the end of the file before looking again.
const POLL: Duration = Duration::from_millis(20);

pub struct Follow {
    path: PathBuf,
    file: File,
    /// The open file's device and inode, to notice when the path names another file.
    id: (u64, u64),
    at: u64,
}

impl Follow {
    pub fn open(path: impl Into<PathBuf>) -> io::Result<Follow> {
        let path = path.into();
        let file = File::open(&path)?;
        let m = file.metadata()?;
        Ok(Follow { path, file, id: (m.dev(), m.ino()), at: 0 })
    }
}

impl Read for Follow {
    /// Never ends: at the end of the file it waits for more.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let n = self.file.read(buf)?;
            if n > 0 {
                self.at += n as u64;
                return Ok(n);
            }
            match std::fs::metadata(&self.path) {
                Ok(m) if (m.dev(), m.ino()) != self.id => {
                    // Rotated: the old file is read to its end; the new one starts afresh.
                    if let Ok(file) = File::open(&self.path) {
                        self.file = file;
                        self.id = (m.dev(), m.ino());
                        self.at = 0;
                        continue;
                    }
                }
                Ok(m) if m.len() < self.at => {
                    self.file.seek(SeekFrom::Start(0))?;
                    self.at = 0;
                    continue;
                }
                // Not grown, or gone for a moment while it rotates.
                _ => {}
            }
            std::thread::sleep(POLL);
        }
    }
}
