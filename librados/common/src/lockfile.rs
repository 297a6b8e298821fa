//! Directory lock files: an exclusive `flock` held for as long as the returned file is open,
//! with a line naming the holder for whoever finds it taken.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

/// The outcome of trying to take a lock.
pub enum Lock {
    /// Ours until the file is dropped.
    Held(File),
    /// Another process holds it; `holder` is what it wrote (may be empty).
    Busy { holder: String },
}

/// Tries (without waiting) to lock `path`, creating it; writes `note` into it when taken.
pub fn try_lock(path: &Path, note: &str) -> std::io::Result<Lock> {
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)?;
    // SAFETY: flock takes a descriptor this function owns and integer flags.
    if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let mut holder = String::new();
        let _ = f.read_to_string(&mut holder);
        return Ok(Lock::Busy {
            holder: holder.trim().to_string(),
        });
    }
    f.set_len(0)?;
    f.rewind()?;
    writeln!(f, "{note}")?;
    Ok(Lock::Held(f))
}
