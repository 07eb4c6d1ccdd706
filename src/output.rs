//! Writing to stdout without panicking when the reader goes away
//! (`avpctl test | head` must not print a Rust panic).

use std::io::Write;

use crate::error::Error;

pub fn print(text: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(err) => Err(Error::io("stdout", err)),
    }
}

/// Writes a large output piece by piece through a buffer.
pub fn stream(write: impl FnOnce(&mut dyn Write) -> std::io::Result<()>) -> Result<(), Error> {
    let stdout = std::io::stdout().lock();
    let mut buffered = std::io::BufWriter::new(stdout);
    match write(&mut buffered).and_then(|()| buffered.flush()) {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(err) => Err(Error::io("stdout", err)),
    }
}

pub fn eprint(text: &str) {
    let mut stderr = std::io::stderr().lock();
    let _ = stderr.write_all(text.as_bytes());
}

static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub fn set_verbose(on: bool) {
    VERBOSE.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// A `--verbose` line on standard error. Callers pass operations and ids
/// only, never request contents or headers, so credentials cannot leak.
pub fn verbose(line: impl FnOnce() -> String) {
    if VERBOSE.load(std::sync::atomic::Ordering::Relaxed) {
        eprint(&format!("{}\n", line()));
    }
}
